//! Health, status, OpenAPI, and how the server behaves under bad requests, panics and signals.

use std::{process::Stdio, time::Duration};

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    helpers::{code, new_client, spawn_app_with, status_json, Engine, TestApp},
    postgres::{free_port, PgCluster},
};

pub async fn health_reports_connected_database(app: TestApp) {
    let (status, body) = status_json(app.client.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["database"], "primary");
    assert_eq!(body["role"], "primary");
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
    for path in ["/api/auth/login", "/api/users", "/api/products", "/api/products/{id}", "/api/customers/{id}", "/health"] {
        assert!(doc["paths"][path].is_object(), "missing {path}");
    }
    assert!(doc["paths"]["/api/products/{id}"]["patch"].is_object());
    assert!(doc["components"]["schemas"]["Product"]["properties"]["price_cents"].is_object());
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
    assert_eq!(body["database"], "unreachable");
    assert_eq!(body["status"], "unhealthy");

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
