//! Precompressed static files: `name.br` and `name.gz` written next to each compressible file of the
//! site root, once per build, for the static file handler (tower-http's `ServeDir`, through Leptos'
//! fallback) to send to clients that accept them. The wasm is 3 MB; brotli at its best quality makes
//! it about a quarter, which on a shop's mobile link is seconds before the first sale.
//!
//! A copy is valid while it is newer than its original. At start, copies older than their original (a
//! new build) or without one are deleted before anything is served, so a stale copy of another build
//! is never sent; the missing ones are then made in the background (brotli at quality 11 takes a few
//! seconds for the wasm) and until then the compression layer compresses on the fly.

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::SystemTime,
};

/// Worth compressing: text and wasm. Images (png) are compressed already.
const COMPRESSIBLE: &[&str] = &["wasm", "js", "mjs", "css", "svg", "html", "json", "webmanifest", "txt", "ico", "map"];
/// Below this a compressed copy saves less than a packet.
const MIN_SIZE: u64 = 1024;
/// The encodings made, by file suffix.
pub const SUFFIXES: &[&str] = &["br", "gz"];

/// True for the compressed copies this module writes (they are not files of the site).
pub fn is_copy(name: &str) -> bool {
    SUFFIXES.iter().any(|s| name.strip_suffix(s).is_some_and(|rest| rest.ends_with('.')))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Deletes stale copies now; returns the originals that need copies made.
pub fn clean(root: &Path) -> Vec<PathBuf> {
    let mut pending = Vec::new();
    let files = match walk(root) {
        Ok(files) => files,
        Err(e) => {
            tracing::warn!(site_root = %root.display(), error = %e, "cannot read the site root to precompress it");
            return pending;
        }
    };
    for path in files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if is_copy(name) {
            let original = path.with_extension("");
            let fresh = match (modified(&original), modified(&path)) {
                (Some(o), Some(c)) => c >= o,
                _ => false,
            };
            if !fresh {
                if let Err(e) = std::fs::remove_file(&path) {
                    tracing::error!(file = %path.display(), error = %e, "cannot delete a stale compressed copy: it may be served");
                }
            }
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        let big = std::fs::metadata(&path).is_ok_and(|m| m.len() >= MIN_SIZE);
        if COMPRESSIBLE.contains(&ext) && big {
            pending.push(path);
        }
    }
    pending
}

/// Makes the missing copies of `files` (blocking: run it on a blocking thread).
pub fn make(files: &[PathBuf]) {
    for original in files {
        for suffix in SUFFIXES {
            let copy = PathBuf::from(format!("{}.{suffix}", original.display()));
            let fresh = matches!((modified(original), modified(&copy)), (Some(o), Some(c)) if c >= o);
            if fresh {
                continue;
            }
            if let Err(e) = make_one(original, &copy, suffix) {
                // A read-only site root: answers are still compressed on the fly.
                tracing::warn!(file = %copy.display(), error = %e, "cannot write a precompressed copy");
                return;
            }
        }
    }
}

fn make_one(original: &Path, copy: &Path, suffix: &str) -> std::io::Result<()> {
    let before = modified(original);
    let bytes = std::fs::read(original)?;
    let compressed = compress(&bytes, suffix)?;
    // Written aside and renamed: a reader sees the whole copy or none.
    let tmp = copy.with_file_name(format!(
        ".{}.{}.tmp",
        copy.file_name().and_then(|n| n.to_str()).unwrap_or("copy"),
        std::process::id()
    ));
    std::fs::write(&tmp, compressed)?;
    if modified(original) != before {
        // The build changed under us: the next start makes it from the new file.
        return std::fs::remove_file(&tmp);
    }
    std::fs::rename(&tmp, copy)
}

pub fn compress(bytes: &[u8], suffix: &str) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    match suffix {
        "br" => {
            let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 22, ..Default::default() };
            brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
        }
        _ => {
            let mut gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::best());
            gz.write_all(bytes)?;
            gz.finish()?;
        }
    }
    Ok(out)
}

fn walk(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_name().to_str().is_none_or(|n| n.starts_with('.')) {
                continue;
            }
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    Ok(out)
}

/// Deletes stale copies now, makes the missing ones in the background (not under `cargo leptos watch`,
/// whose files change at every save).
pub fn start(root: &Path, watching: bool) {
    let pending = clean(root);
    if watching || pending.is_empty() {
        return;
    }
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        make(&pending);
        tracing::debug!(
            files = pending.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "static files precompressed"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_recognised() {
        assert!(is_copy("mostrador.wasm.br"));
        assert!(is_copy("mostrador.js.gz"));
        assert!(!is_copy("mostrador.wasm"));
        assert!(!is_copy("br"));
        assert!(!is_copy("icon.svgz"));
    }

    #[test]
    fn stale_copies_are_deleted_and_fresh_ones_made() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("app.wasm");
        std::fs::write(&wasm, vec![7u8; 4096]).unwrap();
        std::fs::write(dir.path().join("tiny.js"), "x").unwrap();
        // A copy of no original, and one older than its original.
        std::fs::write(dir.path().join("gone.js.br"), "old").unwrap();
        let old = dir.path().join("app.wasm.gz");
        std::fs::write(&old, "old").unwrap();
        let past = SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options().write(true).open(&old).unwrap().set_modified(past).unwrap();

        let pending = clean(dir.path());
        assert!(!dir.path().join("gone.js.br").exists());
        assert!(!old.exists());
        assert_eq!(pending, vec![wasm.clone()], "tiny files are not worth it");
        make(&pending);
        let br = std::fs::read(dir.path().join("app.wasm.br")).unwrap();
        let mut plain = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut plain).unwrap();
        assert_eq!(plain, std::fs::read(&wasm).unwrap());
        assert!(clean(dir.path()).contains(&wasm), "still listed, but make() finds the copies fresh");
        assert!(dir.path().join("app.wasm.gz").exists());
    }
}
