//! Backups you can trust (issue #5): consistent copies of the live database while it takes writes,
//! compressed and checksummed, listed from their metadata files alone, verified by restoring them
//! into a scratch database, copied off-site, pruned, and restored into the running server.
//!
//! One operation at a time per backup directory: an in-process mutex plus an advisory file lock on
//! `<dir>/.lock`, so the CLI and a running server never step on each other's temp files.
//!
//! This file holds what every operation shares: the [`Backups`] handle, the lock, the sweep of
//! leftovers and the audit entry. The operations live beside it, one concept a file: `list`
//! (finding backups, local or off-site), `create`, `verify`, `restore`, `upload` (adopting a file
//! received from outside) and `retention` (delete, prune); `schedule` runs them on their crons.

pub mod cli;
mod create;
pub mod engine;
pub mod files;
pub mod gate;
mod list;
pub mod meta;
pub mod remote;
mod restore;
mod retention;
pub mod routes;
pub mod schedule;
pub mod schema;
mod upload;
mod verify;

use std::{path::PathBuf, sync::Arc};

use app::model::User;

pub use files::BackupId;
pub use gate::Gate;
pub use list::{BackupList, BackupView, Totals};
pub use meta::{Metadata, Trigger};
pub use restore::{schema_too_new, RestoreReport};
pub use retention::to_prune;
pub use routes::router;
pub use schedule::time_zone;
pub use verify::{Check, VerifyReport};

use crate::{
    alerts::Alerts,
    audit,
    config::{BackupConfig, DatabaseConfig},
    db::{self, Db, Engine},
    http::error::ApiError,
};
use engine::Target;
use schedule::parse_cron;

pub struct Backups {
    pub db: Db,
    pub config: BackupConfig,
    pub dir: PathBuf,
    pub tz: chrono_tz::Tz,
    pub node: String,
    target: Target,
    schedule: Option<croner::Cron>,
    verify_schedule: Option<croner::Cron>,
    pub remote: Option<remote::Remote>,
    ops: Arc<tokio::sync::Mutex<()>>,
    pub gate: Gate,
    pub alerts: Alerts,
}

/// Holds the right to run one backup operation (in-process mutex + cross-process file lock).
pub struct OpGuard {
    _ops: tokio::sync::OwnedMutexGuard<()>,
    _file: std::fs::File,
}

/// Who asked: a signed-in user, or an operator at the command line.
#[derive(Debug, Clone)]
pub enum Actor {
    User(User),
    Cli,
    Scheduler,
    /// The primary, shipping a backup to this standby.
    Peer,
}

fn failed(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::OperationFailed { code, message: message.into() }
}

fn io_failed(what: &'static str) -> impl Fn(std::io::Error) -> ApiError {
    move |e| failed("backup_failed", format!("{what}: {e}"))
}

impl Backups {
    pub async fn new(
        db: Db,
        db_config: &DatabaseConfig,
        config: BackupConfig,
        node: String,
        alerts: Alerts,
    ) -> Result<Arc<Backups>, String> {
        let dir = config.backup_dir.clone().unwrap_or_else(|| db_config.data_dir.join("backups"));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create the backup directory {}: {e}", dir.display()))?;
        let tz = time_zone(&config)?;
        let schedule = parse_cron(&config.backup_schedule, "--backup-schedule")?;
        let verify_schedule = parse_cron(&config.backup_verify_schedule, "--backup-verify-schedule")?;
        let remote = remote::Remote::from_config(&config)?;
        let target = Target {
            engine: db.engine,
            sqlite_file: db::sqlite_file(&db_config.data_dir),
            database_url: db_config.database_url.clone(),
            pg_bin_dir: config.pg_bin_dir.clone(),
        };
        let backups = Arc::new(Backups {
            db,
            config,
            dir,
            tz,
            node,
            target,
            schedule,
            verify_schedule,
            remote,
            ops: Arc::new(tokio::sync::Mutex::new(())),
            gate: Gate::default(),
            alerts,
        });
        // Leftovers of a crash: temp files, data without metadata, scratch databases.
        let guard = backups.lock().await.map_err(|e| e.to_string())?;
        backups.sweep_with(true).await;
        drop(guard);
        Ok(backups)
    }

    pub fn engine(&self) -> Engine {
        self.db.engine
    }

    /// One operation at a time: this process's mutex, then the directory's file lock.
    pub async fn lock(&self) -> Result<OpGuard, ApiError> {
        let ops = self.ops.clone().lock_owned().await;
        let path = self.dir.join(files::LOCK_FILE);
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
            lock_exclusive(&f)?;
            Ok(f)
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(io_failed("backup directory lock"))?;
        Ok(OpGuard { _ops: ops, _file: file })
    }

    async fn sweep(&self) {
        self.sweep_with(false).await
    }

    async fn sweep_with(&self, at_startup: bool) {
        match files::sweep(&self.dir, at_startup) {
            Ok(removed) if !removed.is_empty() => tracing::info!(?removed, "removed leftovers of interrupted backups"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not sweep the backup directory"),
        }
        engine::sweep_scratch(&self.target).await;
    }

    /// An audit entry for a backup operation (outside any request transaction).
    async fn audit(&self, actor: &Actor, action: &str, id: Option<&str>, request: serde_json::Value) {
        let (user_id, username) = match actor {
            Actor::User(u) => (u.id.to_string(), u.username.clone()),
            Actor::Cli => ("00000000-0000-0000-0000-000000000000".into(), "(command line)".into()),
            Actor::Scheduler => ("00000000-0000-0000-0000-000000000000".into(), "(scheduler)".into()),
            Actor::Peer => ("00000000-0000-0000-0000-000000000000".into(), "(primary node)".into()),
        };
        let entry = audit::Entry {
            at: db::now(),
            user_id,
            username,
            node: self.node.clone(),
            mode: "normal".into(),
            idempotency_key: None,
            method: "POST".into(),
            path: match id {
                Some(id) => format!("/api/backups/{id}/{action}"),
                None => format!("/api/backups/{action}"),
            },
            entity: "backups".into(),
            entity_id: id.map(str::to_owned),
            action: action.into(),
            request: Some(request),
            status: 200,
            if_match: None,
        };
        let result = async {
            let mut tx = crate::idempotency::begin(&self.db).await.map_err(|e| e.to_string())?;
            audit::record(&mut tx.tx, &entry).await.map_err(|e| e.to_string())?;
            tx.tx.commit().await.map_err(|e| e.to_string())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, action, "could not write the audit entry for a backup operation");
        }
    }
}

/// An exclusive advisory lock (flock) on `file`, held until the file is closed (also when the process
/// dies). Blocks until it is free.
fn lock_exclusive(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock on a file descriptor that `file` keeps open for the duration of the call.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(std::io::Error::other)?
}
