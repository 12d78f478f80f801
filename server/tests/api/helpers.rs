//! `spawn_app`: the whole server on port 0 with a fresh database, driven over real HTTP.

use std::sync::OnceLock;

use mostrador::{
    config::{BackupConfig, DatabaseConfig, ServeConfig},
    db::Db,
    http::Application,
};
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

use crate::postgres::PgCluster;

pub const ADMIN_PASSWORD: &str = "admin-password-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The one cluster all PostgreSQL tests of this run share (a database each).
pub static CLUSTER: OnceLock<PgCluster> = OnceLock::new();

pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub db: Db,
    pub engine: Engine,
    _data_dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

pub fn config(data_dir: &std::path::Path, database_url: Option<String>) -> ServeConfig {
    ServeConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        db: DatabaseConfig { data_dir: data_dir.to_owned(), database_url },
        backup: backup_config(),
        public_url: None,
        admin_password: Some(ADMIN_PASSWORD.into()),
        site_root: "target/site".into(),
        body_limit: 64 * 1024,
        request_timeout_secs: 30,
        ha: mostrador::config::HaConfig::defaults(),
        failover: mostrador::config::FailoverConfig::defaults(),
        alerts: mostrador::config::AlertConfig::defaults(),
        tls: mostrador::config::TlsConfig::defaults(),
        ops: mostrador::config::OpsConfig::defaults(),
        no_log_file: true,
        test_routes: true,
        idempotency_retention_days: 30,
        allow_negative_stock: false,
        node_name: Some("test-node".into()),
    }
}

/// Backups with no schedule (a test never meets 02:00), no S3, UTC.
pub fn backup_config() -> BackupConfig {
    BackupConfig {
        backup_dir: None,
        backup_schedule: "off".into(),
        backup_keep: 30,
        backup_verify_schedule: "off".into(),
        backup_upload_limit: 1 << 30,
        backup_max_restore_bytes: None,
        backup_check_timeout_secs: 120,
        stall_timeout_secs: 60,
        pg_bin_dir: None,
        s3_bucket: None,
        s3_prefix: "mostrador".into(),
        s3_endpoint: None,
        s3_region: "us-east-1".into(),
        s3_access_key_id: None,
        s3_secret_access_key: None,
        backup_passphrase: None,
        timezone: Some("UTC".into()),
    }
}

pub fn new_client() -> Client {
    Client::builder().cookie_store(true).build().unwrap()
}

/// Starts the app on `engine` with a fresh database and an admin whose password is ADMIN_PASSWORD.
pub async fn spawn_app(engine: Engine) -> TestApp {
    let url = match engine {
        Engine::Sqlite => None,
        Engine::Postgres => Some(CLUSTER.get().expect("cluster started by main").create_database().await),
    };
    spawn_app_with(engine, url, |_| {}).await
}

pub async fn spawn_app_with(
    engine: Engine,
    database_url: Option<String>,
    adjust: impl FnOnce(&mut ServeConfig),
) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = config(data_dir.path(), database_url);
    adjust(&mut config);
    let db = Db::connect(&config.db).await.expect("database");
    // What `serve` does at start-up: the first admin from MOSTRADOR_ADMIN_PASSWORD.
    let password = mostrador::users::domain::NewPassword::parse(ADMIN_PASSWORD).unwrap();
    let admin = mostrador::users::domain::Username::parse("admin").unwrap();
    mostrador::users::repo::create(&mut db.pool().acquire().await.unwrap(), &admin, password, app::model::Role::Admin)
        .await
        .unwrap();
    let app = Application::build(config, db.clone()).await.expect("bind");
    let address = format!("http://{}", app.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.serve(async {
        let _ = rx.await;
    }));
    TestApp { address, client: new_client(), db, engine, _data_dir: data_dir, _shutdown: tx }
}

