//! The installable shell: /sw.js carries a version that follows every shell file and the list of what
//! to precache; the manifest has its media type. Each test builds its own small site root.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{new_client, spawn_app_with, Engine, TestApp};

const PLACEHOLDER: &str = "00000000-0000-0000-0000-000000000000";

/// A site root like cargo-leptos builds: the real public/sw.js and manifest, and small stand-ins for pkg/.
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let public = Path::new(env!("CARGO_MANIFEST_DIR")).join("../public");
    std::fs::copy(public.join("sw.js"), dir.path().join("sw.js")).unwrap();
    std::fs::copy(public.join("manifest.webmanifest"), dir.path().join("manifest.webmanifest")).unwrap();
    std::fs::create_dir_all(dir.path().join("pkg")).unwrap();
    std::fs::create_dir_all(dir.path().join("icons")).unwrap();
    std::fs::write(dir.path().join("pkg/mostrador.js"), "export default function init() {}\n").unwrap();
    std::fs::write(dir.path().join("pkg/mostrador.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.path().join("pkg/mostrador.css"), "body { margin: 0 }\n").unwrap();
    std::fs::write(dir.path().join("pkg/mostrador.d.ts"), "// types\n").unwrap();
    std::fs::write(dir.path().join("icons/icon-192.png"), b"png").unwrap();
    std::fs::write(dir.path().join("favicon.svg"), "<svg/>").unwrap();
    dir
}

async fn spawn_on(site: &Path) -> TestApp {
    let root = site.to_str().unwrap().to_owned();
    spawn_app_with(Engine::Sqlite, None, move |c| c.site_root = root).await
}

/// The script, its version and its precache list.
async fn service_worker(app: &TestApp) -> (String, String, Value) {
    let r = new_client().get(app.url("/sw.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let script = r.text().await.unwrap();
    let version = script
        .split("const VERSION = '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no VERSION in {script}"))
        .to_owned();
    let precache = script
        .split("const PRECACHE = ")
        .nth(1)
        .and_then(|rest| rest.split(";\n").next())
        .unwrap_or_else(|| panic!("no PRECACHE in {script}"));
    let precache: Value =
        serde_json::from_str(precache).unwrap_or_else(|e| panic!("PRECACHE is not JSON ({e}): {precache}"));
    (script, version, precache)
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

pub async fn service_worker_has_version_precache_list_and_headers() {
    let site = site();
    let app = spawn_on(site.path()).await;
    let r = new_client().get(app.url("/sw.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-cache");

    let (script, version, precache) = service_worker(&app).await;
    assert!(!script.contains("__MOSTRADOR_"), "a placeholder was left in the script");
    assert_eq!(version.len(), 16);
    assert!(version.bytes().all(|b| b.is_ascii_hexdigit()), "{version}");

    // Every static file but sw.js itself and the type declarations.
    assert_eq!(
        strings(&precache["assets"]),
        [
            "/favicon.svg",
            "/icons/icon-192.png",
            "/manifest.webmanifest",
            "/pkg/mostrador.css",
            "/pkg/mostrador.js",
            "/pkg/mostrador.wasm"
        ]
    );
    // Every page of the router; the routes with an id through one placeholder page each.
    let pages = strings(&precache["pages"]);
    for page in ["/", "/login", "/products", "/categories", "/customers", "/users"] {
        assert!(pages.contains(&page), "{page} missing from {pages:?}");
    }
    for entity in ["products", "categories", "customers"] {
        let page = format!("/{entity}/{PLACEHOLDER}");
        assert!(pages.contains(&page.as_str()), "{page} missing from {pages:?}");
        let route = precache["routes"].as_array().unwrap().iter().find(|r| r["pattern"] == format!("/{entity}/:id"));
        assert_eq!(route.unwrap_or_else(|| panic!("no route for /{entity}/:id in {precache}"))["page"], page);
    }
    // The pages the worker will fetch render (the placeholder id too) and the "not found" page is a 404.
    for page in &pages {
        let r = new_client().get(app.url(page)).send().await.unwrap();
        assert!(r.status().is_success(), "{page}: {}", r.status());
    }
    let not_found = precache["notFound"].as_str().unwrap();
    assert_eq!(new_client().get(app.url(not_found)).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // Every response names the build it belongs to; the worker's list carries the same id.
    let build = precache["build"].as_str().unwrap();
    assert_eq!(build.len(), 16);
    for path in ["/products", "/pkg/mostrador.css", "/manifest.webmanifest", "/health", not_found] {
        let r = new_client().get(app.url(path)).send().await.unwrap();
        assert_eq!(r.headers().get("x-mostrador-build").map(|v| v.to_str().unwrap()), Some(build), "{path}");
    }

    // The same bytes every time, and on a second server with the same files (a standby behind the same
    // name must not make every phone "update").
    let (again, _, _) = service_worker(&app).await;
    assert!(again == script, "two requests, two scripts");
    let twin = spawn_on(site.path()).await;
    assert_eq!(service_worker(&twin).await.1, version, "same files, other version");
}

pub async fn service_worker_version_follows_every_shell_file() {
    let site = site();
    let first = spawn_on(site.path()).await;
    let (_, v1, _) = service_worker(&first).await;

    // A new build: one pkg file changes. A server started on it has a new version…
    std::fs::write(site.path().join("pkg/mostrador.css"), "body { margin: 0 }\n/* fix */\n").unwrap();
    let second = spawn_on(site.path()).await;
    let (_, v2, _) = service_worker(&second).await;
    assert_ne!(v1, v2, "a changed pkg file must change the version");
    let build = |app: &TestApp| {
        let url = app.url("/login");
        async move {
            new_client().get(url).send().await.unwrap().headers()["x-mostrador-build"].to_str().unwrap().to_owned()
        }
    };
    assert_ne!(build(&first).await, build(&second).await, "a changed pkg file must change the build id");
    // …while the running one keeps the version it computed at start-up.
    assert_eq!(service_worker(&first).await.1, v1);

    // An icon, and the worker's own script, count too.
    std::fs::write(site.path().join("icons/icon-192.png"), b"png2").unwrap();
    let (_, v3, _) = service_worker(&spawn_on(site.path()).await).await;
    assert_ne!(v3, v2);
    let script = std::fs::read_to_string(site.path().join("sw.js")).unwrap();
    std::fs::write(site.path().join("sw.js"), format!("{script}\n// edited\n")).unwrap();
    let (_, v4, _) = service_worker(&spawn_on(site.path()).await).await;
    assert_ne!(v4, v3);
    // Type declarations are not part of the shell.
    std::fs::write(site.path().join("pkg/mostrador.d.ts"), "// other types\n").unwrap();
    let (_, v5, _) = service_worker(&spawn_on(site.path()).await).await;
    assert_eq!(v5, v4);
}

pub async fn without_a_usable_sw_js_there_is_no_worker() {
    let site = site();
    std::fs::remove_file(site.path().join("sw.js")).unwrap();
    let app = spawn_on(site.path()).await;
    assert_eq!(new_client().get(app.url("/sw.js")).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // A template whose placeholders were lost is refused rather than installed half-filled.
    std::fs::write(site.path().join("sw.js"), "const VERSION = 'x';\n").unwrap();
    let app = spawn_on(site.path()).await;
    assert_eq!(new_client().get(app.url("/sw.js")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

pub async fn manifest_is_served_as_manifest_json() {
    let site = site();
    let app = spawn_on(site.path()).await;
    let r = new_client().get(app.url("/manifest.webmanifest")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/manifest+json");
    let manifest: Value = r.json().await.unwrap();
    assert_eq!(manifest["name"], "Mostrador");
    assert_eq!(manifest["display"], "standalone");
    assert_eq!(manifest["scope"], "/");
    let icons = manifest["icons"].as_array().unwrap();
    for (size, purpose) in [("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")] {
        assert!(
            icons.iter().any(|i| i["sizes"] == size && i["purpose"] == purpose),
            "no {size} {purpose} icon in {manifest}"
        );
    }
    // The shell links it.
    let html = new_client().get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"<link rel="manifest" href="/manifest.webmanifest">"#), "{html}");
}
