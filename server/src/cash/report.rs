//! `GET /api/cash-sessions/{id}/report`: the X report of an open till, the Z report of a closed one.
//! Every figure is a sum over the till's own records (sales, refunds, movements, expenses), summed
//! exactly (`bounds::sum_sql`); voided sales count apart, and late sales (arrived after the close)
//! are listed as amendments, so the Z report of a till reads the same whenever it is printed.

use app::model::{MethodTotal, TaxAmount, TillReport};
use axum::{
    extract::{Path, State},
    Json,
};
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    bounds::{read_sum, saturate, sum_sql},
    http::{error::ApiError, AppState},
};

/// The sales of the till that count: not voided, not arrived after the close.
const COUNTED: &str = "s.cash_session_id = $1 AND s.voided_at IS NULL AND s.after_close = FALSE";

async fn count_and_sum(
    conn: &mut AnyConnection,
    sql_from: &str,
    expr: &str,
    id: Uuid,
) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(&format!("SELECT COUNT(*) AS n, {} FROM {sql_from}", sum_sql(expr, "t")))
        .bind(id.to_string())
        .fetch_one(&mut *conn)
        .await?;
    Ok((row.try_get("n")?, saturate(read_sum(&row, "t")?, "a till report figure")))
}

async fn per_method(conn: &mut AnyConnection, sql: &str, id: Uuid) -> Result<Vec<(String, i128)>, sqlx::Error> {
    sqlx::query(sql)
        .bind(id.to_string())
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("method")?, read_sum(r, "t")?)))
        .collect()
}

/// Tax per rate: `(name, rate, net, tax)` summed over rows of `from` (whose sale line is `sl` and whose
/// amounts are `amounts`) grouped by the line's tax.
async fn per_rate(
    conn: &mut AnyConnection,
    from: &str,
    amounts: &str,
    id: Uuid,
) -> Result<Vec<(String, i64, i128, i128)>, sqlx::Error> {
    let sql = format!(
        "SELECT sl.tax_name AS name, sl.tax_rate_bp AS rate, {}, {} FROM {from} \
         GROUP BY sl.tax_name, sl.tax_rate_bp ORDER BY sl.tax_rate_bp DESC, sl.tax_name",
        sum_sql(&format!("{amounts}.net_cents"), "net"),
        sum_sql(&format!("{amounts}.tax_cents"), "tax")
    );
    sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("rate")?, read_sum(r, "net")?, read_sum(r, "tax")?)))
        .collect()
}

