//! The metadata file beside each backup: the list is rebuilt from these alone.

use std::{collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};

use super::files::{self, BackupId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    Manual,
    Scheduled,
    PreRestore,
    Upload,
    /// Received from the primary by backup shipping (issue #6).
    Shipment,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Scheduled => "scheduled",
            Trigger::PreRestore => "pre-restore",
            Trigger::Upload => "upload",
            Trigger::Shipment => "shipment",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RemoteCopy {
    /// Object key of the data file in the bucket.
    pub key: String,
    pub uploaded_at: String,
    /// Whether the remote copy is encrypted (age).
    #[serde(default)]
    pub encrypted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Metadata {
    #[schema(value_type = String, example = "20261122-020000-a1b2c3")]
    pub id: BackupId,
    pub created_at: String,
    pub trigger: Trigger,
    /// `sqlite` or `postgres`.
    pub engine: String,
    /// The newest migration applied in the backed-up database.
    pub schema_version: i64,
    /// Size of the compressed file.
    pub size_bytes: u64,
    /// Size before compression.
    pub raw_size_bytes: u64,
    /// SHA-256 of the compressed file (what a download delivers).
    pub sha256: String,
    /// Rows per table at the moment of the backup.
    pub row_counts: BTreeMap<String, i64>,
    /// When a verification last passed.
    pub verified_at: Option<String>,
    /// The last verification: when, and whether it passed.
    #[serde(default)]
    pub last_verification: Option<LastVerification>,
    pub remote: Option<RemoteCopy>,
    pub app_version: String,
    pub node: String,
    /// Milliseconds the backup took.
    pub duration_ms: u64,
    /// The Idempotency-Key of the POST that made it, to replay a retried create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// For a pre-restore backup: the backup that was being restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_of: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LastVerification {
    pub at: String,
    pub ok: bool,
}

impl Metadata {
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        files::write_atomic(&files::meta_path(dir, &self.id), &bytes)
    }

    pub fn read(dir: &Path, id: &BackupId) -> std::io::Result<Option<Metadata>> {
        match std::fs::read(files::meta_path(dir, id)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every complete local backup (metadata present), newest first. Unreadable metadata is logged and
    /// skipped rather than hiding the others.
    pub fn list(dir: &Path) -> std::io::Result<Vec<Metadata>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json").and_then(BackupId::parse) else { continue };
            match Metadata::read(dir, &id) {
                Ok(Some(m)) => out.push(m),
                Ok(None) => {}
                Err(e) => tracing::warn!(file = %name, error = %e, "unreadable backup metadata skipped"),
            }
        }
        sort_newest_first(&mut out);
        Ok(out)
    }
}

pub fn sort_newest_first(list: &mut [Metadata]) {
    list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
}
