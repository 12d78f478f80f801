//! `GET /api/tls/phone` (admins): what the "Connect a phone" page shows; `GET /api/tls/address`
//! (anyone): only the https address, for the banner a page opened over plain http shows before
//! sign-in; `GET /mostrador-ca.crt`: the LAN mode CA certificate for phones to install (public: a
//! certificate is no secret, and a phone fetches it before it trusts anything).

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};

use super::lan::{PhoneSetup, CA_DOWNLOAD};
use app::model::SecureAddress;

use crate::{auth::AdminUser, http::AppState};

pub fn api_router() -> Router<AppState> {
    Router::new().route("/api/tls/phone", get(phone)).route("/api/tls/address", get(address))
}

pub fn router() -> Router<AppState> {
    Router::new().route(CA_DOWNLOAD, get(ca_certificate))
}

/// The addresses phones open and, in LAN mode, the CA to trust.
#[utoipa::path(get, path = "/api/tls/phone", tag = "operations", responses((status = 200, body = PhoneSetup)))]
pub async fn phone(_: AdminUser, State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Json<PhoneSetup> {
    if let Some(lan) = state.lan.get() {
        return Json(lan.phone_setup());
    }
    let (mode, urls) = https_urls(&state, &headers, &uri);
    Json(super::lan::setup(mode, urls))
}

/// The https address to use instead of this one. Anonymous (the sign-in page shows it) and no more
/// than a link gives away: no QR code, no certificate.
#[utoipa::path(get, path = "/api/tls/address", tag = "operations", responses((status = 200, body = SecureAddress)))]
pub async fn address(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Json<SecureAddress> {
    let url = match state.lan.get() {
        Some(lan) => state.config.https_public_url().map(str::to_owned).or_else(|| lan.phone_urls().into_iter().next()),
        None => https_urls(&state, &headers, &uri).1.into_iter().next(),
    };
    Json(SecureAddress { url })
}

/// The mode and https URLs without LAN mode: ACME names, the request's host with a given
/// certificate, or an https MOSTRADOR_PUBLIC_URL in front.
fn https_urls(state: &AppState, headers: &HeaderMap, uri: &Uri) -> (&'static str, Vec<String>) {
    let tls = &state.config.tls;
    let port = state.leptos_options.site_addr.port();
    let https = |host: &str| if port == 443 { format!("https://{host}/") } else { format!("https://{host}:{port}/") };
    let public = state.config.https_public_url().map(str::to_owned);
    let host = crate::http::request_host(headers, uri).and_then(super::host_without_port);
    if !tls.acme_domains.is_empty() {
        ("acme", tls.acme_domains.iter().map(|d| https(d)).collect())
    } else if tls.enabled() {
        ("files", public.into_iter().chain(host.map(https)).take(1).collect())
    } else if let Some(public) = public {
        ("proxy", vec![public])
    } else {
        ("none", Vec::new())
    }
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
