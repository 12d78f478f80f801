//! Adopting a backup file received from outside (an admin's upload, a primary's shipment): it must
//! be a zstd file of this server's engine that restores into a scratch database and passes its
//! checks before it is listed.

use std::{path::Path, sync::Arc, time::Instant};

use super::{blocking, engine, files, io_failed, meta, Actor, BackupId, Backups, Metadata, OpGuard, Trigger};
use crate::{db, health::VERSION, http::error::ApiError};

impl Backups {
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
}
