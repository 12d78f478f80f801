//! What every benchmark needs: a server on port 0 with bench settings (no schedules, large limits),
//! an admin, and a signed-in client.

#![allow(dead_code)]

use mostrador::{
    config::{AlertConfig, BackupConfig, DatabaseConfig, FailoverConfig, HaConfig, ServeConfig},
    db::Db,
    http::Application,
};
use reqwest::Client;
use serde_json::{json, Value};
use uuid::Uuid;

pub const PASSWORD: &str = "bench-password";

/// Bench settings: no backup schedule, UTC, generous body and time limits, no log file.
pub fn serve_config(data_dir: &std::path::Path, database_url: Option<String>) -> ServeConfig {
    ServeConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        db: DatabaseConfig { data_dir: data_dir.to_owned(), database_url },
        backup: BackupConfig {
            backup_schedule: "off".into(),
            backup_verify_schedule: "off".into(),
            backup_keep: 1000,
            backup_upload_limit: 1 << 34,
            timezone: Some("UTC".into()),
            ..BackupConfig::defaults()
        },
        public_url: None,
        admin_password: None,
        site_root: "target/site".into(),
        body_limit: 4 * 1024 * 1024,
        request_timeout_secs: 600,
        ha: HaConfig::defaults(),
        failover: FailoverConfig::defaults(),
        alerts: AlertConfig::defaults(),
        tls: mostrador::config::TlsConfig::defaults(),
        ops: mostrador::config::OpsConfig::defaults(),
        allow_negative_stock: false,
        idempotency_retention_days: 30,
        node_name: Some("bench".into()),
        no_log_file: true,
        test_routes: false,
    }
}

/// A running server with an `admin` (PASSWORD) and a client signed in as it.
pub struct Running {
    pub base: String,
    pub client: Client,
    pub db: Db,
}

pub async fn spawn(config: ServeConfig, with_admin: bool, pool: usize) -> Running {
    let db = Db::connect(&config.db).await.unwrap();
    if with_admin {
        let admin = mostrador::users::domain::Username::parse("admin").unwrap();
        let password = mostrador::users::domain::NewPassword::parse(PASSWORD).unwrap();
        mostrador::users::repo::create(
            &mut db.pool().acquire().await.unwrap(),
            &admin,
            password,
            app::model::Role::Admin,
        )
        .await
        .unwrap();
    }
    let app = Application::build(config, db.clone()).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.serve(std::future::pending()));
    let client = Client::builder().cookie_store(true).pool_max_idle_per_host(pool).build().unwrap();
    if with_admin {
        sign_in(&client, &base).await;
    }
    Running { base, client, db }
}

pub async fn sign_in(client: &Client, base: &str) {
    let r = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "sign in: {}", r.status());
}

/// An open till and one product ("B", 1.00) with `stock` units: what sales need. Returns their ids.
pub async fn open_till_with_product(client: &Client, base: &str, stock: i64) -> (String, String) {
    let session = Uuid::new_v4().to_string();
    client
        .post(format!("{base}/api/cash-sessions"))
        .json(&json!({"id": session, "register": "bench", "opening_float_cents": 0}))
        .send()
        .await
        .unwrap();
    let p: Value = client
        .post(format!("{base}/api/products"))
        .json(&json!({"sku": "B", "name": "Bench", "price_cents": 100, "cost_cents": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let product = p["id"].as_str().unwrap().to_owned();
    if stock != 0 {
        client
            .post(format!("{base}/api/inventory-movements"))
            .json(&json!({"id": Uuid::new_v4(), "product_id": product, "delta": stock, "reason": "purchase"}))
            .send()
            .await
            .unwrap();
    }
    (session, product)
}

/// A server with an admin, an open till and a product, for the sales and backup benches.
pub struct Bench {
    pub base: String,
    pub client: Client,
    pub db: Db,
    pub session: String,
    pub product: String,
    _dir: tempfile::TempDir,
}

pub async fn bench(
    database_url: Option<String>,
    allow_negative_stock: bool,
    request_timeout_secs: u64,
    clients: usize,
    stock: i64,
) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let mut config = serve_config(dir.path(), database_url);
    config.allow_negative_stock = allow_negative_stock;
    config.request_timeout_secs = request_timeout_secs;
    let Running { base, client, db } = spawn(config, true, clients).await;
    let (session, product) = open_till_with_product(&client, &base, stock).await;
    Bench { base, client, db, session, product, _dir: dir }
}
