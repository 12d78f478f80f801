//! The owner's dashboard: today's takings, the last 30 days, best sellers, open tills, low stock, and
//! operations that reached the server late from offline devices — one read-only summary.

pub mod late;

use app::model::{Dashboard, DayTotal, LowStockProduct, MethodTotal, OpenSession, TopProduct};
use axum::{extract::State, routing::get, Json, Router};
use sqlx::{AnyConnection, Row};

use crate::{
    auth::AdminUser,
    bounds::{read_sum, saturate, sum_sql},
    cash::load_session,
    db::{get_uuid, now, parse_uuid},
    http::error::ApiError,
    http::AppState,
};

/// Days in the sales chart and the window of best sellers and late operations.
pub const DAYS: i64 = 30;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/dashboard", get(summary))
}

/// The `DAYS` shop days ending today, each with its first instant as stored (UTC).
fn window(zone: chrono_tz::Tz, today: chrono::NaiveDate) -> Vec<(chrono::NaiveDate, String)> {
    (0..DAYS)
        .rev()
        .map(|back| today - chrono::Duration::days(back))
        .map(|day| (day, crate::period::start_of_day(zone, day)))
        .collect()
}

#[utoipa::path(get, path = "/api/dashboard", tag = "dashboard",
    responses((status = 200, body = Dashboard), (status = 403, description = "admins only")))]
pub async fn summary(_: AdminUser, State(state): State<AppState>) -> Result<Json<Dashboard>, ApiError> {
    let generated_at = now();
    let zone = crate::period::shop_zone(&state).await?;
    let today = crate::period::today(zone);
    let days = window(zone, today);
    let since = days[0].1.clone();
    let today_start = days[days.len() - 1].1.clone();
    let mut conn = state.db.pool().acquire().await?;

    let (per_day, today_exact) = per_day(&mut conn, &days).await?;
    let today_count = per_day.last().map(|d| d.count).unwrap_or_default();
    Ok(Json(Dashboard {
        generated_at,
        today: today.to_string(),
        today_total_cents: saturate(today_exact, "today's total"),
        today_count,
        today_average_cents: if today_count > 0 {
            saturate(today_exact / i128::from(today_count), "today's average")
        } else {
            0
        },
        today_by_method: by_method(&mut conn, &today_start).await?,
        per_day,
        top_products: top_products(&mut conn, &since).await?,
        open_sessions: open_sessions(&mut conn).await?,
        low_stock: low_stock(&mut conn).await?,
        late: late::recent(&mut conn, &since).await?,
    }))
}

/// Sales per shop day, and today's exact total. Each sale falls in the last day that starts at or
/// before it (one CASE over the days' first instants, so days follow the shop's zone exactly, half-hour
/// offsets and daylight saving included). Sums never overflow (bounds::sum_sql); a figure beyond i64
/// is shown at the limit.
async fn per_day(
    conn: &mut AnyConnection,
    days: &[(chrono::NaiveDate, String)],
) -> Result<(Vec<DayTotal>, i128), sqlx::Error> {
    let buckets: String = (0..days.len()).rev().map(|i| format!("WHEN created_at >= ${} THEN {i} ", i + 1)).collect();
    let sql = format!(
        "SELECT bucket, {}, COUNT(*) AS n FROM (SELECT CAST(CASE {buckets}END AS BIGINT) AS bucket, total_cents FROM sales \
         WHERE created_at >= $1 AND voided_at IS NULL) d GROUP BY bucket",
        sum_sql("total_cents", "total")
    );
    let mut query = sqlx::query(&sql);
    for (_, start) in days {
        query = query.bind(start.as_str());
    }
    let mut found = std::collections::HashMap::new();
    for row in query.fetch_all(&mut *conn).await? {
        found.insert(row.try_get::<i64, _>("bucket")?, (read_sum(&row, "total")?, row.try_get::<i64, _>("n")?));
    }
    let per_day: Vec<DayTotal> = days
        .iter()
        .enumerate()
        .map(|(i, (day, _))| {
            let (total, count) = found.get(&(i as i64)).copied().unwrap_or_default();
            DayTotal { date: day.to_string(), total_cents: saturate(total, "a day's total"), count }
        })
        .collect();
    let today = found.get(&(days.len() as i64 - 1)).map(|f| f.0).unwrap_or_default();
    Ok((per_day, today))
}

