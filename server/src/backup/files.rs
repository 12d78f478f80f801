//! The backup directory: ids, file names, temp files, atomic installs, compression and checksums.
//!
//! Layout: `<id>.<ext>` (the zstd-compressed database copy) and `<id>.json` (its metadata, written
//! last: the commit point). Everything in progress is named `.tmp-…` and swept at start-up and
//! before each operation, so a crash at any moment leaves nothing half-made listed.

use std::{
    fs::File,
    io::{self, Read, Write},
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

use crate::db::Engine;

pub const TEMP_PREFIX: &str = ".tmp-";
/// Encrypted copies on their way off-site: made and sent outside the operation lock (an upload can
/// be slow), so only the start-up sweep removes them.
pub const UPLOAD_PREFIX: &str = ".upload-";
/// Uploads and shipments on their way in: received before the operation lock is taken (a slow or
/// stalled sender must not hold up backups), so only the start-up sweep removes them.
pub const INCOMING_PREFIX: &str = ".incoming-";
pub const LOCK_FILE: &str = ".lock";
/// zstd frame magic number.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
pub const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
pub const PGDUMP_MAGIC: &[u8] = b"PGDMP";

/// A backup id: `YYYYMMDD-HHMMSS-xxxxxx` (UTC time of creation, 6 random hex digits). Parsed strictly,
/// so an id from a client can never name anything but a backup file in the backup directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BackupId(String);

impl BackupId {
    pub fn new() -> BackupId {
        let now = time::OffsetDateTime::now_utc();
        let format = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
        let suffix: u32 = rand::random::<u32>() & 0x00ff_ffff;
        BackupId(format!("{}-{suffix:06x}", now.format(&format).expect("formats")))
    }

    pub fn parse(raw: &str) -> Option<BackupId> {
        let b = raw.as_bytes();
        let ok = b.len() == 22
            && b[..8].iter().all(u8::is_ascii_digit)
            && b[8] == b'-'
            && b[9..15].iter().all(u8::is_ascii_digit)
            && b[15] == b'-'
            && b[16..].iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
        ok.then(|| BackupId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for BackupId {
    fn default() -> Self {
        BackupId::new()
    }
}

impl std::fmt::Display for BackupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for BackupId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        BackupId::parse(&s).ok_or_else(|| format!("not a backup id: {s}"))
    }
}

impl From<BackupId> for String {
    fn from(id: BackupId) -> String {
        id.0
    }
}

/// The data file's extension for an engine.
pub fn extension(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "db.zst",
        Engine::Postgres => "pgdump.zst",
    }
}

pub fn data_path(dir: &Path, id: &BackupId, engine: Engine) -> PathBuf {
    dir.join(format!("{id}.{}", extension(engine)))
}

pub fn meta_path(dir: &Path, id: &BackupId) -> PathBuf {
    dir.join(format!("{id}.json"))
}

/// A fresh temp path in `dir` (`.tmp-<what>-<random>`), swept if a crash leaves it behind.
pub fn temp_path(dir: &Path, what: &str) -> PathBuf {
    dir.join(format!("{TEMP_PREFIX}{what}-{:08x}", rand::random::<u32>()))
}

/// Deletes leftovers of interrupted operations: temp files, and data files whose metadata (the commit
/// point) was never written; at start-up also unfinished off-site uploads. Call only while holding
/// the directory lock. Returns what was removed.
pub fn sweep(dir: &Path, at_startup: bool) -> io::Result<Vec<String>> {
    let mut removed = Vec::new();
    let mut metas = std::collections::HashSet::new();
    let mut data = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(TEMP_PREFIX)
            || (at_startup && (name.starts_with(UPLOAD_PREFIX) || name.starts_with(INCOMING_PREFIX)))
        {
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
            removed.push(name);
        } else if let Some(id) = name.strip_suffix(".json").and_then(BackupId::parse) {
            metas.insert(id);
        } else if let Some((id, _)) = name.split_once('.') {
            if let Some(id) = BackupId::parse(id) {
                data.push((id, entry.path(), name));
            }
        }
    }
    for (id, path, name) in data {
        if !metas.contains(&id) {
            std::fs::remove_file(path)?;
            removed.push(name);
        }
    }
    if !removed.is_empty() {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// fsync of a directory, so that renames in it survive a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other("no parent directory"))?;
    let tmp = temp_path(dir, "write");
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub struct Compressed {
    pub size_bytes: u64,
    pub raw_size_bytes: u64,
    pub sha256: String,
}

/// Compresses `src` into `dst` (created, fsynced) with zstd; returns sizes and the SHA-256 of `dst`.
pub fn compress(src: &Path, dst: &Path) -> io::Result<Compressed> {
    let mut input = File::open(src)?;
    let out = HashingWriter { inner: File::create(dst)?, hasher: Sha256::new(), written: 0 };
    let mut encoder = zstd::Encoder::new(out, 3)?;
    let raw = io::copy(&mut input, &mut encoder)?;
    let out = encoder.finish()?;
    out.inner.sync_all()?;
    Ok(Compressed { size_bytes: out.written, raw_size_bytes: raw, sha256: hex::encode(out.hasher.finalize()) })
}

/// Why a file could not be decompressed.
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    /// More than the cap: a zstd bomb, or a backup far larger than this server's database.
    #[error("it decompresses to more than {0} bytes")]
    TooLarge(u64),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Decompresses `src` into `dst`, at most `cap` bytes; returns the decompressed size. The size is
/// measured first without writing anything, so a zstd bomb (a few KB that expand to terabytes)
/// costs a bounded amount of CPU and no disk.
pub fn decompress(src: &Path, dst: &Path, cap: u64) -> Result<u64, DecompressError> {
    let measured = io::copy(&mut zstd::Decoder::new(File::open(src)?)?.take(cap.saturating_add(1)), &mut io::sink())?;
    if measured > cap {
        return Err(DecompressError::TooLarge(cap));
    }
    let mut decoder = zstd::Decoder::new(File::open(src)?)?.take(cap.saturating_add(1));
    let mut out = File::create(dst)?;
    let n = io::copy(&mut decoder, &mut out)?;
    if n > cap {
        return Err(DecompressError::TooLarge(cap));
    }
    out.sync_all()?;
    Ok(n)
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The first `n` bytes of a file (fewer if it is shorter).
pub fn head(path: &Path, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    File::open(path)?.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Which engine a decompressed backup belongs to, by its magic bytes.
pub fn sniff_engine(raw_head: &[u8]) -> Option<Engine> {
    if raw_head.starts_with(SQLITE_MAGIC) {
        Some(Engine::Sqlite)
    } else if raw_head.starts_with(PGDUMP_MAGIC) {
        Some(Engine::Postgres)
    } else {
        None
    }
}

/// Decompresses only the first bytes of a zstd file (to sniff what it holds).
pub fn decompressed_head(path: &Path, n: usize) -> io::Result<Vec<u8>> {
    let decoder = zstd::Decoder::new(File::open(path)?)?;
    let mut buf = Vec::with_capacity(n);
    decoder.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_strict() {
        let id = BackupId::new();
        assert_eq!(BackupId::parse(id.as_str()), Some(id));
        for bad in [
            "",
            "../../etc/passwd",
            "20261122-020000-ABCDEF",
            "20261122-020000-abcde",
            "20261122x020000-abcdef",
            "20261122-020000-abcdef/",
        ] {
            assert!(BackupId::parse(bad).is_none(), "{bad}");
        }
    }
}
