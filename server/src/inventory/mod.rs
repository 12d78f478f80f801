//! Stock: changed only by deltas (a sale's −2, a purchase's +12), computed here, so changes made
//! offline on different phones commute.

use app::{
    limits,
    model::{InventoryMovement, Page},
    wire::{ClosedSet, NewStockMovement, StockReason},
};
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::Value;
use sqlx::{any::AnyRow, AnyConnection, Row};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    db::{get_uuid, now},
    http::{
        error::{ApiError, FieldErrors},
        extract::ApiQuery,
        AppState,
    },
    idempotency::{by_id, WriteTx},
    period::PeriodParams,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/inventory-movements", get(list).post(create))
}

/// Adds `delta` to a live product's stock. Unless negative stock is allowed, a decrement below zero
/// is refused with 409 `insufficient_stock` naming the product and what is available; a stock beyond
/// ±limits::STOCK_MAX is refused with 422 on `delta_field`. The row lock taken by the UPDATE makes two
/// sales racing for the last unit serialise: one wins. The guard is written so that it cannot
/// overflow (|delta| and the bound are far inside i64).
pub async fn apply_stock(
    conn: &mut AnyConnection,
    product_id: Uuid,
    delta: i64,
    allow_negative: bool,
    field: &'static str,
    delta_field: &'static str,
) -> Result<(), ApiError> {
    let lowest = if allow_negative || delta >= 0 { limits::STOCK.min } else { 0 };
    let updated = sqlx::query(&format!(
        "UPDATE products SET stock = stock + $1 WHERE id = $2 AND deleted_at IS NULL \
         AND stock >= {lowest} - $1 AND stock <= {} - $1",
        limits::STOCK.max
    ))
    .bind(delta)
    .bind(product_id.to_string())
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 1 {
        return Ok(());
    }
    let row = sqlx::query("SELECT name, stock FROM products WHERE id = $1 AND deleted_at IS NULL")
        .bind(product_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        None => Err(ApiError::invalid(field, "no such product")),
        Some(row) => {
            let name: String = row.try_get("name")?;
            let available: i64 = row.try_get("stock")?;
            let after = i128::from(available) + i128::from(delta);
            if after > i128::from(limits::STOCK.max) || after < i128::from(limits::STOCK.min) {
                return Err(ApiError::invalid(
                    delta_field,
                    format!("would take the stock of {name} to {after}; stock {}", limits::STOCK.message()),
                ));
            }
            Err(ApiError::Conflict {
                code: "insufficient_stock",
                message: format!("not enough stock of {name}: {available} available, {} requested", -delta),
                details: Some(serde_json::json!({
                    "product_id": product_id, "name": name, "available": available, "requested": -delta,
                })),
            })
        }
    }
}

const COLUMNS: &str = "id, product_id, delta, reason, note, created_by, created_at";

fn from_row(row: &AnyRow) -> Result<InventoryMovement, sqlx::Error> {
    Ok(InventoryMovement {
        id: get_uuid(row, "id")?,
        product_id: get_uuid(row, "product_id")?,
        delta: row.try_get("delta")?,
        reason: crate::db::get_choice(row, "reason")?,
        note: row.try_get("note")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

async fn load(conn: &mut AnyConnection, id: Uuid) -> Result<InventoryMovement, ApiError> {
    crate::db::load_by_id(conn, "inventory_movements", COLUMNS, id, from_row).await?.ok_or(ApiError::NotFound)
}

/// A stock movement with its reason (purchase, adjustment, waste, return).
#[utoipa::path(post, path = "/api/inventory-movements", tag = "inventory", request_body = NewStockMovement,
    responses((status = 201, body = InventoryMovement), (status = 200, body = InventoryMovement, description = "the same request again"),
              (status = 409, body = app::model::ErrorEnvelope), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn create(
    CurrentUser(user): CurrentUser,
    State(state): State<AppState>,
    tx: WriteTx,
    sent: by_id::Sent,
) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::new();
    crate::bounds::check_fields(&sent.raw, &[("delta", limits::DELTA)], &mut errors);
    if sent.raw.get("delta").and_then(Value::as_i64) == Some(0) {
        errors.insert("delta", "must not be 0".into());
    }
    crate::bounds::check_choice::<StockReason>(&sent.raw, "reason", &mut errors);
    ApiError::unless_any(std::mem::take(&mut errors))?;
    let body: NewStockMovement = sent.parse()?;
    let note = body.note.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
    if note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        errors.insert("note", "must be at most 2000 characters".into());
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    crate::permissions::require(&user, crate::permissions::inventory_movement(body.reason))?;
    let mut conn = tx.lock().await;
    if let by_id::Existing::SameRequest = by_id::check(&mut conn, "inventory_movements", body.id, &sent.hash).await? {
        return Ok(by_id::replayed(load(&mut conn, body.id).await?));
    }
    apply_stock(&mut conn, body.product_id, body.delta, state.config.allow_negative_stock, "product_id", "delta")
        .await?;
    sqlx::query(
        "INSERT INTO inventory_movements (id, product_id, delta, reason, note, created_by, created_at, request_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(body.id.to_string())
    .bind(body.product_id.to_string())
    .bind(body.delta)
    .bind(body.reason.as_str())
    .bind(note)
    .bind(&user.username)
    .bind(now())
    .bind(&sent.hash)
    .execute(&mut *conn)
    .await?;
    tx.changed("products", body.product_id);
    Ok((StatusCode::CREATED, Json(load(&mut conn, body.id).await?)).into_response())
}

#[utoipa::path(get, path = "/api/inventory-movements", tag = "inventory", params(("from" = Option<String>, Query, description = "first day, YYYY-MM-DD"), ("to" = Option<String>, Query, description = "last day, YYYY-MM-DD"), ("limit" = Option<String>, Query, description = "page size, at most 200"), ("offset" = Option<String>, Query, description = "rows to skip")),
    responses((status = 200, body = app::model::Page<InventoryMovement>), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn list(
    _: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PeriodParams>,
) -> Result<Json<Page<InventoryMovement>>, ApiError> {
    let p = params.in_shop_days(&state).await?;
    Ok(Json(p.page(&state.db.pool(), ("inventory_movements", COLUMNS, "created_at"), p.timestamps(), from_row).await?))
}