/// Takings per payment method; the change handed back comes out of cash.
async fn by_method(conn: &mut AnyConnection, since: &str) -> Result<Vec<MethodTotal>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT p.method AS method, {} \
         FROM sale_payments p JOIN sales s ON s.id = p.sale_id WHERE s.created_at >= $1 AND s.voided_at IS NULL \
         GROUP BY p.method ORDER BY p.method",
        sum_sql("p.amount_cents", "amount")
    ))
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    let change_row = sqlx::query(&format!(
        "SELECT {} FROM sales WHERE created_at >= $1 AND voided_at IS NULL",
        sum_sql("change_cents", "change")
    ))
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    let change = read_sum(&change_row, "change")?;
    let mut out = Vec::new();
    for row in rows {
        let method: String = row.try_get("method")?;
        let mut amount = read_sum(&row, "amount")?;
        if method == "cash" {
            amount -= change;
        }
        if amount > 0 {
            out.push(MethodTotal { method, amount_cents: saturate(amount, "takings by method") });
        }
    }
    Ok(out)
}

/// Best sellers by amount. Quantities are at most 10⁶ a line, so their plain SUM would need 9·10¹²
/// lines to overflow; amounts are summed exactly, and ordered by a floating-point sum (which cannot
/// overflow; it only decides the order).
async fn top_products(conn: &mut AnyConnection, since: &str) -> Result<Vec<TopProduct>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT l.product_id AS product_id, p.name AS name, CAST(SUM(l.quantity) AS BIGINT) AS quantity, {} \
         FROM sale_lines l JOIN sales s ON s.id = l.sale_id JOIN products p ON p.id = l.product_id \
         WHERE s.created_at >= $1 AND s.voided_at IS NULL GROUP BY l.product_id, p.name \
         ORDER BY SUM(CAST(l.total_cents AS DOUBLE PRECISION)) DESC, SUM(l.quantity) DESC, p.name LIMIT 5",
        sum_sql("l.total_cents", "total")
    ))
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TopProduct {
                product_id: get_uuid(row, "product_id")?,
                name: row.try_get("name")?,
                quantity: row.try_get("quantity")?,
                total_cents: saturate(read_sum(row, "total")?, "a best seller's total"),
            })
        })
        .collect()
}

async fn open_sessions(conn: &mut AnyConnection) -> Result<Vec<OpenSession>, sqlx::Error> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM cash_sessions WHERE closed_at IS NULL ORDER BY register")
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(s) = load_session(&mut *conn, parse_uuid(&id)?).await? {
            out.push(OpenSession {
                id: s.id,
                register: s.register,
                opened_by: s.opened_by,
                opened_at: s.opened_at,
                expected_cents: s.expected_cents,
            });
        }
    }
    Ok(out)
}

async fn low_stock(conn: &mut AnyConnection) -> Result<Vec<LowStockProduct>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, sku, name, stock, low_stock_threshold FROM products \
         WHERE deleted_at IS NULL AND active = TRUE AND low_stock_threshold IS NOT NULL AND stock <= low_stock_threshold \
         ORDER BY stock - low_stock_threshold, name LIMIT 50",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(LowStockProduct {
                id: get_uuid(row, "id")?,
                sku: row.try_get("sku")?,
                name: row.try_get("name")?,
                stock: row.try_get("stock")?,
                low_stock_threshold: row.try_get("low_stock_threshold")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_thirty_shop_days_ending_today() {
        let zone: chrono_tz::Tz = "America/Argentina/Buenos_Aires".parse().unwrap();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let days = window(zone, today);
        assert_eq!(days.len(), 30);
        assert_eq!(days[29], (today, "2026-03-01T03:00:00.000Z".to_string()));
        assert_eq!(days[0].0.to_string(), "2026-01-31");
    }
}
