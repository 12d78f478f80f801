//! The shop's own details (name, address, tax id, phone, receipt texts) and how it counts (currency,
//! locale, time zone): `GET /api/settings` for everyone signed in (devices keep a copy for receipts
//! printed offline), `PUT /api/settings` for admins, with the version the edit was based on.

mod domain;
mod repo;

pub use repo::{load, zone};

use app::{model::ShopSettings, wire::SettingsUpdate};
use axum::{extract::State, routing::get, Json, Router};

use crate::{
    auth::CurrentUser,
    http::{error::ApiError, extract::ApiJson, AppState},
    idempotency::WriteTx,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/settings", get(get_settings).put(put_settings))
}

#[utoipa::path(get, path = "/api/settings", tag = "settings", responses((status = 200, body = ShopSettings)))]
pub async fn get_settings(_: CurrentUser, State(state): State<AppState>) -> Result<Json<ShopSettings>, ApiError> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(repo::load(&mut conn, state.backups.tz).await?))
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
            return Err(ApiError::VersionConflict {
                current_version: current.version,
                your_version: body.version,
                conflicting_fields: valid.differing_from(&current),
                current: serde_json::to_value(&current).map_err(|e| ApiError::Internal(e.to_string()))?,
            });
        }
    };
    tracing::info!(by = %user.username, version = saved.version, "shop settings changed");
    Ok(Json(saved))
}
