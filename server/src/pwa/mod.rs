//! The installable app shell: `GET /sw.js` (the service worker in `public/sw.js`, with its version and its
//! precache list filled in), `GET /manifest.webmanifest` with the manifest's media type, and
//! [`BuildStamp`], which names on every response the build of the site's files it belongs to.
//!
//! The version is a SHA-256 over everything the worker caches: every file of the site root (pkg/, icons,
//! the manifest, sw.js itself), the app's version and the HTML the server renders for every page. So any
//! change to the shell (a new wasm, a CSS fix, a new `<meta>` in the server-rendered `<head>`) changes the
//! bytes of /sw.js, which is what makes the browser install the new worker. The files are hashed once at
//! start-up; the pages are rendered (through the app's own router) at the first request for /sw.js and the
//! result is kept for the life of the process, so every request gets the same bytes.
//!
//! The precache list comes from the same places and cannot go stale: the pages from the router's route
//! list (`leptos_axum::generate_route_list`), the static files from a walk of the site root.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use axum::{
    body::Body,
    extract::Extension,
    http::{header, HeaderValue, Request, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use tower::ServiceExt;

use crate::http::{AppState, FullRouter};

pub mod precompress;

/// Brotli and gzip copies of the site's static files, made once per build (see [`precompress`]).
pub fn precompress_site(site_root: &Path) {
    precompress::start(site_root, watching());
}

/// The id put into routes with parameters (`/products/:id`) to get one URL whose HTML the worker caches
/// and serves for every id: the server renders the same data-free shell whatever the id is.
pub const PLACEHOLDER_ID: &str = "00000000-0000-0000-0000-000000000000";
/// A path no route matches: its HTML (the app's "not found" page, status 404) answers unknown paths offline.
pub const NOT_FOUND_PAGE: &str = "/__mostrador/not-found";

const VERSION_TOKEN: &str = "__MOSTRADOR_VERSION__";
const PRECACHE_TOKEN: &str = "__MOSTRADOR_PRECACHE__";
/// Hex digits of the SHA-256 kept as the version.
const VERSION_LEN: usize = 16;

/// What the worker precaches; serialised into /sw.js.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Precache {
    /// Page URLs: every route without parameters, and one placeholder URL per route with parameters.
    pub pages: Vec<String>,
    /// Routes with parameters and the page that stands for them.
    pub routes: Vec<RoutePattern>,
    /// Every static file of the site (`/pkg/mostrador.js`, `/pkg/mostrador.wasm`, icons…), but sw.js.
    pub assets: Vec<String>,
    pub not_found: String,
    /// The site's build id, also sent as `x-mostrador-build` on every response ([`BuildStamp`]): the
    /// worker accepts into its cache, and serves from the network, only what belongs to its own build.
    pub build: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoutePattern {
    /// `/products/:id`; a trailing `*` matches any rest.
    pub pattern: String,
    /// `/products/00000000-0000-0000-0000-000000000000`
    pub page: String,
}

struct Shell {
    /// public/sw.js as found in the site root; `None` when it is missing or unusable (then /sw.js is 404
    /// and the app simply runs without a worker).
    template: Option<String>,
    precache: Precache,
    /// SHA-256 state over the build id (app version and site files); the pages are added at the first request.
    files: Sha256,
    script: OnceCell<Arc<str>>,
}

/// Served instead of the real worker under `cargo leptos watch`: it takes over at once, deletes the shell
/// caches and unregisters itself, so that a developer's rebuilt CSS and wasm are never hidden behind a
/// cached shell and an update banner.
const DEV_WORKER: &str = "// cargo leptos watch: no offline shell while developing.
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil((async () => {
  for (const name of await caches.keys()) if (name.startsWith('mostrador-shell-')) await caches.delete(name);
  await self.registration.unregister();
})()));
";

/// `cargo leptos watch` sets LEPTOS_WATCH=true for the build and for the server it runs.
fn watching() -> bool {
    option_env!("LEPTOS_WATCH") == Some("true") || std::env::var("LEPTOS_WATCH").is_ok_and(|v| v == "true")
}

pub fn router(state: &AppState) -> Router<AppState> {
    if watching() {
        return Router::new().route(
            "/sw.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")],
                    DEV_WORKER,
                )
            }),
        );
    }
    let routes = leptos_axum::generate_route_list(app::App);
    let paths: Vec<String> = routes.iter().map(|r| r.path().to_owned()).collect();
    let shell = Arc::new(Shell::load(Path::new(&state.config.site_root), &paths));
    Router::new()
        .route(
            "/sw.js",
            get(move |Extension(app): Extension<FullRouter>| {
                let shell = shell.clone();
                async move { shell.service_worker(app).await }
            }),
        )
        .route(
            "/manifest.webmanifest",
            get({
                let root = PathBuf::from(&state.config.site_root);
                move || manifest(root.clone())
            }),
        )
}

