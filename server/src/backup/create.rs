//! Taking a backup: a consistent copy of the live database, compressed and checksummed, installed
//! data first and metadata last; then its copy off-site, which may fail without failing the backup.

use std::{sync::Arc, time::Instant};

use super::{blocking, engine, files, io_failed, meta, Actor, BackupId, Backups, Metadata, Trigger};
use crate::{alerts::AlertKind, db, health::VERSION, http::error::ApiError};

impl Backups {
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

    pub(super) async fn create_locked(
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
}
