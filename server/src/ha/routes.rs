//! The admin's HA routes: the Sistema page's status, the emergency toggle, "ship now" and
//! "reconcile now". The standby's peer routes are in [`super::peer`].

use app::model::{AlertSummary, BackupSummary, ReconciliationSummary, ShipmentSummary, SystemStatus};
use axum::{
    extract::State,
    routing::{get, post, put},
    Json, Router,
};
use serde::Deserialize;

use super::{node_state, peer, reconcile::ReplayReport, shipping, Mode};
use crate::{
    auth::AdminUser,
    health::VERSION,
    http::{error::ApiError, extract::ApiJson, AppState},
};

/// The Sistema page's status and the emergency toggle.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/ha/status", get(status)).route("/api/ha/emergency", put(set_emergency))
}

/// "Ship now" and "reconcile now": as long as the database is big, so no time limit.
pub fn long_router() -> Router<AppState> {
    Router::new().route("/api/ha/ship", post(ship)).route("/api/ha/reconcile", post(reconcile))
}

/// Everything the Sistema page shows. Admins only.
#[utoipa::path(get, path = "/api/ha/status", tag = "ha", responses((status = 200, body = SystemStatus)))]
pub async fn status(_: AdminUser, State(state): State<AppState>) -> Result<Json<SystemStatus>, ApiError> {
    let ha = &state.ha;
    let newest_backup = state.backups.list().await.ok().and_then(|l| l.backups.into_iter().next()).map(|b| {
        let age_secs = chrono::DateTime::parse_from_rfc3339(&b.meta.created_at)
            .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
            .unwrap_or(0);
        BackupSummary {
            id: b.meta.id.to_string(),
            created_at: b.meta.created_at,
            verified_at: b.meta.verified_at,
            age_secs,
        }
    });
    let last_shipment = node_state::get(&state.db, shipping::LAST_SHIPMENT)
        .await?
        .and_then(|v| serde_json::from_value::<shipping::Shipment>(v).ok())
        .map(|s| ShipmentSummary {
            at: s.at,
            status: serde_json::to_value(s.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            standby: s.standby,
            backup_id: s.backup_id,
            message: s.message,
        });
    let last_reconciliation = node_state::get(&state.db, "last_reconciliation")
        .await?
        .and_then(|v| serde_json::from_value::<ReplayReport>(v).ok())
        .map(|r| ReconciliationSummary {
            rejected: r.rejected.len() as u64,
            source: r.source,
            finished_at: r.finished_at,
            applied: r.applied,
            already_present: r.already_present,
            stopped: r.stopped,
        });
    let valve = peer::valve_report(&state.db, ha.role(), ha.mode()).await?;
    let alerts = state
        .alerts
        .recent(20)
        .await?
        .into_iter()
        .map(|a| AlertSummary { at: a.at, kind: a.kind, message: a.message, node: a.node })
        .collect();
    Ok(Json(SystemStatus {
        node: ha.node.clone(),
        version: VERSION.into(),
        role: ha.role().as_str().into(),
        mode: ha.mode().as_str().into(),
        emergency_forced: ha.emergency_forced(),
        engine: state.db.engine.as_str().into(),
        database: state.db.which().as_str().into(),
        failover: state.failover.as_ref().map(|f| f.status()),
        newest_backup,
        standby_url: ha.config.standby_url.clone(),
        last_shipment,
        last_reconciliation,
        unreconciled_emergency_writes: valve.unreconciled,
        alerts,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EmergencyToggle {
    pub on: bool,
}

/// Turns emergency mode on or off on a standby (audited, alerted). Admins only.
#[utoipa::path(put, path = "/api/ha/emergency", tag = "ha", request_body = EmergencyToggle,
    responses((status = 200, body = SystemStatus), (status = 409, description = "not_a_standby / emergency_mode_forced")))]
pub async fn set_emergency(
    admin: AdminUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EmergencyToggle>,
) -> Result<Json<SystemStatus>, ApiError> {
    state.ha.set_emergency(body.on, &admin.0).await?;
    status(admin, State(state)).await
}

/// Ships the newest verified backup to the standby now. Admins only.
#[utoipa::path(post, path = "/api/ha/ship", tag = "ha", responses((status = 200, body = shipping::Shipment)))]
pub async fn ship(_: AdminUser, State(state): State<AppState>) -> Result<Json<shipping::Shipment>, ApiError> {
    Ok(Json(shipping::ship_now(&state).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ReconcileRequest {
    /// Replay the reconciled emergency writes too (a full re-check: each is found already present).
    #[serde(default)]
    pub all: bool,
}

/// Replays the configured standby's unreconciled emergency writes here. Admins only.
#[utoipa::path(post, path = "/api/ha/reconcile", tag = "ha", request_body = ReconcileRequest,
    responses((status = 200, body = ReplayReport)))]
pub async fn reconcile(
    _: AdminUser,
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Json<ReplayReport>, ApiError> {
    let body: ReconcileRequest = if body.is_empty() {
        ReconcileRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::MalformedJson(e.to_string()))?
    };
    // Only the configured standby: the request carries the shared secret, which must not go to an
    // address someone typed (`mostrador reconcile --from URL` is there for any other).
    let from = state
        .ha
        .config
        .standby_url
        .clone()
        .ok_or_else(|| ApiError::conflict("ha_not_configured", "MOSTRADOR_STANDBY_URL is not set on this node"))?;
    if state.ha.mode() == Mode::Emergency {
        return Err(ApiError::conflict("not_a_primary", "reconciliation runs on the primary"));
    }
    Ok(Json(super::reconcile::from_standby(&state, &from, body.all).await?))
}
