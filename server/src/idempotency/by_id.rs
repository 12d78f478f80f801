//! Creates are idempotent by their client-chosen id too, also after the key expired: a create whose
//! id exists is answered with that row when the request body is the same, 409 `duplicate_id` if not.

use axum::{
    http::{HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::key::canonical_json;
use crate::http::error::ApiError;

fn body_hash(body: &Value) -> String {
    hex::encode(Sha256::digest(canonical_json(body)))
}

/// A create's body as it was sent: the raw JSON, which the handler checks field by field before it
/// takes its wire shape (so a bad value is refused under its own name, not as "body"), and its hash,
/// which a retry with the same id must match (`check`).
pub struct Sent {
    pub raw: Value,
    pub hash: String,
}

impl Sent {
    /// The body in its wire shape (`app::wire`); anything serde still refuses is a 422 on `body`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_value(self.raw.clone()).map_err(|e| ApiError::invalid("body", e.to_string()))
    }
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Sent {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let crate::http::extract::ApiJson(raw) =
            crate::http::extract::ApiJson::<Value>::from_request(req, state).await?;
        let hash = body_hash(&raw);
        Ok(Sent { raw, hash })
    }
}

pub enum Existing {
    None,
    SameRequest,
}

/// Looks `id` up in `table` (which has a `request_hash` column).
pub async fn check(conn: &mut AnyConnection, table: &str, id: Uuid, hash: &str) -> Result<Existing, ApiError> {
    let stored: Option<String> = sqlx::query_scalar(&format!("SELECT request_hash FROM {table} WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    match stored {
        None => Ok(Existing::None),
        Some(h) if h == hash => Ok(Existing::SameRequest),
        Some(_) => Err(ApiError::conflict("duplicate_id", "a different record with this id already exists")),
    }
}

/// The answer to a create that was applied before: the row, as 201, marked replayed.
pub fn replayed<T: Serialize>(row: T) -> Response {
    let mut r = (StatusCode::CREATED, Json(row)).into_response();
    r.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    r
}
