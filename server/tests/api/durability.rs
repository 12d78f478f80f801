//! The server killed with SIGKILL in the middle of a load of keyed writes, restarted, and every
//! request retried: each key is applied exactly once.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    helpers::{new_client, spawn_binary_on, Process, ADMIN_PASSWORD, CLUSTER},
    postgres::free_port,
};

struct Server {
    child: tokio::process::Child,
    base: String,
}

async fn start(data: &std::path::Path, database_url: Option<&str>, port: u16) -> Server {
    let envs: Vec<(&str, String)> = database_url.map(|u| ("DATABASE_URL", u.to_owned())).into_iter().collect();
    let Process { child, base } = spawn_binary_on(port, data, &envs).await;
    Server { child, base }
}

async fn run(database_url: Option<String>) {
    const SALES: usize = 120;
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start(data.path(), database_url.as_deref(), port).await;
    let client = new_client();
    let r = client
        .post(format!("{}/api/auth/login", server.base))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let session = Uuid::new_v4();
    let r = client
        .post(format!("{}/api/cash-sessions", server.base))
        .json(&json!({"id": session, "register": "caja", "opening_float_cents": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let p: Value = client
        .post(format!("{}/api/products", server.base))
        .json(&json!({"sku": "D", "name": "D", "price_cents": 100, "cost_cents": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let product = p["id"].as_str().unwrap().to_owned();
    let r = client
        .post(format!("{}/api/inventory-movements", server.base))
        .json(&json!({"id": Uuid::new_v4(), "product_id": product, "delta": 10_000, "reason": "purchase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // Each request: its own key and sale id, a unit of the product.
    let requests: Vec<(String, Value)> = (0..SALES)
        .map(|_| {
            (
                Uuid::new_v4().to_string(),
                json!({"id": Uuid::new_v4(), "cash_session_id": session,
                       "lines": [{"product_id": product, "quantity": 1}],
                       "payments": [{"method": "cash", "amount_cents": 100}]}),
            )
        })
        .collect();
    let send = |client: Client, base: String, key: String, body: Value| async move {
        client.post(format!("{base}/api/sales")).header("Idempotency-Key", key).json(&body).send().await
    };
    let mut tasks = Vec::new();
    for (key, body) in requests.clone() {
        tasks.push(tokio::spawn(send(client.clone(), server.base.clone(), key, body)));
    }
    // Let part of the load land, then pull the plug.
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    let mut answered = 0;
    for t in tasks {
        if let Ok(Ok(r)) = t.await {
            if r.status() == StatusCode::CREATED {
                answered += 1;
            }
        }
    }
    assert!(answered < SALES, "the kill must interrupt the load (all {SALES} answered already)");

    // Restart on the same data; the phone retries everything it has no answer for — here, all.
    let server = start(data.path(), database_url.as_deref(), port).await;
    for (key, body) in &requests {
        let r = send(client.clone(), server.base.clone(), key.clone(), body.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    }
    let sales: Value =
        client.get(format!("{}/api/sales?limit=1000", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(sales["total"], SALES as i64, "each sale exactly once");
    let p: Value =
        client.get(format!("{}/api/products/{product}", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(p["stock"], 10_000 - SALES as i64, "each decrement exactly once");
}

pub async fn sigkill_mid_load_then_retry_applies_each_once_sqlite() {
    run(None).await;
}

pub async fn sigkill_mid_load_then_retry_applies_each_once_postgres() {
    let url = CLUSTER.get().expect("cluster").create_database().await;
    run(Some(url)).await;
}
