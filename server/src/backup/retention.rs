//! Retention: deleting a backup here and off-site, and pruning all but the newest `--backup-keep`
//! backups, never the newest verified one.

use std::sync::Arc;

use super::{failed, files, Actor, BackupId, Backups, Metadata};
use crate::{db::Engine, http::error::ApiError};

impl Backups {
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
}

/// Which backups retention removes: all but the newest `keep`, never the newest verified one.
pub fn to_prune(newest_first: &[Metadata], keep: usize) -> Vec<Metadata> {
    let newest_verified = newest_first.iter().find(|m| m.verified_at.is_some()).map(|m| m.id.clone());
    newest_first.iter().skip(keep).filter(|m| Some(&m.id) != newest_verified.as_ref()).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::Trigger;

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
