//! Scheduled backups (cron, shop time), retention after each, and the periodic verification of the
//! newest backup. Failures are logged on the `alert` target.
//!
//! Also what the schedules are made of: the shop's time zone, the cron settings (`off` for none)
//! and when each next fires.

use std::sync::Arc;

use super::{Actor, Backups, Trigger};
use crate::{alerts::AlertKind, config::BackupConfig};

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

/// The shop's time zone: the setting, else TZ, else UTC.
pub fn time_zone(config: &BackupConfig) -> Result<chrono_tz::Tz, String> {
    let name = config.timezone.clone().or_else(|| std::env::var("TZ").ok().filter(|s| !s.is_empty()));
    match name {
        None => Ok(chrono_tz::UTC),
        Some(n) => n
            .trim_start_matches(':')
            .parse()
            .map_err(|_| format!("unknown time zone {n:?} (use an IANA name such as Europe/Madrid)")),
    }
}

pub(super) fn parse_cron(expr: &str, what: &str) -> Result<Option<croner::Cron>, String> {
    if expr.trim().eq_ignore_ascii_case("off") || expr.trim().is_empty() {
        return Ok(None);
    }
    expr.parse::<croner::Cron>().map(Some).map_err(|e| format!("{what} {expr:?} is not a cron expression: {e}"))
}

impl Backups {
    fn next_after(&self, cron: Option<&croner::Cron>) -> Option<chrono::DateTime<chrono::Utc>> {
        let now = chrono::Utc::now().with_timezone(&self.tz);
        cron?.find_next_occurrence(&now, false).ok().map(|t| t.with_timezone(&chrono::Utc))
    }

    pub fn next_backup_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.next_after(self.schedule.as_ref())
    }

    pub fn next_verification_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.next_after(self.verify_schedule.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_run_in_shop_time() {
        let cron = parse_cron("0 2 * * *", "schedule").unwrap().unwrap();
        let tz: chrono_tz::Tz = "America/Argentina/Buenos_Aires".parse().unwrap();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z").unwrap().with_timezone(&tz);
        let next = cron.find_next_occurrence(&now, false).unwrap().with_timezone(&chrono::Utc);
        assert_eq!(next.to_rfc3339(), "2026-11-23T05:00:00+00:00", "02:00 in Buenos Aires is 05:00 UTC");
        assert!(parse_cron("off", "schedule").unwrap().is_none());
        assert!(parse_cron("every night", "schedule").is_err());
        assert!(time_zone(&BackupConfig { timezone: Some("Mars/Olympus".into()), ..BackupConfig::defaults() }).is_err());
    }
}
