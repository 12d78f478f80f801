//! Off-site copies in S3-compatible storage (object_store). Layout under the prefix:
//! `<id>.<ext>` then `<id>.json` (the metadata, uploaded last: the remote commit point).

use std::{path::Path, sync::Arc, time::Duration};

use futures::StreamExt;
use object_store::{aws::AmazonS3Builder, path::Path as ObjectPath, ObjectStore};
use tokio::io::AsyncWriteExt;

use super::{
    files::{self, BackupId},
    meta::Metadata,
};
use crate::{config::BackupConfig, db::Engine};

pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    pub bucket: String,
}

impl Remote {
    /// None when no bucket is configured.
    pub fn from_config(config: &BackupConfig) -> Result<Option<Remote>, String> {
        let Some(bucket) = &config.s3_bucket else { return Ok(None) };
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket).with_region(&config.s3_region);
        if let (Some(id), Some(secret)) = (&config.s3_access_key_id, &config.s3_secret_access_key) {
            builder = builder.with_access_key_id(id).with_secret_access_key(secret);
        }
        if let Some(endpoint) = &config.s3_endpoint {
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        let retry = object_store::RetryConfig { max_retries: 3, retry_timeout: Duration::from_secs(60), ..Default::default() };
        let store = builder.with_retry(retry).build().map_err(|e| format!("S3 settings: {e}"))?;
        Ok(Some(Remote { store: Arc::new(store), prefix: config.s3_prefix.trim_matches('/').to_owned(), bucket: bucket.clone() }))
    }

    fn key(&self, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    pub fn data_key(&self, id: &BackupId, engine: Engine) -> String {
        self.key(&format!("{id}.{}", files::extension(engine))).to_string()
    }

    /// Uploads the data file then the metadata (streamed, multipart for large files); HEADs the data
    /// object afterwards to check its size.
    pub async fn upload(&self, local: &Path, meta: &Metadata, engine: Engine) -> Result<(), String> {
        let key = ObjectPath::from(self.data_key(&meta.id, engine));
        let mut writer = object_store::buffered::BufWriter::new(self.store.clone(), key.clone());
        let mut file = tokio::fs::File::open(local).await.map_err(|e| e.to_string())?;
        if let Err(e) = tokio::io::copy(&mut file, &mut writer).await {
            let _ = writer.abort().await;
            return Err(format!("upload {key}: {e}"));
        }
        writer.shutdown().await.map_err(|e| format!("upload {key}: {e}"))?;
        let head = self.store.head(&key).await.map_err(|e| format!("check {key}: {e}"))?;
        if head.size != meta.size_bytes {
            return Err(format!("remote {key} has {} bytes, expected {}", head.size, meta.size_bytes));
        }
        let json = serde_json::to_vec_pretty(meta).map_err(|e| e.to_string())?;
        self.store.put(&self.key(&format!("{}.json", meta.id)), json.into()).await.map_err(|e| format!("upload metadata: {e}"))?;
        Ok(())
    }

    /// Every backup whose metadata is in the bucket.
    pub async fn list(&self) -> Result<Vec<Metadata>, String> {
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let mut listing = self.store.list(prefix.as_ref());
        let mut out = Vec::new();
        while let Some(item) = listing.next().await {
            let item = item.map_err(|e| e.to_string())?;
            let Some(name) = item.location.filename() else { continue };
            let Some(id) = name.strip_suffix(".json").and_then(BackupId::parse) else { continue };
            match self.metadata(&id).await {
                Ok(Some(m)) => out.push(m),
                Ok(None) => {}
                Err(e) => tracing::warn!(%id, error = %e, "unreadable remote backup metadata skipped"),
            }
        }
        Ok(out)
    }

    pub async fn metadata(&self, id: &BackupId) -> Result<Option<Metadata>, String> {
        match self.store.get(&self.key(&format!("{id}.json"))).await {
            Ok(r) => {
                let bytes = r.bytes().await.map_err(|e| e.to_string())?;
                serde_json::from_slice(&bytes).map(Some).map_err(|e| e.to_string())
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Downloads the data file to `dest` (streamed).
    pub async fn download(&self, id: &BackupId, engine: Engine, dest: &Path) -> Result<(), String> {
        let key = ObjectPath::from(self.data_key(id, engine));
        let result = self.store.get(&key).await.map_err(|e| format!("fetch {key}: {e}"))?;
        let mut stream = result.into_stream();
        let mut file = tokio::fs::File::create(dest).await.map_err(|e| e.to_string())?;
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.map_err(|e| format!("fetch {key}: {e}"))?).await.map_err(|e| e.to_string())?;
        }
        file.sync_all().await.map_err(|e| e.to_string())?;
        Ok(())
    }

    pub async fn delete(&self, id: &BackupId, engine: Engine) -> Result<(), String> {
        // Metadata first: a half-deleted backup is then no longer listed.
        for key in [self.key(&format!("{id}.json")), ObjectPath::from(self.data_key(id, engine))] {
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(format!("delete {key}: {e}")),
            }
        }
        Ok(())
    }
}
