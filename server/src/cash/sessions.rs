//! Cash sessions.

use app::model::{CashSession, Page};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::Value;
use sqlx::{any::AnyRow, AnyConnection, Row};
use uuid::Uuid;

use app::limits;

use crate::{
    auth::CurrentUser,
    bounds::{check_fields, read_sum, saturate, sum_sql},
    db::{get_uuid, is_unique_violation, now},
    http::{
        error::{ApiError, FieldErrors},
        extract::{ApiJson, ApiQuery},
        AppState,
    },
    idempotency::{by_id, WriteTx},
    period::PeriodParams,
};

const COLUMNS: &str = "id, register, opening_float_cents, opened_by, opened_at, closed_at, closed_by, \
    counted_cents, expected_cents, difference_cents, version, updated_at";

/// Cash the drawer should hold now: float + cash payments − change (voided sales left out) − cash
/// refunds + cash in − cash out − expenses.
/// Summed exactly (bounds::sum_sql), so no number or size of accepted rows can make a till, the feed
/// or the dashboard fail; a figure beyond i64 is reported at the limit.
pub async fn expected_cash(conn: &mut AnyConnection, id: Uuid, opening: i64) -> Result<i64, sqlx::Error> {
    let parts = sqlx::query(&format!(
        "SELECT {} FROM sale_payments p JOIN sales s ON s.id = p.sale_id WHERE s.cash_session_id = $1 AND p.method = 'cash' \
         AND s.voided_at IS NULL \
         UNION ALL SELECT {} FROM sales WHERE cash_session_id = $1 AND voided_at IS NULL \
         UNION ALL SELECT {} FROM refunds WHERE cash_session_id = $1 AND method = 'cash' \
         UNION ALL SELECT {} FROM cash_movements WHERE cash_session_id = $1 \
         UNION ALL SELECT {} FROM expenses WHERE cash_session_id = $1",
        sum_sql("p.amount_cents", "t"),
        sum_sql("-change_cents", "t"),
        sum_sql("-total_cents", "t"),
        sum_sql("CASE WHEN kind = 'in' THEN amount_cents ELSE -amount_cents END", "t"),
        sum_sql("-amount_cents", "t"),
    ))
    .bind(id.to_string())
    .fetch_all(conn)
    .await?;
    let mut expected = i128::from(opening);
    for part in &parts {
        expected += read_sum(part, "t")?;
    }
    Ok(saturate(expected, "expected cash"))
}

