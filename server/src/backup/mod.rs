//! Backups you can trust (issue #5): consistent copies of the live database while it takes writes,
//! compressed and checksummed, listed from their metadata files alone, verified by restoring them
//! into a scratch database, copied off-site, pruned, and restored into the running server.
//!
//! One operation at a time per backup directory: an in-process mutex plus an advisory file lock on
//! `<dir>/.lock`, so the CLI and a running server never step on each other's temp files.

pub mod cli;
pub mod engine;
pub mod files;
pub mod gate;
pub mod meta;
pub mod remote;
pub mod routes;
pub mod schedule;
pub mod schema;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use app::model::User;
use serde::Serialize;

pub use files::BackupId;
pub use gate::Gate;
pub use meta::{Metadata, Trigger};
pub use routes::router;

use crate::{
    alerts::{AlertKind, Alerts},
    audit,
    config::{BackupConfig, DatabaseConfig},
    db::{self, Db, Engine},
    health::VERSION,
    http::error::ApiError,
};
use engine::{Counts, Scratch, Target};

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

/// A backup as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BackupView {
    #[serde(flatten)]
    pub meta: Metadata,
    /// The file is in the local backup directory.
    pub local: bool,
    /// What a download is called.
    pub file_name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Totals {
    pub count: usize,
    /// Bytes of the local backup files.
    pub size_bytes: u64,
    pub directory: String,
    pub next_scheduled_at: Option<String>,
    pub next_verification_at: Option<String>,
    /// Set when the off-site storage could not be listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BackupList {
    pub backups: Vec<BackupView>,
    pub totals: Totals,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    pub ok: bool,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RestoreReport {
    pub restored: BackupView,
    /// The `pre-restore` backup of the data that was replaced.
    pub safety_backup: BackupView,
    pub row_counts: BTreeMap<String, i64>,
    pub duration_ms: u64,
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

fn parse_cron(expr: &str, what: &str) -> Result<Option<croner::Cron>, String> {
    if expr.trim().eq_ignore_ascii_case("off") || expr.trim().is_empty() {
        return Ok(None);
    }
    expr.parse::<croner::Cron>().map(Some).map_err(|e| format!("{what} {expr:?} is not a cron expression: {e}"))
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

    pub fn view(&self, meta: Metadata) -> BackupView {
        let engine = if meta.engine == "postgres" { Engine::Postgres } else { Engine::Sqlite };
        let local =
            files::data_path(&self.dir, &meta.id, engine).exists() && files::meta_path(&self.dir, &meta.id).exists();
        let file_name = self.download_name(&meta, engine);
        BackupView { meta, local, file_name }
    }

    /// `mostrador-2026-11-22T0200.db.zst`, in the shop's time.
    pub fn download_name(&self, meta: &Metadata, engine: Engine) -> String {
        let stamp = chrono::DateTime::parse_from_rfc3339(&meta.created_at)
            .map(|t| t.with_timezone(&self.tz).format("%Y-%m-%dT%H%M").to_string())
            .unwrap_or_else(|_| meta.id.to_string());
        format!("mostrador-{stamp}.{}", files::extension(engine))
    }

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

    // -----------------------------------------------------------------------------------------
    // Listing

    /// Local and remote backups together, newest first.
    pub async fn list(&self) -> Result<BackupList, ApiError> {
        let local = Metadata::list(&self.dir).map_err(io_failed("read the backup directory"))?;
        let mut by_id: BTreeMap<BackupId, Metadata> = local.into_iter().map(|m| (m.id.clone(), m)).collect();
        let mut remote_error = None;
        if let Some(remote) = &self.remote {
            match tokio::time::timeout(std::time::Duration::from_secs(10), remote.list()).await {
                Ok(Ok(list)) => {
                    for m in list {
                        by_id.entry(m.id.clone()).or_insert(m);
                    }
                }
                Ok(Err(e)) => remote_error = Some(e),
                Err(_) => remote_error = Some("the off-site storage did not answer within 10 s".into()),
            }
        }
        let mut all: Vec<Metadata> = by_id.into_values().collect();
        meta::sort_newest_first(&mut all);
        let backups: Vec<BackupView> = all.into_iter().map(|m| self.view(m)).collect();
        let size_bytes = backups.iter().filter(|b| b.local).map(|b| b.meta.size_bytes).sum();
        let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        Ok(BackupList {
            totals: Totals {
                count: backups.len(),
                size_bytes,
                directory: self.dir.display().to_string(),
                next_scheduled_at: self.next_backup_at().map(fmt),
                next_verification_at: self.next_verification_at().map(fmt),
                remote_error,
            },
            backups,
        })
    }

    /// One backup's metadata, local first, else remote.
    pub async fn find(&self, id: &BackupId) -> Result<Metadata, ApiError> {
        if let Some(m) = Metadata::read(&self.dir, id).map_err(io_failed("read metadata"))? {
            return Ok(m);
        }
        if let Some(remote) = &self.remote {
            if let Some(m) = remote.metadata(id).await.map_err(|e| failed("remote_unavailable", e))? {
                return Ok(m);
            }
        }
        Err(ApiError::NotFound)
    }

    /// Makes sure the backup's file is local (fetching a remote-only one, re-checking its checksum).
    /// Call with the lock held.
    pub(crate) async fn ensure_local(&self, id: &BackupId) -> Result<Metadata, ApiError> {
        let meta = self.find(id).await?;
        let engine = self.check_engine(&meta)?;
        let data = files::data_path(&self.dir, id, engine);
        if data.exists() && files::meta_path(&self.dir, id).exists() {
            return Ok(meta);
        }
        let remote = self.remote.as_ref().ok_or(ApiError::NotFound)?;
        let tmp = files::temp_path(&self.dir, &format!("fetch-{id}"));
        let result = async {
            remote.download(&meta, engine, &tmp).await.map_err(|e| failed("remote_unavailable", e))?;
            let sha = blocking({
                let tmp = tmp.clone();
                move || files::sha256_file(&tmp)
            })
            .await
            .map_err(io_failed("checksum"))?;
            if sha != meta.sha256 {
                return Err(engine::corrupt(format!("the remote copy's SHA-256 is {sha}, expected {}", meta.sha256)));
            }
            std::fs::rename(&tmp, &data).map_err(io_failed("install fetched backup"))?;
            meta.write(&self.dir).map_err(io_failed("write metadata"))?;
            Ok(meta)
        }
        .await;
        let _ = std::fs::remove_file(&tmp);
        result
    }

    pub(crate) fn check_engine(&self, meta: &Metadata) -> Result<Engine, ApiError> {
        if meta.engine != self.engine().as_str() {
            return Err(ApiError::conflict(
                "backup_engine_mismatch",
                format!("this backup is of a {} database; this server runs {}", meta.engine, self.engine().as_str()),
            ));
        }
        Ok(self.engine())
    }

    /// The largest decompressed backup this server takes: the setting, else 4 × the live
    /// database's size, at least 1 GiB (room for a bigger shop's backup on a fresh install).
    pub async fn restore_cap(&self) -> u64 {
        if let Some(cap) = self.config.backup_max_restore_bytes {
            return cap;
        }
        let live: u64 = match self.engine() {
            Engine::Sqlite => ["", "-wal"]
                .iter()
                .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", self.target.sqlite_file.display())).ok())
                .map(|m| m.len())
                .sum(),
            Engine::Postgres => sqlx::query_scalar::<_, i64>("SELECT pg_database_size(current_database())")
                .fetch_one(&self.db.pool())
                .await
                .map(|n| n.max(0) as u64)
                .unwrap_or(0),
        };
        live.saturating_mul(4).max(1 << 30)
    }

    /// Decompresses a backup file into `raw` under the cap, off the async threads.
    async fn decompress(&self, data: &Path, raw: &Path) -> Result<u64, files::DecompressError> {
        let cap = self.restore_cap().await;
        let (d, r) = (data.to_owned(), raw.to_owned());
        tokio::task::spawn_blocking(move || files::decompress(&d, &r, cap))
            .await
            .map_err(|e| files::DecompressError::Io(std::io::Error::other(e)))?
    }

    // -----------------------------------------------------------------------------------------
    // Create

    /// Takes a backup now; then copies it off-site (a failed upload is an alert, not a failed backup).
    pub async fn create(
        self: &Arc<Self>,
        trigger: Trigger,
        actor: &Actor,
        idempotency_key: Option<String>,
    ) -> Result<Metadata, ApiError> {
        let guard = self.lock().await?;
        self.sweep().await;
        let meta = self.create_locked(trigger, idempotency_key, None).await?;
        drop(guard);
        self.audit(actor, "create", Some(meta.id.as_str()), serde_json::json!({"trigger": trigger.as_str()})).await;
        let meta = self.upload_remote(meta).await;
        Ok(meta)
    }

    /// Looks for the backup a POST with this Idempotency-Key already made.
    pub fn find_by_key(&self, key: &str) -> Option<Metadata> {
        Metadata::list(&self.dir).ok()?.into_iter().find(|m| m.idempotency_key.as_deref() == Some(key))
    }

    async fn create_locked(
        &self,
        trigger: Trigger,
        idempotency_key: Option<String>,
        restore_of: Option<String>,
    ) -> Result<Metadata, ApiError> {
        let started = Instant::now();
        let id = BackupId::new();
        let created_at = db::now();
        let engine = self.engine();
        let raw = files::temp_path(&self.dir, &format!("raw-{id}"));
        let packed = files::temp_path(&self.dir, &format!("data-{id}"));
        let result = async {
            let snapshot = engine::dump(&self.db, &self.target, &raw).await?;
            let compressed = blocking({
                let (raw, packed) = (raw.clone(), packed.clone());
                move || files::compress(&raw, &packed)
            })
            .await
            .map_err(io_failed("compress"))?;
            let meta = Metadata {
                id: id.clone(),
                created_at,
                trigger,
                engine: engine.as_str().into(),
                schema_version: snapshot.schema_version,
                size_bytes: compressed.size_bytes,
                raw_size_bytes: compressed.raw_size_bytes,
                sha256: compressed.sha256,
                row_counts: snapshot.row_counts,
                verified_at: None,
                last_verification: None,
                remote: None,
                app_version: VERSION.into(),
                node: self.node.clone(),
                duration_ms: started.elapsed().as_millis() as u64,
                idempotency_key,
                restore_of,
            };
            // Data first, metadata last: the metadata's rename is the commit point.
            std::fs::rename(&packed, files::data_path(&self.dir, &id, engine)).map_err(io_failed("install backup"))?;
            meta.write(&self.dir).map_err(io_failed("write metadata"))?;
            Ok::<_, ApiError>(meta)
        }
        .await;
        let _ = std::fs::remove_file(&raw);
        let _ = std::fs::remove_file(&packed);
        match &result {
            Ok(m) => {
                tracing::info!(id = %m.id, trigger = trigger.as_str(), size = m.size_bytes, ms = m.duration_ms, "backup created")
            }
            Err(e) => {
                let details = serde_json::json!({"trigger": trigger.as_str(), "error": e.to_string()});
                self.alerts
                    .raise(AlertKind::BackupFailed, format!("Backup failed on {}: {e}", self.node), Some(details))
                    .await
            }
        }
        result
    }

    /// Copies a backup off-site when a bucket is configured; records where it went.
    pub async fn upload_remote(&self, mut meta: Metadata) -> Metadata {
        let Some(remote) = &self.remote else { return meta };
        let engine = self.engine();
        let key = remote.data_key(&meta.id, engine);
        let mut with_remote = meta.clone();
        with_remote.remote = Some(meta::RemoteCopy { key, uploaded_at: db::now(), encrypted: remote.encrypts() });
        match remote.upload(&files::data_path(&self.dir, &meta.id, engine), &with_remote, engine).await {
            Ok(()) => {
                // Another operation may have changed the local metadata meanwhile (verify): re-read.
                if let Ok(Some(mut current)) = Metadata::read(&self.dir, &meta.id) {
                    current.remote = with_remote.remote.clone();
                    if let Err(e) = current.write(&self.dir) {
                        tracing::warn!(id = %meta.id, error = %e, "could not record the off-site copy");
                    }
                    meta = current;
                } else {
                    meta = with_remote;
                }
                tracing::info!(id = %meta.id, bucket = %remote.bucket, "backup copied off-site");
            }
            Err(e) => {
                let details = serde_json::json!({"backup": meta.id, "bucket": remote.bucket, "error": e.to_string()});
                self.alerts
                    .raise(
                        AlertKind::BackupFailed,
                        format!("Off-site copy of backup {} failed: {e}", meta.id),
                        Some(details),
                    )
                    .await
            }
        }
        meta
    }

    // -----------------------------------------------------------------------------------------
    // Verify

    /// Checksum, decompression, restore into a scratch database, integrity, schema version and row
    /// counts. A pass records `verified_at`; a failure raises an alert.
    pub async fn verify(self: &Arc<Self>, id: &BackupId) -> Result<VerifyReport, ApiError> {
        let guard = self.lock().await?;
        self.sweep().await;
        let meta = self.ensure_local(id).await?;
        let (checks, _) = self.check(&meta, false).await?;
        let ok = checks.iter().all(|c| c.ok);
        if let Ok(Some(mut current)) = Metadata::read(&self.dir, id) {
            let now = db::now();
            current.last_verification = Some(meta::LastVerification { at: now.clone(), ok });
            if ok {
                current.verified_at = Some(now);
            }
            current.write(&self.dir).map_err(io_failed("write metadata"))?;
            // The off-site metadata learns the result too (retention reads it when the disk is gone).
            if let (Some(remote), Some(_)) = (&self.remote, &current.remote) {
                if let Err(e) = remote.put_metadata(&current).await {
                    tracing::warn!(%id, error = %e, "could not update the off-site metadata");
                }
            }
        }
        drop(guard);
        if ok {
            tracing::info!(%id, "backup verified");
        } else {
            let failed: Vec<String> =
                checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect();
            let details = serde_json::json!({"backup": id, "failed_checks": failed});
            self.alerts
                .raise(
                    AlertKind::VerificationFailed,
                    format!("Backup {id} failed verification: {}", failed.join("; ")),
                    Some(details),
                )
                .await;
        }
        Ok(VerifyReport { ok, checks })
    }

    /// Runs the checks; with `keep_scratch`, hands back the scratch database (migrated to this
    /// binary's schema) for a restore. Stops at the first failed check.
    async fn check(
        &self,
        meta: &Metadata,
        keep_scratch: bool,
    ) -> Result<(Vec<Check>, Option<(Scratch, PathBuf)>), ApiError> {
        let engine = self.check_engine(meta)?;
        let mut checks = Vec::new();
        let mut push = |name: &'static str, ok: bool, detail: String| {
            checks.push(Check { name: name.into(), ok, detail });
            ok
        };
        let data = files::data_path(&self.dir, &meta.id, engine);
        let sha = blocking({
            let data = data.clone();
            move || files::sha256_file(&data)
        })
        .await
        .map_err(io_failed("checksum"))?;
        if !push(
            "checksum",
            sha == meta.sha256,
            if sha == meta.sha256 {
                format!("sha256 {sha}")
            } else {
                format!("sha256 is {sha}, recorded {}", meta.sha256)
            },
        ) {
            return Ok((checks, None));
        }
        let raw = files::temp_path(&self.dir, &format!("scratch-{}", meta.id));
        let decompressed = self.decompress(&data, &raw).await;
        let size_ok = matches!(decompressed, Ok(n) if n == meta.raw_size_bytes);
        let detail = match &decompressed {
            Ok(n) if size_ok => format!("{n} bytes"),
            Ok(n) => format!("{n} bytes, recorded {}", meta.raw_size_bytes),
            Err(e) => e.to_string(),
        };
        if !push("decompress", size_ok, detail) {
            let _ = std::fs::remove_file(&raw);
            return Ok((checks, None));
        }
        let outcome = async {
            let limit = self.config.check_timeout();
            let mut scratch = match engine::scratch_restore(&self.target, &raw, limit).await {
                Ok(s) => {
                    push("restore", true, "restored into a scratch database".into());
                    s
                }
                Err(e) => {
                    push("restore", false, e.to_string());
                    return Ok(None);
                }
            };
            let result = engine::within(limit, "the checks", async {
                let integrity = scratch.integrity().await;
                if !push("integrity", integrity.is_ok(), integrity.err().unwrap_or_else(|| "ok".into())) {
                    return Ok(false);
                }
                let version = scratch.schema_version().await?;
                if !push(
                    "schema_version",
                    version == meta.schema_version,
                    format!("{version} (recorded {})", meta.schema_version),
                ) {
                    return Ok(false);
                }
                let counts = scratch.counts().await?;
                let same = counts == meta.row_counts;
                let detail = if same {
                    format!("{} rows in {} tables", counts.values().sum::<i64>(), counts.len())
                } else {
                    differences(&meta.row_counts, &counts)
                };
                Ok::<bool, ApiError>(push("row_counts", same, detail))
            })
            .await;
            match result {
                Ok(true) if keep_scratch => Ok(Some(scratch)),
                other => {
                    scratch.drop_scratch().await;
                    other.map(|_| None)
                }
            }
        }
        .await;
        match outcome {
            Ok(Some(scratch)) => Ok((checks, Some((scratch, raw)))),
            Ok(None) => {
                let _ = std::fs::remove_file(&raw);
                Ok((checks, None))
            }
            Err(e) => {
                let _ = std::fs::remove_file(&raw);
                Err(e)
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Restore

    /// Restores a backup into the running server: check everything on a scratch copy first, take a
    /// `pre-restore` safety backup, hold new API requests (503 `restoring`) while the ones in flight
    /// finish, then replace the live rows in one transaction.
    pub async fn restore(self: &Arc<Self>, id: &BackupId, actor: &Actor) -> Result<RestoreReport, ApiError> {
        self.restore_checked(id, actor, || async { Ok(()) }).await
    }

    /// A restore that asks `still_allowed` once more when no request is in flight any more (the gate
    /// closed), right before the rows are replaced: a shipment refuses there if an emergency write
    /// slipped in meanwhile (issue #6's safety valve, re-checked by the receiver under its own lock).
    pub async fn restore_checked<F, Fut>(
        self: &Arc<Self>,
        id: &BackupId,
        actor: &Actor,
        still_allowed: F,
    ) -> Result<RestoreReport, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), ApiError>>,
    {
        let started = Instant::now();
        let guard = self.lock().await?;
        self.sweep().await;
        let meta = self.ensure_local(id).await?;
        let engine = self.check_engine(&meta)?;
        let code_version = db::code_schema_version(engine);
        if meta.schema_version > code_version {
            return Err(schema_too_new(meta.schema_version, code_version));
        }
        let (checks, scratch) = self.check(&meta, true).await?;
        let Some((mut scratch, raw)) = scratch else {
            let failed: Vec<String> =
                checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect();
            return Err(ApiError::Unprocessable {
                code: "backup_corrupt",
                message: format!("the backup failed its checks and was not restored ({})", failed.join("; ")),
                details: Some(serde_json::json!({ "checks": checks })),
            });
        };
        let result = async {
            let limit = self.config.check_timeout();
            engine::within(limit, "migrating the backup", scratch.migrate(engine)).await?;
            let expected = engine::comparable(&engine::within(limit, "counting rows", scratch.counts()).await?);
            let safety = self.create_locked(Trigger::PreRestore, None, Some(id.to_string())).await?;
            let closed = self.gate.close().await?;
            still_allowed().await?;
            let counts = engine::copy_into_live(&self.db, &self.target, &mut scratch, &expected).await;
            drop(closed);
            Ok::<_, ApiError>((safety, counts?))
        }
        .await;
        scratch.drop_scratch().await;
        let _ = std::fs::remove_file(&raw);
        drop(guard);
        match result {
            Ok((safety, counts)) => {
                tracing::warn!(%id, safety = %safety.id, "database restored from a backup");
                self.audit(actor, "restore", Some(id.as_str()), serde_json::json!({"safety_backup": safety.id})).await;
                let safety = self.upload_remote(safety).await;
                Ok(RestoreReport {
                    restored: self.view(meta),
                    safety_backup: self.view(safety),
                    row_counts: counts,
                    duration_ms: started.elapsed().as_millis() as u64,
                })
            }
            Err(e) => {
                tracing::error!(%id, error = %e, "restore failed; the previous data is still serving");
                Err(e)
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Upload, delete, prune

    /// Takes in a backup file received into `tmp` (a temp file in the backup directory, which the
    /// caller created under `guard`): checks it by restoring it into a scratch database, and lists it
    /// with trigger `upload`.
    pub async fn adopt_upload(
        self: &Arc<Self>,
        _guard: &OpGuard,
        tmp: &Path,
        trigger: Trigger,
        actor: &Actor,
    ) -> Result<Metadata, ApiError> {
        let started = Instant::now();
        let invalid = |m: String| ApiError::Unprocessable { code: "invalid_backup", message: m, details: None };
        let head = files::head(tmp, 4).map_err(io_failed("read upload"))?;
        if head != files::ZSTD_MAGIC {
            return Err(invalid(
                "not a Mostrador backup: expected a zstd-compressed file (.db.zst or .pgdump.zst)".into(),
            ));
        }
        let inner = files::decompressed_head(tmp, 16).map_err(|e| invalid(format!("not a valid zstd file: {e}")))?;
        let engine = files::sniff_engine(&inner)
            .ok_or_else(|| invalid("the file holds neither a SQLite database nor a pg_dump archive".into()))?;
        if engine != self.engine() {
            return Err(ApiError::conflict(
                "backup_engine_mismatch",
                format!(
                    "this backup is of a {} database; this server runs {}",
                    engine.as_str(),
                    self.engine().as_str()
                ),
            ));
        }
        let (sha, size) = {
            let t = tmp.to_owned();
            blocking(move || Ok((files::sha256_file(&t)?, std::fs::metadata(&t)?.len())))
                .await
                .map_err(io_failed("checksum"))?
        };
        let raw = files::temp_path(&self.dir, "upload-raw");
        let result = async {
            let raw_size = self.decompress(tmp, &raw).await.map_err(|e| match e {
                files::DecompressError::TooLarge(cap) => ApiError::Unprocessable {
                    code: "backup_too_large",
                    message: format!(
                        "the file decompresses to more than {cap} bytes (MOSTRADOR_BACKUP_MAX_RESTORE_BYTES); it was refused without being unpacked"
                    ),
                    details: Some(serde_json::json!({ "max_restore_bytes": cap })),
                },
                files::DecompressError::Io(e) => invalid(format!("cannot decompress: {e}")),
            })?;
            let limit = self.config.check_timeout();
            let mut scratch = engine::scratch_restore(&self.target, &raw, limit).await?;
            let inspected = engine::within(limit, "the checks", async {
                scratch.integrity().await.map_err(|e| engine::corrupt(format!("integrity check failed: {e}")))?;
                let version = scratch.schema_version().await?;
                let counts = scratch.counts().await?;
                Ok::<_, ApiError>((version, counts))
            })
            .await;
            scratch.drop_scratch().await;
            let (schema_version, row_counts) = inspected?;
            let id = BackupId::new();
            let meta = Metadata {
                id: id.clone(),
                created_at: db::now(),
                trigger,
                engine: engine.as_str().into(),
                schema_version,
                size_bytes: size,
                raw_size_bytes: raw_size,
                sha256: sha,
                row_counts,
                verified_at: Some(db::now()),
                last_verification: Some(meta::LastVerification { at: db::now(), ok: true }),
                remote: None,
                app_version: VERSION.into(),
                node: self.node.clone(),
                duration_ms: started.elapsed().as_millis() as u64,
                idempotency_key: None,
                restore_of: None,
            };
            std::fs::rename(tmp, files::data_path(&self.dir, &id, engine)).map_err(io_failed("install upload"))?;
            meta.write(&self.dir).map_err(io_failed("write metadata"))?;
            Ok::<_, ApiError>(meta)
        }
        .await;
        let _ = std::fs::remove_file(&raw);
        let meta = result?;
        self.audit(actor, trigger.as_str(), Some(meta.id.as_str()), serde_json::json!({"size_bytes": meta.size_bytes}))
            .await;
        Ok(meta)
    }

    /// Deletes a backup here and off-site.
    pub async fn delete(self: &Arc<Self>, id: &BackupId, actor: &Actor) -> Result<(), ApiError> {
        let guard = self.lock().await?;
        let meta = self.find(id).await?;
        self.delete_locked(&meta).await?;
        drop(guard);
        self.audit(actor, "delete", Some(id.as_str()), serde_json::json!({})).await;
        Ok(())
    }

    async fn delete_locked(&self, meta: &Metadata) -> Result<(), ApiError> {
        let engine = if meta.engine == "postgres" { Engine::Postgres } else { Engine::Sqlite };
        // Metadata first: from then on the backup is not listed, and a crash leaves only an orphan
        // data file that the next sweep removes.
        for path in [files::meta_path(&self.dir, &meta.id), files::data_path(&self.dir, &meta.id, engine)] {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(failed("backup_failed", format!("delete {}: {e}", path.display()))),
            }
        }
        let _ = files::sync_dir(&self.dir);
        if let Some(remote) = &self.remote {
            remote.delete(meta, engine).await.map_err(|e| failed("remote_unavailable", e))?;
        }
        Ok(())
    }

    /// Keeps the newest `--backup-keep` backups and the newest verified one; deletes the rest.
    pub async fn prune(self: &Arc<Self>, actor: &Actor) -> Result<Vec<BackupId>, ApiError> {
        let guard = self.lock().await?;
        let list = self.list().await?;
        let doomed =
            to_prune(&list.backups.iter().map(|b| b.meta.clone()).collect::<Vec<_>>(), self.config.backup_keep);
        let mut removed = Vec::new();
        for meta in doomed {
            self.delete_locked(&meta).await?;
            removed.push(meta.id.clone());
        }
        drop(guard);
        if !removed.is_empty() {
            tracing::info!(?removed, "pruned old backups");
            self.audit(actor, "prune", None, serde_json::json!({"removed": removed})).await;
        }
        Ok(removed)
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

pub fn schema_too_new(backup: i64, code: i64) -> ApiError {
    ApiError::conflict(
        "backup_schema_too_new",
        format!(
            "this backup's schema (migration {backup}) is newer than this server's (migration {code}); \
             upgrade Mostrador before restoring it"
        ),
    )
}

/// Which backups retention removes: all but the newest `keep`, never the newest verified one.
pub fn to_prune(newest_first: &[Metadata], keep: usize) -> Vec<Metadata> {
    let newest_verified = newest_first.iter().find(|m| m.verified_at.is_some()).map(|m| m.id.clone());
    newest_first.iter().skip(keep).filter(|m| Some(&m.id) != newest_verified.as_ref()).cloned().collect()
}

fn differences(expected: &Counts, found: &Counts) -> String {
    let mut out = Vec::new();
    for t in expected.keys().chain(found.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (e, f) = (expected.get(t), found.get(t));
        if e != f {
            out.push(format!(
                "{t}: {} rows, recorded {}",
                f.map_or("no".into(), |n| n.to_string()),
                e.map_or("none".into(), |n| n.to_string())
            ));
        }
    }
    out.join("; ")
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

    fn meta(id: &str, verified: bool) -> Metadata {
        Metadata {
            id: BackupId::parse(id).unwrap(),
            created_at: format!("2026-11-{}T02:00:00.000Z", &id[6..8]),
            trigger: Trigger::Scheduled,
            engine: "sqlite".into(),
            schema_version: 1,
            size_bytes: 1,
            raw_size_bytes: 1,
            sha256: String::new(),
            row_counts: Default::default(),
            verified_at: verified.then(|| "2026-11-30T00:00:00.000Z".into()),
            last_verification: None,
            remote: None,
            app_version: String::new(),
            node: String::new(),
            duration_ms: 0,
            idempotency_key: None,
            restore_of: None,
        }
    }

    #[test]
    fn retention_keeps_the_newest_and_the_newest_verified() {
        let list = vec![
            meta("20261125-020000-000005", false),
            meta("20261124-020000-000004", false),
            meta("20261123-020000-000003", true),
            meta("20261122-020000-000002", true),
            meta("20261121-020000-000001", false),
        ];
        let doomed: Vec<String> = to_prune(&list, 2).iter().map(|m| m.id.to_string()).collect();
        assert_eq!(doomed, ["20261122-020000-000002", "20261121-020000-000001"]);
        assert!(to_prune(&list, 10).is_empty());
        let doomed: Vec<String> = to_prune(&list, 0).iter().map(|m| m.id.to_string()).collect();
        assert_eq!(doomed.len(), 4, "keep 0 still keeps the newest verified");
    }
}
