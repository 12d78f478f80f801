//! Finding backups: the list of local and off-site backups with their totals, one backup's metadata,
//! the view the API shows of it, and fetching a remote-only backup back into the local directory
//! before an operation uses it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{blocking, engine, failed, files, io_failed, meta, BackupId, Backups, Metadata};
use crate::{db::Engine, http::error::ApiError};

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

impl Backups {
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
}
