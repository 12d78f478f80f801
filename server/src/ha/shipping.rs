//! Backup shipping, primary side: every `MOSTRADOR_SHIP_INTERVAL` seconds (and on the admin's
//! "ship now"), take a backup, verify it, and send it — the newest verified backup — to the
//! standby, which checks it again and restores it in place. The
//! safety valve is asked first; when the standby holds emergency writes nobody reconciled, the
//! shipment is aborted, this node's data is left untouched, and an alert is raised.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{node_state, peer::ValveReport};
use crate::{
    alerts::AlertKind,
    backup::{files, Actor, BackupView, Trigger},
    config::NodeRole,
    db::{now, Engine},
    http::{error::ApiError, AppState},
};

pub const ABORTED_MESSAGE: &str = "Backup shipping aborted: recent emergency-mode activity on the standby";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    Shipped,
    Aborted,
    Failed,
}

/// The outcome of one shipment (the last one is kept in node_state and shown on the Sistema page).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Shipment {
    pub at: String,
    pub status: ShipmentStatus,
    pub standby: String,
    pub backup_id: Option<String>,
    pub size_bytes: Option<u64>,
    pub duration_ms: u64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

pub const LAST_SHIPMENT: &str = "last_shipment";

/// Runs forever (spawned by `serve` on a primary with a standby URL).
pub async fn run(state: AppState) {
    let every = Duration::from_secs(state.ha.config.ship_interval_secs.max(60));
    loop {
        tokio::time::sleep(every).await;
        // The outcome is recorded and alerted inside.
        let _ = ship_now(&state).await;
    }
}

/// Ships the newest verified backup now (verifying the newest one first when none is verified).
pub async fn ship_now(state: &AppState) -> Result<Shipment, ApiError> {
    let ha = &state.ha;
    if ha.role() != NodeRole::Primary {
        return Err(ApiError::conflict("not_a_primary", "only the primary ships backups"));
    }
    let Some(standby) = ha.config.standby_url.clone().map(|u| u.trim_end_matches('/').to_owned()) else {
        return Err(ApiError::conflict("ha_not_configured", "MOSTRADOR_STANDBY_URL is not set on this node"));
    };
    let secret = ha.secret()?.to_owned();
    super::security::peer_url(&ha.config, "MOSTRADOR_STANDBY_URL", &standby)?;
    let _work = ha.work.lock().await;
    let started = Instant::now();
    let mut shipment = Shipment {
        at: now(),
        status: ShipmentStatus::Failed,
        standby: standby.clone(),
        backup_id: None,
        size_bytes: None,
        duration_ms: 0,
        message: String::new(),
        details: None,
    };
    let outcome = ship(state, &standby, &secret, &mut shipment).await;
    shipment.duration_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(()) => {
            shipment.status = ShipmentStatus::Shipped;
            tracing::info!(backup = ?shipment.backup_id, %standby, ms = shipment.duration_ms, "backup shipped to the standby");
        }
        Err((status, message, details)) => {
            shipment.status = status;
            shipment.message = message.clone();
            shipment.details = details.clone();
            let (kind, text) = match status {
                ShipmentStatus::Aborted => (AlertKind::ShippingAborted, ABORTED_MESSAGE.to_owned()),
                _ => (AlertKind::ShippingFailed, format!("Backup shipping to {standby} failed: {message}")),
            };
            let details = json!({"standby": standby, "reason": message, "valve": details});
            ha.alerts.raise(kind, text, Some(details)).await;
        }
    }
    if let Err(e) =
        node_state::put(&state.db, LAST_SHIPMENT, &serde_json::to_value(&shipment).unwrap_or(Value::Null)).await
    {
        tracing::warn!(error = %e, "could not record the shipment");
    }
    Ok(shipment)
}

type Failure = (ShipmentStatus, String, Option<Value>);

async fn ship(state: &AppState, standby: &str, secret: &str, shipment: &mut Shipment) -> Result<(), Failure> {
    let failed = |m: String| (ShipmentStatus::Failed, m, None);
    let http = &state.ha.http;

    // 1. The safety valve, before anything is sent.
    let valve = http
        .get(format!("{standby}/api/ha/peer/valve"))
        .bearer_auth(secret)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| failed(format!("the standby did not answer: {e}")))?;
    if !valve.status().is_success() {
        let status = valve.status();
        return Err(failed(format!(
            "the standby's valve answered {status}: {}",
            valve.text().await.unwrap_or_default()
        )));
    }
    let report: ValveReport = valve.json().await.map_err(|e| failed(format!("the standby's valve: {e}")))?;
    if let Some(why) = report.refusal() {
        let status = if report.role == "standby" { ShipmentStatus::Aborted } else { ShipmentStatus::Failed };
        return Err((status, why, serde_json::to_value(&report).ok()));
    }

    // 2. A fresh backup, verified before it leaves.
    let backup = fresh_verified_backup(state).await.map_err(|e| failed(format!("no verified backup to ship: {e}")))?;
    shipment.backup_id = Some(backup.meta.id.to_string());
    shipment.size_bytes = Some(backup.meta.size_bytes);
    let engine = if backup.meta.engine == "postgres" { Engine::Postgres } else { Engine::Sqlite };
    let path = files::data_path(&state.backups.dir, &backup.meta.id, engine);
    let file = tokio::fs::File::open(&path).await.map_err(|e| failed(format!("open {}: {e}", path.display())))?;
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file));

    // 3. Send it; the standby checks it, re-checks the valve under its own lock, and restores it.
    let response = http
        .post(format!("{standby}/api/ha/peer/shipments"))
        .bearer_auth(secret)
        .header("x-mostrador-backup-id", backup.meta.id.to_string())
        .header("x-mostrador-backup-sha256", &backup.meta.sha256)
        .header(reqwest::header::CONTENT_LENGTH, backup.meta.size_bytes)
        .body(body)
        .send()
        .await
        .map_err(|e| failed(format!("sending the backup: {e}")))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        shipment.message = format!("backup {} restored on the standby", backup.meta.id);
        shipment.details = Some(answer);
        return Ok(());
    }
    let code = answer["error"]["code"].as_str().unwrap_or("");
    let message = answer["error"]["message"].as_str().unwrap_or("").to_owned();
    if code == "emergency_writes_present" {
        return Err((ShipmentStatus::Aborted, message, answer["error"]["details"].clone().into()));
    }
    Err(failed(format!("the standby answered {status} {code}: {message}")))
}

/// A fresh backup, verified: the standby is then at most one interval behind the primary, rather
/// than one nightly backup behind. Retention runs after it, as after a scheduled backup.
async fn fresh_verified_backup(state: &AppState) -> Result<BackupView, ApiError> {
    let backups = &state.backups;
    let meta = backups.create(Trigger::Shipment, &Actor::Scheduler, None).await?;
    let report = Arc::clone(backups).verify(&meta.id).await?;
    if !report.ok {
        return Err(ApiError::conflict("backup_not_verified", format!("backup {} failed verification", meta.id)));
    }
    if let Err(e) = backups.prune(&Actor::Scheduler).await {
        tracing::warn!(error = %e, "pruning after a shipment backup failed");
    }
    Ok(backups.view(backups.find(&meta.id).await?))
}