/// Another server on an existing database (no new admin); returns its base URL. It runs until the
/// test's runtime ends.
pub async fn spawn_instance(database_url: &str) -> String {
    // PostgreSQL: nothing is written to the data dir (no log file in tests).
    let data_dir = std::env::temp_dir();
    let config = config(&data_dir, Some(database_url.to_owned()));
    let db = Db::connect(&config.db).await.expect("database");
    let app = Application::build(config, db).await.expect("bind");
    let address = format!("http://{}", app.local_addr());
    tokio::spawn(app.serve(std::future::pending()));
    address
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn login_with(&self, client: &Client, username: &str, password: &str) -> Response {
        client
            .post(self.url("/api/auth/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// Signs `self.client` in as the admin.
    pub async fn login_admin(&self) {
        let r = self.login_with(&self.client, "admin", ADMIN_PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK, "admin login");
    }

    /// A separate signed-in client for a new user with `role`.
    pub async fn client_for_new_user(&self, username: &str, role: &str) -> Client {
        let r = self
            .client
            .post(self.url("/api/users"))
            .json(&json!({ "username": username, "password": "password-123", "role": role }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "create user {username}");
        let client = new_client();
        let r = self.login_with(&client, username, "password-123").await;
        assert_eq!(r.status(), StatusCode::OK);
        client
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }
    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.client.patch(self.url(path)).json(body).send().await.unwrap()
    }
    pub async fn delete(&self, path: &str) -> Response {
        self.client.delete(self.url(path)).send().await.unwrap()
    }

    /// Creates a product and returns it.
    pub async fn create_product(&self, sku: &str, price_cents: i64) -> Value {
        let r = self
            .post(
                "/api/products",
                &json!({ "sku": sku, "name": format!("Producto {sku}"), "price_cents": price_cents, "cost_cents": 0 }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json().await.unwrap()
    }
}

/// Status plus parsed JSON body, for compact assertions.
pub async fn status_json(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

/// The `error.code` of an envelope.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("no error envelope in {body}"))
}

/// The real `mostrador` binary as a child process, with `envs` on top of a test baseline (admin
/// password ADMIN_PASSWORD, no log file, no backup schedule, SQLite unless DATABASE_URL is given);
/// killed when dropped.
pub struct Process {
    pub child: tokio::process::Child,
    pub base: String,
}

/// On a free port.
pub async fn spawn_binary(data_dir: &std::path::Path, envs: &[(&str, String)]) -> Process {
    spawn_binary_on(crate::postgres::free_port(), data_dir, envs).await
}

/// On `port` (a restart on the same address), ready once /health answers 200.
pub async fn spawn_binary_on(port: u16, data_dir: &std::path::Path, envs: &[(&str, String)]) -> Process {
    let child = binary_command(port, data_dir, envs).spawn().expect("spawn mostrador");
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(child, base, &Client::new()).await
}

/// The `mostrador serve` command `spawn_binary_on` runs, not started yet.
pub fn binary_command(port: u16, data_dir: &std::path::Path, envs: &[(&str, String)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mostrador"));
    cmd.args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env("MOSTRADOR_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MOSTRADOR_NO_LOG_FILE", "true")
        .env("MOSTRADOR_BACKUP_SCHEDULE", "off")
        .env("MOSTRADOR_BACKUP_VERIFY_SCHEDULE", "off")
        .env_remove("DATABASE_URL")
        .env_remove("MOSTRADOR_S3_BUCKET")
        .stdout(std::process::Stdio::null())
        .stderr(if std::env::var_os("MOSTRADOR_TEST_SERVER_LOGS").is_some() {
            std::process::Stdio::inherit()
        } else {
            std::process::Stdio::null()
        })
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// A started binary, once `base`/health answers 200 through `probe`.
pub async fn wait_ready(child: tokio::process::Child, base: String, probe: &Client) -> Process {
    for _ in 0..400 {
        if probe.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            return Process { child, base };
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("mostrador did not start on {base}");
}

impl Process {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A client signed in as the admin.
    pub async fn admin(&self) -> Client {
        let client = new_client();
        let r = client
            .post(self.url("/api/auth/login"))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "admin login on {}", self.base);
        client
    }
}

/// A local HTTP receiver that records every POST (path and JSON body): stands in for an alert
/// webhook and for Telegram's Bot API.
pub struct Receiver {
    pub base: String,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>,
}

pub async fn spawn_receiver() -> Receiver {
    use axum::{extract::State, http::Uri, Json};
    type Log = std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>;
    async fn record(State(log): State<Log>, uri: Uri, Json(body): Json<Value>) -> Json<Value> {
        log.lock().unwrap().push((uri.path().to_owned(), body));
        Json(json!({"ok": true}))
    }
    let received: Log = Default::default();
    let app = axum::Router::new().fallback(axum::routing::post(record)).with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { base, received }
}

impl Receiver {
    /// Waits up to 10 s for a POST whose path ends with `path_suffix` and whose body satisfies `pred`.
    pub async fn wait_for(&self, path_suffix: &str, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..200 {
            if let Some((_, v)) =
                self.received.lock().unwrap().iter().find(|(p, v)| p.ends_with(path_suffix) && pred(v))
            {
                return v.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("nothing received on {path_suffix}; got {:?}", self.received.lock().unwrap());
    }
}
