//! Scheduled backups (cron, shop time), retention after each, and the periodic verification of the
//! newest backup. Failures are logged on the `alert` target.

use std::sync::Arc;

use super::{Actor, Backups, Trigger};

/// Runs forever (spawned by `serve`).
pub async fn run(backups: Arc<Backups>) {
    let b = backups.clone();
    let backup_loop = async move {
        while let Some(at) = b.next_backup_at() {
            sleep_until(at).await;
            // A failed create() has raised its alert already.
            if b.create(Trigger::Scheduled, &Actor::Scheduler, None).await.is_ok() {
                if let Err(e) = b.prune(&Actor::Scheduler).await {
                    tracing::error!(target: "alert", error = %e, "pruning old backups failed");
                }
            }
        }
    };
    let b = backups.clone();
    let verify_loop = async move {
        while let Some(at) = b.next_verification_at() {
            sleep_until(at).await;
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
            tracing::error!(target: "alert", error = %e, "cannot list backups to verify");
            return;
        }
    };
    match newest {
        None => tracing::error!(target: "alert", "no backup exists to verify"),
        Some(b) => {
            if let Err(e) = backups.verify(&b.meta.id).await {
                tracing::error!(target: "alert", id = %b.meta.id, error = %e, "backup verification could not run");
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
