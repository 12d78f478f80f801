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
    passphrase: Option<String>,
}

/// age (scrypt passphrase) encryption of a whole file.
fn encrypt_file(src: &Path, dst: &Path, passphrase: &str) -> std::io::Result<()> {
    let encryptor = age::Encryptor::with_user_passphrase(age::secrecy::SecretString::from(passphrase.to_owned()));
    let mut out = encryptor.wrap_output(std::fs::File::create(dst)?)?;
    std::io::copy(&mut std::fs::File::open(src)?, &mut out)?;
    out.finish()?.sync_all()
}

fn decrypt_file(src: &Path, dst: &Path, passphrase: &str) -> Result<(), String> {
    let decryptor = age::Decryptor::new(std::io::BufReader::new(std::fs::File::open(src).map_err(|e| e.to_string())?))
        .map_err(|e| format!("not an age file: {e}"))?;
    let identity = age::scrypt::Identity::new(age::secrecy::SecretString::from(passphrase.to_owned()));
    let mut reader = decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)).map_err(|e| {
        format!("cannot decrypt the off-site copy: wrong passphrase (MOSTRADOR_BACKUP_PASSPHRASE)? {e}")
    })?;
    let mut out = std::fs::File::create(dst).map_err(|e| e.to_string())?;
    std::io::copy(&mut reader, &mut out).map_err(|e| format!("decrypt: {e}"))?;
    out.sync_all().map_err(|e| e.to_string())
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
        let retry =
            object_store::RetryConfig { max_retries: 3, retry_timeout: Duration::from_secs(60), ..Default::default() };
        let store = builder.with_retry(retry).build().map_err(|e| format!("S3 settings: {e}"))?;
        Ok(Some(Remote {
            store: Arc::new(store),
            prefix: config.s3_prefix.trim_matches('/').to_owned(),
            bucket: bucket.clone(),
            passphrase: config.backup_passphrase.clone().filter(|p| !p.is_empty()),
        }))
    }

    fn key(&self, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    pub fn data_key(&self, id: &BackupId, engine: Engine) -> String {
        self.copy_key(id, engine, self.passphrase.is_some()).to_string()
    }

    /// Where a copy's data object is: always our own naming from the (checked) backup id, never a
    /// key read from metadata, which anyone with write access to the bucket could point at another
    /// object to fetch or delete.
    fn copy_key(&self, id: &BackupId, engine: Engine, encrypted: bool) -> ObjectPath {
        let age = if encrypted { ".age" } else { "" };
        self.key(&format!("{id}.{}{age}", files::extension(engine)))
    }

    pub fn encrypts(&self) -> bool {
        self.passphrase.is_some()
    }

    /// Uploads the data file then the metadata (streamed, multipart for large files); HEADs the data
    /// object afterwards to check its size.
    pub async fn upload(&self, local: &Path, meta: &Metadata, engine: Engine) -> Result<(), String> {
        let key = self.copy_key(&meta.id, engine, self.passphrase.is_some());
        // Encrypted copies are made beside the backup (a swept temp file) and uploaded from there.
        let encrypted = match &self.passphrase {
            Some(p) => {
                let dir = local.parent().ok_or("no backup directory")?;
                let tmp = dir.join(format!("{}{}-{:08x}", files::UPLOAD_PREFIX, meta.id, rand::random::<u32>()));
                let (src, dst, p) = (local.to_owned(), tmp.clone(), p.clone());
                let done = tokio::task::spawn_blocking(move || encrypt_file(&src, &dst, &p))
                    .await
                    .map_err(|e| e.to_string())?;
                if let Err(e) = done {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(format!("encrypt: {e}"));
                }
                Some(tmp)
            }
            None => None,
        };
        let result = self.put_file(encrypted.as_deref().unwrap_or(local), &key).await;
        if let Some(tmp) = &encrypted {
            let _ = std::fs::remove_file(tmp);
        }
        result?;
        // Metadata last: the remote commit point.
        self.put_metadata(meta).await
    }

    /// Writes (or rewrites, after a verification) the metadata object.
    pub async fn put_metadata(&self, meta: &Metadata) -> Result<(), String> {
        let json = serde_json::to_vec_pretty(meta).map_err(|e| e.to_string())?;
        self.store
            .put(&self.key(&format!("{}.json", meta.id)), json.into())
            .await
            .map_err(|e| format!("upload metadata: {e}"))?;
        Ok(())
    }

    /// Streams a file to `key` (multipart when large) and checks the stored size.
    async fn put_file(&self, path: &Path, key: &ObjectPath) -> Result<(), String> {
        let size = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
        let mut writer = object_store::buffered::BufWriter::new(self.store.clone(), key.clone());
        let mut file = tokio::fs::File::open(path).await.map_err(|e| e.to_string())?;
        if let Err(e) = tokio::io::copy(&mut file, &mut writer).await {
            let _ = writer.abort().await;
            return Err(format!("upload {key}: {e}"));
        }
        writer.shutdown().await.map_err(|e| format!("upload {key}: {e}"))?;
        let head = self.store.head(key).await.map_err(|e| format!("check {key}: {e}"))?;
        if head.size != size {
            return Err(format!("remote {key} has {} bytes, expected {size}", head.size));
        }
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
                let meta: Metadata = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                // The object's name is ours; a body naming another backup was edited in the bucket.
                if meta.id != *id {
                    return Err(format!("{id}.json in the bucket describes backup {}", meta.id));
                }
                Ok(Some(meta))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Downloads the data file to `dest` (streamed), decrypting an encrypted copy.
    pub async fn download(&self, meta: &Metadata, engine: Engine, dest: &Path) -> Result<(), String> {
        let encrypted = meta.remote.as_ref().is_some_and(|r| r.encrypted);
        let key = self.copy_key(&meta.id, engine, encrypted);
        if !encrypted {
            return self.get_file(key, dest).await;
        }
        let passphrase =
            self.passphrase.clone().ok_or("this off-site copy is encrypted: set MOSTRADOR_BACKUP_PASSPHRASE")?;
        let dir = dest.parent().ok_or("no backup directory")?;
        let tmp = files::temp_path(dir, &format!("dec-{}", meta.id));
        let result = async {
            self.get_file(key, &tmp).await?;
            let (src, dst) = (tmp.clone(), dest.to_owned());
            tokio::task::spawn_blocking(move || decrypt_file(&src, &dst, &passphrase))
                .await
                .map_err(|e| e.to_string())?
        }
        .await;
        let _ = std::fs::remove_file(&tmp);
        result
    }

    async fn get_file(&self, key: ObjectPath, dest: &Path) -> Result<(), String> {
        let result = self.store.get(&key).await.map_err(|e| format!("fetch {key}: {e}"))?;
        let mut stream = result.into_stream();
        let mut file = tokio::fs::File::create(dest).await.map_err(|e| e.to_string())?;
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.map_err(|e| format!("fetch {key}: {e}"))?).await.map_err(|e| e.to_string())?;
        }
        file.sync_all().await.map_err(|e| e.to_string())?;
        Ok(())
    }

    pub async fn delete(&self, meta: &Metadata, engine: Engine) -> Result<(), String> {
        let id = &meta.id;
        let data = self.copy_key(id, engine, meta.remote.as_ref().is_some_and(|r| r.encrypted));
        // Metadata first: a half-deleted backup is then no longer listed.
        for key in [self.key(&format!("{id}.json")), data] {
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(format!("delete {key}: {e}")),
            }
        }
        Ok(())
    }
}