async fn from_row(conn: &mut AnyConnection, row: &AnyRow) -> Result<CashSession, sqlx::Error> {
    let id = get_uuid(row, "id")?;
    let opening: i64 = row.try_get("opening_float_cents")?;
    let closed_at: Option<String> = row.try_get("closed_at")?;
    let expected = match row.try_get::<Option<i64>, _>("expected_cents")? {
        Some(frozen) if closed_at.is_some() => frozen,
        _ => expected_cash(conn, id, opening).await?,
    };
    let (late_sales, late_cash_cents) = if closed_at.is_some() { late_sales(conn, id).await? } else { (0, 0) };
    Ok(CashSession {
        id,
        register: row.try_get("register")?,
        opening_float_cents: opening,
        opened_by: row.try_get("opened_by")?,
        opened_at: row.try_get("opened_at")?,
        expected_cents: expected,
        closed_at,
        closed_by: row.try_get("closed_by")?,
        counted_cents: row.try_get("counted_cents")?,
        difference_cents: row.try_get("difference_cents")?,
        late_sales,
        late_cash_cents,
        version: row.try_get("version")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub async fn load(conn: &mut AnyConnection, id: Uuid) -> Result<Option<CashSession>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM cash_sessions WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(Some(from_row(conn, &row).await?)),
        None => Ok(None),
    }
}

/// When the session was closed (None: open); 422 when there is no such session.
pub async fn closed_at(conn: &mut AnyConnection, field: &'static str, id: Uuid) -> Result<Option<String>, ApiError> {
    let closed_at: Option<Option<String>> = sqlx::query_scalar("SELECT closed_at FROM cash_sessions WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    closed_at.ok_or_else(|| ApiError::invalid(field, "no such cash session"))
}

/// The session a cash movement or an expense goes into: it must exist (422) and be open (409). (A
/// sale into a closed one is accepted as a late sale: see `sales::record`.)
pub async fn ensure_open(conn: &mut AnyConnection, field: &'static str, id: Uuid) -> Result<(), ApiError> {
    match closed_at(conn, field, id).await? {
        Some(closed) => Err(ApiError::Conflict {
            code: "cash_session_closed",
            message: "this cash session is closed".into(),
            details: Some(serde_json::json!({ "cash_session_id": id, "closed_at": closed })),
        }),
        None => Ok(()),
    }
}

/// The sales a closed session received after its close, and the cash they took (cash paid − change).
async fn late_sales(conn: &mut AnyConnection, id: Uuid) -> Result<(i64, i64), sqlx::Error> {
    let sales = sqlx::query(&format!(
        "SELECT COUNT(*) AS n, {} FROM sales WHERE cash_session_id = $1 AND after_close = TRUE AND voided_at IS NULL",
        sum_sql("change_cents", "change")
    ))
    .bind(id.to_string())
    .fetch_one(&mut *conn)
    .await?;
    let cash = sqlx::query(&format!(
        "SELECT {} FROM sale_payments p JOIN sales s ON s.id = p.sale_id \
         WHERE s.cash_session_id = $1 AND s.after_close = TRUE AND s.voided_at IS NULL AND p.method = 'cash'",
        sum_sql("p.amount_cents", "cash")
    ))
    .bind(id.to_string())
    .fetch_one(&mut *conn)
    .await?;
    let late_cash = read_sum(&cash, "cash")? - read_sum(&sales, "change")?;
    Ok((sales.try_get("n")?, saturate(late_cash, "late cash")))
}

/// Opens a till (a cash session) on a register with its float; one open session per register.
#[utoipa::path(post, path = "/api/cash-sessions", tag = "cash", request_body = app::wire::OpenTill,
    responses((status = 201, body = CashSession), (status = 200, body = CashSession, description = "the same request again"),
              (status = 409, body = app::model::ErrorEnvelope), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn open(CurrentUser(user): CurrentUser, tx: WriteTx, sent: by_id::Sent) -> Result<Response, ApiError> {
    crate::permissions::require(&user, crate::permissions::Action::OpenTill)?;
    let mut errors = FieldErrors::new();
    check_fields(&sent.raw, &[("opening_float_cents", limits::CASH)], &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let body: app::wire::OpenTill = sent.parse()?;
    let register = body.register.trim().to_owned();
    if register.is_empty() || register.chars().count() > 64 {
        errors.insert("register", "must be 1 to 64 characters".into());
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let mut conn = tx.lock().await;
    if let by_id::Existing::SameRequest = by_id::check(&mut conn, "cash_sessions", body.id, &sent.hash).await? {
        return Ok(by_id::replayed(load(&mut conn, body.id).await?.ok_or(ApiError::NotFound)?));
    }
    let already_open = |open_id: Option<String>| ApiError::Conflict {
        code: "cash_session_already_open",
        message: format!("register {register} already has an open cash session"),
        details: Some(serde_json::json!({ "open_session_id": open_id })),
    };
    let open_id: Option<String> =
        sqlx::query_scalar("SELECT id FROM cash_sessions WHERE register = $1 AND closed_at IS NULL")
            .bind(&register)
            .fetch_optional(&mut *conn)
            .await?;
    if open_id.is_some() {
        return Err(already_open(open_id));
    }
    let ts = now();
    let inserted = sqlx::query(
        "INSERT INTO cash_sessions (id, register, opening_float_cents, opened_by, opened_at, request_hash, version, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $5)",
    )
    .bind(body.id.to_string())
    .bind(&register)
    .bind(body.opening_float_cents)
    .bind(&user.username)
    .bind(&ts)
    .bind(&sent.hash)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => {}
        // Opened by a concurrent request between our check and our insert. (On PostgreSQL the
        // failed statement aborted the transaction: no more queries here.)
        Err(e) if is_unique_violation(&e) => return Err(already_open(None)),
        Err(e) => return Err(e.into()),
    }
    tx.changed("cash_sessions", body.id);
    let session = load(&mut conn, body.id).await?.ok_or(ApiError::NotFound)?;
    Ok((StatusCode::CREATED, Json(session)).into_response())
}

/// Closes with the counted cash; the expected cash and the difference are frozen. Closing a closed
/// session answers 200 with its state and changes nothing (a retry from a phone that lost the answer).
#[utoipa::path(post, path = "/api/cash-sessions/{id}/close", tag = "cash", request_body = app::wire::CloseTill,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CashSession), (status = 404, body = app::model::ErrorEnvelope), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn close(
    CurrentUser(user): CurrentUser,
    tx: WriteTx,
    Path(id): Path<Uuid>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<CashSession>, ApiError> {
    // `app::wire::CloseTill`, read field by field so that an out-of-range number gets the range
    // message under its own name.
    crate::permissions::require(&user, crate::permissions::Action::CloseTill)?;
    let counted = match body.get("counted_cents") {
        None | Some(Value::Null) => return Err(ApiError::invalid("counted_cents", "is required")),
        Some(v) => limits::CASH.check_json(v).map_err(|m| ApiError::invalid("counted_cents", m))?,
    };
    let mut conn = tx.lock().await;
    let session = load(&mut conn, id).await?.ok_or(ApiError::NotFound)?;
    if session.closed_at.is_some() {
        return Ok(Json(session));
    }
    let ts = now();
    sqlx::query(
        "UPDATE cash_sessions SET closed_at = $1, closed_by = $2, counted_cents = $3, expected_cents = $4, \
         difference_cents = $5, version = version + 1, updated_at = $1 WHERE id = $6 AND closed_at IS NULL",
    )
    .bind(&ts)
    .bind(&user.username)
    .bind(counted)
    .bind(session.expected_cents)
    .bind(saturate(i128::from(counted) - i128::from(session.expected_cents), "cash difference"))
    .bind(id.to_string())
    .execute(&mut *conn)
    .await?;
    tx.changed("cash_sessions", id);
    Ok(Json(load(&mut conn, id).await?.ok_or(ApiError::NotFound)?))
}

#[utoipa::path(get, path = "/api/cash-sessions/{id}", tag = "cash", params(("id" = Uuid, Path)),
    responses((status = 200, body = CashSession), (status = 404, body = app::model::ErrorEnvelope)))]
pub async fn get_one(
    _: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<CashSession>, ApiError> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(load(&mut conn, id).await?.ok_or(ApiError::NotFound)?))
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    status: Option<String>,
    #[serde(flatten)]
    period: PeriodParams,
}

/// `?status=open|closed&from=&to=` (by opening day), newest first.
#[utoipa::path(get, path = "/api/cash-sessions", tag = "cash",
    params(("status" = Option<String>, Query, description = "open or closed"), ("from" = Option<String>, Query), ("to" = Option<String>, Query),
           ("limit" = Option<String>, Query), ("offset" = Option<String>, Query)),
    responses((status = 200, body = app::model::Page<CashSession>), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn list(
    _: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<CashSession>>, ApiError> {
    let period = params.period.in_shop_days(&state).await?;
    let status = match params.status.as_deref() {
        None | Some("") => "",
        Some("open") => " AND closed_at IS NULL",
        Some("closed") => " AND closed_at IS NOT NULL",
        Some(_) => return Err(ApiError::invalid("status", "must be open or closed")),
    };
    let filter = format!("opened_at >= $1 AND opened_at < $2{status}");
    let mut conn = state.db.pool().acquire().await?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM cash_sessions WHERE {filter} ORDER BY opened_at DESC, id LIMIT $3 OFFSET $4"
    ))
    .bind(&period.start)
    .bind(&period.end)
    .bind(period.limit)
    .bind(period.offset)
    .fetch_all(&mut *conn)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM cash_sessions WHERE {filter}"))
        .bind(&period.start)
        .bind(&period.end)
        .fetch_one(&mut *conn)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(from_row(&mut conn, row).await?);
    }
    Ok(Json(Page { items, total, limit: period.limit, offset: period.offset }))
}
