//! High availability with two real server processes, primary and standby, each on its own SQLite
//! database: the standby refuses writes, takes them in emergency mode (tagged in its audit log),
//! the safety valve stops backup shipping (with an alert seen by a local receiver), reconciliation
//! replays every emergency write exactly once (twice is a no-op), and shipping then succeeds.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{code, spawn_binary, spawn_receiver, status_json, Process, TestApp};

const SECRET: &str = "a-shared-secret-for-tests";

async fn send(client: &Client, method: reqwest::Method, url: String, body: Option<Value>) -> (StatusCode, Value) {
    let mut r = client.request(method, url).header("idempotency-key", Uuid::new_v4().to_string());
    if let Some(b) = body {
        r = r.json(&b);
    }
    status_json(r.send().await.unwrap()).await
}

async fn post(client: &Client, p: &Process, path: &str, body: Value) -> (StatusCode, Value) {
    send(client, reqwest::Method::POST, p.url(path), Some(body)).await
}

async fn get(client: &Client, p: &Process, path: &str) -> Value {
    let (status, body) = status_json(client.get(p.url(path)).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

async fn stock(client: &Client, p: &Process, product: &str) -> i64 {
    get(client, p, &format!("/api/products/{product}")).await["stock"].as_i64().unwrap()
}

pub async fn standby_emergency_valve_reconcile_and_ship() {
    let receiver = spawn_receiver().await;
    let (standby_dir, primary_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let alerts = |node: &str| {
        vec![
            ("MOSTRADOR_HA_SECRET", SECRET.to_owned()),
            ("MOSTRADOR_NODE_NAME", node.to_owned()),
            ("MOSTRADOR_ALERT_WEBHOOK_URL", format!("{}/hook", receiver.base)),
            ("MOSTRADOR_TELEGRAM_BOT_TOKEN", "123:abc".to_owned()),
            ("MOSTRADOR_TELEGRAM_CHAT_ID", "42".to_owned()),
            ("MOSTRADOR_TELEGRAM_API_URL", receiver.base.clone()),
        ]
    };
    let mut standby_env = alerts("standby-1");
    standby_env.push(("MOSTRADOR_ROLE", "standby".into()));
    let standby = spawn_binary(standby_dir.path(), &standby_env).await;
    let mut primary_env = alerts("primary-1");
    primary_env.push(("MOSTRADOR_STANDBY_URL", standby.base.clone()));
    let primary = spawn_binary(primary_dir.path(), &primary_env).await;

    // The primary has a product with stock; a first shipment gives the standby the same data.
    let p = primary.admin().await;
    let (s, product) = post(&p, &primary, "/api/products", json!({"sku": "YERBA", "name": "Yerba 1 kg", "price_cents": 2500, "cost_cents": 0})).await;
    assert_eq!(s, StatusCode::CREATED);
    let product_id = product["id"].as_str().unwrap().to_owned();
    let (s, _) = post(&p, &primary, "/api/inventory-movements", json!({"id": Uuid::new_v4(), "product_id": product_id, "delta": 50, "reason": "purchase"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, shipment) = post(&p, &primary, "/api/ha/ship", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{shipment}");
    assert_eq!(shipment["status"], "shipped", "{shipment}");

    // The standby serves the shipped data and refuses writes.
    let sb = standby.admin().await;
    assert_eq!(stock(&sb, &standby, &product_id).await, 50);
    let health = get(&sb, &standby, "/health").await;
    assert_eq!((health["role"].as_str(), health["mode"].as_str()), (Some("standby"), Some("normal")));
    let (s, body) = post(&sb, &standby, "/api/categories", json!({"name": "Bebidas"})).await;
    assert_eq!((s, code(&body)), (StatusCode::SERVICE_UNAVAILABLE, "standby_read_only"));
    assert_eq!(get(&sb, &standby, "/api/categories").await["total"], 0, "a refused write changes nothing");

    // Emergency mode on: writes are accepted and tagged.
    let (s, status) = send(&sb, reqwest::Method::PUT, standby.url("/api/ha/emergency"), Some(json!({"on": true}))).await;
    assert_eq!(s, StatusCode::OK, "{status}");
    assert_eq!(status["mode"], "emergency");
    assert_eq!(get(&sb, &standby, "/health").await["mode"], "emergency");
    receiver.wait_for("/hook", |v| v["alert"]["kind"] == "emergency_mode_on").await;
    let session = Uuid::new_v4();
    let (s, _) = post(&sb, &standby, "/api/cash-sessions", json!({"id": session, "register": "caja", "opening_float_cents": 1000})).await;
    assert_eq!(s, StatusCode::CREATED);
    let customer = Uuid::new_v4();
    let (s, _) = post(&sb, &standby, "/api/customers", json!({"id": customer, "name": "Doña Rosa"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let mut sales = Vec::new();
    for qty in [1, 2, 3] {
        let key = Uuid::new_v4().to_string();
        let body = json!({"id": Uuid::new_v4(), "cash_session_id": session, "customer_id": customer,
            "lines": [{"product_id": product_id, "quantity": qty}], "payments": [{"method": "cash", "amount_cents": 2500 * qty}]});
        let r = sb.post(standby.url("/api/sales")).header("idempotency-key", &key).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        sales.push((key, body));
    }
    // A precondition given as If-Match (not as "version" in the body) must replay as such.
    let r = sb
        .patch(standby.url(&format!("/api/products/{product_id}")))
        .header("idempotency-key", Uuid::new_v4().to_string())
        .header("if-match", "\"1\"")
        .json(&json!({"price_cents": 2700}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(stock(&sb, &standby, &product_id).await, 44);
    let audit = get(&sb, &standby, "/api/audit?limit=20").await;
    let emergency: Vec<&Value> = audit["items"].as_array().unwrap().iter().filter(|e| e["mode"] == "emergency" && e["entity"] != "ha").collect();
    assert_eq!(emergency.len(), 6, "session, customer, 3 sales, price: {audit}");
    assert!(emergency.iter().all(|e| e["node"] == "standby-1"));

    // Shipping now would erase those writes: the standby refuses, the primary aborts and alerts.
    let before = get(&p, &primary, "/api/products").await;
    let (s, shipment) = post(&p, &primary, "/api/ha/ship", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(shipment["status"], "aborted", "{shipment}");
    let alert = receiver.wait_for("/hook", |v| v["alert"]["kind"] == "shipping_aborted").await;
    assert_eq!(alert["alert"]["message"], "Backup shipping aborted: recent emergency-mode activity on the standby");
    assert_eq!(alert["alert"]["node"], "primary-1");
    let telegram = receiver.wait_for("/bot123:abc/sendMessage", |v| v["text"].as_str().is_some_and(|t| t.contains("shipping aborted"))).await;
    assert_eq!(telegram["chat_id"], "42");
    assert_eq!(get(&p, &primary, "/api/products").await, before, "the primary's data is untouched");
    assert_eq!(stock(&sb, &standby, &product_id).await, 44, "the standby's data is untouched");
    // The standby re-checks by itself too: a shipment straight to it is refused.
    let r = Client::new().post(standby.url("/api/ha/peer/shipments")).bearer_auth(SECRET).body(vec![0u8; 16]).send().await.unwrap();
    let (s, body) = status_json(r).await;
    assert_eq!((s, code(&body)), (StatusCode::CONFLICT, "emergency_writes_present"));
    // Without the secret, nothing.
    let r = Client::new().get(standby.url("/api/ha/peer/valve")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Emergency mode off: still refused while the writes are not reconciled.
    let (s, _) = send(&sb, reqwest::Method::PUT, standby.url("/api/ha/emergency"), Some(json!({"on": false}))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, shipment) = post(&p, &primary, "/api/ha/ship", json!({})).await;
    assert_eq!(shipment["status"], "aborted");
    let system = get(&sb, &standby, "/api/ha/status").await;
    assert_eq!(system["unreconciled_emergency_writes"], 6);

    // Reconciliation replays each emergency write once, in order.
    let (s, report) = post(&p, &primary, "/api/ha/reconcile", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!((report["applied"].as_u64(), report["already_present"].as_u64()), (Some(6), Some(0)), "{report}");
    assert_eq!(report["rejected"].as_array().unwrap().len(), 0, "{report}");
    assert_eq!(stock(&p, &primary, &product_id).await, 44);
    assert_eq!(get(&p, &primary, "/api/sales").await["total"], 3);
    assert_eq!(get(&p, &primary, &format!("/api/products/{product_id}")).await["price_cents"], 2700);
    assert_eq!(get(&p, &primary, &format!("/api/customers/{customer}")).await["name"], "Doña Rosa");
    // The replay used the devices' own keys: a phone's late retry of a sale to the primary gets the
    // stored answer and changes nothing.
    let (key, body) = &sales[0];
    let r = p.post(primary.url("/api/sales")).header("idempotency-key", key).json(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(get(&p, &primary, "/api/sales").await["total"], 3);

    // Twice is a no-op: nothing is left to reconcile, and replaying everything again finds it all.
    let (_, again) = post(&p, &primary, "/api/ha/reconcile", json!({})).await;
    assert_eq!((again["applied"].as_u64(), again["already_present"].as_u64()), (Some(0), Some(0)), "{again}");
    let (_, all) = post(&p, &primary, "/api/ha/reconcile", json!({"all": true})).await;
    assert_eq!((all["applied"].as_u64(), all["already_present"].as_u64()), (Some(0), Some(6)), "{all}");
    assert_eq!(get(&p, &primary, "/api/sales").await["total"], 3);
    assert_eq!(stock(&p, &primary, &product_id).await, 44);

    // Shipping resumes; the standby now holds the primary's data, nothing doubled.
    let (_, shipment) = post(&p, &primary, "/api/ha/ship", json!({})).await;
    assert_eq!(shipment["status"], "shipped", "{shipment}");
    let sb = standby.admin().await;
    assert_eq!(get(&sb, &standby, "/api/sales").await["total"], 3);
    assert_eq!(stock(&sb, &standby, &product_id).await, 44);
    let system = get(&p, &primary, "/api/ha/status").await;
    assert_eq!(system["last_shipment"]["status"], "shipped");
    assert_eq!(system["last_reconciliation"]["already_present"], 6);
    assert!(system["alerts"].as_array().unwrap().iter().any(|a| a["kind"] == "shipping_aborted"));
    // A standby never runs the primary's work.
    let (s, body) = post(&sb, &standby, "/api/ha/ship", json!({})).await;
    assert_eq!((s, code(&body)), (StatusCode::CONFLICT, "not_a_primary"));
}

/// The CLI does the admin button's work: `mostrador reconcile --from URL`.
pub async fn reconcile_from_the_command_line() {
    let (standby_dir, primary_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let secret = ("MOSTRADOR_HA_SECRET", SECRET.to_owned());
    let standby = spawn_binary(standby_dir.path(), &[secret.clone(), ("MOSTRADOR_ROLE", "standby".into()), ("MOSTRADOR_EMERGENCY_MODE", "true".into())]).await;
    let sb = standby.admin().await;
    assert_eq!(get(&sb, &standby, "/health").await["mode"], "emergency");
    let (s, body) = send(&sb, reqwest::Method::PUT, standby.url("/api/ha/emergency"), Some(json!({"on": false}))).await;
    assert_eq!((s, code(&body)), (StatusCode::CONFLICT, "emergency_mode_forced"));
    for name in ["Almacén", "Bebidas"] {
        assert_eq!(post(&sb, &standby, "/api/categories", json!({"id": Uuid::new_v4(), "name": name})).await.0, StatusCode::CREATED);
    }
    // The primary is stopped: the CLI works on its data directory directly. Both start from an
    // empty database with the same admin; the admin's id differs, so make the primary's first.
    let primary = spawn_binary(primary_dir.path(), &[secret.clone()]).await;
    drop(primary);
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mostrador"))
            .args(["reconcile", "--from", &standby.base, "--data-dir"])
            .arg(primary_dir.path())
            .env("MOSTRADOR_HA_SECRET", SECRET)
            .env("MOSTRADOR_NO_LOG_FILE", "true")
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    // The admin on the standby is another user (its own fresh database): the writes are reported
    // as rejected with the reason, never applied as someone else.
    assert!(stdout.contains("0 applied, 0 already present, 2 rejected"), "{stdout}");
    assert!(stdout.contains("unknown_user"), "{stdout}");
    let out = run();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 applied, 0 already present, 0 rejected"), "the second run finds nothing left");
}

/// Writes of a user account never put the password into the audit log.
pub async fn audit_log_never_holds_passwords(app: TestApp) {
    app.login_admin().await;
    app.client_for_new_user("cajero", "cashier").await;
    let (_, log) = status_json(app.get("/api/audit?entity=users").await).await;
    let entry = &log["items"][0];
    assert_eq!(entry["request"]["username"], "cajero");
    assert_eq!(entry["request"]["password"], "[redacted]");
    assert!(!log.to_string().contains("password-123"));
}

/// Role and mode on /health, the liveness route, the HA routes' guards, and /metrics.
pub async fn health_livez_metrics_and_guards(app: TestApp) {
    // Role and mode are for signed-in users (operations::health_reports_connected_database).
    app.login_admin().await;
    let (s, health) = status_json(app.get("/health").await).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((health["role"].as_str(), health["mode"].as_str(), health["database"].as_str()), (Some("primary"), Some("normal"), Some("primary")));
    assert_eq!(app.get("/livez").await.status(), StatusCode::OK);
    let (s, body) = status_json(app.client.put(app.url("/api/ha/emergency")).json(&json!({"on": true})).send().await.unwrap()).await;
    assert_eq!((s, code(&body)), (StatusCode::CONFLICT, "not_a_standby"));
    let (s, body) = status_json(app.post("/api/ha/ship", &json!({})).await).await;
    assert_eq!((s, code(&body)), (StatusCode::CONFLICT, "ha_not_configured"));
    let cashier = app.client_for_new_user("cajera", "cashier").await;
    assert_eq!(cashier.get(app.url("/api/ha/status")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(cashier.get(app.url("/api/alerts")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let (s, system) = status_json(app.get("/api/ha/status").await).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(system["role"], "primary");
    assert!(system["failover"].is_null());
    // A keyed write and its replay show up in the metrics.
    let key = Uuid::new_v4().to_string();
    for _ in 0..2 {
        let r = app.client.post(app.url("/api/categories")).header("idempotency-key", &key).json(&json!({"name": "Limpieza"})).send().await.unwrap();
        assert!(r.status().is_success());
    }
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    // The replay answers with the stored 201 too.
    assert!(text.contains(r#"mostrador_http_requests_total{method="POST",route="/api/categories",status="201"} 2"#), "{text}");
    assert!(text.contains("mostrador_idempotent_replays_total 1"), "{text}");
    assert!(text.contains(r#"mostrador_database_active{database="primary"} 1"#), "{text}");
    assert!(text.contains(r#"mostrador_node_role{role="primary"} 1"#), "{text}");
    assert!(text.contains("mostrador_backup_newest_age_seconds"), "{text}");
}

/// Three unclean exits within ten minutes raise "repeated crashes"; clean stops do not count.
pub async fn repeated_crashes_raise_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    let kinds = |alerts: &Value| -> Vec<String> {
        alerts.as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap().to_owned()).collect()
    };
    for _ in 0..3 {
        let p = spawn_binary(dir.path(), &[]).await;
        drop(p); // SIGKILL (kill_on_drop)
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let p = spawn_binary(dir.path(), &[]).await;
    let admin = p.admin().await;
    let alerts = get(&admin, &p, "/api/alerts").await;
    assert_eq!(kinds(&alerts), ["repeated_crashes"], "{alerts}");
    assert!(alerts[0]["message"].as_str().unwrap().contains("3 unclean restarts"), "{alerts}");
}
