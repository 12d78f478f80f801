//! Health, status, OpenAPI, and how the server behaves under bad requests, panics and signals.

use std::{process::Stdio, time::Duration};

use futures::StreamExt;

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    helpers::{code, new_client, spawn_app_with, spawn_binary, status_json, Engine, TestApp},
    postgres::{free_port, PgCluster},
};

/// /health and /livez tell an anonymous caller (a load balancer, an orchestrator, a stranger) only
/// whether the server is up; a signed-in user also gets the database in use, role, mode and version.
pub async fn health_reports_connected_database(app: TestApp) {
    let (status, body) = status_json(app.client.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "healthy"}), "anonymous: status only");
    let (status, body) = status_json(app.get("/livez").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "alive"}));
    app.login_admin().await;
    let (status, body) = status_json(app.client.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"], "primary");
    assert_eq!(body["role"], "primary");
    assert_eq!(body["mode"], "normal");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

pub async fn status_counts_rows(app: TestApp) {
    assert_eq!(app.get("/api/status").await.status(), StatusCode::UNAUTHORIZED);
    app.login_admin().await;
    app.create_product("S-1", 100).await;
    let (status, body) = status_json(app.get("/api/status").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["counts"]["products"], 1);
    assert_eq!(body["counts"]["users"], 1);
    let engine = if app.engine == Engine::Sqlite { "sqlite" } else { "postgres" };
    assert_eq!(body["engine"], engine);
}

pub async fn openapi_document_describes_the_api(app: TestApp) {
    let (status, doc) = status_json(app.get("/api/openapi.json").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in
        ["/api/auth/login", "/api/users", "/api/products", "/api/products/{id}", "/api/customers/{id}", "/health"]
    {
        assert!(doc["paths"][path].is_object(), "missing {path}");
    }
    assert!(doc["paths"]["/api/products/{id}"]["patch"].is_object());
    assert!(doc["components"]["schemas"]["Product"]["properties"]["price_cents"].is_object());
    // The write bodies come from the shared wire contract, closed sets as enums.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["PaymentMethod"]["enum"], json!(["cash", "card", "transfer", "other"]));
    assert_eq!(schemas["StockReason"]["enum"], json!(["purchase", "adjustment", "waste", "return"]));
    assert_eq!(
        doc["paths"]["/api/sales"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/NewSale"
    );
    // Every reference resolves.
    fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r.to_string());
                }
                m.values().for_each(|x| refs(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(schemas[name].is_object(), "$ref {r} does not resolve");
    }
}

pub async fn handler_panic_is_json_500_and_server_keeps_serving(app: TestApp) {
    let (status, body) = status_json(app.get("/api/test/panic").await).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(code(&body), "internal_error");
    assert!(!body.to_string().contains("deliberate"), "panic details must not leak: {body}");
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

pub async fn oversized_body_is_413(app: TestApp) {
    app.login_admin().await;
    // The test config caps bodies at 64 KiB; 2 MiB is well past what socket buffers absorb, so the
    // client really is still sending when the server decides.
    let big = json!({ "sku": "BIG", "name": "x".repeat(2 * 1024 * 1024), "price_cents": 1, "cost_cents": 1 });
    let (status, body) = status_json(app.post("/api/products", &big).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&body), "payload_too_large");
    let (_, list) = status_json(app.get("/api/products").await).await;
    assert_eq!(list["total"], 0, "nothing was written");
}

pub async fn malformed_json_is_400(app: TestApp) {
    app.login_admin().await;
    let r = app
        .client
        .post(app.url("/api/products"))
        .header("content-type", "application/json")
        .body("{\"sku\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "malformed_json");
}

pub async fn unknown_api_path_is_json_404(app: TestApp) {
    let (status, body) = status_json(app.get("/api/nothing-here").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "not_found");
}

pub async fn pages_render_with_hydration_scripts(app: TestApp) {
    let r = app.get("/login").await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    assert!(html.contains("/pkg/mostrador"), "hydration script missing: {html}");
    assert!(html.contains("<html"));
}

/// A request slower than the configured limit is answered 503 `timeout`, in the envelope.
pub async fn slow_request_times_out() {
    let app = spawn_app_with(Engine::Sqlite, None, |c| c.request_timeout_secs = 1).await;
    let started = std::time::Instant::now();
    let (status, body) = status_json(app.get("/api/test/sleep").await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(code(&body), "timeout");
    assert!(started.elapsed() < Duration::from_millis(1900), "answered at the limit, not when the handler ended");
}

/// /health must say 503 when the database stops answering, and recover when it is back.
pub async fn health_is_503_when_postgres_stops() {
    let cluster = tokio::task::spawn_blocking(PgCluster::start).await.unwrap();
    let url = cluster.create_database().await;
    let app = spawn_app_with(Engine::Postgres, Some(url), |_| {}).await;
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);

    cluster.stop();
    let (status, body) = status_json(new_client().get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, json!({"status": "unhealthy"}));

    cluster.pg_ctl_start();
    let mut recovered = false;
    for _ in 0..20 {
        if app.get("/health").await.status() == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "health should recover when the database is back");
}

/// The real binary: creates `admin` from MOSTRADOR_ADMIN_PASSWORD, serves, and exits 0 on SIGTERM.
pub async fn binary_creates_first_admin_and_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mostrador"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data.path())
        .env("MOSTRADOR_ADMIN_PASSWORD", "first-admin-pw")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = new_client();
    let mut up = false;
    for _ in 0..100 {
        if client.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "server did not come up");
    let r = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "admin", "password": "first-admin-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(data.path().join("mostrador.db").exists(), "SQLite file in the data dir");
    assert!(data.path().join("logs").is_dir(), "log directory in the data dir");

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("exits").unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

/// Lines and bytes of a /metrics answer.
async fn metrics_size(client: &reqwest::Client, url: &str) -> (usize, usize) {
    let text = client.get(url).send().await.unwrap().text().await.unwrap();
    (text.lines().count(), text.len())
}

/// Thousands of requests with invented methods and random paths: /metrics keeps the same series
/// (such a method counts as `other`, an unmatched path as route `other`), so its size stays put.
pub async fn metrics_stay_bounded_under_junk_requests() {
    let app = spawn_app_with(Engine::Sqlite, None, |_| {}).await;
    let client = reqwest::Client::new();
    let junk = |round: u64| {
        let client = client.clone();
        let base = app.address.clone();
        futures::stream::iter(0..1000u64)
            .map(move |i| {
                let client = client.clone();
                let n = round * 1000 + i;
                let method = reqwest::Method::from_bytes(format!("JUNK{n}").as_bytes()).unwrap();
                let path = match n % 4 {
                    0 => format!("/x{n}/y"),
                    1 => format!("/api/products/{n}"),
                    2 => format!("/api/nothing/{n}"),
                    _ => format!("/pkg/{n}.js"),
                };
                let url = format!("{base}{path}");
                async move {
                    let _ = client.request(method, &url).send().await;
                    // And a known method on a random path.
                    let _ = client.get(&url).send().await;
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<()>>()
    };
    let metrics = app.url("/metrics");
    junk(0).await;
    // The first scrape adds the series of GET /metrics itself.
    metrics_size(&client, &metrics).await;
    let (lines, bytes) = metrics_size(&client, &metrics).await;
    for round in 1..4 {
        junk(round).await;
    }
    let (lines_after, bytes_after) = metrics_size(&client, &metrics).await;
    assert_eq!(lines_after, lines, "the same series after 6000 more junk requests");
    // Only the counts' digits may grow.
    assert!(bytes_after <= bytes + 2048, "{bytes} → {bytes_after} bytes");
    let text = client.get(&metrics).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"method="other",route="other""#), "{text}");
    assert!(!text.contains("JUNK"), "no invented method is a label value");
}

/// With MOSTRADOR_METRICS_TOKEN set, a scrape needs `Authorization: Bearer <token>`.
pub async fn metrics_token_is_required_when_set() {
    let dir = tempfile::tempdir().unwrap();
    let p = spawn_binary(dir.path(), &[("MOSTRADOR_METRICS_TOKEN", "a-long-scrape-token".into())]).await;
    let client = new_client();
    let (status, body) = status_json(client.get(p.url("/metrics")).send().await.unwrap()).await;
    assert_eq!((status, code(&body)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let r = client.get(p.url("/metrics")).bearer_auth("a-long-scrape-tokeN").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client.get(p.url("/metrics")).bearer_auth("a-long-scrape-token").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("mostrador_http_requests_total"));
}

/// SIGTERM with a request that never ends (a login whose body stalls): the server stops accepting,
/// waits MOSTRADOR_SHUTDOWN_TIMEOUT seconds for it, then exits anyway (status 0).
pub async fn shutdown_has_a_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn_binary(
        dir.path(),
        &[("MOSTRADOR_SHUTDOWN_TIMEOUT", "1".into()), ("MOSTRADOR_REQUEST_TIMEOUT", "600".into())],
    )
    .await;
    // First bytes of a body, then nothing, ever.
    let body =
        futures::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"username\": \"adm")) })
            .chain(futures::stream::pending());
    let stuck = reqwest::Client::new()
        .post(p.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let stuck = tokio::spawn(stuck);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = p.child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(15), p.child.wait())
        .await
        .expect("the server exits after its shutdown deadline, with a request still stuck")
        .unwrap();
    assert!(status.success(), "{status}");
    stuck.abort();
}

/// Everything under the data dir (the SQLite files, logs, backups) is the service user's only:
/// directories 0700, files 0600, whatever the umask the server was started with.
pub async fn data_dir_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let p = spawn_binary(&data, &[("MOSTRADOR_NO_LOG_FILE", "false".into())]).await;
    let admin = p.admin().await;
    let r = admin.post(p.url("/api/backups")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let mut seen = Vec::new();
    let mut stack = vec![data.clone()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        seen.push(path.strip_prefix(&data).unwrap().display().to_string());
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "{} is {mode:o}", path.display());
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
        }
    }
    for expected in ["mostrador.db", "logs", "backups"] {
        assert!(seen.iter().any(|s| s == expected), "{expected} in {seen:?}");
    }
    assert!(seen.iter().any(|s| s.starts_with("backups/") && s.ends_with(".zst")), "{seen:?}");
}
