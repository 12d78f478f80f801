//! Refunds (units of a sale's lines given back, at the figures they were sold at) and voids (a sale
//! undone while its till is open). Both lock the sale's row first, so two devices refunding the same
//! lines at once are applied one after the other and the second sees what the first took back.

pub mod void;

use std::collections::BTreeMap;

use app::{
    limits,
    model::{refund_taxes, Page, Refund, RefundLine, Sale},
    totals::refund_share,
    wire::{ClosedSet, NewRefund, PaymentMethod},
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Value};
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    bounds,
    db::{get_choice, get_uuid, now},
    http::{
        error::{ApiError, FieldErrors},
        extract::ApiQuery,
        AppState,
    },
    idempotency::{by_id, WriteTx},
    period::PeriodParams,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/refunds", get(list).post(create))
        .route("/api/refunds/{id}", get(get_one))
        .route("/api/sales/{id}/void", post(void::void))
}

/// Locks the till's row, then says whether it is open: a close running at the same moment either
/// waits for this write (and counts it) or has committed first (and this one sees it closed).
pub(crate) async fn lock_till(conn: &mut AnyConnection, id: Uuid) -> Result<Option<String>, ApiError> {
    sqlx::query("UPDATE cash_sessions SET closed_at = closed_at WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    crate::cash::closed_at(conn, "cash_session_id", id).await
}

/// Puts units back in stock, product by product in id order (as a sale takes them, so concurrent
/// writes lock rows in one order). A product deleted since the sale gets them too: its record stays
/// right, and the refund or void is not refused for it.
pub(crate) async fn restock(
    conn: &mut AnyConnection,
    tx: &WriteTx,
    units: BTreeMap<Uuid, i64>,
) -> Result<(), ApiError> {
    for (product, quantity) in units {
        let updated = sqlx::query(&format!(
            "UPDATE products SET stock = stock + $1 WHERE id = $2 AND stock <= {} - $1",
            limits::STOCK.max
        ))
        .bind(quantity)
        .bind(product.to_string())
        .execute(&mut *conn)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(ApiError::invalid(
                "lines",
                format!("would take a product's stock {}", limits::STOCK.message()),
            ));
        }
        tx.changed("products", product);
    }
    Ok(())
}

/// Locks the sale's row for the rest of the transaction (an UPDATE that changes nothing takes the
/// row lock on PostgreSQL; SQLite has one writer at a time) and reads it. None: no such sale.
pub(crate) async fn lock_sale(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Sale>, ApiError> {
    let locked = sqlx::query("UPDATE sales SET refunded_cents = refunded_cents WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    if locked.rows_affected() == 0 {
        return Ok(None);
    }
    Ok(crate::sales::load(conn, id).await?)
}

pub async fn load(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Refund>, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT sale_id, cash_session_id, method, reason, net_cents, tax_cents, total_cents, created_by, created_at, \
         receipt_no FROM refunds WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let lines: Vec<RefundLine> = sqlx::query(
        "SELECT rl.sale_line_no, rl.product_id, rl.quantity, rl.damaged, sl.tax_name, sl.tax_rate_bp, rl.net_cents, \
         rl.tax_cents, rl.total_cents FROM refund_lines rl JOIN refunds r ON r.id = rl.refund_id \
         JOIN sale_lines sl ON sl.sale_id = r.sale_id AND sl.line_no = rl.sale_line_no \
         WHERE rl.refund_id = $1 ORDER BY rl.line_no",
    )
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|l| {
        Ok(RefundLine {
            sale_line_no: l.try_get("sale_line_no")?,
            product_id: get_uuid(l, "product_id")?,
            quantity: l.try_get("quantity")?,
            damaged: crate::db::get_bool(l, "damaged")?,
            tax_name: l.try_get("tax_name")?,
            tax_rate_bp: l.try_get("tax_rate_bp")?,
            net_cents: l.try_get("net_cents")?,
            tax_cents: l.try_get("tax_cents")?,
            total_cents: l.try_get("total_cents")?,
        })
    })
    .collect::<Result<_, sqlx::Error>>()?;
    Ok(Some(Refund {
        id,
        sale_id: get_uuid(&row, "sale_id")?,
        cash_session_id: get_uuid(&row, "cash_session_id")?,
        method: get_choice(&row, "method")?,
        reason: row.try_get("reason")?,
        taxes: refund_taxes(&lines),
        lines,
        net_cents: row.try_get("net_cents")?,
        tax_cents: row.try_get("tax_cents")?,
        total_cents: row.try_get("total_cents")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        receipt_no: row.try_get("receipt_no")?,
    }))
}

