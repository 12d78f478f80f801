//! `?from=YYYY-MM-DD&to=YYYY-MM-DD` filters over the stored UTC timestamps, in the shop's local days:
//! `from` starts at the shop's midnight (its time zone from the settings), so a sale at 23:30 local
//! belongs to that day whatever the UTC date.

use app::model::Page;
use chrono::{Datelike, TimeZone};
use serde::Deserialize;
use sqlx::{any::AnyRow, AnyPool};

use crate::http::{error::ApiError, AppState};

#[derive(Debug, Default, Deserialize)]
pub struct PeriodParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<String>,
    pub offset: Option<String>,
}

/// A parsed, inclusive day range as `[start, end)` timestamps (and days), plus paging.
pub struct Period {
    pub start: String,
    pub end: String,
    /// `from`, and the day after `to` ("" and "9999" when open).
    first_day: String,
    after_day: String,
    pub limit: i64,
    pub offset: i64,
}

impl Period {
    /// The ids of `table`'s rows made in the period (newest first, this page of them) and how many
    /// there are in all: the list behind `GET /api/sales` and `GET /api/refunds`.
    pub async fn page_ids(
        &self,
        conn: &mut sqlx::AnyConnection,
        table: &str,
    ) -> Result<(Vec<uuid::Uuid>, i64), crate::http::error::ApiError> {
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM {table} WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
        ))
        .bind(&self.start)
        .bind(&self.end)
        .bind(self.limit)
        .bind(self.offset)
        .fetch_all(&mut *conn)
        .await?;
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE created_at >= $1 AND created_at < $2"))
                .bind(&self.start)
                .bind(&self.end)
                .fetch_one(&mut *conn)
                .await?;
        let ids = ids.iter().map(|id| crate::db::parse_uuid(id)).collect::<Result<_, _>>()?;
        Ok((ids, total))
    }
}

pub fn parse_day(field: &'static str, raw: &str) -> Result<chrono::NaiveDate, ApiError> {
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|_| raw.len() == 10)
        .ok_or_else(|| ApiError::invalid(field, "must be a date YYYY-MM-DD"))
}

/// The first instant of `day` in `zone`, as stored (UTC): local midnight, or the first minute after it
/// when a daylight-saving change skips midnight.
pub fn start_of_day(zone: chrono_tz::Tz, day: chrono::NaiveDate) -> String {
    let mut t = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    for _ in 0..4 {
        if let Some(local) = zone.from_local_datetime(&t).earliest() {
            return local.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        }
        t += chrono::Duration::minutes(30);
    }
    format!("{day}T00:00:00.000Z")
}

/// Today in `zone`.
pub fn today(zone: chrono_tz::Tz) -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&zone).date_naive()
}

/// The shop's time zone: chosen in its settings, else the server's `--timezone`.
pub async fn shop_zone(state: &AppState) -> Result<chrono_tz::Tz, ApiError> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(crate::settings::zone(&mut conn, state.backups.tz).await?)
}

impl PeriodParams {
    /// The period in the shop's days.
    pub async fn in_shop_days(&self, state: &AppState) -> Result<Period, ApiError> {
        self.parse(shop_zone(state).await?)
    }

    pub fn parse(&self, zone: chrono_tz::Tz) -> Result<Period, ApiError> {
        let from = self.from.as_deref().filter(|s| !s.is_empty()).map(|d| parse_day("from", d)).transpose()?;
        let to = self.to.as_deref().filter(|s| !s.is_empty()).map(|d| parse_day("to", d)).transpose()?;
        if let (Some(f), Some(t)) = (from, to) {
            if t < f {
                return Err(ApiError::invalid("to", "must not be before from"));
            }
        }
        // The day after the last one; none past year 9999 (its timestamp would not sort as text).
        let after_to = to.and_then(|t| t.succ_opt()).filter(|d| d.year() <= 9999);
        let number = |raw: Option<&str>, field: &'static str, default: i64, max: i64| match raw {
            None | Some("") => Ok(default),
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|n| (0..=max).contains(n))
                .ok_or_else(|| ApiError::invalid(field, format!("must be 0 to {max}"))),
        };
        Ok(Period {
            start: from.map(|d| start_of_day(zone, d)).unwrap_or_default(),
            // "9999" sorts after any stored timestamp and any day.
            end: after_to.map(|d| start_of_day(zone, d)).unwrap_or_else(|| "9999".into()),
            first_day: from.map(|d| d.to_string()).unwrap_or_default(),
            after_day: after_to.map(|d| d.to_string()).unwrap_or_else(|| "9999".into()),
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

    /// The bounds for a YYYY-MM-DD column (a day the shop already wrote in its own calendar).
    pub fn days(&self) -> (&str, &str) {
        (&self.first_day, &self.after_day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period(zone: &str, from: &str, to: &str) -> Period {
        let p = PeriodParams { from: Some(from.into()), to: Some(to.into()), ..Default::default() };
        p.parse(zone.parse().unwrap()).unwrap()
    }

    #[test]
    fn a_day_is_the_shops_local_day() {
        // Buenos Aires is UTC-3 all year: 1 December runs from 03:00 UTC to 03:00 UTC on the 2nd,
        // so a sale at 23:30 local (02:30 UTC on the 2nd) belongs to the 1st.
        let p = period("America/Argentina/Buenos_Aires", "2026-12-01", "2026-12-01");
        assert_eq!((p.start.as_str(), p.end.as_str()), ("2026-12-01T03:00:00.000Z", "2026-12-02T03:00:00.000Z"));
        let late_sale = "2026-12-02T02:30:00.000Z";
        assert!(p.start.as_str() <= late_sale && late_sale < p.end.as_str());
        assert_eq!(p.days(), ("2026-12-01", "2026-12-02"));
        // Kiritimati is UTC+14: its 1 December starts on 30 November at 10:00 UTC.
        let p = period("Pacific/Kiritimati", "2026-12-01", "2026-12-01");
        assert_eq!(p.start, "2026-11-30T10:00:00.000Z");
        // Madrid: winter UTC+1, summer UTC+2; the day spring skips an hour has 23 of them.
        let p = period("Europe/Madrid", "2026-03-29", "2026-03-29");
        assert_eq!((p.start.as_str(), p.end.as_str()), ("2026-03-28T23:00:00.000Z", "2026-03-29T22:00:00.000Z"));
        // Santiago de Chile moved its clocks at midnight (2026-09-06 00:00 does not exist there).
        assert_eq!(
            start_of_day("America/Santiago".parse().unwrap(), "2026-09-06".parse().unwrap()),
            "2026-09-06T04:00:00.000Z"
        );
    }

    #[test]
    fn open_ends_and_bad_days() {
        let p = PeriodParams::default().parse(chrono_tz::UTC).unwrap();
        assert_eq!((p.start.as_str(), p.end.as_str(), p.days()), ("", "9999", ("", "9999")));
        let bad = |from: &str, to: &str| {
            PeriodParams { from: Some(from.into()), to: Some(to.into()), ..Default::default() }
                .parse(chrono_tz::UTC)
                .is_err()
        };
        assert!(bad("2026-12-02", "2026-12-01"));
        assert!(bad("2026-1-2", ""));
        assert!(bad("ayer", ""));
        let last = PeriodParams { from: None, to: Some("9999-12-31".into()), ..Default::default() };
        assert_eq!(last.parse(chrono_tz::UTC).unwrap().end, "9999", "the last day is open-ended");
    }
}
