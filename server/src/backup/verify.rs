//! Verifying a backup: checksum, decompression under a size cap (a zstd bomb is refused unpacked),
//! restore into a scratch database, integrity, schema version and row counts. A restore runs the
//! same checks and keeps the scratch database they leave behind.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::Serialize;

use super::{blocking, engine, files, io_failed, meta, BackupId, Backups, Metadata};
use crate::{
    alerts::AlertKind,
    db::{self, Engine},
    http::error::ApiError,
};
use engine::{Counts, Scratch};

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

impl Backups {
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
    pub(super) async fn decompress(&self, data: &Path, raw: &Path) -> Result<u64, files::DecompressError> {
        let cap = self.restore_cap().await;
        let (d, r) = (data.to_owned(), raw.to_owned());
        tokio::task::spawn_blocking(move || files::decompress(&d, &r, cap))
            .await
            .map_err(|e| files::DecompressError::Io(std::io::Error::other(e)))?
    }

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
    pub(super) async fn check(
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
