//! Scheduled backups (cron, shop time), retention after each, and the periodic verification of the
//! newest backup. Failures are logged on the `alert` target.

use std::sync::Arc;

use super::{Actor, Backups, Trigger};
use crate::alerts::AlertKind;

/// Runs forever (spawned by `serve`). A standby skips its turns unless emergency mode is on.
pub async fn run(backups: Arc<Backups>, ha: Arc<crate::ha::Ha>) {
    let b = backups.clone();
    let h = ha.clone();
    let backup_loop = async move {
        while let Some(at) = b.next_backup_at() {
            sleep_until(at).await;
            if !h.runs_jobs() {
                tracing::info!("scheduled backup skipped: this node is a standby");
                continue;
            }
            // A failed create() has raised its alert already.
            if b.create(Trigger::Scheduled, &Actor::Scheduler, None).await.is_ok() {
                if let Err(e) = b.prune(&Actor::Scheduler).await {
                    b.alerts.raise(AlertKind::BackupFailed, format!("Pruning old backups failed: {e}"), None).await;
                }
            }
        }
    };
    let b = backups.clone();
    let verify_loop = async move {
        while let Some(at) = b.next_verification_at() {
            sleep_until(at).await;
            if !ha.runs_jobs() {
                continue;
            }
            verify_newest(&b).await;
        }
    };
    tokio::join!(backup_loop, verify_loop);
}

/// Verifies the newest backup (the one a restore would most likely use).
pub async fn verify_newest(backups: &Arc<Backups>) {
    let newest = match backups.list().await {
        Ok(list) => list.backups.into_iter().next(),
        Err(e) => {
            backups
                .alerts
                .raise(AlertKind::VerificationFailed, format!("Cannot list the backups to verify: {e}"), None)
                .await;
            return;
        }
    };
    match newest {
        None => backups.alerts.raise(AlertKind::VerificationFailed, "No backup exists to verify", None).await,
        Some(b) => {
            if let Err(e) = backups.verify(&b.meta.id).await {
                let message = format!("Verification of backup {} could not run: {e}", b.meta.id);
                backups.alerts.raise(AlertKind::VerificationFailed, message, None).await;
            }
        }
    }
}

async fn sleep_until(at: chrono::DateTime<chrono::Utc>) {
    // Sleep in steps of at most a minute, so a clock change (NTP, suspend) is noticed.
    loop {
        let left = at - chrono::Utc::now();
        let Ok(left) = left.to_std() else { return };
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left.min(std::time::Duration::from_secs(60))).await;
    }
}