/// Shape checks that need no database, on the raw JSON (so a bad value is named by its field).
fn validate_json(raw: &Value) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    bounds::check_choice::<PaymentMethod>(raw, "method", &mut errors);
    match raw.get("reason").and_then(Value::as_str).map(str::trim) {
        Some(r) if !r.is_empty() && r.chars().count() <= limits::REASON_MAX => {}
        _ => {
            errors.insert("reason", format!("is required, at most {} characters", limits::REASON_MAX));
        }
    }
    let lines = raw.get("lines").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    if lines.is_empty() || lines.len() > limits::LINES_MAX {
        errors.insert("lines", format!("must have 1 to {} lines", limits::LINES_MAX));
    } else {
        let line_no = limits::Range { min: 1, max: limits::LINES_MAX as i64, unit: "" };
        let bad = lines.iter().enumerate().find_map(|(i, l)| {
            let check = |field: &str, range: limits::Range| match l.get(field) {
                None | Some(Value::Null) => Some(format!("{}: {field} is required", i + 1)),
                Some(v) => range.check_json(v).err().map(|m| format!("{}: {field} {m}", i + 1)),
            };
            check("line_no", line_no).or_else(|| check("quantity", limits::QUANTITY))
        });
        if let Some(bad) = bad {
            errors.insert("lines", format!("line {bad}"));
        }
    }
    ApiError::unless_any(errors)
}

