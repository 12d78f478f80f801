//! Compressed answers: static files from their precompressed copies (brotli, gzip) with the right
//! headers and the exact bytes once decoded, identity to clients that ask for nothing, and JSON
//! answers compressed on the fly above a small size.

use std::{io::Read, path::Path, time::Duration};

use reqwest::{header, StatusCode};

use crate::helpers::{new_client, spawn_app_with, Engine, TestApp};

/// 256 KiB that compress like code: words from a small vocabulary in a pseudo-random order.
fn wasm_like() -> Vec<u8> {
    let words: [&[u8]; 8] =
        [b"\0asm", b"local.get ", b"i32.add ", b"call $f", b"\x01\x02\x03", b"memory ", b"br_if 0 ", b"end\n"];
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    let mut x: u32 = 12345;
    while out.len() < 256 * 1024 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        out.extend_from_slice(words[(x >> 16) as usize % words.len()]);
    }
    out
}

async fn spawn_on(site: &Path) -> TestApp {
    let root = site.to_str().unwrap().to_owned();
    spawn_app_with(Engine::Sqlite, None, move |c| c.site_root = root).await
}

async fn get(app: &TestApp, path: &str, accept: Option<&str>) -> reqwest::Response {
    let mut request = new_client().get(app.url(path));
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT_ENCODING, accept);
    }
    request.send().await.unwrap()
}

fn vary_has_accept_encoding(r: &reqwest::Response) -> bool {
    r.headers()
        .get_all(header::VARY)
        .iter()
        .any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("accept-encoding"))
}

pub async fn static_files_are_served_precompressed() {
    let site = tempfile::tempdir().unwrap();
    let public = Path::new(env!("CARGO_MANIFEST_DIR")).join("../public");
    std::fs::copy(public.join("sw.js"), site.path().join("sw.js")).unwrap();
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    let wasm = wasm_like();
    std::fs::write(site.path().join("pkg/mostrador.wasm"), &wasm).unwrap();
    let css = "body { margin: 0 }\n".repeat(200);
    std::fs::write(site.path().join("pkg/mostrador.css"), &css).unwrap();
    let app = spawn_on(site.path()).await;
    let build = get(&app, "/health", None).await.headers()["x-mostrador-build"].clone();

    // The copies are made in the background at start.
    let copy = site.path().join("pkg/mostrador.wasm.br");
    for _ in 0..300 {
        if copy.exists() && site.path().join("pkg/mostrador.css.gz").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(copy.exists(), "no brotli copy after 30 s");

    let r = get(&app, "/pkg/mostrador.wasm", Some("br")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_ENCODING], "br");
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/wasm");
    assert!(vary_has_accept_encoding(&r), "{:?}", r.headers());
    let body = r.bytes().await.unwrap();
    assert!(body.len() * 4 < wasm.len(), "brotli made {} of {}", body.len(), wasm.len());
    let mut plain = Vec::new();
    brotli::Decompressor::new(&body[..], 4096).read_to_end(&mut plain).unwrap();
    assert!(plain == wasm, "the decoded wasm differs from the file");

    let r = get(&app, "/pkg/mostrador.css", Some("gzip, deflate")).await;
    assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&r.bytes().await.unwrap()[..]).read_to_string(&mut plain).unwrap();
    assert_eq!(plain, css);

    // Without Accept-Encoding: the file as it is.
    let r = get(&app, "/pkg/mostrador.wasm", None).await;
    assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
    assert!(vary_has_accept_encoding(&r), "caches must keep the encodings apart");
    assert!(r.bytes().await.unwrap() == wasm);

    // The copies are not shell files: the build id and the worker's precache list ignore them.
    assert_eq!(get(&app, "/health", None).await.headers()["x-mostrador-build"], build);
    let worker = get(&app, "/sw.js", None).await.text().await.unwrap();
    assert!(
        worker.contains("/pkg/mostrador.wasm") && !worker.contains(".br\"") && !worker.contains(".gz\""),
        "{worker}"
    );
}

pub async fn json_answers_are_compressed_above_a_small_size() {
    let app = spawn_app_with(Engine::Sqlite, None, |_| {}).await;
    let identity = get(&app, "/api/openapi.json", None).await;
    assert!(identity.headers().get(header::CONTENT_ENCODING).is_none());
    let identity = identity.bytes().await.unwrap();
    assert!(identity.len() > 10_000);

    let r = get(&app, "/api/openapi.json", Some("br;q=1.0, gzip;q=0.5")).await;
    assert_eq!(r.headers()[header::CONTENT_ENCODING], "br");
    assert!(vary_has_accept_encoding(&r));
    let body = r.bytes().await.unwrap();
    assert!(body.len() * 3 < identity.len(), "{} of {}", body.len(), identity.len());
    let mut plain = Vec::new();
    brotli::Decompressor::new(&body[..], 4096).read_to_end(&mut plain).unwrap();
    assert!(plain == identity);

    // A small answer goes as it is.
    let r = get(&app, "/health", Some("br, gzip")).await;
    assert!(r.headers().get(header::CONTENT_ENCODING).is_none(), "{:?}", r.headers());
}
