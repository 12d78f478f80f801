//! High availability with two real server processes, primary and standby, each on its own SQLite
//! database: the standby refuses writes, takes them in emergency mode (tagged in its audit log),
//! the safety valve stops backup shipping (with an alert seen by a local receiver), reconciliation
//! replays every emergency write exactly once (twice is a no-op), and shipping then succeeds.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{code, spawn_binary, spawn_receiver, status_json, Process, TestApp};

/// 32 random bytes, base64url (a shorter secret is refused at start).
pub const SECRET: &str = "q3ZJ0v5m1c6QeXW1JxU0yq0o8c1Wn3b8V1cB7kq3p0E";
/// The tests' peers talk plain http on loopback.
pub const INSECURE: (&str, &str) = ("MOSTRADOR_HA_INSECURE_HTTP", "true");

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
            (INSECURE.0, INSECURE.1.to_owned()),
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
    let (s, product) = post(
        &p,
        &primary,
        "/api/products",
        json!({"sku": "YERBA", "name": "Yerba 1 kg", "price_cents": 2500, "cost_cents": 0}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let product_id = product["id"].as_str().unwrap().to_owned();
    let (s, _) = post(
        &p,
        &primary,
        "/api/inventory-movements",
        json!({"id": Uuid::new_v4(), "product_id": product_id, "delta": 50, "reason": "purchase"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, shipment) = post(&p, &primary, "/api/ha/ship", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{shipment}");
    assert_eq!(shipment["status"], "shipped", "{shipment}");

    // The standby serves the shipped data and refuses writes.
    let sb = standby.admin().await;
    assert_eq!(stock(&sb, &standby, &product_id).await, 50);
    let health = get(&sb, &standby, "/health").await;
    assert_eq!((health["role"].as_str(), health["mode"].as_str()), (Some("standby"), Some("normal")));
    let anonymous: serde_json::Value = reqwest::get(standby.url("/health")).await.unwrap().json().await.unwrap();
    assert_eq!(anonymous, json!({"status": "healthy"}), "a stranger learns nothing in normal mode");
    let (s, body) = post(&sb, &standby, "/api/categories", json!({"name": "Bebidas"})).await;
    assert_eq!((s, code(&body)), (StatusCode::SERVICE_UNAVAILABLE, "standby_read_only"));
    assert_eq!(get(&sb, &standby, "/api/categories").await["total"], 0, "a refused write changes nothing");

    // Emergency mode on: writes are accepted and tagged.
    let (s, status) =
        send(&sb, reqwest::Method::PUT, standby.url("/api/ha/emergency"), Some(json!({"on": true}))).await;
    assert_eq!(s, StatusCode::OK, "{status}");
    assert_eq!(status["mode"], "emergency");
    assert_eq!(get(&sb, &standby, "/health").await["mode"], "emergency");
    // The sign-in page shows the banner too: an anonymous /health says emergency (and nothing more).
    let anonymous: serde_json::Value = reqwest::get(standby.url("/health")).await.unwrap().json().await.unwrap();
    assert_eq!(anonymous, json!({"status": "healthy", "mode": "emergency"}));
    receiver.wait_for("/hook", |v| v["alert"]["kind"] == "emergency_mode_on").await;
    let session = Uuid::new_v4();
    let (s, _) = post(
        &sb,
        &standby,
        "/api/cash-sessions",
        json!({"id": session, "register": "caja", "opening_float_cents": 1000}),
    )
    .await;
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
    let emergency: Vec<&Value> =
        audit["items"].as_array().unwrap().iter().filter(|e| e["mode"] == "emergency" && e["entity"] != "ha").collect();
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
    let telegram = receiver
        .wait_for("/bot123:abc/sendMessage", |v| v["text"].as_str().is_some_and(|t| t.contains("shipping aborted")))
        .await;
    assert_eq!(telegram["chat_id"], "42");
    assert_eq!(get(&p, &primary, "/api/products").await, before, "the primary's data is untouched");
    assert_eq!(stock(&sb, &standby, &product_id).await, 44, "the standby's data is untouched");
    // The standby re-checks by itself too: a shipment straight to it is refused.
    let r = Client::new()
        .post(standby.url("/api/ha/peer/shipments"))
        .bearer_auth(SECRET)
        .body(vec![0u8; 16])
        .send()
        .await
        .unwrap();
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
    let insecure = (INSECURE.0, INSECURE.1.to_owned());
    let standby = spawn_binary(
        standby_dir.path(),
        &[
            secret.clone(),
            insecure.clone(),
            ("MOSTRADOR_ROLE", "standby".into()),
            ("MOSTRADOR_EMERGENCY_MODE", "true".into()),
        ],
    )
    .await;
    let sb = standby.admin().await;
    assert_eq!(get(&sb, &standby, "/health").await["mode"], "emergency");
    let (s, body) = send(&sb, reqwest::Method::PUT, standby.url("/api/ha/emergency"), Some(json!({"on": false}))).await;
    assert_eq!((s, code(&body)), (StatusCode::CONFLICT, "emergency_mode_forced"));
    for name in ["Almacén", "Bebidas"] {
        assert_eq!(
            post(&sb, &standby, "/api/categories", json!({"id": Uuid::new_v4(), "name": name})).await.0,
            StatusCode::CREATED
        );
    }
    // The primary is stopped: the CLI works on its data directory directly. Both start from an
    // empty database with the same admin; the admin's id differs, so make the primary's first.
    let primary = spawn_binary(primary_dir.path(), &[secret.clone(), insecure.clone()]).await;
    drop(primary);
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mostrador"))
            .args(["reconcile", "--from", &standby.base, "--data-dir"])
            .arg(primary_dir.path())
            .env("MOSTRADOR_HA_SECRET", SECRET)
            .env(INSECURE.0, INSECURE.1)
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
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 applied, 0 already present, 0 rejected"),
        "the second run finds nothing left"
    );
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
    assert_eq!(
        (health["role"].as_str(), health["mode"].as_str(), health["database"].as_str()),
        (Some("primary"), Some("normal"), Some("primary"))
    );
    assert_eq!(app.get("/livez").await.status(), StatusCode::OK);
    let (s, body) =
        status_json(app.client.put(app.url("/api/ha/emergency")).json(&json!({"on": true})).send().await.unwrap())
            .await;
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
        let r = app
            .client
            .post(app.url("/api/categories"))
            .header("idempotency-key", &key)
            .json(&json!({"name": "Limpieza"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    // The replay answers with the stored 201 too.
    assert!(
        text.contains(r#"mostrador_http_requests_total{method="POST",route="/api/categories",status="201"} 2"#),
        "{text}"
    );
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

/// A fake standby: answers the primary's reconciliation pages with `ops` and records which ids the
/// primary marks as handled.
struct FakeStandby {
    base: String,
    ops: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    marked: std::sync::Arc<std::sync::Mutex<Vec<i64>>>,
}

async fn spawn_fake_standby() -> FakeStandby {
    use axum::{
        extract::State,
        routing::{get, post},
        Json,
    };
    type Shared = (std::sync::Arc<std::sync::Mutex<Vec<Value>>>, std::sync::Arc<std::sync::Mutex<Vec<i64>>>);
    async fn ops(State((ops, _)): State<Shared>) -> Json<Value> {
        Json(json!({"ops": *ops.lock().unwrap(), "more": false}))
    }
    async fn reconciled(State((_, marked)): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
        let ids: Vec<i64> = body["ids"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        marked.lock().unwrap().extend(&ids);
        Json(json!({"marked": ids.len()}))
    }
    let shared: Shared = Default::default();
    let app = axum::Router::new()
        .route("/api/ha/peer/emergency-ops", get(ops))
        .route("/api/ha/peer/emergency-ops/reconciled", post(reconciled))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    FakeStandby { base, ops: shared.0, marked: shared.1 }
}

/// A forged standby's operation log: reconciliation replays only shop writes that agree with
/// themselves, as the named user with the rights that user has on the primary now. User creation,
/// a backup restore, the emergency toggle, sync and auth routes, a cashier's price change, a user
/// who does not exist (or is deactivated, or is named wrongly) are refused, reported and alerted;
/// nothing of them reaches the primary. A genuine cashier's write is applied.
pub async fn forged_standby_operations_are_refused() {
    let fake = spawn_fake_standby().await;
    let dir = tempfile::tempdir().unwrap();
    let primary = spawn_binary(
        dir.path(),
        &[
            ("MOSTRADOR_HA_SECRET", SECRET.to_owned()),
            (INSECURE.0, INSECURE.1.to_owned()),
            ("MOSTRADOR_STANDBY_URL", fake.base.clone()),
        ],
    )
    .await;
    let p = primary.admin().await;
    for (name, role) in [("cajera", "cashier"), ("exempleado", "cashier")] {
        let (s, _) =
            post(&p, &primary, "/api/users", json!({"username": name, "password": "password-123", "role": role})).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let users = get(&p, &primary, "/api/users").await;
    let id_of = |name: &str| {
        users["items"].as_array().unwrap().iter().find(|u| u["username"] == name).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (admin, cashier, ex) = (id_of("admin"), id_of("cajera"), id_of("exempleado"));
    let (s, _) =
        send(&p, reqwest::Method::PATCH, primary.url(&format!("/api/users/{ex}")), Some(json!({"active": false})))
            .await;
    assert_eq!(s, StatusCode::OK);
    let (s, product) = post(
        &p,
        &primary,
        "/api/products",
        json!({"sku": "YERBA", "name": "Yerba 1 kg", "price_cents": 2500, "cost_cents": 1000}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let pid = product["id"].as_str().unwrap().to_owned();

    let customer = Uuid::new_v4();
    let op = |id: i64,
              user: (&str, &str),
              method: &str,
              path: String,
              entity: &str,
              action: &str,
              entity_id: Option<String>,
              request: Value| {
        json!({"audit_id": id, "at": "2026-11-30T08:00:00Z", "node": "forged", "user_id": user.0, "username": user.1,
            "idempotency_key": Uuid::new_v4(), "method": method, "path": path, "entity": entity, "entity_id": entity_id,
            "action": action, "request": request, "if_match": null})
    };
    let (a, c) = ((admin.as_str(), "admin"), (cashier.as_str(), "cajera"));
    let new_admin = json!({"username": "intruso", "password": "password-123", "role": "admin"});
    let ops = vec![
        op(1, a, "POST", "/api/users".into(), "users", "create", None, new_admin.clone()),
        op(2, a, "POST", "/api/users".into(), "customers", "create", None, new_admin.clone()),
        op(3, a, "POST", format!("/api/backups/{}/restore", Uuid::new_v4()), "products", "restore", None, Value::Null),
        op(4, a, "PUT", "/api/ha/emergency".into(), "products", "update", None, json!({"on": true})),
        op(5, a, "POST", "/api/ha/ship".into(), "products", "create", None, Value::Null),
        op(
            6,
            a,
            "POST",
            "/api/sync/push".into(),
            "sales",
            "create",
            None,
            json!({"ops": [{"idempotency_key": Uuid::new_v4(), "method": "POST", "path": "/api/users", "body": new_admin}]}),
        ),
        op(7, a, "POST", "/api/auth/logout".into(), "auth", "create", None, Value::Null),
        // A cashier's price change: the table says an admin's.
        op(
            8,
            c,
            "PATCH",
            format!("/api/products/{pid}"),
            "products",
            "update",
            Some(pid.clone()),
            json!({"version": 1, "price_cents": 1}),
        ),
        // The cashier's id under the admin's name; an unknown id; a deactivated user.
        op(
            9,
            (cashier.as_str(), "admin"),
            "PATCH",
            format!("/api/products/{pid}"),
            "products",
            "update",
            Some(pid.clone()),
            json!({"version": 1, "price_cents": 2}),
        ),
        op(
            10,
            (&Uuid::new_v4().to_string(), "admin"),
            "PATCH",
            format!("/api/products/{pid}"),
            "products",
            "update",
            Some(pid.clone()),
            json!({"version": 1, "price_cents": 3}),
        ),
        op(
            11,
            (ex.as_str(), "exempleado"),
            "POST",
            "/api/customers".into(),
            "customers",
            "create",
            None,
            json!({"name": "De un usuario dado de baja"}),
        ),
        // Path, entry and body that disagree.
        op(
            12,
            a,
            "PATCH",
            format!("/api/products/{pid}"),
            "products",
            "update",
            Some(Uuid::new_v4().to_string()),
            json!({"version": 1, "price_cents": 4}),
        ),
        op(
            13,
            a,
            "PATCH",
            format!("/api/products/{pid}"),
            "products",
            "update",
            Some(pid.clone()),
            json!({"id": Uuid::new_v4(), "version": 1, "price_cents": 5}),
        ),
        // A genuine cashier's write.
        op(
            14,
            c,
            "POST",
            "/api/customers".into(),
            "customers",
            "create",
            Some(customer.to_string()),
            json!({"id": customer, "name": "Doña Rosa"}),
        ),
    ];
    *fake.ops.lock().unwrap() = ops;

    let (s, report) = post(&p, &primary, "/api/ha/reconcile", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["applied"], 1, "{report}");
    let rejected: Vec<(i64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["audit_id"].as_i64().unwrap(), r["code"].as_str().unwrap().to_owned()))
        .collect();
    let expected: Vec<(i64, String)> = [
        (1, "not_replayed"),
        (2, "not_replayed"),
        (3, "not_replayed"),
        (4, "not_replayed"),
        (5, "not_replayed"),
        (6, "not_replayed"),
        (7, "not_replayed"),
        (8, "forbidden"),
        (9, "unknown_user"),
        (10, "unknown_user"),
        (11, "unknown_user"),
        (12, "operation_mismatch"),
        (13, "operation_mismatch"),
    ]
    .into_iter()
    .map(|(i, c)| (i, c.to_owned()))
    .collect();
    assert_eq!(rejected, expected, "{report}");

    // Nothing of it reached the primary; the genuine write did.
    let users = get(&p, &primary, "/api/users").await;
    assert!(!users.to_string().contains("intruso"), "{users}");
    let now = get(&p, &primary, &format!("/api/products/{pid}")).await;
    assert_eq!((now["price_cents"].as_i64(), now["version"].as_i64()), (Some(2500), Some(1)), "{now}");
    assert_eq!(get(&p, &primary, &format!("/api/customers/{customer}")).await["name"], "Doña Rosa");
    assert_eq!(get(&p, &primary, "/api/customers").await["total"], 1);
    assert_eq!(get(&p, &primary, "/health").await["mode"], "normal");
    assert!(get(&p, &primary, "/api/ha/status").await["last_shipment"].is_null(), "nothing was shipped");
    // Kept and alerted, as every refused write; the standby is told each was handled.
    let alerts = get(&p, &primary, "/api/alerts").await;
    let alert = alerts.as_array().unwrap().iter().find(|a| a["kind"] == "reconciliation_rejected").expect("alert");
    assert_eq!(alert["details"].as_array().unwrap().len(), 13, "{alert}");
    assert_eq!(*fake.marked.lock().unwrap(), (1..=14).collect::<Vec<i64>>());
}

/// Runs the binary and waits (at most 20 s) for it to exit: a refused start must not serve.
async fn exits_with(args: &[&str], dir: &std::path::Path, envs: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mostrador"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("MOSTRADOR_ADMIN_PASSWORD", "admin-password-123")
        .env("MOSTRADOR_NO_LOG_FILE", "true")
        .env_remove("DATABASE_URL")
        .env_remove("MOSTRADOR_HA_INSECURE_HTTP")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let out = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{args:?} with {envs:?} kept running: the start was not refused"))
        .unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
}

/// `serve` refuses a shared secret under 32 random bytes and a plain-http standby URL (unless the
/// insecure test-only setting is on); `reconcile --from http://…` is refused the same way.
pub async fn weak_secret_and_plain_http_peers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::postgres::free_port().to_string();
    let addr = format!("127.0.0.1:{port}");
    let serve = ["serve", "--addr", addr.as_str()];
    for weak in ["secreto", "a-shared-secret-for-tests", "x".repeat(64).as_str()] {
        let (status, out) = exits_with(&serve, dir.path(), &[("MOSTRADOR_HA_SECRET", weak)]).await;
        assert!(!status.success());
        assert!(out.contains("MOSTRADOR_HA_SECRET is too weak"), "{out}");
        assert!(!out.contains(weak), "the secret is not printed: {out}");
    }
    let (status, out) = exits_with(
        &serve,
        dir.path(),
        &[("MOSTRADOR_HA_SECRET", SECRET), ("MOSTRADOR_STANDBY_URL", "http://127.0.0.1:9")],
    )
    .await;
    assert!(!status.success());
    assert!(
        out.contains("MOSTRADOR_STANDBY_URL http://127.0.0.1:9 is plain http")
            && out.contains("MOSTRADOR_HA_INSECURE_HTTP=true"),
        "{out}"
    );
    let (status, out) =
        exits_with(&["reconcile", "--from", "http://127.0.0.1:9"], dir.path(), &[("MOSTRADOR_HA_SECRET", SECRET)])
            .await;
    assert!(!status.success());
    assert!(out.contains("insecure_peer_url") || out.contains("is plain http"), "{out}");
    // With the test-only setting, the same start is accepted.
    let p = spawn_binary(
        dir.path(),
        &[
            ("MOSTRADOR_HA_SECRET", SECRET.to_owned()),
            ("MOSTRADOR_STANDBY_URL", "http://127.0.0.1:9".into()),
            (INSECURE.0, INSECURE.1.to_owned()),
        ],
    )
    .await;
    assert_eq!(get(&p.admin().await, &p, "/health").await["role"], "primary");
}

/// Wrong peer secrets: 401, then 429 with Retry-After for the address (even with the right secret:
/// the answer must not tell a guesser when it guessed right), and a `peer_auth_failed` alert.
pub async fn failed_peer_authentications_are_rate_limited_and_alerted() {
    let dir = tempfile::tempdir().unwrap();
    let standby =
        spawn_binary(dir.path(), &[("MOSTRADOR_HA_SECRET", SECRET.to_owned()), ("MOSTRADOR_ROLE", "standby".into())])
            .await;
    let client = Client::new();
    let r = client.get(standby.url("/api/ha/peer/valve")).bearer_auth(SECRET).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for i in 0..5 {
        let r = client.get(standby.url("/api/ha/peer/valve")).bearer_auth(format!("guess-{i}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    for secret in ["guess-5", SECRET] {
        let r = client
            .post(standby.url("/api/ha/peer/emergency-ops/reconciled"))
            .bearer_auth(secret)
            .json(&json!({"ids": [1]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers().contains_key("retry-after"));
        let (_, body) = status_json(r).await;
        assert_eq!(code(&body), "too_many_attempts");
    }
    let admin = standby.admin().await;
    let alerts = get(&admin, &standby, "/api/alerts").await;
    let alert = alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "peer_auth_failed")
        .unwrap_or_else(|| panic!("{alerts}"));
    assert!(alert["message"].as_str().unwrap().contains("Failed peer authentication"), "{alert}");
    assert_eq!(
        alerts.as_array().unwrap().iter().filter(|a| a["kind"] == "peer_auth_failed").count(),
        1,
        "one alert per burst"
    );
}

/// The HA link over https (issue #12, point 2): a standby serving TLS, a primary that pins the
/// certificate authority of that standby's certificate and has no insecure setting. Shipping works;
/// a primary pinning another CA cannot ship (nothing trusted but the pin).
pub async fn the_link_runs_over_https_with_a_pinned_certificate() {
    use crate::{helpers::ADMIN_PASSWORD, tls::TestCa};
    let (ca, other_ca) = (TestCa::new(), TestCa::new());
    let leaf = ca.leaf("127.0.0.1");
    let certs = tempfile::tempdir().unwrap();
    leaf.write(certs.path());
    std::fs::write(certs.path().join("ca.pem"), &ca.pem).unwrap();
    std::fs::write(certs.path().join("other-ca.pem"), &other_ca.pem).unwrap();

    let standby_dir = tempfile::tempdir().unwrap();
    let port = crate::postgres::free_port();
    let standby_env = [
        ("MOSTRADOR_ROLE", "standby".to_owned()),
        ("MOSTRADOR_HA_SECRET", SECRET.to_owned()),
        ("MOSTRADOR_TLS_CERT", certs.path().join("cert.pem").display().to_string()),
        ("MOSTRADOR_TLS_KEY", certs.path().join("key.pem").display().to_string()),
    ];
    let child = crate::helpers::binary_command(port, standby_dir.path(), &standby_env).spawn().unwrap();
    let trusting = crate::tls::client(&ca, false);
    let standby = crate::helpers::wait_ready(child, format!("https://127.0.0.1:{port}"), &trusting).await;

    let primary_with = |pin: &str| {
        vec![
            ("MOSTRADOR_HA_SECRET", SECRET.to_owned()),
            ("MOSTRADOR_STANDBY_URL", standby.base.clone()),
            ("MOSTRADOR_HA_PEER_CERT", certs.path().join(pin).display().to_string()),
        ]
    };
    let primary_dir = tempfile::tempdir().unwrap();
    let primary = spawn_binary(primary_dir.path(), &primary_with("ca.pem")).await;
    let p = primary.admin().await;
    let (s, product) = post(
        &p,
        &primary,
        "/api/products",
        json!({"sku": "MATE", "name": "Mate de calabaza", "price_cents": 1800, "cost_cents": 0}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, shipment) = post(&p, &primary, "/api/ha/ship", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{shipment}");
    assert_eq!(shipment["status"], "shipped", "{shipment}");

    // The standby serves what came over the encrypted link.
    let r = trusting
        .post(standby.url("/api/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id = product["id"].as_str().unwrap();
    assert_eq!(get(&trusting, &standby, &format!("/api/products/{id}")).await["sku"], "MATE");

    // Pinning another CA: the standby's certificate is not trusted, nothing is shipped.
    let wrong_dir = tempfile::tempdir().unwrap();
    let wrong = spawn_binary(wrong_dir.path(), &primary_with("other-ca.pem")).await;
    let w = wrong.admin().await;
    let (s, shipment) = post(&w, &wrong, "/api/ha/ship", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{shipment}");
    assert_eq!(shipment["status"], "failed", "{shipment}");
}
