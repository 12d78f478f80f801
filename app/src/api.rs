//! The browser's client for the REST API (same origin; the session is an HttpOnly cookie the browser sends).
//!
//! Only the transport (`send`) is browser-specific. On the server this module still compiles, but nothing
//! calls it: pages render a data-free shell there and load their data after hydration.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::i18n::Lang;
use crate::model::{ErrorEnvelope, LoginRequest, NewUser, Page, User, UserChanges};
use crate::wire::{PullResponse, PushOp, PushRequest, PushResponse};

/// A failed call. `status == 0` means no answer at all (offline, server down).
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds, from `Retry-After` (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn network() -> ApiError {
        ApiError { status: 0, code: "network".into(), message: String::new(), details: None, retry_after: None }
    }

    fn from_response(raw: &RawResponse) -> ApiError {
        match serde_json::from_str::<ErrorEnvelope>(&raw.body) {
            Ok(env) => ApiError {
                status: raw.status,
                code: env.error.code,
                message: env.error.message,
                details: env.error.details,
                retry_after: raw.retry_after,
            },
            Err(_) => ApiError {
                status: raw.status,
                code: format!("http_{}", raw.status),
                message: String::new(),
                details: None,
                retry_after: raw.retry_after,
            },
        }
    }

    pub fn is_network(&self) -> bool {
        self.status == 0
    }

    pub fn is_unauthorized(&self) -> bool {
        self.status == 401
    }

    /// `details.fields` of a 422: field → message.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.details
            .as_ref()
            .and_then(|d| d.get("fields"))
            .and_then(|f| f.as_object())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `details.current` of a 409 `version_conflict`: the row as the server has it now.
    pub fn conflict_current(&self) -> Option<Value> {
        (self.code == "version_conflict").then(|| self.details.as_ref()?.get("current").cloned()).flatten()
    }

    /// A sentence to show when there is nothing more specific to say.
    pub fn describe(&self, lang: Lang) -> String {
        if self.is_network() {
            crate::i18n::text(lang, "network_error").to_string()
        } else if !self.message.is_empty() {
            self.message.clone()
        } else {
            format!("{} ({})", crate::i18n::text(lang, "unknown_error"), self.status)
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

/// So that a resource's `Err` can reach an `ErrorBoundary`, whose fallback reads it back with
/// `downcast_ref::<ApiError>()` to show it in the person's language.
impl std::error::Error for ApiError {}

struct RawResponse {
    status: u16,
    body: String,
    retry_after: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

#[cfg(feature = "hydrate")]
async fn send(method: Method, url: &str, body: Option<String>) -> Result<RawResponse, ApiError> {
    use gloo_net::http::{Method as M, RequestBuilder};
    let m = match method {
        Method::Get => M::GET,
        Method::Post => M::POST,
        Method::Put => M::PUT,
        Method::Patch => M::PATCH,
        Method::Delete => M::DELETE,
    };
    let mut rb = RequestBuilder::new(url).method(m).header("Accept", "application/json");
    if method != Method::Get {
        // One key per user action, so a retried request can never apply twice (design: idempotent writes).
        rb = rb.header("Idempotency-Key", &Uuid::new_v4().to_string());
    }
    let request = match body {
        Some(b) => rb.header("Content-Type", "application/json").body(b),
        None => rb.build(),
    }
    .map_err(|_| ApiError::network())?;
    let resp = request.send().await.map_err(|_| ApiError::network())?;
    let retry_after = resp.headers().get("retry-after").and_then(|v| v.trim().parse().ok());
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    Ok(RawResponse { status, body, retry_after })
}

#[cfg(not(feature = "hydrate"))]
async fn send(_method: Method, _url: &str, _body: Option<String>) -> Result<RawResponse, ApiError> {
    Err(ApiError::network())
}

async fn call<R: DeserializeOwned>(method: Method, url: &str, body: Option<String>) -> Result<R, ApiError> {
    let raw = send(method, url, body).await?;
    if !(200..300).contains(&raw.status) {
        return Err(ApiError::from_response(&raw));
    }
    // 204 and other empty bodies deserialize from `null` (for `()` and `Option`).
    let text = if raw.body.trim().is_empty() { "null" } else { raw.body.as_str() };
    serde_json::from_str(text).map_err(|e| ApiError {
        status: raw.status,
        code: "bad_response".into(),
        message: format!("unexpected response: {e}"),
        details: None,
        retry_after: None,
    })
}

fn json_body<B: serde::Serialize>(b: &B) -> Option<String> {
    Some(serde_json::to_string(b).expect("request bodies always serialize"))
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub async fn login(username: &str, password: &str) -> Result<User, ApiError> {
    let body = LoginRequest { username: username.into(), password: password.into() };
    call(Method::Post, "/api/auth/login", json_body(&body)).await
}

pub async fn logout() -> Result<(), ApiError> {
    call::<Option<Value>>(Method::Post, "/api/auth/logout", None).await.map(|_| ())
}

pub async fn me() -> Result<User, ApiError> {
    call(Method::Get, "/api/auth/me", None).await
}

pub async fn list<R: DeserializeOwned>(entity: &str, q: &str, limit: i64, offset: i64) -> Result<Page<R>, ApiError> {
    let url = format!("/api/{}?q={}&limit={limit}&offset={offset}", crate::wire::segment(entity), encode_query(q));
    call(Method::Get, &url, None).await
}

pub async fn get(entity: &str, id: &str) -> Result<Value, ApiError> {
    call(Method::Get, &format!("/api/{}/{}", crate::wire::segment(entity), encode_query(id)), None).await
}

/// Creates a row with an id chosen here (ids are client-generated so offline-created rows need no remapping).
pub async fn create(entity: &str, mut fields: Map<String, Value>) -> Result<Value, ApiError> {
    fields.entry("id").or_insert_with(|| Value::String(Uuid::new_v4().to_string()));
    call(Method::Post, &format!("/api/{}", crate::wire::segment(entity)), json_body(&fields)).await
}

/// Sends only `changes`, based on `version`; a stale version gets 409 `version_conflict`.
pub async fn patch(entity: &str, id: &str, version: i64, mut changes: Map<String, Value>) -> Result<Value, ApiError> {
    changes.insert("version".into(), Value::from(version));
    call(Method::Patch, &format!("/api/{}/{}", crate::wire::segment(entity), encode_query(id)), json_body(&changes))
        .await
}

pub async fn delete(entity: &str, id: &str, version: i64) -> Result<Value, ApiError> {
    call(Method::Delete, &format!("/api/{}/{}?version={version}", crate::wire::segment(entity), encode_query(id)), None)
        .await
}

/// `POST /api/sync/push` with `{"ops": [...]}`: one answer per operation.
pub async fn sync_push(ops: Vec<PushOp>) -> Result<PushResponse, ApiError> {
    call(Method::Post, "/api/sync/push", json_body(&PushRequest { ops })).await
}

/// `GET /api/sync/pull?since=<cursor>`: catalog changes after the cursor (all of it without one).
pub async fn sync_pull(since: Option<&str>) -> Result<PullResponse, ApiError> {
    let url = match since {
        Some(c) => format!("/api/sync/pull?since={}", encode_query(c)),
        None => "/api/sync/pull".to_string(),
    };
    call(Method::Get, &url, None).await
}

/// Any JSON the API returns (lists the offline copy keeps, such as today's sales).
pub async fn get_json(url: &str) -> Result<Value, ApiError> {
    call(Method::Get, url, None).await
}

/// `GET /api/settings`: the shop's name, address and receipt texts.
pub async fn settings() -> Result<crate::model::ShopSettings, ApiError> {
    call(Method::Get, "/api/settings", None).await
}

/// `PUT /api/settings` (admins), based on the version the form was loaded at.
pub async fn put_settings(update: &crate::wire::SettingsUpdate) -> Result<crate::model::ShopSettings, ApiError> {
    call(Method::Put, "/api/settings", json_body(update)).await
}

/// `PUT /api/settings/logo` (admins): a data URL, or None to print no logo.
/// `POST /api/registers`: this device's register code (the same one if it asks again).
pub async fn register(device_id: Uuid) -> Result<crate::model::Register, ApiError> {
    let body = crate::wire::NewRegister { device_id, name: format!("Dispositivo {}", &device_id.to_string()[..8]) };
    call(Method::Post, "/api/registers", json_body(&body)).await
}

pub async fn put_taxes(update: &crate::wire::TaxSettingsUpdate) -> Result<crate::model::ShopSettings, ApiError> {
    call(Method::Put, "/api/settings/taxes", json_body(update)).await
}

pub async fn put_logo(update: &crate::wire::LogoUpdate) -> Result<crate::model::ShopSettings, ApiError> {
    call(Method::Put, "/api/settings/logo", json_body(update)).await
}

/// `GET /api/sales?from=<day>`: the first page (up to 500) of sales made since `day` (YYYY-MM-DD).
pub async fn sales_since(day: &str) -> Result<Page<crate::model::Sale>, ApiError> {
    call(Method::Get, &format!("/api/sales?from={}&limit=500", encode_query(day)), None).await
}

/// `GET /health`: role, mode and database when signed in (only `status` otherwise).
pub async fn health() -> Result<crate::model::Health, ApiError> {
    call(Method::Get, "/health", None).await
}

/// `GET /api/ha/status` (admins): what the Sistema page shows.
pub async fn system_status() -> Result<crate::model::SystemStatus, ApiError> {
    call(Method::Get, "/api/ha/status", None).await
}

/// `GET /api/tls/phone` (admins): the https addresses, their QR code and the CA phones trust.
pub async fn phone_setup() -> Result<crate::model::PhoneSetup, ApiError> {
    call(Method::Get, "/api/tls/phone", None).await
}

/// `GET /api/tls/address` (anyone): the https address to open instead of a plain-http one.
pub async fn secure_address() -> Result<crate::model::SecureAddress, ApiError> {
    call(Method::Get, "/api/tls/address", None).await
}

/// `PUT /api/ha/emergency`: emergency mode on or off (a standby's admins).
pub async fn set_emergency(on: bool) -> Result<crate::model::SystemStatus, ApiError> {
    call(Method::Put, "/api/ha/emergency", json_body(&serde_json::json!({ "on": on }))).await
}

/// `POST /api/ha/ship`: ship a fresh verified backup to the standby now; the shipment's outcome.
pub async fn ship_now() -> Result<Value, ApiError> {
    call(Method::Post, "/api/ha/ship", None).await
}

/// `POST /api/ha/reconcile`: replay the standby's emergency writes here; the report.
pub async fn reconcile() -> Result<Value, ApiError> {
    call(Method::Post, "/api/ha/reconcile", None).await
}

pub async fn list_users() -> Result<Page<User>, ApiError> {
    call(Method::Get, "/api/users", None).await
}

pub async fn create_user(user: &NewUser) -> Result<User, ApiError> {
    call(Method::Post, "/api/users", json_body(user)).await
}

pub async fn update_user(id: Uuid, changes: &UserChanges) -> Result<User, ApiError> {
    call(Method::Patch, &format!("/api/users/{id}"), json_body(changes)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_queries() {
        assert_eq!(encode_query("yerba mate & co/ñ"), "yerba%20mate%20%26%20co%2F%C3%B1");
        assert_eq!(encode_query("A-z_0.9~"), "A-z_0.9~");
    }

    #[test]
    fn reads_error_envelopes() {
        let raw = RawResponse {
            status: 409,
            body: json!({"error": {"code": "version_conflict", "message": "stale",
                "details": {"current": {"id": "x", "version": 4}, "your_version": 3}}})
            .to_string(),
            retry_after: None,
        };
        let e = ApiError::from_response(&raw);
        assert_eq!(e.code, "version_conflict");
        assert_eq!(e.conflict_current(), Some(json!({"id": "x", "version": 4})));

        let raw = RawResponse {
            status: 422,
            body: json!({"error": {"code": "validation_failed", "message": "bad",
                "details": {"fields": {"name": "must not be empty"}}}})
            .to_string(),
            retry_after: None,
        };
        let e = ApiError::from_response(&raw);
        assert_eq!(e.field_errors(), vec![("name".to_string(), "must not be empty".to_string())]);
        assert_eq!(e.conflict_current(), None);

        let raw = RawResponse { status: 502, body: "<html>".into(), retry_after: None };
        assert_eq!(ApiError::from_response(&raw).code, "http_502");
    }
}