pub async fn report(conn: &mut AnyConnection, id: Uuid) -> Result<Option<TillReport>, ApiError> {
    let Some(session) = super::sessions::load(conn, id).await? else { return Ok(None) };
    let from_sales = format!("sales s WHERE {COUNTED}");
    let (sales_count, sales_total_cents) = count_and_sum(conn, &from_sales, "s.total_cents", id).await?;
    let (_, discounts_cents) = count_and_sum(conn, &from_sales, "s.discount_cents", id).await?;
    let (voided_count, voided_total_cents) =
        count_and_sum(conn, "sales s WHERE s.cash_session_id = $1 AND s.voided_at IS NOT NULL", "s.total_cents", id)
            .await?;
    let (late_sales, late_total_cents) = count_and_sum(
        conn,
        "sales s WHERE s.cash_session_id = $1 AND s.voided_at IS NULL AND s.after_close = TRUE",
        "s.total_cents",
        id,
    )
    .await?;
    // Payments per method; the change handed back comes out of cash.
    let paid = per_method(
        conn,
        &format!(
            "SELECT p.method AS method, {} FROM sale_payments p JOIN sales s ON s.id = p.sale_id WHERE {COUNTED} \
             GROUP BY p.method ORDER BY p.method",
            sum_sql("p.amount_cents", "t")
        ),
        id,
    )
    .await?;
    let (_, change) = count_and_sum(conn, &from_sales, "s.change_cents", id).await?;
    let by_method = paid
        .into_iter()
        .map(|(method, amount)| {
            let amount = if method == "cash" { amount - i128::from(change) } else { amount };
            MethodTotal { method, amount_cents: saturate(amount, "a till report figure") }
        })
        .filter(|m| m.amount_cents != 0)
        .collect();
    let from_refunds = "refunds r WHERE r.cash_session_id = $1";
    let (refunds_count, refunds_total_cents) = count_and_sum(conn, from_refunds, "r.total_cents", id).await?;
    let refunds_by_method = per_method(
        conn,
        &format!(
            "SELECT r.method AS method, {} FROM {from_refunds} GROUP BY r.method ORDER BY r.method",
            sum_sql("r.total_cents", "t")
        ),
        id,
    )
    .await?
    .into_iter()
    .map(|(method, amount)| MethodTotal { method, amount_cents: saturate(amount, "a till report figure") })
    .collect();
    // Tax per rate: the sales' lines less the refunded lines (at the tax they were sold with).
    let sold =
        per_rate(conn, &format!("sale_lines sl JOIN sales s ON s.id = sl.sale_id WHERE {COUNTED}"), "sl", id).await?;
    let refunded = per_rate(
        conn,
        "refund_lines x JOIN refunds r ON r.id = x.refund_id \
         JOIN sale_lines sl ON sl.sale_id = r.sale_id AND sl.line_no = x.sale_line_no WHERE r.cash_session_id = $1",
        "x",
        id,
    )
    .await?;
    let mut taxes: Vec<TaxAmount> = Vec::new();
    for (sign, rows) in [(1i128, sold), (-1, refunded)] {
        for (name, rate_bp, net, tax) in rows {
            let i = match taxes.iter().position(|t| t.name == name && t.rate_bp == rate_bp) {
                Some(i) => i,
                None => {
                    taxes.push(TaxAmount { name, rate_bp, net_cents: 0, tax_cents: 0 });
                    taxes.len() - 1
                }
            };
            let t = &mut taxes[i];
            t.net_cents = saturate(i128::from(t.net_cents) + sign * net, "a till report figure");
            t.tax_cents = saturate(i128::from(t.tax_cents) + sign * tax, "a till report figure");
        }
    }
    let net_cents = taxes.iter().map(|t| t.net_cents).sum();
    let tax_cents = taxes.iter().map(|t| t.tax_cents).sum();
    taxes.retain(|t| !(t.name.is_empty() && t.rate_bp == 0));
    // The till's receipt numbers, sales and refunds alike, in the order they were made.
    let numbers: Vec<String> = sqlx::query_scalar(
        "SELECT receipt_no FROM (SELECT receipt_no, created_at FROM sales WHERE cash_session_id = $1 AND receipt_no IS NOT NULL \
         UNION ALL SELECT receipt_no, created_at FROM refunds WHERE cash_session_id = $1 AND receipt_no IS NOT NULL) d \
         ORDER BY created_at, receipt_no",
    )
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let (_, cash_in_cents) =
        count_and_sum(conn, "cash_movements WHERE cash_session_id = $1 AND kind = 'in'", "amount_cents", id).await?;
    let (_, cash_out_cents) =
        count_and_sum(conn, "cash_movements WHERE cash_session_id = $1 AND kind = 'out'", "amount_cents", id).await?;
    let (_, expenses_cents) = count_and_sum(conn, "expenses WHERE cash_session_id = $1", "amount_cents", id).await?;
    Ok(Some(TillReport {
        kind: if session.closed_at.is_some() { "z" } else { "x" }.into(),
        session,
        sales_count,
        sales_total_cents,
        by_method,
        discounts_cents,
        voided_count,
        voided_total_cents,
        refunds_count,
        refunds_total_cents,
        refunds_by_method,
        net_cents,
        tax_cents,
        taxes,
        cash_in_cents,
        cash_out_cents,
        expenses_cents,
        late_sales,
        late_total_cents,
        first_receipt_no: numbers.first().cloned(),
        last_receipt_no: numbers.last().cloned(),
    }))
}

/// The till's X report (open) or Z report (closed).
#[utoipa::path(get, path = "/api/cash-sessions/{id}/report", tag = "cash", params(("id" = Uuid, Path)),
    responses((status = 200, body = TillReport), (status = 404, body = app::model::ErrorEnvelope)))]
pub async fn get_report(
    _: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<TillReport>, ApiError> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(report(&mut conn, id).await?.ok_or(ApiError::NotFound)?))
}
