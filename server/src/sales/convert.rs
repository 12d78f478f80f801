//! `POST /api/quotes/{id}/convert`: a quote becomes a sale (its lines, its customer), once.

use app::model::{Payment, Quote};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{load, record, validate, NewLine, NewSale};
use crate::{
    auth::CurrentUser,
    catalog::{self, CatalogEntity},
    db::now,
    http::{error::ApiError, AppState},
    idempotency::{by_id, WriteTx},
};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ConvertRequest {
    sale_id: Uuid,
    cash_session_id: Uuid,
    /// Checked once the quote is found (a missing or converted quote answers 404 or 409 first),
    /// on the raw JSON like a sale's, so a bad method or amount is named.
    #[schema(value_type = Vec<Payment>)]
    payments: serde_json::Value,
}

impl ConvertRequest {
    fn payments_json(&self) -> serde_json::Value {
        serde_json::json!({ "payments": self.payments })
    }
}

/// A quote becomes a sale (its lines, its customer), once.
#[utoipa::path(post, path = "/api/quotes/{id}/convert", tag = "sales", request_body = ConvertRequest, params(("id" = Uuid, Path)),
    responses((status = 201, body = app::model::Sale), (status = 200, body = app::model::Sale, description = "converted already"),
              (status = 404, body = app::model::ErrorEnvelope), (status = 409, body = app::model::ErrorEnvelope), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn convert(
    CurrentUser(user): CurrentUser,
    State(state): State<AppState>,
    tx: WriteTx,
    Path(id): Path<Uuid>,
    sent: by_id::Sent,
) -> Result<Response, ApiError> {
    let body: ConvertRequest = sent.parse()?;
    crate::permissions::require(&user, crate::permissions::Action::Sell)?;
    let mut conn = tx.lock().await;
    let quote = match catalog::get_one::<Quote>(&mut conn, id).await? {
        Some(q) if !q.is_deleted() => q,
        _ => return Err(ApiError::NotFound),
    };
    if quote.status == "converted" {
        // Converting again with the same sale id is a retry: answer with that sale.
        if quote.sale_id == Some(body.sale_id) {
            let sale = load(&mut conn, body.sale_id).await?.ok_or(ApiError::NotFound)?;
            return Ok(by_id::replayed(sale));
        }
        return Err(ApiError::Conflict {
            code: "quote_already_converted",
            message: "this quote was already turned into a sale".into(),
            details: Some(serde_json::json!({ "sale_id": quote.sale_id })),
        });
    }
    super::validate_payments_json(&body.payments_json())?;
    let payments: Vec<Payment> =
        serde_json::from_value(body.payments).map_err(|e| ApiError::invalid("payments", e.to_string()))?;
    let sale = NewSale {
        id: body.sale_id,
        cash_session_id: body.cash_session_id,
        customer_id: quote.customer_id,
        lines: quote
            .lines
            .iter()
            .map(|l| NewLine {
                product_id: l.product_id,
                quantity: l.quantity,
                unit_price_cents: l.unit_price_cents,
                discount: None,
            })
            .collect(),
        payments,
        discount: None,
        discount_reason: String::new(),
        receipt_no: None,
    };
    validate(&sale)?;
    // A quote is turned into a sale online, by a person looking at the till: into an open one only (a
    // late sale is for what a phone recorded offline before it heard of the close).
    crate::cash::ensure_open(&mut conn, "cash_session_id", sale.cash_session_id).await?;
    let seller = super::Seller::of(&user);
    let recorded = record(&mut conn, Some(&tx), &seller, &sale, &sent.hash, state.config.allow_negative_stock).await?;
    let updated = sqlx::query(
        "UPDATE quotes SET status = 'converted', sale_id = $1, version = version + 1, updated_at = $2 \
         WHERE id = $3 AND status = 'open'",
    )
    .bind(body.sale_id.to_string())
    .bind(now())
    .bind(id.to_string())
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(ApiError::conflict("quote_already_converted", "this quote was converted meanwhile"));
    }
    if let Some(converted) = catalog::get_one::<Quote>(&mut conn, id).await? {
        catalog::save_revision(&mut conn, &converted).await?;
    }
    tx.changed("quotes", id);
    Ok((StatusCode::CREATED, Json(recorded)).into_response())
}
