//! `mostrador backup create|list|verify|restore|prune`: the same operations as the API, for operators
//! and cron. They work with the server stopped or running: one operation at a time is guaranteed by
//! the backup directory's lock, and a restore replaces the rows in one transaction, so a running
//! server sees the restored data at once, with no restart.

use std::sync::Arc;

use crate::{
    backup::{Actor, BackupId, Backups, Trigger},
    cli::CliResult,
    config::{BackupCommand, BackupConfig, DatabaseConfig},
    db::Db,
};

async fn open(db: &DatabaseConfig, backup: BackupConfig) -> Result<Arc<Backups>, Box<dyn std::error::Error>> {
    let database = Db::connect(db).await?;
    let node =
        std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "mostrador".into());
    // Alerts from the command line are logged and kept in the history; delivery is the server's job.
    let alerts = crate::alerts::Alerts::new(database.clone(), node.clone(), crate::config::AlertConfig::defaults());
    Ok(Backups::new(database, db, backup, node, alerts).await?)
}

fn id(raw: &str) -> Result<BackupId, String> {
    BackupId::parse(raw).ok_or_else(|| format!("{raw:?} is not a backup id (see `mostrador backup list`)"))
}

pub async fn run(command: BackupCommand) -> CliResult {
    match command {
        BackupCommand::Create { db, backup } => {
            let b = open(&db, backup).await?;
            let meta = b.create(Trigger::Manual, &Actor::Cli, None).await?;
            println!("created {} ({} bytes, sha256 {})", meta.id, meta.size_bytes, meta.sha256);
            if let Some(r) = &meta.remote {
                println!("copied off-site to {}", r.key);
            } else if b.remote.is_some() {
                return Err("the backup was made but the off-site copy failed (see the log)".into());
            }
            let removed = b.prune(&Actor::Cli).await?;
            if !removed.is_empty() {
                println!("pruned {} old backup(s)", removed.len());
            }
        }
        BackupCommand::List { db, backup } => {
            let b = open(&db, backup).await?;
            let list = b.list().await?;
            println!(
                "{:<24} {:<25} {:<12} {:>12} {:<14} {:<6} {:<6}",
                "ID", "CREATED", "TRIGGER", "BYTES", "SHA256", "LOCAL", "REMOTE"
            );
            for v in &list.backups {
                let m = &v.meta;
                println!(
                    "{:<24} {:<25} {:<12} {:>12} {:<14} {:<6} {:<6}{}",
                    m.id,
                    m.created_at,
                    m.trigger.as_str(),
                    m.size_bytes,
                    &m.sha256[..12.min(m.sha256.len())],
                    if v.local { "yes" } else { "no" },
                    if m.remote.is_some() { "yes" } else { "no" },
                    m.verified_at.as_deref().map(|t| format!(" verified {t}")).unwrap_or_default(),
                );
            }
            println!("{} backup(s), {} bytes in {}", list.totals.count, list.totals.size_bytes, list.totals.directory);
            if let Some(e) = list.totals.remote_error {
                println!("off-site storage unavailable: {e}");
            }
        }
        BackupCommand::Verify { id: raw, db, backup } => {
            let b = open(&db, backup).await?;
            let report = b.verify(&id(&raw)?).await?;
            for c in &report.checks {
                println!("{:<4} {:<15} {}", if c.ok { "ok" } else { "FAIL" }, c.name, c.detail);
            }
            if !report.ok {
                return Err("verification failed".into());
            }
            println!("verified");
        }
        BackupCommand::Restore { id: raw, db, backup } => {
            let b = open(&db, backup).await?;
            let report = b.restore(&id(&raw)?, &Actor::Cli).await?;
            println!(
                "restored {} in {} ms; the data it replaced is in backup {}",
                report.restored.meta.id, report.duration_ms, report.safety_backup.meta.id
            );
            println!(
                "A running server serves the restored rows already (they were replaced in one transaction); \
                 restart it only if you want its caches cleared."
            );
        }
        BackupCommand::Prune { db, backup } => {
            let b = open(&db, backup).await?;
            let removed = b.prune(&Actor::Cli).await?;
            println!(
                "removed {} backup(s){}",
                removed.len(),
                if removed.is_empty() {
                    String::new()
                } else {
                    format!(": {}", removed.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "))
                }
            );
        }
    }
    Ok(())
}
