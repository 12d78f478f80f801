//! The shop's own details (name, address, tax id, phone, receipt texts): `GET /api/settings` for
//! everyone signed in (devices keep a copy for receipts printed offline), `PUT /api/settings` for
//! admins, with the version the edit was based on.

mod domain;
mod repo;

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
    Ok(Json(repo::load(&mut conn).await?))
}

/// Replaces every field; a `version` that is not the current one answers 409 `version_conflict`
/// with the current settings and the fields that differ from the ones sent.
#[utoipa::path(put, path = "/api/settings", tag = "settings", request_body = SettingsUpdate,
    responses((status = 200, body = ShopSettings), (status = 403, body = app::model::ErrorEnvelope),
              (status = 409, body = app::model::ErrorEnvelope), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn put_settings(
    CurrentUser(user): CurrentUser,
    tx: WriteTx,
    ApiJson(body): ApiJson<SettingsUpdate>,
) -> Result<Json<ShopSettings>, ApiError> {
    crate::permissions::require(&user, crate::permissions::Action::ShopSettings)?;
    let valid = domain::Settings::parse(&body)?;
    let mut conn = tx.lock().await;
    let saved = match repo::save(&mut conn, &valid, body.version).await? {
        Some(saved) => saved,
        None => {
            let current = repo::load(&mut conn).await?;
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
