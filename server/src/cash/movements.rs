//! Cash put into or taken out of a till (change float top-up, a withdrawal to the bank).

use app::{
    model::{CashMovement, Page},
    wire::{CashMovementKind, ClosedSet, NewCashMovement},
};
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use sqlx::{any::AnyRow, AnyConnection, Row};
use uuid::Uuid;

use super::sessions::ensure_open;
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

const COLUMNS: &str = "id, cash_session_id, kind, amount_cents, reason, created_by, created_at";

fn from_row(row: &AnyRow) -> Result<CashMovement, sqlx::Error> {
    Ok(CashMovement {
        id: get_uuid(row, "id")?,
        cash_session_id: get_uuid(row, "cash_session_id")?,
        kind: crate::db::get_choice(row, "kind")?,
        amount_cents: row.try_get("amount_cents")?,
        reason: row.try_get("reason")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

async fn load(conn: &mut AnyConnection, id: Uuid) -> Result<CashMovement, ApiError> {
    crate::db::load_by_id(conn, "cash_movements", COLUMNS, id, from_row).await?.ok_or(ApiError::NotFound)
}

/// Cash put in or taken out of an open till.
#[utoipa::path(post, path = "/api/cash-movements", tag = "cash", request_body = NewCashMovement,
    responses((status = 201, body = CashMovement), (status = 200, body = CashMovement, description = "the same request again"),
              (status = 409, body = app::model::ErrorEnvelope), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn create(CurrentUser(user): CurrentUser, tx: WriteTx, sent: by_id::Sent) -> Result<Response, ApiError> {
    let mut errors = FieldErrors::new();
    crate::bounds::check_fields(&sent.raw, &[("amount_cents", app::limits::AMOUNT)], &mut errors);
    crate::bounds::check_choice::<CashMovementKind>(&sent.raw, "kind", &mut errors);
    ApiError::unless_any(std::mem::take(&mut errors))?;
    let body: NewCashMovement = sent.parse()?;
    crate::permissions::require(&user, crate::permissions::Action::CashMovement)?;
    let reason = body.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 500 {
        errors.insert("reason", "must be 1 to 500 characters".into());
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut conn = tx.lock().await;
    if let by_id::Existing::SameRequest = by_id::check(&mut conn, "cash_movements", body.id, &sent.hash).await? {
        return Ok(by_id::replayed(load(&mut conn, body.id).await?));
    }
    ensure_open(&mut conn, "cash_session_id", body.cash_session_id).await?;
    sqlx::query(
        "INSERT INTO cash_movements (id, cash_session_id, kind, amount_cents, reason, created_by, created_at, request_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(body.id.to_string())
    .bind(body.cash_session_id.to_string())
    .bind(body.kind.as_str())
    .bind(body.amount_cents)
    .bind(&reason)
    .bind(&user.username)
    .bind(now())
    .bind(&sent.hash)
    .execute(&mut *conn)
    .await?;
    tx.changed("cash_sessions", body.cash_session_id);
    Ok((StatusCode::CREATED, Json(load(&mut conn, body.id).await?)).into_response())
}

#[utoipa::path(get, path = "/api/cash-movements", tag = "cash", params(("from" = Option<String>, Query, description = "first day, YYYY-MM-DD"), ("to" = Option<String>, Query, description = "last day, YYYY-MM-DD"), ("limit" = Option<String>, Query, description = "page size, at most 200"), ("offset" = Option<String>, Query, description = "rows to skip")),
    responses((status = 200, body = app::model::Page<CashMovement>), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn list(
    _: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PeriodParams>,
) -> Result<Json<Page<CashMovement>>, ApiError> {
    let p = params.in_shop_days(&state).await?;
    Ok(Json(p.page(&state.db.pool(), ("cash_movements", COLUMNS, "created_at"), p.timestamps(), from_row).await?))
}