impl Shell {
    fn load(site_root: &Path, route_paths: &[String]) -> Shell {
        let site = Site::read(site_root);
        let mut template = None;
        let mut assets = Vec::new();
        for (url, bytes) in &site.files {
            if url == "/sw.js" {
                template = String::from_utf8(bytes.clone()).ok();
            } else {
                assets.push(url.clone());
            }
        }
        let mut hash = Sha256::new();
        hash.update(format!("build {}\n", site.build));
        let template = template.filter(|t| {
            let usable = t.matches(VERSION_TOKEN).count() == 1 && t.matches(PRECACHE_TOKEN).count() == 1;
            if !usable {
                tracing::error!("sw.js must contain {VERSION_TOKEN} and {PRECACHE_TOKEN} once each: not serving it");
            }
            usable
        });
        if template.is_none() && !site.files.is_empty() {
            tracing::warn!(site_root = %site_root.display(), "no usable sw.js in the site root: the app will not work offline");
        }
        let (pages, routes) = pages_and_routes(route_paths);
        Shell {
            template,
            precache: Precache { pages, routes, assets, not_found: NOT_FOUND_PAGE.into(), build: site.build },
            files: hash,
            script: OnceCell::new(),
        }
    }

    async fn service_worker(&self, app: FullRouter) -> Response {
        let Some(template) = &self.template else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let script = self
            .script
            .get_or_init(|| async {
                let mut hash = self.files.clone();
                let pages = self.precache.pages.iter().chain([&self.precache.not_found]).cloned().collect();
                hash.update(render_pages(app, pages).await);
                let version = hex::encode(hash.finalize())[..VERSION_LEN].to_owned();
                let precache = serde_json::to_string(&self.precache).expect("serialisable");
                template.replacen(VERSION_TOKEN, &version, 1).replacen(PRECACHE_TOKEN, &precache, 1).into()
            })
            .await
            .clone();
        (
            [
                (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                // The browser compares the bytes of every fresh copy with the installed worker's: never
                // let a cache in between answer for the server.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            script.to_string(),
        )
            .into_response()
    }
}

/// The static files of the site root and their build id: a SHA-256 over the app version and every file.
struct Site {
    files: Vec<(String, Vec<u8>)>,
    build: String,
}

impl Site {
    fn read(root: &Path) -> Site {
        let paths = site_files(root).unwrap_or_else(|e| {
            tracing::warn!(site_root = %root.display(), error = %e, "cannot read the site root: no service worker");
            Vec::new()
        });
        let mut hash = Sha256::new();
        hash.update(format!("mostrador {}\n", env!("CARGO_PKG_VERSION")));
        let mut files = Vec::new();
        for (url, path) in paths {
            match std::fs::read(&path) {
                Ok(bytes) => {
                    hash.update(format!("{url} {}\n", bytes.len()));
                    hash.update(&bytes);
                    files.push((url, bytes));
                }
                Err(e) => tracing::warn!(file = %path.display(), error = %e, "cannot read a site file"),
            }
        }
        Site { files, build: hex::encode(hash.finalize())[..VERSION_LEN].to_owned() }
    }
}

/// The response header that names the build a response belongs to.
pub const BUILD_HEADER: &str = "x-mostrador-build";

/// A layer that stamps every response with `x-mostrador-build: <build id of the site's files>`.
///
/// Asset names are not hashed, so the HTML, the JS and the wasm of one build must never be mixed. The
/// worker refuses to precache a response of another build (a deploy during its install), and a
/// navigation answered by a newer build is served from the worker's own, consistent cache until the
/// new worker takes over.
#[derive(Clone)]
pub struct BuildStamp(HeaderValue);

impl BuildStamp {
    pub fn new(state: &AppState) -> BuildStamp {
        let build = Site::read(Path::new(&state.config.site_root)).build;
        BuildStamp(HeaderValue::from_str(&build).expect("hex is a valid header value"))
    }
}

impl<S> tower::Layer<S> for BuildStamp {
    type Service = Stamped<S>;
    fn layer(&self, inner: S) -> Stamped<S> {
        Stamped { inner, build: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct Stamped<S> {
    inner: S,
    build: HeaderValue,
}

impl<S, B> tower::Service<Request<B>> for Stamped<S>
where
    S: tower::Service<Request<B>, Response = Response>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let future = self.inner.call(request);
        let build = self.build.clone();
        Box::pin(async move {
            let mut response = future.await?;
            response.headers_mut().insert(BUILD_HEADER, build);
            Ok(response)
        })
    }
}

/// The pages as the browser would get them (status, redirect target, HTML), as bytes to hash.
///
/// Rendered one at a time on a private single-threaded runtime: Leptos keeps the reactive arena of a
/// render in a thread-local, and a render nested in this handler's future on the multi-threaded runtime
/// can resume on a thread whose arena belongs to another render (and panic inside leptos_meta).
async fn render_pages(app: FullRouter, pages: Vec<String>) -> Vec<u8> {
    let rendered = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok::<_, std::io::Error>(runtime.block_on(async move {
            let mut out = Vec::new();
            for page in pages {
                out.extend(render(&app.0, &page).await);
            }
            out
        }))
    })
    .await;
    match rendered {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot start a runtime to render the pages for the service worker's version");
            Vec::new()
        }
        Err(e) => {
            tracing::error!(error = %e, "rendering the pages for the service worker's version failed");
            Vec::new()
        }
    }
}

