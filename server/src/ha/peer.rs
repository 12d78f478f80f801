//! What the standby offers its primary, under `/api/ha/peer/*`, authenticated with the shared secret
//! (`Authorization: Bearer $MOSTRADOR_HA_SECRET`): the safety valve's numbers, receiving a shipped
//! backup, and its emergency operations for reconciliation.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    body::Body,
    extract::{ConnectInfo, FromRequestParts, State},
    http::{header, request::Parts},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{
    reconcile::{self, ReplayOp, Selection, NOT_REPLAYED},
    Mode,
};
use crate::{
    backup::{Actor, Backups, RestoreReport, Trigger},
    config::NodeRole,
    db::{now, timestamp_before, Db},
    http::{
        error::ApiError,
        extract::{ApiJson, ApiQuery},
        AppState,
    },
};

/// The primary's quick calls: the valve and the emergency-operation log.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/ha/peer/valve", get(valve))
        .route("/api/ha/peer/emergency-ops", get(emergency_ops))
        .route("/api/ha/peer/emergency-ops/reconciled", post(mark_reconciled))
}

/// A shipment: the whole database, checked and restored under this request, so no time limit.
pub fn long_router() -> Router<AppState> {
    Router::new().route("/api/ha/peer/shipments", post(receive_shipment))
}

/// A request from the other node: it knows the shared secret. Failed attempts are counted per client
/// address: rate limited (429 with Retry-After) and alerted (`peer_auth_failed`).
pub struct Peer;

impl FromRequestParts<AppState> for Peer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let secret = state.ha.secret()?;
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        let failures = &state.ha.peer_failures;
        if let Some(wait) = failures.blocked(ip) {
            return Err(ApiError::TooManyAttempts { retry_after_secs: wait.as_secs().max(1) });
        }
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Comparing digests keeps the comparison's time independent of where the strings differ.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(secret) {
            let count = failures.record(ip);
            tracing::warn!(client = %ip, path = parts.uri.path(), count, "failed peer authentication");
            if failures.should_alert() {
                let message = format!(
                    "Failed peer authentication on {} from {ip}: a request to the HA peer routes without the shared secret",
                    state.ha.node
                );
                let details = serde_json::json!({"client": ip.to_string(), "path": parts.uri.path(), "failures_in_window": count});
                state.alerts.raise(crate::alerts::AlertKind::PeerAuthFailed, message, Some(details)).await;
            }
            return Err(ApiError::Unauthenticated);
        }
        Ok(Peer)
    }
}

/// What the safety valve looks at.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValveReport {
    /// True when a shipment may overwrite this node.
    pub clear: bool,
    pub role: String,
    pub emergency_mode: bool,
    /// Emergency writes no reconciliation has covered yet (any age).
    pub unreconciled: i64,
    /// Emergency writes of the last 24 hours (reconciled or not).
    pub recent_24h: i64,
    pub oldest_unreconciled_at: Option<String>,
}

pub async fn valve_report(db: &Db, role: NodeRole, mode: Mode) -> Result<ValveReport, ApiError> {
    let row = sqlx::query(&format!(
        "SELECT COUNT(*) AS n, MIN(at) AS oldest FROM audit_log \
         WHERE mode = 'emergency' AND reconciled_at IS NULL AND entity NOT IN {NOT_REPLAYED}"
    ))
    .fetch_one(&db.pool())
    .await?;
    let unreconciled: i64 = row.try_get("n")?;
    let oldest_unreconciled_at: Option<String> = row.try_get("oldest")?;
    let recent_24h: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE mode = 'emergency' AND at >= $1 AND entity NOT IN {NOT_REPLAYED}"
    ))
    .bind(timestamp_before(std::time::Duration::from_secs(24 * 3600)))
    .fetch_one(&db.pool())
    .await?;
    let emergency_mode = mode == Mode::Emergency;
    Ok(ValveReport {
        clear: role == NodeRole::Standby && !emergency_mode && unreconciled == 0,
        role: role.as_str().into(),
        emergency_mode,
        unreconciled,
        recent_24h,
        oldest_unreconciled_at,
    })
}

impl ValveReport {
    /// Why a shipment may not overwrite this node (`None` when the valve is clear): the one wording
    /// both the receiver's refusal and the sender's abort use.
    pub fn refusal(&self) -> Option<String> {
        if self.clear {
            None
        } else if self.role != "standby" {
            Some(format!("the node is a {}, not a standby", self.role))
        } else if self.emergency_mode {
            Some("emergency mode is on on the standby".into())
        } else {
            Some(format!(
                "the standby holds {} emergency write(s) not reconciled yet (oldest {})",
                self.unreconciled,
                self.oldest_unreconciled_at.as_deref().unwrap_or("?")
            ))
        }
    }
}

