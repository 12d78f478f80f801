//! `?from=YYYY-MM-DD&to=YYYY-MM-DD` filters over the stored UTC timestamps.
//! Days are UTC days for now; the shop's own time zone comes with the exports.

use app::model::Page;
use serde::Deserialize;
use sqlx::{any::AnyRow, AnyPool};

use crate::http::error::ApiError;

#[derive(Debug, Default, Deserialize)]
pub struct PeriodParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<String>,
    pub offset: Option<String>,
}

/// A parsed, inclusive day range as `[start, end)` timestamps, plus paging.
pub struct Period {
    pub start: String,
    pub end: String,
    pub limit: i64,
    pub offset: i64,
}

fn parse_day(field: &'static str, raw: &str) -> Result<time::Date, ApiError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(raw, &format).map_err(|_| ApiError::invalid(field, "must be a date YYYY-MM-DD"))
}

impl PeriodParams {
    pub fn parse(&self) -> Result<Period, ApiError> {
        let start = match self.from.as_deref().filter(|s| !s.is_empty()) {
            Some(d) => format!("{}T00:00:00.000Z", parse_day("from", d)?),
            None => String::new(),
        };
        let end = match self.to.as_deref().filter(|s| !s.is_empty()) {
            Some(d) => {
                let next = parse_day("to", d)?.next_day().ok_or_else(|| ApiError::invalid("to", "is out of range"))?;
                format!("{next}T00:00:00.000Z")
            }
            // Later than any stored timestamp.
            None => "9999".into(),
        };
        if !start.is_empty() && end != "9999" && start >= end {
            return Err(ApiError::invalid("to", "must not be before from"));
        }
        let number = |raw: Option<&str>, field: &'static str, default: i64, max: i64| match raw {
            None | Some("") => Ok(default),
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|n| (0..=max).contains(n))
                .ok_or_else(|| ApiError::invalid(field, format!("must be 0 to {max}"))),
        };
        Ok(Period {
            start,
            end,
            limit: number(self.limit.as_deref(), "limit", 100, 1000)?,
            offset: number(self.offset.as_deref(), "offset", 0, i64::MAX)?,
        })
    }
}

impl Period {
    /// A page of `table` rows whose `column` lies in `[lower, upper)`, newest first, with the total.
    /// (`lower`/`upper`: the period's timestamps, or their day parts for a day column.)
    pub async fn page<T>(
        &self,
        pool: &AnyPool,
        (table, columns, column): (&str, &str, &str),
        (lower, upper): (&str, &str),
        from_row: fn(&AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<Page<T>, ApiError> {
        let filter = format!("{column} >= $1 AND {column} < $2");
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM {table} WHERE {filter} ORDER BY {column} DESC, created_at DESC, id LIMIT $3 OFFSET $4"
        ))
        .bind(lower)
        .bind(upper)
        .bind(self.limit)
        .bind(self.offset)
        .fetch_all(pool)
        .await?;
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE {filter}"))
            .bind(lower)
            .bind(upper)
            .fetch_one(pool)
            .await?;
        let items = rows.iter().map(from_row).collect::<Result<_, _>>()?;
        Ok(Page { items, total, limit: self.limit, offset: self.offset })
    }

    /// The bounds for a timestamp column.
    pub fn timestamps(&self) -> (&str, &str) {
        (&self.start, &self.end)
    }

    /// The bounds for a YYYY-MM-DD column.
    pub fn days(&self) -> (&str, &str) {
        (self.start.get(..10).unwrap_or(""), self.end.get(..10).unwrap_or("9999"))
    }
}
