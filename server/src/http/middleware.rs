//! Cross-cutting request handling: origin checks, timeouts, panics, and errors that other layers
//! produce without a body.

use std::{any::Any, time::Duration};

use axum::{
    extract::{Request, State},
    http::{header, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{error::ApiError, AppState};

/// Refuses state-changing API requests sent by another site. SameSite=Strict already keeps the cookie
/// off cross-site requests in current browsers; this covers older ones and subdomain siblings. Clients
/// that send no Origin (curl, scripts, the sync engine's fetches from old browsers) pass.
///
/// An Origin is accepted when it is the public URL (MOSTRADOR_PUBLIC_URL), or when it equals the
/// request's Host and that Host is an IP address or `localhost`. A host *name* equal to the Origin
/// proves nothing: a DNS-rebinding page (http://evil.example re-pointed at this server) sends
/// `Host: evil.example` and `Origin: http://evil.example`. A browser sends an IP-literal Host only
/// for a page really loaded from that address, so a phone on http://192.168.1.20:3000 works with no
/// setting; a shop that uses a name (http://caja.local:3000, https://caja.example) sets it as
/// MOSTRADOR_PUBLIC_URL.
pub async fn check_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let headers = req.headers();
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("null");
            let host = super::request_host(headers, req.uri()).unwrap_or("");
            let same_host = origin
                .split_once("://")
                .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && rest.eq_ignore_ascii_case(host));
            let public = state.config.public_url.as_deref().map(|u| u.trim_end_matches('/'));
            let public_ok = public.is_some_and(|p| p.eq_ignore_ascii_case(origin));
            // Served over TLS, a name cannot be rebound to this server: the browser checked that our
            // certificate covers it (a LAN name, `--tls-name`, an ACME domain). Phones sign in there.
            let tls_name = state.config.tls.enabled() && origin.starts_with("https://");
            if !(public_ok || (same_host && (tls_name || not_rebindable(host)))) {
                tracing::warn!(%origin, %host, "cross-origin write refused");
                return ApiError::CrossOrigin.into_response();
            }
        } else if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
            return ApiError::CrossOrigin.into_response();
        }
    }
    next.run(req).await
}

/// `host[:port]` that no DNS answer can point elsewhere: an IP literal, or `localhost`.
fn not_rebindable(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(addr, _)| addr),
        None => host.rsplit_once(':').filter(|(_, port)| port.parse::<u16>().is_ok()).map_or(host, |(name, _)| name),
    };
    name.parse::<std::net::IpAddr>().is_ok() || name.eq_ignore_ascii_case("localhost")
}

/// Splits a shutdown signal in two: the graceful-shutdown future for axum (resolves on the signal)
/// and a deadline that resolves `limit` after it. Serving races the deadline, so a request that never
/// ends (a stalled upload, a stuck handler) cannot keep the process from stopping.
pub fn shutdown_deadline(
    signal: impl std::future::Future<Output = ()> + Send + 'static,
    limit: Duration,
) -> (impl std::future::Future<Output = ()> + Send + 'static, impl std::future::Future<Output = ()> + Send + 'static) {
    let (fired, heard) = tokio::sync::oneshot::channel::<()>();
    let graceful = async move {
        signal.await;
        let _ = fired.send(());
    };
    let deadline = async move {
        if heard.await.is_err() {
            // Serving ended before any signal: nothing to time.
            return std::future::pending().await;
        }
        tokio::time::sleep(limit).await;
        tracing::warn!(
            seconds = limit.as_secs(),
            "shutdown deadline passed with requests still running: stopping anyway"
        );
    };
    (graceful, deadline)
}

/// Bodies announced larger than `limit` get 413 at once, without running anything. The announced
/// body is read and dropped first (up to 16 MiB): answering while the client is still sending makes
/// the kernel reset the connection, and the client would see a broken connection instead of the 413.
pub async fn limit_body(limit: usize, req: Request, next: Next) -> Response {
    const DRAIN_MAX: usize = 16 * 1024 * 1024;
    // A backup upload streams to disk under its own, larger limit (--backup-upload-limit).
    if req.uri().path() == "/api/backups/upload" || req.uri().path() == "/api/ha/peer/shipments" {
        return next.run(req).await;
    }
    let announced =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    match announced {
        Some(n) if n > limit => {
            if n <= DRAIN_MAX {
                let mut body = req.into_body().into_data_stream();
                while let Some(Ok(_)) = futures::StreamExt::next(&mut body).await {}
            }
            ApiError::PayloadTooLarge.into_response()
        }
        _ => next.run(req).await,
    }
}

/// Answers 503 `timeout` when a request takes longer than the configured limit. Not on backups,
/// shipping and reconciliation, which take longer on a big database (`http::api_router`).
pub async fn timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// A panic in a handler: logged, answered as a JSON 500; the server keeps serving.
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::Internal(format!("handler panicked: {detail}")).into_response()
}

/// Layers outside our handlers (the body limit, method routing) answer with empty or plain-text
/// bodies; under /api those become the JSON envelope so clients parse one error shape.
pub async fn json_for_bare_errors(req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let response = next.run(req).await;
    let status = response.status();
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge.into_response(),
        StatusCode::METHOD_NOT_ALLOWED => {
            let mut r = ApiError::BadRequest("method not allowed on this path".into()).into_response();
            *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            r
        }
        StatusCode::NOT_FOUND => ApiError::NotFound.into_response(),
        // axum's own extractor rejections (a path id that is not a UUID, a wrong content type …)
        // answer plain text: keep their status and say the same thing inside the envelope.
        status if status.is_client_error() => {
            let text = match axum::body::to_bytes(response.into_body(), 4096).await {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => String::new(),
            };
            let message = if text.trim().is_empty() {
                status.canonical_reason().unwrap_or("bad request").to_owned()
            } else {
                text
            };
            let mut r = ApiError::BadRequest(message).into_response();
            *r.status_mut() = status;
            r
        }
        _ => response,
    }
}

pub async fn api_not_found() -> ApiError {
    ApiError::NotFound
}
