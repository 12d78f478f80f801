//! Route classes (issue #13): which layers a route gets is decided by the group it is added to in
//! `http::api_router`, not by path lists. `/api/test/write` is added to the shop group the way any new
//! shop route is (test builds only); it must get every layer of that group.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{code, spawn_app_with, status_json, Engine, TestApp};

const WRITE: &str = "/api/test/write";

pub async fn a_new_shop_route_gets_every_layer(app: TestApp) {
    // The write layer: a user is required, and a repeated Idempotency-Key replays the first answer.
    let r = app.client.post(app.url(WRITE)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.login_admin().await;
    let key = Uuid::new_v4().to_string();
    let first = app.client.post(app.url(WRITE)).header("Idempotency-Key", &key).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: serde_json::Value = first.json().await.unwrap();
    let again = app.client.post(app.url(WRITE)).header("Idempotency-Key", &key).send().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), first, "replayed, not run again");

    // The restore gate: while it is closed (as during a restore) the route says retry.
    let r = app.client.post(app.url("/api/test/close-gate?secs=3")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mut held = None;
    for _ in 0..40 {
        let (status, body) = status_json(app.client.post(app.url(WRITE)).send().await.unwrap()).await;
        if status == StatusCode::SERVICE_UNAVAILABLE {
            held = Some(body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(held.as_ref().map(code), Some("restoring"), "the gate never held the route back");

    // The time limit.
    let slow = spawn_app_with(Engine::Sqlite, None, |c| c.request_timeout_secs = 1).await;
    slow.login_admin().await;
    let (status, body) =
        status_json(slow.client.post(slow.url(&format!("{WRITE}?secs=3"))).send().await.unwrap()).await;
    assert_eq!((status, code(&body)), (StatusCode::SERVICE_UNAVAILABLE, "timeout"));

    // The standby guard.
    let standby = spawn_app_with(Engine::Sqlite, None, |c| {
        c.ha.role = mostrador::config::NodeRole::Standby;
        c.ha.ha_secret = Some("0123456789abcdef".repeat(4));
    })
    .await;
    standby.login_admin().await;
    let (status, body) =
        status_json(standby.client.post(standby.url(WRITE)).json(&json!({})).send().await.unwrap()).await;
    assert_eq!((status, code(&body)), (StatusCode::SERVICE_UNAVAILABLE, "standby_read_only"));
}