/// A refund: checked against what was sold and not yet refunded (409 `refund_exceeds_sold`), units
/// back to stock unless damaged, paid out from an open till, in one transaction.
#[utoipa::path(post, path = "/api/refunds", tag = "sales", request_body = NewRefund,
    responses((status = 201, body = Refund), (status = 403, body = app::model::ErrorEnvelope),
              (status = 409, body = app::model::ErrorEnvelope), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn create(CurrentUser(user): CurrentUser, tx: WriteTx, sent: by_id::Sent) -> Result<Response, ApiError> {
    validate_json(&sent.raw)?;
    let refund: NewRefund = sent.parse()?;
    crate::permissions::require(&user, crate::permissions::Action::Refund)?;
    let mut conn = tx.lock().await;
    // The sale first: the same refund sent twice at once waits here, then finds itself below.
    let Some(sale) = lock_sale(&mut conn, refund.sale_id).await? else {
        return Err(ApiError::invalid("sale_id", "no such sale"));
    };
    if let by_id::Existing::SameRequest = by_id::check(&mut conn, "refunds", refund.id, &sent.hash).await? {
        return Ok(by_id::replayed(load(&mut conn, refund.id).await?.ok_or(ApiError::NotFound)?));
    }
    if sale.voided_at.is_some() {
        return Err(ApiError::conflict("sale_voided", "this sale was voided: there is nothing to refund"));
    }
    if let Some(closed) = lock_till(&mut conn, refund.cash_session_id).await? {
        return Err(ApiError::Conflict {
            code: "cash_session_closed",
            message: "this cash session is closed: pay the refund from the open one".into(),
            details: Some(json!({ "cash_session_id": refund.cash_session_id, "closed_at": closed })),
        });
    }
    // Units asked per line of the sale; a line named twice is asked once with both quantities.
    let mut asked: BTreeMap<i64, (i64, bool)> = BTreeMap::new();
    for l in &refund.lines {
        let entry = asked.entry(l.line_no).or_insert((0, l.damaged));
        if entry.1 != l.damaged {
            return Err(ApiError::invalid("lines", format!("line {} is named twice, damaged and not", l.line_no)));
        }
        entry.0 += l.quantity;
    }
    let mut lines = Vec::with_capacity(asked.len());
    for (line_no, (quantity, damaged)) in asked {
        let Some(sold) = usize::try_from(line_no - 1).ok().and_then(|i| sale.lines.get(i)) else {
            return Err(ApiError::invalid("lines", format!("the sale has no line {line_no}")));
        };
        let left = sold.quantity - sold.refunded_quantity;
        if quantity > left {
            return Err(ApiError::Conflict {
                code: "refund_exceeds_sold",
                message: format!(
                    "line {line_no}: {quantity} asked back, but {} were sold and {} already refunded",
                    sold.quantity, sold.refunded_quantity
                ),
                details: Some(json!({"line_no": line_no, "sold": sold.quantity,
                    "refunded": sold.refunded_quantity, "requested": quantity})),
            });
        }
        let share = |amount| refund_share(amount, sold.quantity, sold.refunded_quantity, quantity);
        let (total, tax) = (share(sold.total_cents), share(sold.tax_cents));
        lines.push(RefundLine {
            sale_line_no: line_no,
            product_id: sold.product_id,
            quantity,
            damaged,
            tax_name: sold.tax_name.clone(),
            tax_rate_bp: sold.tax_rate_bp,
            net_cents: total - tax,
            tax_cents: tax,
            total_cents: total,
        });
    }
    let mut back: BTreeMap<Uuid, i64> = BTreeMap::new();
    for l in lines.iter().filter(|l| !l.damaged) {
        *back.entry(l.product_id).or_default() += l.quantity;
    }
    restock(&mut conn, &tx, back).await?;
    if let Some(no) = &refund.receipt_no {
        crate::registers::claim(&mut conn, no, "refund", refund.id).await?;
    }
    let (net, tax, total) =
        lines.iter().fold((0, 0, 0), |(n, t, g), l| (n + l.net_cents, t + l.tax_cents, g + l.total_cents));
    let created_at = now();
    sqlx::query(
        "INSERT INTO refunds (id, sale_id, cash_session_id, method, reason, net_cents, tax_cents, total_cents, \
         created_by, created_at, request_hash, receipt_no) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(refund.id.to_string())
    .bind(refund.sale_id.to_string())
    .bind(refund.cash_session_id.to_string())
    .bind(refund.method.as_str())
    .bind(refund.reason.trim())
    .bind(net)
    .bind(tax)
    .bind(total)
    .bind(&user.username)
    .bind(&created_at)
    .bind(&sent.hash)
    .bind(refund.receipt_no.as_deref())
    .execute(&mut *conn)
    .await?;
    for (i, l) in lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO refund_lines (refund_id, line_no, sale_line_no, product_id, quantity, damaged, net_cents, \
             tax_cents, total_cents) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(refund.id.to_string())
        .bind(i as i64 + 1)
        .bind(l.sale_line_no)
        .bind(l.product_id.to_string())
        .bind(l.quantity)
        .bind(l.damaged)
        .bind(l.net_cents)
        .bind(l.tax_cents)
        .bind(l.total_cents)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("UPDATE sales SET refunded_cents = refunded_cents + $1 WHERE id = $2")
        .bind(total)
        .bind(refund.sale_id.to_string())
        .execute(&mut *conn)
        .await?;
    tx.changed("cash_sessions", refund.cash_session_id);
    let made = Refund {
        id: refund.id,
        sale_id: refund.sale_id,
        cash_session_id: refund.cash_session_id,
        method: refund.method,
        reason: refund.reason.trim().to_owned(),
        taxes: refund_taxes(&lines),
        lines,
        net_cents: net,
        tax_cents: tax,
        total_cents: total,
        created_by: user.username.clone(),
        created_at,
        receipt_no: refund.receipt_no.clone(),
    };
    Ok((StatusCode::CREATED, Json(made)).into_response())
}

#[utoipa::path(get, path = "/api/refunds/{id}", tag = "sales", params(("id" = Uuid, Path)),
    responses((status = 200, body = Refund), (status = 404, body = app::model::ErrorEnvelope)))]
pub async fn get_one(
    _: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<Refund>, ApiError> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(load(&mut conn, id).await?.ok_or(ApiError::NotFound)?))
}

/// `?from=&to=` (the shop's days), newest first.
#[utoipa::path(get, path = "/api/refunds", tag = "sales", params(("from" = Option<String>, Query, description = "first day, YYYY-MM-DD"), ("to" = Option<String>, Query, description = "last day, YYYY-MM-DD"), ("limit" = Option<String>, Query, description = "page size, at most 200"), ("offset" = Option<String>, Query, description = "rows to skip")),
    responses((status = 200, body = app::model::Page<Refund>), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn list(
    _: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PeriodParams>,
) -> Result<Json<Page<Refund>>, ApiError> {
    let p = params.in_shop_days(&state).await?;
    let mut conn = state.db.pool().acquire().await?;
    let (ids, total) = p.page_ids(&mut conn, "refunds").await?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(r) = load(&mut conn, id).await? {
            items.push(r);
        }
    }
    Ok(Json(Page { items, total, limit: p.limit, offset: p.offset }))
}