/// 409 `emergency_writes_present` unless the valve is clear (409 `not_a_standby` on a primary).
pub async fn check_valve(state: &AppState) -> Result<(), ApiError> {
    let report = valve_report(&state.db, state.ha.role(), state.ha.mode()).await?;
    if report.role != "standby" {
        return Err(ApiError::conflict("not_a_standby", "this node is a primary: it never takes a shipped backup"));
    }
    if let Some(why) = report.refusal() {
        return Err(ApiError::Conflict {
            code: "emergency_writes_present",
            message: format!("backup shipping refused: {why}; reconcile them into the primary first"),
            details: Some(serde_json::to_value(&report).unwrap_or(Value::Null)),
        });
    }
    Ok(())
}

#[utoipa::path(get, path = "/api/ha/peer/valve", tag = "ha",
    responses((status = 200, body = ValveReport), (status = 409, body = app::model::ErrorEnvelope, description = "ha_not_configured")))]
pub async fn valve(_: Peer, State(state): State<AppState>) -> Result<Json<ValveReport>, ApiError> {
    Ok(Json(valve_report(&state.db, state.ha.role(), state.ha.mode()).await?))
}

/// The answer to a shipment.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShipmentReceipt {
    pub backup_id: String,
    pub restore: Value,
}

/// Receives the primary's backup file, checks it in a scratch database, and restores it in place:
/// refused with 409 `emergency_writes_present` before, and again right before the rows are
/// replaced (no request in flight then), if this standby holds emergency writes nobody reconciled.
#[utoipa::path(post, path = "/api/ha/peer/shipments", tag = "ha",
    responses((status = 200, body = ShipmentReceipt), (status = 409, description = "emergency_writes_present / not_a_standby")))]
pub async fn receive_shipment(
    _: Peer,
    State(state): State<AppState>,
    body: Body,
) -> Result<Json<ShipmentReceipt>, ApiError> {
    check_valve(&state).await?;
    let backups: Arc<Backups> = state.backups.clone();
    // Received in full before any lock, then checked like an upload (size cap, schema, time limits).
    let tmp = crate::backup::routes::receive_to_temp(&backups, body).await?;
    let _work = state.ha.work.lock().await;
    let adopted = async {
        let guard = backups.lock().await?;
        backups.adopt_upload(&guard, &tmp, Trigger::Shipment, &Actor::Peer).await
    }
    .await;
    let _ = tokio::fs::remove_file(&tmp).await;
    let meta = adopted?;
    let recheck_state = state.clone();
    let report: RestoreReport =
        backups.restore_checked(&meta.id, &Actor::Peer, || async move { check_valve(&recheck_state).await }).await?;
    tracing::info!(backup = %meta.id, "shipped backup restored on this standby");
    Ok(Json(ShipmentReceipt {
        backup_id: meta.id.to_string(),
        restore: serde_json::to_value(&report).unwrap_or(Value::Null),
    }))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EmergencyOps {
    pub ops: Vec<ReplayOp>,
    /// More after the last one (ask again with `after`).
    pub more: bool,
}

#[derive(Debug, Deserialize)]
pub struct OpsParams {
    after: Option<i64>,
    limit: Option<i64>,
    /// Include writes already reconciled (a full re-check; replaying them is a no-op).
    all: Option<bool>,
}

/// Emergency writes in the order they were made; unreconciled ones unless `all=true`.
#[utoipa::path(get, path = "/api/ha/peer/emergency-ops", tag = "ha",
    responses((status = 200, body = EmergencyOps), (status = 409, body = app::model::ErrorEnvelope, description = "ha_not_configured")))]
pub async fn emergency_ops(
    _: Peer,
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<OpsParams>,
) -> Result<Json<EmergencyOps>, ApiError> {
    let limit = p.limit.unwrap_or(200).clamp(1, 1000);
    let selection = Selection::Emergency { all: p.all.unwrap_or(false) };
    let mut ops = reconcile::load(&state.db, selection, p.after.unwrap_or(0), limit + 1).await?;
    let more = ops.len() as i64 > limit;
    ops.truncate(limit as usize);
    Ok(Json(EmergencyOps { ops, more }))
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MarkReconciled {
    /// The audit ids of the emergency writes the primary handled (applied, present or rejected).
    pub ids: Vec<i64>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Marked {
    pub marked: i64,
}

#[utoipa::path(post, path = "/api/ha/peer/emergency-ops/reconciled", tag = "ha", request_body = MarkReconciled,
    responses((status = 200, body = Marked)))]
pub async fn mark_reconciled(
    _: Peer,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<MarkReconciled>,
) -> Result<Json<Marked>, ApiError> {
    let mut tx = crate::idempotency::begin(&state.db).await?;
    let at = now();
    let mut marked = 0;
    // Integers only, so the list can be written into the statement (sqlx's Any driver binds no arrays).
    for chunk in body.ids.chunks(500) {
        let list = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        marked += sqlx::query(&format!(
            "UPDATE audit_log SET reconciled_at = $1 WHERE mode = 'emergency' AND reconciled_at IS NULL AND id IN ({list})"
        ))
        .bind(&at)
        .execute(&mut *tx.tx)
        .await?
        .rows_affected() as i64;
    }
    tx.tx.commit().await?;
    tracing::info!(ids = body.ids.len(), marked, "emergency writes marked reconciled");
    Ok(Json(Marked { marked }))
}
