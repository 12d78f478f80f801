//! The `idempotency_keys` table: claiming a key, replaying a stored response, reaping expired keys.

use axum::{
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

/// Response headers worth replaying; others (Set-Cookie, Date…) belong to the first exchange only.
const REPLAYED_HEADERS: &[&str] = &["content-type", "etag", "location"];

pub enum Claim {
    /// The key is ours: run the request.
    Claimed,
    /// Done before with the same request: send this again.
    Replay(StoredResponse),
    /// Done before with a different request.
    Mismatch,
    /// Another request with this key is still running.
    InProgress,
}

pub struct StoredResponse {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl StoredResponse {
    pub fn from_parts(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> StoredResponse {
        let kept: serde_json::Map<String, serde_json::Value> = REPLAYED_HEADERS
            .iter()
            .filter_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()).map(|v| ((*name).to_owned(), v.into())))
            .collect();
        StoredResponse {
            status: status.as_u16(),
            headers: serde_json::Value::Object(kept).to_string(),
            body: String::from_utf8_lossy(body).into_owned(),
        }
    }

    /// The stored response, marked `Idempotent-Replayed: true`.
    pub fn replay(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut response = (status, self.body).into_response();
        let headers = response.headers_mut();
        headers.remove("content-type");
        if let Ok(serde_json::Value::Object(kept)) = serde_json::from_str(&self.headers) {
            for (name, value) in kept {
                if let (Ok(name), Some(Ok(value))) =
                    (HeaderName::try_from(name), value.as_str().map(HeaderValue::from_str))
                {
                    headers.insert(name, value);
                }
            }
        }
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
        response
    }
}

/// Claims `key` for `user` inside the request's transaction. On PostgreSQL a concurrent claim of the
/// same key waits on the unique index until the first transaction ends, then sees its stored
/// response; if it waits past `lock_timeout`, the first is still running (`InProgress`).
pub async fn claim(
    conn: &mut AnyConnection,
    user: Uuid,
    key: Uuid,
    hash: &str,
    now: &str,
    expires_at: &str,
) -> Result<Claim, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, idem_key) DO NOTHING",
    )
    .bind(user.to_string())
    .bind(key.to_string())
    .bind(hash)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(done) if done.rows_affected() == 1 => return Ok(Claim::Claimed),
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55P03") => return Ok(Claim::InProgress),
        Err(e) => return Err(e),
    }
    let row = sqlx::query(
        "SELECT request_hash, status, headers, body, expires_at FROM idempotency_keys \
         WHERE user_id = $1 AND idem_key = $2",
    )
    .bind(user.to_string())
    .bind(key.to_string())
    .fetch_one(&mut *conn)
    .await?;
    let stored_hash: String = row.try_get("request_hash")?;
    let status: Option<i64> = row.try_get("status")?;
    let stored_expiry: String = row.try_get("expires_at")?;
    if stored_expiry.as_str() <= now {
        // Expired but not yet reaped: the key is free again.
        sqlx::query(
            "UPDATE idempotency_keys SET request_hash = $1, status = NULL, headers = NULL, body = NULL, \
             created_at = $2, expires_at = $3 WHERE user_id = $4 AND idem_key = $5",
        )
        .bind(hash)
        .bind(now)
        .bind(expires_at)
        .bind(user.to_string())
        .bind(key.to_string())
        .execute(&mut *conn)
        .await?;
        return Ok(Claim::Claimed);
    }
    if stored_hash != hash {
        return Ok(Claim::Mismatch);
    }
    match status {
        Some(status) => Ok(Claim::Replay(StoredResponse {
            status: status as u16,
            headers: row.try_get::<Option<String>, _>("headers")?.unwrap_or_default(),
            body: row.try_get::<Option<String>, _>("body")?.unwrap_or_default(),
        })),
        None => Ok(Claim::InProgress),
    }
}

/// Stores the response of a claimed key (same transaction as the effect).
pub async fn complete(
    conn: &mut AnyConnection,
    user: Uuid,
    key: Uuid,
    response: &StoredResponse,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $1, headers = $2, body = $3 WHERE user_id = $4 AND idem_key = $5",
    )
    .bind(response.status as i64)
    .bind(&response.headers)
    .bind(&response.body)
    .bind(user.to_string())
    .bind(key.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes up to `batch` expired keys; returns how many. Run repeatedly until it returns less than `batch`.
pub async fn reap(pool: &sqlx::AnyPool, now: &str, batch: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM idempotency_keys WHERE (user_id, idem_key) IN \
         (SELECT user_id, idem_key FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2)",
    )
    .bind(now)
    .bind(batch)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
