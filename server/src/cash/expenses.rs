//! Expenses: what the shop spent, optionally paid from a till's cash.

use app::model::{Expense, Page};
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
    db::{get_opt_uuid, get_uuid, now},
    http::{
        error::{ApiError, FieldErrors},
        extract::ApiQuery,
        AppState,
    },
    idempotency::{by_id, WriteTx},
    period::PeriodParams,
};

const COLUMNS: &str = "id, spent_on, category, amount_cents, description, cash_session_id, created_by, created_at";

fn from_row(row: &AnyRow) -> Result<Expense, sqlx::Error> {
    Ok(Expense {
        id: get_uuid(row, "id")?,
        spent_on: row.try_get("spent_on")?,
        category: row.try_get("category")?,
        amount_cents: row.try_get("amount_cents")?,
        description: row.try_get("description")?,
        cash_session_id: get_opt_uuid(row, "cash_session_id")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

async fn load(conn: &mut AnyConnection, id: Uuid) -> Result<Expense, ApiError> {
    crate::db::load_by_id(conn, "expenses", COLUMNS, id, from_row).await?.ok_or(ApiError::NotFound)
}

/// An expense, paid from an open till or not.
#[utoipa::path(post, path = "/api/expenses", tag = "cash", request_body = app::wire::NewExpense,
    responses((status = 201, body = Expense), (status = 200, body = Expense, description = "the same request again"),
              (status = 409, body = app::model::ErrorEnvelope), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn create(CurrentUser(user): CurrentUser, tx: WriteTx, sent: by_id::Sent) -> Result<Response, ApiError> {
    crate::bounds::require(&sent.raw, &[("amount_cents", app::limits::AMOUNT)])?;
    let body: app::wire::NewExpense = sent.parse()?;
    let action = if body.cash_session_id.is_some() {
        crate::permissions::Action::TillExpense
    } else {
        crate::permissions::Action::OtherExpense
    };
    crate::permissions::require(&user, action)?;
    let mut errors = FieldErrors::new();
    let day = time::macros::format_description!("[year]-[month]-[day]");
    if time::Date::parse(&body.spent_on, &day).is_err() {
        errors.insert("spent_on", "must be a date YYYY-MM-DD".into());
    }
    let category = body.category.trim().to_owned();
    if category.is_empty() || category.chars().count() > 100 {
        errors.insert("category", "must be 1 to 100 characters".into());
    }
    if body.description.chars().count() > 2000 {
        errors.insert("description", "must be at most 2000 characters".into());
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut conn = tx.lock().await;
    if let by_id::Existing::SameRequest = by_id::check(&mut conn, "expenses", body.id, &sent.hash).await? {
        return Ok(by_id::replayed(load(&mut conn, body.id).await?));
    }
    if let Some(session) = body.cash_session_id {
        ensure_open(&mut conn, "cash_session_id", session).await?;
        tx.changed("cash_sessions", session);
    }
    sqlx::query(
        "INSERT INTO expenses (id, spent_on, category, amount_cents, description, cash_session_id, created_by, created_at, request_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(body.id.to_string())
    .bind(&body.spent_on)
    .bind(&category)
    .bind(body.amount_cents)
    .bind(body.description.trim())
    .bind(body.cash_session_id.map(|s| s.to_string()))
    .bind(&user.username)
    .bind(now())
    .bind(&sent.hash)
    .execute(&mut *conn)
    .await?;
    Ok((StatusCode::CREATED, Json(load(&mut conn, body.id).await?)).into_response())
}

/// `?from=&to=` by the day it was spent.
#[utoipa::path(get, path = "/api/expenses", tag = "cash", params(("from" = Option<String>, Query, description = "first day, YYYY-MM-DD"), ("to" = Option<String>, Query, description = "last day, YYYY-MM-DD"), ("limit" = Option<String>, Query, description = "page size, at most 200"), ("offset" = Option<String>, Query, description = "rows to skip")),
    responses((status = 200, body = app::model::Page<Expense>), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn list(
    _: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PeriodParams>,
) -> Result<Json<Page<Expense>>, ApiError> {
    let p = params.in_shop_days(&state).await?;
    Ok(Json(p.page(&state.db.pool(), ("expenses", COLUMNS, "spent_on"), p.days(), from_row).await?))
}