async fn render(router: &Router, path: &str) -> Vec<u8> {
    let request = Request::get(path).header(header::ACCEPT, "text/html").body(Body::empty()).expect("valid request");
    let response = router.clone().oneshot(request).await.unwrap_or_else(|never| match never {});
    let mut out = format!("{path} {}\n", response.status().as_u16()).into_bytes();
    if let Some(location) = response.headers().get(header::LOCATION) {
        out.extend_from_slice(location.as_bytes());
        out.push(b'\n');
    }
    match axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024).await {
        Ok(body) => out.extend_from_slice(without_nonce(&String::from_utf8_lossy(&body)).as_bytes()),
        Err(e) => tracing::warn!(page = path, error = %e, "cannot render a page for the service worker's version"),
    }
    out
}

/// Leptos writes a fresh random nonce into every page (`<script nonce="…">`); it is not part of what
/// the page is, so it is blanked before hashing.
fn without_nonce(html: &str) -> String {
    let nonce = html
        .split_once("nonce=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(nonce, _)| nonce)
        .filter(|n| !n.is_empty());
    match nonce {
        Some(nonce) => html.replace(nonce, ""),
        None => html.to_owned(),
    }
}

/// Route paths in axum's syntax (`/products/{id}`) → the pages to cache and the patterns with ids.
pub fn pages_and_routes(paths: &[String]) -> (Vec<String>, Vec<RoutePattern>) {
    let mut pages = Vec::new();
    let mut routes = Vec::new();
    for path in paths {
        if !path.contains('{') {
            pages.push(if path.is_empty() { "/".to_owned() } else { path.clone() });
            continue;
        }
        let mut pattern = Vec::new();
        let mut page = Vec::new();
        for segment in path.split('/') {
            if segment.starts_with("{*") {
                pattern.push("*".to_owned());
                page.push(PLACEHOLDER_ID.to_owned());
                break;
            } else if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                pattern.push(format!(":{name}"));
                page.push(PLACEHOLDER_ID.to_owned());
            } else {
                pattern.push(segment.to_owned());
                page.push(segment.to_owned());
            }
        }
        let page = page.join("/");
        pages.push(page.clone());
        routes.push(RoutePattern { pattern: pattern.join("/"), page });
    }
    pages.sort();
    pages.dedup();
    routes.sort_by(|a, b| a.pattern.cmp(&b.pattern));
    routes.dedup();
    (pages, routes)
}

/// Every file under the site root as (URL path, file path), sorted by URL; type declarations that
/// wasm-bindgen leaves in pkg/ (`*.d.ts`), hidden files and the compressed copies are not part of the shell.
fn site_files(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') || name.ends_with(".d.ts") || precompress::is_copy(name) {
                continue;
            }
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                dirs.push(path);
                continue;
            }
            let relative = path.strip_prefix(root).expect("under the root");
            let url =
                relative.components().map(|c| c.as_os_str().to_str().unwrap_or_default()).collect::<Vec<_>>().join("/");
            if !url.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)) {
                tracing::warn!(file = %path.display(), "site file name needs escaping: not precached");
                continue;
            }
            out.push((format!("/{url}"), path));
        }
    }
    out.sort();
    Ok(out)
}

async fn manifest(root: PathBuf) -> Response {
    match tokio::fs::read(root.join("manifest.webmanifest")).await {
        Ok(bytes) => {
            ([(header::CONTENT_TYPE, "application/manifest+json"), (header::CACHE_CONTROL, "no-cache")], bytes)
                .into_response()
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_blanked() {
        let a = r#"<link crossorigin="abc123"><script nonce="abc123">x</script>"#;
        let b = r#"<link crossorigin="zz9"><script nonce="zz9">x</script>"#;
        assert_eq!(without_nonce(a), without_nonce(b));
        assert_eq!(without_nonce("<p>no scripts</p>"), "<p>no scripts</p>");
    }

    #[test]
    fn routes_with_ids_get_a_placeholder_page() {
        let paths: Vec<String> =
            ["/", "/login", "/products", "/products/{id}", "/files/{*rest}"].iter().map(|s| s.to_string()).collect();
        let (pages, routes) = pages_and_routes(&paths);
        assert_eq!(
            pages,
            vec![
                "/".to_string(),
                format!("/files/{PLACEHOLDER_ID}"),
                "/login".into(),
                "/products".into(),
                format!("/products/{PLACEHOLDER_ID}"),
            ]
        );
        assert_eq!(
            routes,
            vec![
                RoutePattern { pattern: "/files/*".into(), page: format!("/files/{PLACEHOLDER_ID}") },
                RoutePattern { pattern: "/products/:id".into(), page: format!("/products/{PLACEHOLDER_ID}") },
            ]
        );
    }
}
