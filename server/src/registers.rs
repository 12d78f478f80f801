//! Registers and receipt numbers that work offline (issue 14, point 5).
//!
//! A device sets up its register once, online: `POST /api/registers` hands it a code no other device
//! has (C1, C2, …). Offline it numbers its own sales and refunds `C1-000001`, `C1-000002`, … with a
//! counter it keeps in the same IndexedDB transaction as its outbox, so the numbers of one register are
//! gapless and two devices can never produce the same one. The server keeps every number given in
//! `receipt_numbers` and refuses one used twice (409 `receipt_number_taken`).

use app::{
    model::Register,
    wire::{parse_receipt_no, NewRegister},
};
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use sqlx::{any::AnyRow, AnyConnection, Row};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    db::{get_uuid, is_unique_violation, now},
    http::{error::ApiError, extract::ApiJson, AppState},
    idempotency::WriteTx,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/registers", get(list).post(create))
}

const SELECT: &str = "SELECT r.code, r.device_id, r.name, r.created_by, r.created_at, \
    (SELECT CAST(COALESCE(MAX(n.seq), 0) AS BIGINT) FROM receipt_numbers n WHERE n.register_code = r.code) AS last_seq \
    FROM registers r";

fn from_row(row: &AnyRow) -> Result<Register, sqlx::Error> {
    Ok(Register {
        code: row.try_get("code")?,
        device_id: get_uuid(row, "device_id")?,
        name: row.try_get("name")?,
        last_seq: row.try_get("last_seq")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

async fn by_device(conn: &mut AnyConnection, device: Uuid) -> Result<Option<Register>, sqlx::Error> {
    sqlx::query(&format!("{SELECT} WHERE r.device_id = $1"))
        .bind(device.to_string())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// This device's register: made with the next code, or the one it already has (200).
#[utoipa::path(post, path = "/api/registers", tag = "cash", request_body = NewRegister,
    responses((status = 201, body = Register), (status = 200, body = Register, description = "this device already has one"),
              (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn create(
    CurrentUser(user): CurrentUser,
    tx: WriteTx,
    ApiJson(body): ApiJson<NewRegister>,
) -> Result<Response, ApiError> {
    crate::permissions::require(&user, crate::permissions::Action::Sell)?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("name", "must be 1 to 60 characters, without control characters"));
    }
    let mut conn = tx.lock().await;
    if let Some(existing) = by_device(&mut conn, body.device_id).await? {
        return Ok((StatusCode::OK, Json(existing)).into_response());
    }
    let n: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(MAX(n), 0) + 1 AS BIGINT) FROM registers")
        .fetch_one(&mut *conn)
        .await?;
    let inserted = sqlx::query(
        "INSERT INTO registers (n, code, device_id, name, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(n)
    .bind(format!("C{n}"))
    .bind(body.device_id.to_string())
    .bind(name)
    .bind(&user.username)
    .bind(now())
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => {}
        // Two devices set up at the same instant (PostgreSQL): the other took this code; try again.
        Err(e) if is_unique_violation(&e) => return Err(ApiError::Busy),
        Err(e) => return Err(e.into()),
    }
    let made =
        by_device(&mut conn, body.device_id).await?.ok_or_else(|| ApiError::Internal("register vanished".into()))?;
    tracing::info!(code = %made.code, device = %made.device_id, by = %user.username, "register set up");
    Ok((StatusCode::CREATED, Json(made)).into_response())
}

#[utoipa::path(get, path = "/api/registers", tag = "cash", responses((status = 200, body = Vec<Register>)))]
pub async fn list(_: CurrentUser, State(state): State<AppState>) -> Result<Json<Vec<Register>>, ApiError> {
    let mut conn = state.db.pool().acquire().await?;
    let rows = sqlx::query(&format!("{SELECT} ORDER BY r.n")).fetch_all(&mut *conn).await?;
    Ok(Json(rows.iter().map(from_row).collect::<Result<_, _>>()?))
}

/// Records `receipt_no` as the number of a sale or refund (`kind`): 422 when it is not a number of a
/// register of this shop, 409 `receipt_number_taken` when another document has it. Call it before
/// writing the document, so a refused number leaves nothing behind.
pub async fn claim(conn: &mut AnyConnection, receipt_no: &str, kind: &str, document: Uuid) -> Result<(), ApiError> {
    let Some((code, seq)) = parse_receipt_no(receipt_no) else {
        return Err(ApiError::invalid("receipt_no", "must be a register's code and number, like C1-000123"));
    };
    let known: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM registers WHERE code = $1").bind(code).fetch_one(&mut *conn).await?;
    if known == 0 {
        return Err(ApiError::invalid("receipt_no", format!("no register has the code {code}")));
    }
    let taken: Option<String> = sqlx::query_scalar("SELECT document_id FROM receipt_numbers WHERE receipt_no = $1")
        .bind(receipt_no)
        .fetch_optional(&mut *conn)
        .await?;
    if taken.is_some() {
        return Err(ApiError::conflict("receipt_number_taken", format!("{receipt_no} is already on another receipt")));
    }
    sqlx::query(
        "INSERT INTO receipt_numbers (receipt_no, register_code, seq, kind, document_id) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(receipt_no)
    .bind(code)
    .bind(seq)
    .bind(kind)
    .bind(document.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
