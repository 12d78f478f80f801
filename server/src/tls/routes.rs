//! `GET /api/tls/phone` (admins): what the "Connect a phone" page shows; `GET /mostrador-ca.crt`: the
//! LAN mode CA certificate for phones to install (public: a certificate is no secret, and a phone
//! fetches it before it trusts anything).

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};

use super::lan::{PhoneSetup, CA_DOWNLOAD};
use crate::{auth::AdminUser, http::AppState};

pub fn api_router() -> Router<AppState> {
    Router::new().route("/api/tls/phone", get(phone))
}

pub fn router() -> Router<AppState> {
    Router::new().route(CA_DOWNLOAD, get(ca_certificate))
}

/// The addresses phones open and, in LAN mode, the CA to trust.
#[utoipa::path(get, path = "/api/tls/phone", tag = "operations", responses((status = 200, body = PhoneSetup)))]
pub async fn phone(_: AdminUser, State(state): State<AppState>, headers: HeaderMap) -> Json<PhoneSetup> {
    if let Some(lan) = state.lan.get() {
        return Json(lan.phone_setup());
    }
    let tls = &state.config.tls;
    let port = state.leptos_options.site_addr.port();
    let https = |host: &str| if port == 443 { format!("https://{host}/") } else { format!("https://{host}:{port}/") };
    let public = state.config.public_url.clone().filter(|u| u.starts_with("https://"));
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).and_then(super::host_without_port);
    Json(if !tls.acme_domains.is_empty() {
        PhoneSetup::new("acme", tls.acme_domains.iter().map(|d| https(d)).collect())
    } else if tls.enabled() {
        PhoneSetup::new("files", public.into_iter().chain(host.map(https)).take(1).collect())
    } else if let Some(public) = public {
        PhoneSetup::new("proxy", vec![public])
    } else {
        PhoneSetup::new("none", Vec::new())
    })
}

pub async fn ca_certificate(State(state): State<AppState>) -> Response {
    match state.lan.get() {
        Some(lan) => ca_response(lan.ca_der()),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// DER with the media type phones install CA certificates from.
pub fn ca_response(der: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/x-x509-ca-cert"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"mostrador-ca.crt\""),
        ],
        der,
    )
        .into_response()
}
