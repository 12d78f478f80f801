//! The shop's own details (name, address, tax id, phone, receipt texts) and how it counts (currency,
//! locale, time zone): `GET /api/settings` for everyone signed in (devices keep a copy for receipts
//! printed offline), `PUT /api/settings` for admins, with the version the edit was based on.

mod domain;
mod logo;
mod repo;

pub use repo::{load, tax_settings, zone, TaxSettings};

use app::{
    model::ShopSettings,
    wire::{LogoUpdate, SettingsUpdate, TaxSettingsUpdate},
};
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, put},
    Json, Router,
};
use sha2::{Digest, Sha256};

use crate::{
    auth::CurrentUser,
    http::{error::ApiError, extract::ApiJson, AppState},
    idempotency::WriteTx,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/settings", get(get_settings).put(put_settings))
        .route("/api/settings/logo", put(put_logo))
        .route("/api/settings/taxes", put(put_taxes))
}

/// A save based on `your_version` when the settings are at `current`: 409 with them, naming `fields`.
fn stale(current: ShopSettings, your_version: i64, fields: Vec<String>) -> ApiError {
    match serde_json::to_value(&current) {
        Ok(value) => ApiError::VersionConflict {
            current_version: current.version,
            your_version,
            conflicting_fields: fields,
            current: value,
        },
        Err(e) => ApiError::Internal(e.to_string()),
    }
}

/// With an ETag (a hash of the body): every device asks at the end of each sync, and a browser that already
/// has this version gets a 304 instead of the settings and their logo again.
#[utoipa::path(get, path = "/api/settings", tag = "settings",
    responses((status = 200, body = ShopSettings), (status = 304, description = "If-None-Match names the current version")))]
pub async fn get_settings(
    _: CurrentUser,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut conn = state.db.pool().acquire().await?;
    let settings = repo::load(&mut conn, state.backups.tz).await?;
    // A hash of what is sent, not the version: the same version can carry another time zone (the
    // server's --timezone changed) or come back with other contents after a restore.
    let body = serde_json::to_vec(&settings).map_err(|e| ApiError::Internal(e.to_string()))?;
    let etag = HeaderValue::from_str(&format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]))
        .expect("hex is a valid header");
    let cache = [(header::ETAG, etag.clone()), (header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"))];
    if headers.get(header::IF_NONE_MATCH) == Some(&etag) {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Ok((cache, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}

/// Replaces every field; a `version` that is not the current one answers 409 `version_conflict`
/// with the current settings and the fields that differ from the ones sent. A currency with another
/// minor unit answers 409 `currency_in_use` once any amount is stored.
#[utoipa::path(put, path = "/api/settings", tag = "settings", request_body = SettingsUpdate,
    responses((status = 200, body = ShopSettings), (status = 403, body = app::model::ErrorEnvelope),
              (status = 409, body = app::model::ErrorEnvelope), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn put_settings(
    CurrentUser(user): CurrentUser,
    State(state): State<AppState>,
    tx: WriteTx,
    ApiJson(body): ApiJson<SettingsUpdate>,
) -> Result<Json<ShopSettings>, ApiError> {
    crate::permissions::require(&user, crate::permissions::Action::ShopSettings)?;
    let valid = domain::Settings::parse(&body)?;
    let default_zone = state.backups.tz;
    let mut conn = tx.lock().await;
    let current = repo::load(&mut conn, default_zone).await?;
    let minor_units = domain::currency(&valid.0.currency).map(|c| c.1);
    if minor_units != Some(current.minor_units) && repo::has_amounts(&mut conn).await? {
        return Err(ApiError::conflict(
            "currency_in_use",
            format!(
                "{} counts in {} decimals and {} in {}: prices and sales already stored would change value",
                valid.0.currency,
                minor_units.unwrap_or_default(),
                current.currency,
                current.minor_units
            ),
        ));
    }
    let saved = match repo::save(&mut conn, &valid, body.version, default_zone).await? {
        Some(saved) => saved,
        None => {
            let current = repo::load(&mut conn, default_zone).await?;
            let fields = valid.differing_from(&current);
            return Err(stale(current, body.version, fields));
        }
    };
    tracing::info!(by = %user.username, version = saved.version, "shop settings changed");
    Ok(Json(saved))
}

/// Sets or removes the logo printed on receipts (a PNG, JPEG or WebP data URL of at most 64 KB and
/// 1024 px a side, checked by its bytes). A stale `version` answers 409 `version_conflict`.
#[utoipa::path(put, path = "/api/settings/logo", tag = "settings", request_body = LogoUpdate,
    responses((status = 200, body = ShopSettings), (status = 403, body = app::model::ErrorEnvelope),
              (status = 409, body = app::model::ErrorEnvelope), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn put_logo(
    CurrentUser(user): CurrentUser,
    State(state): State<AppState>,
    tx: WriteTx,
    ApiJson(body): ApiJson<LogoUpdate>,
) -> Result<Json<ShopSettings>, ApiError> {
    crate::permissions::require(&user, crate::permissions::Action::ShopSettings)?;
    let logo = body.image.as_deref().map(logo::parse).transpose()?.unwrap_or_default();
    let mut conn = tx.lock().await;
    match repo::save_logo(&mut conn, &logo, body.version, state.backups.tz).await? {
        Some(saved) => {
            tracing::info!(by = %user.username, version = saved.version, bytes = logo.len(), "shop logo changed");
            Ok(Json(saved))
        }
        None => Err(stale(repo::load(&mut conn, state.backups.tz).await?, body.version, vec!["logo".into()])),
    }
}

/// Sets the tax mode (prices include tax or not), the default rate of products that name none, and
/// the largest discount a cashier may give. Sales already made keep the figures they were made with.
#[utoipa::path(put, path = "/api/settings/taxes", tag = "settings", request_body = TaxSettingsUpdate,
    responses((status = 200, body = ShopSettings), (status = 403, body = app::model::ErrorEnvelope),
              (status = 409, body = app::model::ErrorEnvelope), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn put_taxes(
    CurrentUser(user): CurrentUser,
    State(state): State<AppState>,
    tx: WriteTx,
    ApiJson(body): ApiJson<TaxSettingsUpdate>,
) -> Result<Json<ShopSettings>, ApiError> {
    crate::permissions::require(&user, crate::permissions::Action::ShopSettings)?;
    if let Err(m) = app::limits::DISCOUNT_LIMIT_BP.check(body.cashier_max_discount_bp) {
        return Err(ApiError::invalid("cashier_max_discount_bp", m));
    }
    let mut conn = tx.lock().await;
    if let Some(id) = body.default_tax_rate_id {
        let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tax_rates WHERE id = $1 AND deleted_at IS NULL")
            .bind(id.to_string())
            .fetch_one(&mut *conn)
            .await?;
        if live == 0 {
            return Err(ApiError::invalid("default_tax_rate_id", "no such tax rate"));
        }
    }
    match repo::save_taxes(&mut conn, &body, state.backups.tz).await? {
        Some(saved) => {
            tracing::info!(by = %user.username, version = saved.version, "tax settings changed");
            Ok(Json(saved))
        }
        None => {
            let fields = ["prices_include_tax", "default_tax_rate_id", "cashier_max_discount_bp"];
            Err(stale(repo::load(&mut conn, state.backups.tz).await?, body.version, fields.map(String::from).into()))
        }
    }
}
