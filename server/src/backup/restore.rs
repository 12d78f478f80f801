//! Restoring a backup into the running server: the checks on a scratch copy, a `pre-restore` safety
//! backup, the gate held closed while the live rows are replaced in one transaction.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use serde::Serialize;

use super::{engine, Actor, BackupId, BackupView, Backups, Trigger};
use crate::{db, http::error::ApiError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RestoreReport {
    pub restored: BackupView,
    /// The `pre-restore` backup of the data that was replaced.
    pub safety_backup: BackupView,
    pub row_counts: BTreeMap<String, i64>,
    pub duration_ms: u64,
}

impl Backups {
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
