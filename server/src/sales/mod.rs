//! Sales: lines, payments, change, and the stock they take, in one transaction.

mod convert;

use std::collections::BTreeMap;

use app::model::{Page, Payment, Sale, SaleLine};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde::Deserialize;
use serde_json::Value;
use sqlx::{any::AnyRow, AnyConnection, Row};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    cash::ensure_open,
    db::now,
    http::{
        error::{ApiError, FieldErrors},
        extract::{ApiJson, ApiQuery},
        AppState,
    },
    idempotency::{by_id, WriteTx},
    inventory::apply_stock,
    period::PeriodParams,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/sales", get(list).post(create))
        .route("/api/sales/{id}", get(get_one))
        .route("/api/quotes/{id}/convert", axum::routing::post(convert::convert))
}

const MAX_LINES: usize = 500;
pub const PAYMENT_METHODS: &[&str] = &["cash", "card", "transfer", "other"];

#[derive(Debug, Deserialize)]
#[derive(Clone)]
pub struct NewSale {
    pub id: Uuid,
    pub cash_session_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub lines: Vec<NewLine>,
    pub payments: Vec<Payment>,
}

#[derive(Debug, Deserialize)]
#[derive(Clone)]
pub struct NewLine {
    pub product_id: Uuid,
    pub quantity: i64,
    pub unit_price_cents: Option<i64>,
}

fn uuid(s: String) -> Result<Uuid, sqlx::Error> {
    Uuid::parse_str(&s).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn parse_uuid_col(row: &AnyRow, col: &str) -> Result<Uuid, sqlx::Error> {
    uuid(row.try_get(col)?)
}

pub async fn load(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Sale>, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT id, cash_session_id, customer_id, total_cents, paid_cents, change_cents, created_by, created_at \
         FROM sales WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let lines = sqlx::query(
        "SELECT product_id, quantity, unit_price_cents, total_cents FROM sale_lines WHERE sale_id = $1 ORDER BY line_no",
    )
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|l| {
        Ok(SaleLine {
            product_id: parse_uuid_col(l, "product_id")?,
            quantity: l.try_get("quantity")?,
            unit_price_cents: l.try_get("unit_price_cents")?,
            total_cents: l.try_get("total_cents")?,
        })
    })
    .collect::<Result<_, sqlx::Error>>()?;
    let payments = sqlx::query("SELECT method, amount_cents FROM sale_payments WHERE sale_id = $1 ORDER BY line_no")
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|p| Ok(Payment { method: p.try_get("method")?, amount_cents: p.try_get("amount_cents")? }))
        .collect::<Result<_, sqlx::Error>>()?;
    let customer: Option<String> = row.try_get("customer_id")?;
    Ok(Some(Sale {
        id,
        cash_session_id: parse_uuid_col(&row, "cash_session_id")?,
        customer_id: customer.map(uuid).transpose()?,
        lines,
        payments,
        total_cents: row.try_get("total_cents")?,
        paid_cents: row.try_get("paid_cents")?,
        change_cents: row.try_get("change_cents")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    }))
}

/// Checks the shape of a sale that needs no database: counts, quantities, methods.
pub(crate) fn validate(sale: &NewSale) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    if sale.lines.is_empty() || sale.lines.len() > MAX_LINES {
        errors.insert("lines", format!("must have 1 to {MAX_LINES} lines"));
    }
    if sale.lines.iter().any(|l| l.quantity <= 0 || l.quantity > 1_000_000) {
        errors.insert("lines", "every quantity must be a whole number from 1 to 1000000".into());
    }
    if sale.lines.iter().any(|l| l.unit_price_cents.is_some_and(|p| !(0..=1_000_000_000_00).contains(&p))) {
        errors.insert("lines", "unit prices must be 0 or more cents".into());
    }
    if sale.payments.is_empty() || sale.payments.len() > 20 {
        errors.insert("payments", "must have 1 to 20 payments".into());
    }
    if sale.payments.iter().any(|p| !PAYMENT_METHODS.contains(&p.method.as_str())) {
        errors.insert("payments", "method must be cash, card, transfer or other".into());
    }
    if sale.payments.iter().any(|p| p.amount_cents <= 0 || p.amount_cents > 1_000_000_000_00) {
        errors.insert("payments", "amounts must be more than 0".into());
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(errors)) }
}

