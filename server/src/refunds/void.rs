//! `POST /api/sales/{id}/void`: a sale rung up by mistake is undone completely (its stock comes back,
//! it leaves the till's expected cash and every total) while its till is still open. After the till
//! closes its count includes the sale, so only a refund can give the money back.

use app::{limits, model::Sale, wire::VoidSale};
use axum::{
    extract::Path,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::Value;
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    db::now,
    http::{
        error::{ApiError, FieldErrors},
        extract::ApiJson,
    },
    idempotency::WriteTx,
};

/// Voids the sale; voiding it again answers it as it is (200). The body (`VoidSale`) is read as raw
/// JSON so that a missing reason is reported under its own field.
#[utoipa::path(post, path = "/api/sales/{id}/void", tag = "sales", params(("id" = Uuid, Path)), request_body = VoidSale,
    responses((status = 200, body = Sale), (status = 404, body = app::model::ErrorEnvelope),
              (status = 409, body = app::model::ErrorEnvelope), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn void(
    CurrentUser(user): CurrentUser,
    tx: WriteTx,
    Path(id): Path<Uuid>,
    ApiJson(raw): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let reason = match raw.get("reason").and_then(Value::as_str).map(str::trim) {
        Some(r) if !r.is_empty() && r.chars().count() <= limits::REASON_MAX => r.to_owned(),
        _ => {
            return Err(ApiError::Validation(FieldErrors::from([(
                "reason",
                format!("is required, at most {} characters", limits::REASON_MAX),
            )])))
        }
    };
    crate::permissions::require(&user, crate::permissions::Action::Refund)?;
    let mut conn = tx.lock().await;
    let Some(sale) = super::lock_sale(&mut conn, id).await? else { return Err(ApiError::NotFound) };
    let till_closed = super::lock_till(&mut conn, sale.cash_session_id).await?.is_some();
    if sale.voided_at.is_some() {
        return Ok((StatusCode::OK, Json(sale)).into_response());
    }
    if sale.refunded_cents > 0 || sale.lines.iter().any(|l| l.refunded_quantity > 0) {
        return Err(ApiError::conflict(
            "sale_refunded",
            "this sale has refunds: refund the rest instead of voiding it",
        ));
    }
    if sale.after_close || till_closed {
        return Err(ApiError::conflict(
            "cash_session_closed",
            "the sale's till is closed and its count includes the sale: only a refund can undo it now",
        ));
    }
    let mut back: std::collections::BTreeMap<Uuid, i64> = Default::default();
    for l in &sale.lines {
        *back.entry(l.product_id).or_default() += l.quantity;
    }
    super::restock(&mut conn, &tx, back).await?;
    let at = now();
    sqlx::query("UPDATE sales SET voided_at = $1, voided_by = $2, void_reason = $3 WHERE id = $4")
        .bind(&at)
        .bind(&user.username)
        .bind(&reason)
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    tx.changed("cash_sessions", sale.cash_session_id);
    let voided = Sale { voided_at: Some(at), voided_by: Some(user.username.clone()), void_reason: reason, ..sale };
    Ok((StatusCode::OK, Json(voided)).into_response())
}