/// Records a sale the way the single call and a pushed queue both do. Separate from the handler so
/// benchmarks can time it without HTTP.
pub async fn record(
    conn: &mut AnyConnection,
    tx: Option<&WriteTx>,
    username: &str,
    sale: &NewSale,
    request_hash: &str,
    allow_negative_stock: bool,
) -> Result<Sale, ApiError> {
    ensure_open(&mut *conn, "cash_session_id", sale.cash_session_id).await?;
    if let Some(customer) = sale.customer_id {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE id = $1 AND deleted_at IS NULL")
            .bind(customer.to_string())
            .fetch_one(&mut *conn)
            .await?;
        if n == 0 {
            return Err(ApiError::invalid("customer_id", "no such customer"));
        }
    }
    // Prices: the line's own, or the product's current price.
    let mut lines = Vec::with_capacity(sale.lines.len());
    for (i, line) in sale.lines.iter().enumerate() {
        let price: Option<i64> = sqlx::query_scalar("SELECT price_cents FROM products WHERE id = $1 AND deleted_at IS NULL")
            .bind(line.product_id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        let Some(price) = price else {
            return Err(ApiError::Validation(FieldErrors::from([("lines", format!("line {}: no such product", i + 1))])));
        };
        let unit = line.unit_price_cents.unwrap_or(price);
        let total = unit.checked_mul(line.quantity).ok_or_else(|| ApiError::invalid("lines", "amount too large"))?;
        lines.push(SaleLine { product_id: line.product_id, quantity: line.quantity, unit_price_cents: unit, total_cents: total });
    }
    let total: i64 = lines.iter().map(|l| l.total_cents).sum();
    let paid: i64 = sale.payments.iter().map(|p| p.amount_cents).sum();
    let cash: i64 = sale.payments.iter().filter(|p| p.method == "cash").map(|p| p.amount_cents).sum();
    if paid < total {
        return Err(ApiError::Validation(FieldErrors::from([(
            "payments",
            format!("payments ({paid}) do not cover the total ({total})"),
        )])));
    }
    let change = paid - total;
    if change > cash {
        return Err(ApiError::invalid("payments", "only cash can be overpaid (change is given in cash)"));
    }
    // Stock, per product, in a fixed order so concurrent sales lock rows in the same order.
    let mut per_product: BTreeMap<Uuid, i64> = BTreeMap::new();
    for l in &lines {
        *per_product.entry(l.product_id).or_default() += l.quantity;
    }
    for (product, quantity) in &per_product {
        apply_stock(&mut *conn, *product, -quantity, allow_negative_stock, "lines").await?;
        if let Some(tx) = tx {
            tx.changed("products", product);
        }
    }
    let created_at = now();
    sqlx::query(
        "INSERT INTO sales (id, cash_session_id, customer_id, total_cents, paid_cents, change_cents, created_by, created_at, request_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(sale.id.to_string())
    .bind(sale.cash_session_id.to_string())
    .bind(sale.customer_id.map(|c| c.to_string()))
    .bind(total)
    .bind(paid)
    .bind(change)
    .bind(username)
    .bind(&created_at)
    .bind(request_hash)
    .execute(&mut *conn)
    .await?;
    for (i, l) in lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO sale_lines (sale_id, line_no, product_id, quantity, unit_price_cents, total_cents) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(sale.id.to_string())
        .bind(i as i64 + 1)
        .bind(l.product_id.to_string())
        .bind(l.quantity)
        .bind(l.unit_price_cents)
        .bind(l.total_cents)
        .execute(&mut *conn)
        .await?;
    }
    for (i, p) in sale.payments.iter().enumerate() {
        sqlx::query("INSERT INTO sale_payments (sale_id, line_no, method, amount_cents) VALUES ($1, $2, $3, $4)")
            .bind(sale.id.to_string())
            .bind(i as i64 + 1)
            .bind(&p.method)
            .bind(p.amount_cents)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(tx) = tx {
        tx.changed("cash_sessions", sale.cash_session_id);
    }
    Ok(Sale {
        id: sale.id,
        cash_session_id: sale.cash_session_id,
        customer_id: sale.customer_id,
        lines,
        payments: sale.payments.clone(),
        total_cents: total,
        paid_cents: paid,
        change_cents: change,
        created_by: username.to_owned(),
        created_at,
    })
}

pub async fn create(
    CurrentUser(user): CurrentUser,
    State(state): State<AppState>,
    tx: WriteTx,
    ApiJson(raw): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let sale: NewSale = serde_json::from_value(raw.clone()).map_err(|e| ApiError::invalid("body", e.to_string()))?;
    crate::permissions::require(&user, crate::permissions::Action::Sell)?;
    if sale.lines.iter().any(|l| l.unit_price_cents.is_some()) {
        crate::permissions::require(&user, crate::permissions::Action::OverridePrice)?;
    }
    validate(&sale)?;
    let mut conn = tx.lock().await;
    let hash = by_id::body_hash(&raw);
    if let by_id::Existing::SameRequest = by_id::check(&mut conn, "sales", sale.id, &hash).await? {
        return Ok(by_id::replayed(load(&mut conn, sale.id).await?.ok_or(ApiError::NotFound)?));
    }
    let recorded = record(&mut conn, Some(&tx), &user.username, &sale, &hash, state.config.allow_negative_stock).await?;
    Ok((StatusCode::CREATED, Json(recorded)).into_response())
}

pub async fn get_one(_: CurrentUser, State(state): State<AppState>, Path(id): Path<Uuid>) -> Result<Json<Sale>, ApiError> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(load(&mut conn, id).await?.ok_or(ApiError::NotFound)?))
}

/// `?from=&to=` (days), newest first, with lines and payments.
pub async fn list(_: CurrentUser, State(state): State<AppState>, ApiQuery(params): ApiQuery<PeriodParams>) -> Result<Json<Page<Sale>>, ApiError> {
    let p = params.parse()?;
    let mut conn = state.db.pool().acquire().await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM sales WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at DESC, id LIMIT $3 OFFSET $4",
    )
    .bind(&p.start)
    .bind(&p.end)
    .bind(p.limit)
    .bind(p.offset)
    .fetch_all(&mut *conn)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sales WHERE created_at >= $1 AND created_at < $2")
        .bind(&p.start)
        .bind(&p.end)
        .fetch_one(&mut *conn)
        .await?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(sale) = load(&mut conn, uuid(id)?).await? {
            items.push(sale);
        }
    }
    Ok(Json(Page { items, total, limit: p.limit, offset: p.offset }))
}
