//! Backups (issue #5): create, list, download, verify, restore, upload, retention, off-site copies
//! against a real S3-compatible server (moto), and SIGKILL of the real binary during backups and
//! restores.

use std::{collections::BTreeMap, path::PathBuf, process::Stdio, time::Duration};

use object_store::ObjectStore;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

use crate::{
    helpers::{code, new_client, spawn_app_with, spawn_binary, status_json, Engine, Process, TestApp, CLUSTER},
    postgres::free_port,
};

// ------------------------------------------------------------------------------------------------
// Helpers

/// A cash session and a product with stock 1000; returns (session id, product id).
pub async fn shop(app: &TestApp) -> (String, String) {
    let session = Uuid::new_v4().to_string();
    let r = app.post("/api/cash-sessions", &json!({"id": session, "register": "caja", "opening_float_cents": 0})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let p = app.create_product(&format!("P-{}", &Uuid::new_v4().simple().to_string()[..8]), 250).await;
    let product = p["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            "/api/inventory-movements",
            &json!({"id": Uuid::new_v4(), "product_id": product, "delta": 1000, "reason": "purchase"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    (session, product)
}

pub fn sale(session: &str, product: &str, quantity: i64) -> Value {
    json!({"id": Uuid::new_v4(), "cash_session_id": session,
           "lines": [{"product_id": product, "quantity": quantity}],
           "payments": [{"method": "cash", "amount_cents": 250 * quantity}]})
}

async fn create_backup(app: &TestApp) -> Value {
    let (status, body) = status_json(app.client.post(app.url("/api/backups")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn list(app: &TestApp) -> Value {
    let (status, body) = status_json(app.get("/api/backups").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn backup_dir(list: &Value) -> PathBuf {
    PathBuf::from(list["totals"]["directory"].as_str().unwrap())
}

fn data_file(dir: &std::path::Path, backup: &Value) -> PathBuf {
    let ext = if backup["engine"] == "postgres" { "pgdump.zst" } else { "db.zst" };
    dir.join(format!("{}.{ext}", backup["id"].as_str().unwrap()))
}

async fn tables(db: &mostrador::db::Db) -> Vec<String> {
    let sql = match db.engine {
        mostrador::db::Engine::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        mostrador::db::Engine::Postgres => {
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
        }
    };
    sqlx::query_scalar(sql).fetch_all(&db.pool()).await.unwrap()
}

/// Every row of every table but `skip`, as sorted text: two equal digests mean equal contents.
pub async fn digest(db: &mostrador::db::Db, skip: &[&str]) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for t in tables(db).await {
        if skip.contains(&t.as_str()) {
            continue;
        }
        let rows = sqlx::query(&format!("SELECT * FROM \"{t}\"")).fetch_all(&db.pool()).await.unwrap();
        let mut lines: Vec<String> = rows
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| {
                        r.try_get::<Option<String>, _>(i)
                            .map(|v| format!("{v:?}"))
                            .or_else(|_| r.try_get::<Option<i64>, _>(i).map(|v| format!("{v:?}")))
                            .or_else(|_| r.try_get::<Option<bool>, _>(i).map(|v| format!("{v:?}")))
                            .or_else(|_| r.try_get::<Option<f64>, _>(i).map(|v| format!("{v:?}")))
                            .unwrap_or_else(|e| format!("<{e}>"))
                    })
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect();
        lines.sort();
        out.insert(t, lines);
    }
    out
}

/// What a restore compares: everything but sign-ins, the audit log (which gains the restore), the
/// change feed (which moves past every device's cursor) and the node-local tables (node_state,
/// alerts), which a restore leaves as they are.
const NOT_COMPARED: &[&str] =
    &["sessions", "audit_log", "_sqlx_migrations", "change_log", "sync_state", "node_state", "alerts"];

// ------------------------------------------------------------------------------------------------
// Engine tests (SQLite and PostgreSQL)

pub async fn cashier_is_403_on_every_backup_route(app: TestApp) {
    app.login_admin().await;
    let backup = create_backup(&app).await;
    let id = backup["id"].as_str().unwrap();
    let cashier = app.client_for_new_user("cajera", "cashier").await;
    let routes = [
        ("GET", "/api/backups".to_owned()),
        ("POST", "/api/backups".to_owned()),
        ("POST", "/api/backups/prune".to_owned()),
        ("POST", "/api/backups/upload".to_owned()),
        ("GET", format!("/api/backups/{id}")),
        ("DELETE", format!("/api/backups/{id}")),
        ("GET", format!("/api/backups/{id}/download")),
        ("POST", format!("/api/backups/{id}/verify")),
        ("POST", format!("/api/backups/{id}/restore")),
        ("GET", "/api/export/sales?format=csv".to_owned()),
    ];
    for (method, path) in &routes {
        let r = cashier.request(method.parse().unwrap(), app.url(path)).body(vec![1u8, 2, 3]).send().await.unwrap();
        let (status, body) = status_json(r).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(code(&body), "forbidden");
        let r = new_client().request(method.parse().unwrap(), app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path} without a session");
    }
    // Nothing changed: the one backup is still there.
    assert_eq!(list(&app).await["totals"]["count"], 1);
}

pub async fn create_list_get_and_download_match_the_checksum(app: TestApp) {
    app.login_admin().await;
    let (session, product) = shop(&app).await;
    let r = app.post("/api/sales", &sale(&session, &product, 3)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let backup = create_backup(&app).await;
    let id = backup["id"].as_str().unwrap();
    assert_eq!(backup["trigger"], "manual");
    assert_eq!(backup["local"], true);
    assert_eq!(backup["remote"], Value::Null);
    assert_eq!(backup["verified_at"], Value::Null);
    assert_eq!(backup["row_counts"]["sales"], 1);
    assert_eq!(backup["row_counts"]["sale_lines"], 1);
    assert!(backup["schema_version"].as_i64().unwrap() >= 20261122000006);
    let listed = list(&app).await;
    assert_eq!(listed["totals"]["count"], 1);
    assert_eq!(listed["totals"]["size_bytes"], backup["size_bytes"]);
    assert!(listed["totals"].get("next_scheduled_at").is_some());
    assert_eq!(listed["backups"][0]["id"], backup["id"]);
    let (status, got) = status_json(app.get(&format!("/api/backups/{id}")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["sha256"], backup["sha256"]);

    let r = app.get(&format!("/api/backups/{id}/download")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let header = r.headers()["x-backup-sha256"].to_str().unwrap().to_owned();
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(disposition.starts_with("attachment; filename=\"mostrador-"), "{disposition}");
    assert!(
        disposition.ends_with(if app.engine == Engine::Sqlite { ".db.zst\"" } else { ".pgdump.zst\"" }),
        "{disposition}"
    );
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, backup["size_bytes"].as_u64().unwrap());
    assert_eq!(hex::encode(Sha256::digest(&bytes)), header);
    assert_eq!(header, backup["sha256"].as_str().unwrap());

    // The metadata alone rebuilds the list; the audit log records the backup.
    let dir = backup_dir(&listed);
    let meta: Value = serde_json::from_slice(&std::fs::read(dir.join(format!("{id}.json"))).unwrap()).unwrap();
    assert_eq!(meta["sha256"], backup["sha256"]);
    let (_, audit) = status_json(app.get("/api/audit?entity=backups").await).await;
    assert_eq!(audit["items"][0]["action"], "create");
    assert_eq!(audit["items"][0]["entity_id"], backup["id"]);

    // Delete: gone from the list and the directory.
    let r = app.delete(&format!("/api/backups/{id}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(list(&app).await["totals"]["count"], 0);
    assert!(!data_file(&dir, &backup).exists());
    let r = app.get(&format!("/api/backups/{id}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

pub async fn bad_ids_are_400_and_unknown_ids_404(app: TestApp) {
    app.login_admin().await;
    for bad in ["..%2F..%2Fetc%2Fpasswd", "20261122-020000-ABCDEF", "x", "20261122-020000-abcdef.json"] {
        let (status, body) = status_json(app.get(&format!("/api/backups/{bad}")).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        let (status, _) = status_json(app.post(&format!("/api/backups/{bad}/restore"), &json!({})).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    for path in ["/api/backups/20261122-020000-abcdef", "/api/backups/20261122-020000-abcdef/download"] {
        let (status, body) = status_json(app.get(path).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, _) = status_json(app.post("/api/backups/20261122-020000-abcdef/verify", &json!({})).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

pub async fn repeated_create_with_the_same_key_replays(app: TestApp) {
    app.login_admin().await;
    let key = Uuid::new_v4().to_string();
    let send = || app.client.post(app.url("/api/backups")).header("Idempotency-Key", &key).send();
    let first = send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    assert_eq!(list(&app).await["totals"]["count"], 1);
}

pub async fn restore_round_trip_gives_identical_rows(app: TestApp) {
    app.login_admin().await;
    let (session, product) = shop(&app).await;
    for q in [1, 2, 3] {
        assert_eq!(app.post("/api/sales", &sale(&session, &product, q)).await.status(), StatusCode::CREATED);
    }
    let customer = app.post("/api/customers", &json!({"name": "Doña Rosa"})).await;
    assert_eq!(customer.status(), StatusCode::CREATED);
    let backup = create_backup(&app).await;
    let id = backup["id"].as_str().unwrap();
    let before = digest(&app.db, NOT_COMPARED).await;

    // Life goes on after the backup.
    assert_eq!(app.post("/api/sales", &sale(&session, &product, 5)).await.status(), StatusCode::CREATED);
    app.create_product("LATER", 100).await;
    let p: Value = app.get(&format!("/api/products/{product}")).await.json().await.unwrap();
    let r = app.patch(&format!("/api/products/{product}"), &json!({"version": p["version"], "name": "Renamed"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_ne!(digest(&app.db, NOT_COMPARED).await, before);

    let (status, report) = status_json(app.post(&format!("/api/backups/{id}/restore"), &json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["restored"]["id"], backup["id"]);
    assert_eq!(report["safety_backup"]["trigger"], "pre-restore");
    assert_eq!(report["safety_backup"]["restore_of"], backup["id"]);
    assert_eq!(digest(&app.db, NOT_COMPARED).await, before, "the restored rows are exactly the backup's");
    for (table, n) in backup["row_counts"].as_object().unwrap() {
        if !["sessions", "audit_log", "change_log"].contains(&table.as_str()) {
            assert_eq!(report["row_counts"][table], *n, "{table}");
        }
    }
    // Still signed in (sessions are not restored), and the API serves the restored data.
    let sales: Value = app.get("/api/sales?limit=100").await.json().await.unwrap();
    assert_eq!(sales["total"], 3);
    let p: Value = app.get(&format!("/api/products/{product}")).await.json().await.unwrap();
    assert_eq!(p["stock"], 1000 - 6);
    assert_ne!(p["name"], "Renamed");
    // New writes work after the restore (sequences and the writer gate are fine).
    assert_eq!(app.post("/api/sales", &sale(&session, &product, 1)).await.status(), StatusCode::CREATED);
    let (_, audit) = status_json(app.get("/api/audit?entity=backups").await).await;
    assert_eq!(audit["items"][0]["action"], "restore");

    // The safety backup holds the data that was replaced: restoring it brings "Renamed" back.
    let safety = report["safety_backup"]["id"].as_str().unwrap();
    let (status, body) = status_json(app.post(&format!("/api/backups/{safety}/restore"), &json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let p: Value = app.get(&format!("/api/products/{product}")).await.json().await.unwrap();
    assert_eq!(p["name"], "Renamed");
}

/// A device that pulled after the backup was taken must, after the restore, get the restored rows
/// and every later change: the feed cannot go back below the cursors devices hold.
pub async fn devices_pull_the_restored_rows_and_later_changes(app: TestApp) {
    app.login_admin().await;
    let kept = app.create_product("KEPT", 100).await;
    let backup = create_backup(&app).await;
    let gone = app.create_product("GONE", 100).await;
    for i in 0..5 {
        app.create_product(&format!("MORE-{i}"), 100).await;
    }
    let renamed = app
        .patch(&format!("/api/products/{}", kept["id"].as_str().unwrap()), &json!({"version": 1, "name": "renamed"}))
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let (_, pulled) = status_json(app.get("/api/sync/pull").await).await;
    let cursor = pulled["cursor"].as_str().unwrap().to_owned();

    let (status, body) =
        status_json(app.post(&format!("/api/backups/{}/restore", backup["id"].as_str().unwrap()), &json!({})).await)
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after = app.create_product("AFTER", 100).await;

    let (status, pulled) = status_json(app.get(&format!("/api/sync/pull?since={cursor}")).await).await;
    assert_eq!(status, StatusCode::OK);
    let products = pulled["products"].as_array().unwrap();
    let find = |id: &Value| products.iter().find(|p| p["id"] == *id).cloned();
    assert_eq!(find(&kept["id"]).expect("the restored row is pulled again")["name"], kept["name"]);
    assert!(find(&after["id"]).is_some(), "a change after the restore reaches a device whose cursor was ahead");
    assert!(find(&gone["id"]).is_none());
}

pub async fn backup_during_concurrent_writes_restores_consistent(app: TestApp) {
    app.login_admin().await;
    let (session, product) = shop(&app).await;
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/api/sales");
            let (session, product) = (session.clone(), product.clone());
            tokio::spawn(async move {
                let mut made = 0;
                for _ in 0..25 {
                    let r = client.post(&url).json(&sale(&session, &product, 2)).send().await.unwrap();
                    assert_eq!(r.status(), StatusCode::CREATED);
                    made += 1;
                }
                made
            })
        })
        .collect();
    // Backups while the writers write.
    let mut backups = Vec::new();
    for _ in 0..3 {
        backups.push(create_backup(&app).await);
    }
    for w in writers {
        w.await.unwrap();
    }
    for backup in backups {
        let id = backup["id"].as_str().unwrap();
        let (status, report) = status_json(app.post(&format!("/api/backups/{id}/verify"), &json!({})).await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(report["ok"], true, "{report}");
        let (status, body) = status_json(app.post(&format!("/api/backups/{id}/restore"), &json!({})).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Consistent: every sale has its line, and stock equals the purchases minus the sales.
        let sales = backup["row_counts"]["sales"].as_i64().unwrap();
        assert_eq!(backup["row_counts"]["sale_lines"], sales);
        let listed: Value = app.get("/api/sales?limit=1000").await.json().await.unwrap();
        assert_eq!(listed["total"], sales);
        let p: Value = app.get(&format!("/api/products/{product}")).await.json().await.unwrap();
        assert_eq!(p["stock"].as_i64().unwrap(), 1000 - 2 * sales, "stock matches the sales in the backup");
    }
}

pub async fn flipped_byte_fails_verification_and_restore(app: TestApp) {
    app.login_admin().await;
    let (session, product) = shop(&app).await;
    assert_eq!(app.post("/api/sales", &sale(&session, &product, 1)).await.status(), StatusCode::CREATED);
    let backup = create_backup(&app).await;
    let id = backup["id"].as_str().unwrap();
    let (_, ok) = status_json(app.post(&format!("/api/backups/{id}/verify"), &json!({})).await).await;
    assert_eq!(ok["ok"], true, "{ok}");
    let names: Vec<&str> = ok["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["checksum", "decompress", "restore", "integrity", "schema_version", "row_counts"]);
    let verified = list(&app).await["backups"][0].clone();
    assert!(verified["verified_at"].is_string());

    let file = data_file(&backup_dir(&list(&app).await), &backup);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let before = digest(&app.db, NOT_COMPARED).await;

    let (status, report) = status_json(app.post(&format!("/api/backups/{id}/verify"), &json!({})).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["checks"][0]["name"], "checksum");
    assert_eq!(report["checks"][0]["ok"], false);
    let after = list(&app).await["backups"][0].clone();
    assert_eq!(after["last_verification"]["ok"], false);

    let (status, body) = status_json(app.post(&format!("/api/backups/{id}/restore"), &json!({})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "backup_corrupt");
    assert_eq!(digest(&app.db, NOT_COMPARED).await, before, "a refused restore changes nothing");
    // No safety backup was taken for a restore that never started.
    assert_eq!(list(&app).await["totals"]["count"], 1);
}

pub async fn backup_with_a_newer_schema_is_refused(app: TestApp) {
    app.login_admin().await;
    let backup = create_backup(&app).await;
    let id = backup["id"].as_str().unwrap();
    let dir = backup_dir(&list(&app).await);
    let path = dir.join(format!("{id}.json"));
    let mut meta: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    meta["schema_version"] = json!(meta["schema_version"].as_i64().unwrap() + 1);
    std::fs::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let before = digest(&app.db, NOT_COMPARED).await;
    let (status, body) = status_json(app.post(&format!("/api/backups/{id}/restore"), &json!({})).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "backup_schema_too_new");
    assert!(body["error"]["message"].as_str().unwrap().contains("upgrade"), "{body}");
    assert_eq!(digest(&app.db, NOT_COMPARED).await, before);
    assert_eq!(list(&app).await["totals"]["count"], 1, "no safety backup for a refused restore");
}

pub async fn retention_never_prunes_the_newest_verified_backup(app: TestApp) {
    let app = spawn_like(&app, |c| c.backup.backup_keep = 2).await;
    app.login_admin().await;
    let verified = create_backup(&app).await;
    let vid = verified["id"].as_str().unwrap();
    let (_, report) = status_json(app.post(&format!("/api/backups/{vid}/verify"), &json!({})).await).await;
    assert_eq!(report["ok"], true);
    let mut newer = Vec::new();
    for _ in 0..3 {
        newer.push(create_backup(&app).await["id"].as_str().unwrap().to_owned());
    }
    // keep = 2 (set at spawn): the two newest, plus the newest verified one.
    let (status, body) = status_json(app.post("/api/backups/prune", &json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["removed"], json!([newer[0]]));
    let ids: Vec<String> =
        list(&app).await["backups"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, [newer[2].clone(), newer[1].clone(), vid.to_owned()]);
    // Pruning again removes nothing.
    let (_, body) = status_json(app.post("/api/backups/prune", &json!({})).await).await;
    assert_eq!(body["removed"], json!([]));
}

pub async fn upload_checks_the_file_and_restores_elsewhere(app: TestApp) {
    app.login_admin().await;
    let (session, product) = shop(&app).await;
    assert_eq!(app.post("/api/sales", &sale(&session, &product, 4)).await.status(), StatusCode::CREATED);
    let backup = create_backup(&app).await;
    let bytes =
        app.get(&format!("/api/backups/{}/download", backup["id"].as_str().unwrap())).await.bytes().await.unwrap();
    let expected = digest(&app.db, NOT_COMPARED).await;

    // Another shop's server (fresh database, same engine) takes the file.
    let other = spawn_like(&app, |_| {}).await;
    other.login_admin().await;
    for junk in [b"hello, not a backup".to_vec(), vec![0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]] {
        let r = other.client.post(other.url("/api/backups/upload")).body(junk).send().await.unwrap();
        let (status, body) = status_json(r).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(code(&body), "invalid_backup");
    }
    assert_eq!(list(&other).await["totals"]["count"], 0, "refused uploads leave nothing");
    assert!(std::fs::read_dir(backup_dir(&list(&other).await)).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".tmp-")));

    let r = other.client.post(other.url("/api/backups/upload")).body(bytes.to_vec()).send().await.unwrap();
    let (status, uploaded) = status_json(r).await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    assert_eq!(uploaded["trigger"], "upload");
    assert_eq!(uploaded["sha256"], backup["sha256"]);
    assert_eq!(uploaded["row_counts"], backup["row_counts"]);
    let uid = uploaded["id"].as_str().unwrap();
    let (status, body) = status_json(other.post(&format!("/api/backups/{uid}/restore"), &json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The other server now has the first one's rows (its own admin user included, so users differ).
    let got = digest(&other.db, NOT_COMPARED).await;
    for table in ["sales", "sale_lines", "products", "inventory_movements", "cash_sessions"] {
        assert_eq!(got[table], expected[table], "{table}");
    }
}

/// A second app on the same engine as `app`, with a fresh database.
async fn spawn_like(app: &TestApp, adjust: impl FnOnce(&mut mostrador::config::ServeConfig)) -> TestApp {
    let url = match app.engine {
        Engine::Sqlite => None,
        Engine::Postgres => Some(CLUSTER.get().unwrap().create_database().await),
    };
    spawn_app_with(app.engine, url, adjust).await
}

// ------------------------------------------------------------------------------------------------
// Off-site copies against moto's S3 server

struct Moto {
    child: tokio::process::Child,
    endpoint: String,
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(program)).find(|p| p.exists()))
}

impl Moto {
    async fn start() -> Moto {
        let port = free_port();
        // On PATH, or where scripts/setup.sh --test puts it.
        let cached = std::env::var("HOME").map(|h| PathBuf::from(h).join(".cache/mostrador/moto/bin/moto_server")).ok();
        let program = match cached {
            Some(p) if p.exists() && which("moto_server").is_none() => p,
            _ => PathBuf::from("moto_server"),
        };
        let child = tokio::process::Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("moto_server (pip install 'moto[server]'; scripts/setup.sh --test installs it)");
        let endpoint = format!("http://127.0.0.1:{port}");
        let probe = Client::new();
        for _ in 0..300 {
            if probe.get(&endpoint).send().await.is_ok() {
                return Moto { child, endpoint };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("moto_server did not start");
    }

    fn store(&self, bucket: &str) -> impl object_store::ObjectStore {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()
            .unwrap()
    }

    async fn create_bucket(&self, name: &str) {
        let r = Client::new().put(format!("{}/{name}", self.endpoint)).send().await.unwrap();
        assert!(r.status().is_success(), "create bucket: {}", r.status());
    }
}

pub async fn offsite_copy_and_fetch_back(app: TestApp) {
    offsite(app, None).await;
}

pub async fn offsite_copy_is_encrypted_with_age(app: TestApp) {
    offsite(app, Some("correct horse battery staple")).await;
}

async fn offsite(app: TestApp, passphrase: Option<&'static str>) {
    let mut moto = Moto::start().await;
    let bucket = format!("b{}", &Uuid::new_v4().simple().to_string()[..12]);
    moto.create_bucket(&bucket).await;
    let endpoint = moto.endpoint.clone();
    let bucket2 = bucket.clone();
    let app = spawn_like(&app, move |c| {
        c.backup.s3_bucket = Some(bucket2);
        c.backup.s3_endpoint = Some(endpoint);
        c.backup.s3_access_key_id = Some("testing".into());
        c.backup.s3_secret_access_key = Some("testing".into());
        c.backup.s3_prefix = "shop/one".into();
        c.backup.backup_passphrase = passphrase.map(str::to_owned);
    })
    .await;
    app.login_admin().await;
    let (session, product) = shop(&app).await;
    assert_eq!(app.post("/api/sales", &sale(&session, &product, 2)).await.status(), StatusCode::CREATED);
    let backup = create_backup(&app).await;
    let id = backup["id"].as_str().unwrap();
    let remote = &backup["remote"];
    assert!(remote["key"].as_str().unwrap().starts_with("shop/one/"), "{backup}");
    let expected = digest(&app.db, NOT_COMPARED).await;

    // The object is really in the bucket, byte for byte.
    let s3 = moto.store(&bucket);
    let key = object_store::path::Path::from(remote["key"].as_str().unwrap());
    let object = s3.get(&key).await.unwrap().bytes().await.unwrap();
    match passphrase {
        None => assert_eq!(hex::encode(Sha256::digest(&object)), backup["sha256"].as_str().unwrap()),
        Some(_) => {
            assert!(object.starts_with(b"age-encryption.org/v1"), "encrypted before it left");
            assert!(key.as_ref().ends_with(".age"));
            assert_eq!(remote["encrypted"], true);
            let local = std::fs::read(data_file(&backup_dir(&list(&app).await), &backup)).unwrap();
            assert!(!object.windows(64).any(|w| local.windows(64).next() == Some(w)), "no plaintext in the object");
        }
    }

    let (_, report) = status_json(app.post(&format!("/api/backups/{id}/verify"), &json!({})).await).await;
    assert_eq!(report["ok"], true, "{report}");

    // The disk dies: the local copy is gone, the list still shows the remote one (verified).
    let dir = backup_dir(&list(&app).await);
    std::fs::remove_file(data_file(&dir, &backup)).unwrap();
    std::fs::remove_file(dir.join(format!("{id}.json"))).unwrap();
    let listed = list(&app).await;
    assert_eq!(listed["totals"]["count"], 1);
    assert_eq!(listed["backups"][0]["local"], false);
    assert!(listed["backups"][0]["remote"].is_object());
    assert!(listed["backups"][0]["verified_at"].is_string(), "the off-site metadata knows it was verified");

    assert_eq!(app.post("/api/sales", &sale(&session, &product, 7)).await.status(), StatusCode::CREATED);
    if passphrase.is_some() {
        // Another server on the same bucket without the passphrase cannot read it, and says why.
        let (endpoint, bucket3) = (moto.endpoint.clone(), bucket.clone());
        let other = spawn_like(&app, move |c| {
            c.backup.s3_bucket = Some(bucket3);
            c.backup.s3_endpoint = Some(endpoint);
            c.backup.s3_access_key_id = Some("testing".into());
            c.backup.s3_secret_access_key = Some("testing".into());
            c.backup.s3_prefix = "shop/one".into();
            c.backup.backup_passphrase = Some("wrong".into());
        })
        .await;
        other.login_admin().await;
        let (status, body) = status_json(other.post(&format!("/api/backups/{id}/restore"), &json!({})).await).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("passphrase"), "{body}");
    }
    let (status, body) = status_json(app.post(&format!("/api/backups/{id}/restore"), &json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(digest(&app.db, NOT_COMPARED).await, expected);
    // Fetched back: local again, and the safety backup went off-site too.
    let listed = list(&app).await;
    let fetched = listed["backups"].as_array().unwrap().iter().find(|b| b["id"] == backup["id"]).unwrap();
    assert_eq!(fetched["local"], true);
    assert!(body["safety_backup"]["remote"].is_object(), "{body}");

    // Deleting removes it off-site too.
    let r = app.delete(&format!("/api/backups/{id}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(matches!(s3.get(&key).await, Err(object_store::Error::NotFound { .. })));
    let _ = moto.child.start_kill();
    let _ = moto.child.wait().await;
}

/// Someone with write access to the bucket edits a copy's metadata so that its `remote.key` names
/// another object. Restoring and deleting the backup still use the key our own naming gives its id:
/// the other object is neither fetched nor deleted.
pub async fn offsite_key_comes_from_our_naming(app: TestApp) {
    let mut moto = Moto::start().await;
    let bucket = format!("b{}", &Uuid::new_v4().simple().to_string()[..12]);
    moto.create_bucket(&bucket).await;
    let (endpoint, bucket2) = (moto.endpoint.clone(), bucket.clone());
    let app = spawn_like(&app, move |c| {
        c.backup.s3_bucket = Some(bucket2);
        c.backup.s3_endpoint = Some(endpoint);
        c.backup.s3_access_key_id = Some("testing".into());
        c.backup.s3_secret_access_key = Some("testing".into());
        c.backup.s3_prefix = "shop".into();
    })
    .await;
    app.login_admin().await;
    let backup = create_backup(&app).await;
    let id = backup["id"].as_str().unwrap();
    let ours = object_store::path::Path::from(backup["remote"]["key"].as_str().unwrap());
    let s3 = moto.store(&bucket);
    let victim = object_store::path::Path::from("shop/victim.bin");
    s3.put(&victim, b"not a backup".to_vec().into()).await.unwrap();
    let meta_key = object_store::path::Path::from(format!("shop/{id}.json"));
    let mut meta: Value = serde_json::from_slice(&s3.get(&meta_key).await.unwrap().bytes().await.unwrap()).unwrap();
    meta["remote"]["key"] = json!("shop/victim.bin");
    s3.put(&meta_key, serde_json::to_vec(&meta).unwrap().into()).await.unwrap();
    // Only the (edited) off-site copy is left.
    let dir = backup_dir(&list(&app).await);
    std::fs::remove_file(data_file(&dir, &backup)).unwrap();
    std::fs::remove_file(dir.join(format!("{id}.json"))).unwrap();

    let (status, body) = status_json(app.post(&format!("/api/backups/{id}/restore"), &json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "fetched from our own key, checksum intact: {body}");
    let r = app.delete(&format!("/api/backups/{id}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(matches!(s3.get(&ours).await, Err(object_store::Error::NotFound { .. })), "our copy is deleted");
    assert_eq!(
        &s3.get(&victim).await.unwrap().bytes().await.unwrap()[..],
        b"not a backup",
        "the other object is untouched"
    );
    let _ = moto.child.start_kill();
    let _ = moto.child.wait().await;
}

// ------------------------------------------------------------------------------------------------
// SIGKILL of the real binary

struct Server {
    child: tokio::process::Child,
    base: String,
    client: Client,
}

async fn start(data: &std::path::Path, database_url: Option<&str>) -> Server {
    let envs: Vec<(&str, String)> = database_url.map(|u| ("DATABASE_URL", u.to_owned())).into_iter().collect();
    let process = spawn_binary(data, &envs).await;
    let client = process.admin().await;
    let Process { child, base } = process;
    Server { child, base, client }
}

impl Server {
    async fn kill(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
    async fn get(&self, path: &str) -> Value {
        let r = self.client.get(format!("{}{path}", self.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.unwrap()
    }
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client.post(format!("{}{path}", self.base)).json(&body).send().await.unwrap()
    }
}

/// Makes the database big enough (a few MB) that a backup or restore takes a while to be killed in.
async fn bulk(server: &Server, products: usize) {
    let mut tasks = Vec::new();
    for chunk in 0..4 {
        let client = server.client.clone();
        let url = format!("{}/api/products", server.base);
        tasks.push(tokio::spawn(async move {
            let customers = url.replace("/api/products", "/api/customers");
            for i in 0..products / 4 {
                let name = format!("Producto {chunk}-{i} {}", "x".repeat(150));
                let r = client
                    .post(&url)
                    .json(&json!({"sku": format!("B{chunk}-{i}"), "name": name, "price_cents": 100, "cost_cents": 50}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                // Notes that do not compress away, so the database has some size.
                let notes: String = (0..1900).map(|_| char::from(b'a' + rand::random::<u8>() % 26)).collect();
                let r = client
                    .post(&customers)
                    .json(&json!({"name": format!("Cliente {chunk}-{i}"), "notes": notes}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-") || n.starts_with(".incoming-"))
        .collect()
}

/// Every listed backup is whole: its file is there and matches the recorded checksum.
fn check_listed(dir: &std::path::Path, listed: &Value) {
    for b in listed["backups"].as_array().unwrap() {
        let file = data_file(dir, b);
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("listed backup {} has no file: {e}", b["id"]));
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            b["sha256"].as_str().unwrap(),
            "listed backup {} is whole",
            b["id"]
        );
    }
    // And nothing unlisted lies around.
    let listed_ids: Vec<&str> =
        listed["backups"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name == ".lock" {
            continue;
        }
        assert!(listed_ids.iter().any(|id| name.starts_with(id)), "unlisted file {name} left in the backup directory");
    }
}

async fn sigkill_during_backups(database_url: Option<String>, rounds: usize) {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join("backups");
    let server = start(data.path(), database_url.as_deref()).await;
    bulk(&server, 2000).await;
    let mut kills_mid_backup = 0;
    let mut server = server;
    for round in 0..rounds {
        // A backup, and the plug pulled at a random moment during it.
        let started = std::time::Instant::now();
        let created = tokio::spawn({
            let (client, base) = (server.client.clone(), server.base.clone());
            async move { client.post(format!("{base}/api/backups")).send().await.map(|r| r.status()) }
        });
        let wait = Duration::from_millis(rand::random::<u64>() % 250);
        tokio::time::sleep(wait).await;
        server.kill().await;
        let answered = matches!(created.await.unwrap(), Ok(StatusCode::CREATED));
        if !answered {
            kills_mid_backup += 1;
        }
        let _ = started;
        server = start(data.path(), database_url.as_deref()).await;
        assert!(leftovers(&dir).is_empty(), "round {round}: temp files left after restart: {:?}", leftovers(&dir));
        let listed = server.get("/api/backups").await;
        check_listed(&dir, &listed);
    }
    assert!(kills_mid_backup > 0, "no kill landed during a backup; the test proved nothing");
    // Every backup that survived restores.
    let listed = server.get("/api/backups").await;
    if let Some(b) = listed["backups"].as_array().unwrap().first() {
        let r = server.post(&format!("/api/backups/{}/verify", b["id"].as_str().unwrap()), json!({})).await;
        let report: Value = r.json().await.unwrap();
        assert_eq!(report["ok"], true, "{report}");
    }
    server.kill().await;
}

pub async fn sigkill_during_backups_leaves_nothing_half_made_sqlite() {
    sigkill_during_backups(None, 20).await;
}

pub async fn sigkill_during_backups_leaves_nothing_half_made_postgres() {
    let url = CLUSTER.get().expect("cluster").create_database().await;
    sigkill_during_backups(Some(url), 10).await;
}

async fn product_names(server: &Server) -> Vec<String> {
    let mut names = Vec::new();
    let mut offset = 0;
    loop {
        let page = server.get(&format!("/api/products?limit=200&offset={offset}")).await;
        let items = page["items"].as_array().unwrap();
        names.extend(items.iter().map(|p| format!("{}:{}", p["sku"], p["version"])));
        if items.len() < 200 {
            break;
        }
        offset += 200;
    }
    names.sort();
    // Customers hold most of the bytes: their count shows a half-copied table.
    let customers = server.get("/api/customers?limit=1").await;
    names.push(format!("customers:{}", customers["total"]));
    names
}

async fn sigkill_during_restore(database_url: Option<String>, rounds: usize) {
    let data = tempfile::tempdir().unwrap();
    let mut server = start(data.path(), database_url.as_deref()).await;
    bulk(&server, 2000).await;
    let r = server.post("/api/backups", json!({})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let old_backup: Value = r.json().await.unwrap();
    let old = product_names(&server).await;
    // The "new" state: more products.
    bulk_more(&server).await;
    let mut new = product_names(&server).await;
    assert_ne!(old, new);
    // One restore run to its end tells how long the row-replacing phase (gate closed) lasts here;
    // the kills then land at random moments across it. (Used only to aim; nothing asserts on time.)
    let copy_ms = {
        let restore = tokio::spawn({
            let (client, base, id) =
                (server.client.clone(), server.base.clone(), old_backup["id"].as_str().unwrap().to_owned());
            async move { client.post(format!("{base}/api/backups/{id}/restore")).send().await.map(|r| r.status()) }
        });
        wait_for_gate(&server, &restore).await;
        let closed_at = std::time::Instant::now();
        assert_eq!(restore.await.unwrap().unwrap(), StatusCode::OK);
        let ms = closed_at.elapsed().as_millis() as u64;
        assert_eq!(product_names(&server).await, old);
        bulk_more(&server).await;
        new = product_names(&server).await;
        ms
    };
    let (mut saw_old, mut saw_new) = (false, false);
    let mut round = 0;
    // At least `rounds` rounds, and on until both outcomes were seen (the kill landing before and
    // after the commit), so the test shows both sides of the guarantee.
    while round < rounds || !(saw_old && saw_new) {
        assert!(round < rounds * 4, "after {round} rounds: old seen {saw_old}, new seen {saw_new}");
        let restore = tokio::spawn({
            let (client, base, id) =
                (server.client.clone(), server.base.clone(), old_backup["id"].as_str().unwrap().to_owned());
            async move { client.post(format!("{base}/api/backups/{id}/restore")).send().await.map(|r| r.status()) }
        });
        // The rows are replaced while the gate holds requests back (503 `restoring`): wait for that
        // moment by asking, then pull the plug at a random point of it (or just after).
        wait_for_gate(&server, &restore).await;
        tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % (copy_ms * 13 / 10 + 1))).await;
        server.kill().await;
        let _ = restore.await;
        server = start(data.path(), database_url.as_deref()).await;
        let now = product_names(&server).await;
        assert!(
            now == old || now == new,
            "round {round}: after SIGKILL during a restore the data is neither the old nor the new ({} products)",
            now.len()
        );
        round += 1;
        saw_new |= now == new;
        if now == old {
            saw_old = true;
            // Put the new state back for the next round.
            bulk_more(&server).await;
            new = product_names(&server).await;
        }
    }
    server.kill().await;
}

/// Returns once the restore has closed the request gate (or has finished).
async fn wait_for_gate<T>(server: &Server, restore: &tokio::task::JoinHandle<T>) {
    loop {
        if restore.is_finished() {
            return;
        }
        let r = server.client.get(format!("{}/api/status", server.base)).send().await.unwrap();
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            return;
        }
    }
}

async fn bulk_more(server: &Server) {
    for i in 0..50 {
        let r = server
            .post("/api/products", json!({"sku": format!("NEW-{}", Uuid::new_v4().simple()), "name": format!("nuevo {i}"), "price_cents": 1, "cost_cents": 0}))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
}

pub async fn sigkill_during_restore_leaves_old_or_new_sqlite() {
    sigkill_during_restore(None, 8).await;
}

pub async fn sigkill_during_restore_leaves_old_or_new_postgres() {
    let url = CLUSTER.get().expect("cluster").create_database().await;
    sigkill_during_restore(Some(url), 5).await;
}

// ------------------------------------------------------------------------------------------------
// The command line

fn cli(data: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mostrador"))
        .arg("backup")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("DATABASE_URL")
        .env_remove("MOSTRADOR_S3_BUCKET")
        .env("MOSTRADOR_BACKUP_SCHEDULE", "off")
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

pub async fn cli_creates_lists_verifies_restores_and_prunes() {
    let data = tempfile::tempdir().unwrap();
    let (ok, out) = cli(data.path(), &["create"]);
    assert!(ok, "{out}");
    let id = out.split_whitespace().nth(1).unwrap().to_owned();
    assert!(mostrador::backup::BackupId::parse(&id).is_some(), "{out}");

    // A row written after the backup (as the running server would).
    let db =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", data.path().join("mostrador.db").display())).await.unwrap();
    sqlx::query("INSERT INTO categories (id, name, created_at, updated_at) VALUES ('c1', 'después', 'x', 'x')")
        .execute(&db)
        .await
        .unwrap();

    let (ok, out) = cli(data.path(), &["list"]);
    assert!(ok && out.contains(&id) && out.contains("1 backup(s)"), "{out}");
    let (ok, out) = cli(data.path(), &["verify", &id]);
    assert!(ok && out.contains("verified"), "{out}");
    let (ok, out) = cli(data.path(), &["verify", "../../etc/passwd"]);
    assert!(!ok && out.contains("not a backup id"), "{out}");
    let (ok, out) = cli(data.path(), &["restore", &id]);
    assert!(ok && out.contains("restored"), "{out}");
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM categories").fetch_one(&db).await.unwrap();
    assert_eq!(n, 0, "restored while another connection had the database open");

    // Now: the backup, its pre-restore copy; keep 1 keeps the newest and the verified one.
    let (ok, out) = cli(data.path(), &["create"]);
    assert!(ok, "{out}");
    let (ok, out) = cli(data.path(), &["prune", "--backup-keep", "1"]);
    assert!(ok && out.contains("removed 1 backup(s)"), "{out}");
    let (_, out) = cli(data.path(), &["list"]);
    assert!(out.contains(&id) && out.contains("2 backup(s)"), "the verified one stays: {out}");
}

// ------------------------------------------------------------------------------------------------
// Schedule, and PostgreSQL tools that are missing or too old

/// Backups every second and a verification every two (cron with seconds), keep 2: scheduled backups
/// appear, the newest gets verified, retention runs after each.
pub async fn schedule_takes_verifies_and_prunes(app: TestApp) {
    let app = spawn_like(&app, |c| {
        c.backup.backup_schedule = "* * * * * *".into();
        c.backup.backup_verify_schedule = "*/2 * * * * *".into();
        c.backup.backup_keep = 2;
    })
    .await;
    app.login_admin().await;
    let mut seen = std::collections::BTreeSet::new();
    let mut verified = false;
    // Wait (up to a generous bound) for five scheduled backups and one verification.
    for _ in 0..600 {
        let listed = list(&app).await;
        let backups = listed["backups"].as_array().unwrap();
        for b in backups {
            assert_eq!(b["trigger"], "scheduled");
            seen.insert(b["id"].as_str().unwrap().to_owned());
        }
        verified |= backups.iter().any(|b| b["verified_at"].is_string());
        assert!(backups.len() <= 4, "retention keeps 2 (+ the newest verified, + one being made): {}", backups.len());
        if seen.len() >= 5 && verified {
            assert!(listed["totals"]["next_scheduled_at"].is_string());
            let (_, audit) = status_json(app.get("/api/audit?entity=backups").await).await;
            assert!(
                audit["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["username"] == "(scheduler)" && e["action"] == "prune"),
                "{audit}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("after 60 s: {} scheduled backups seen, verified: {verified}", seen.len());
}

pub async fn missing_or_old_pg_dump_is_a_clear_error() {
    let bin = tempfile::tempdir().unwrap();
    let url = CLUSTER.get().expect("cluster").create_database().await;
    let dir = bin.path().to_owned();
    let app = spawn_app_with(Engine::Postgres, Some(url), move |c| c.backup.pg_bin_dir = Some(dir)).await;
    app.login_admin().await;
    let (status, body) = status_json(app.client.post(app.url("/api/backups")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(code(&body), "pg_dump_missing");
    // A pg_dump older than the server.
    let script = bin.path().join("pg_dump");
    std::fs::write(&script, "#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (status, body) = status_json(app.client.post(app.url("/api/backups")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(code(&body), "pg_dump_too_old");
    assert!(body["error"]["message"].as_str().unwrap().contains("pg_dump 9"), "{body}");
    let listed = list(&app).await;
    assert_eq!(listed["totals"]["count"], 0);
    assert!(leftovers(&backup_dir(&listed)).is_empty());
}

/// Edited metadata (row counts that do not match the file) fails verification by name.
pub async fn edited_metadata_fails_the_row_count_check(app: TestApp) {
    app.login_admin().await;
    app.create_product("X", 1).await;
    let backup = create_backup(&app).await;
    let id = backup["id"].as_str().unwrap();
    let path = backup_dir(&list(&app).await).join(format!("{id}.json"));
    let mut meta: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    meta["row_counts"]["products"] = json!(2);
    std::fs::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();
    let (_, report) = status_json(app.post(&format!("/api/backups/{id}/verify"), &json!({})).await).await;
    assert_eq!(report["ok"], false);
    let last = report["checks"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["name"], "row_counts");
    assert_eq!(last["ok"], false);
    assert!(last["detail"].as_str().unwrap().contains("products: 1 rows, recorded 2"), "{last}");
}

/// An upload over `--backup-upload-limit` is 413 and leaves nothing behind; the ordinary body limit
/// (64 KiB in tests) does not apply to uploads.
pub async fn upload_over_the_limit_is_413(app: TestApp) {
    let app = spawn_like(&app, |c| c.backup.backup_upload_limit = 200 * 1024).await;
    app.login_admin().await;
    let r = app.client.post(app.url("/api/backups/upload")).body(vec![7u8; 300 * 1024]).send().await.unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(code(&body), "payload_too_large");
    // 100 KiB (over the JSON limit, under the upload limit) reaches the checks: not a backup.
    let r = app.client.post(app.url("/api/backups/upload")).body(vec![7u8; 100 * 1024]).send().await.unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "invalid_backup");
    let listed = list(&app).await;
    assert_eq!(listed["totals"]["count"], 0);
    assert!(leftovers(&backup_dir(&listed)).is_empty());
}

/// While a restore runs, other requests either succeed (before or after the swap) or get 503
/// `restoring` with Retry-After; never a 500, never a half-restored answer.
pub async fn requests_during_a_restore_succeed_or_get_503_restoring(app: TestApp) {
    app.login_admin().await;
    for i in 0..100 {
        let r = app.post("/api/customers", &json!({"name": format!("c{i}"), "notes": "x".repeat(1500)})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let backup = create_backup(&app).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for n in 0..3 {
        let (client, base, stop) = (app.client.clone(), app.address.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = if n == 0 {
                    client.post(format!("{base}/api/customers")).json(&json!({"name": "during"})).send().await.unwrap()
                } else {
                    client.get(format!("{base}/api/customers?limit=1")).send().await.unwrap()
                };
                let status = r.status();
                let retry = r.headers().get("retry-after").is_some();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                if status.is_success() {
                    if n != 0 {
                        let total = body["total"].as_i64().unwrap();
                        assert!(total >= 100, "a read saw {total} customers: a half-restored answer");
                    }
                } else {
                    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
                    assert_eq!(body["error"]["code"], "restoring");
                    assert!(retry);
                }
                seen.push(status);
            }
            seen
        }));
    }
    for _ in 0..3 {
        let (status, body) = status_json(
            app.post(&format!("/api/backups/{}/restore", backup["id"].as_str().unwrap()), &json!({})).await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in load {
        let seen = l.await.unwrap();
        assert!(!seen.is_empty());
    }
}

// ------------------------------------------------------------------------------------------------
// Hostile backups (issue #12): data, never code

/// A zstd bomb whose first bytes are the engine's magic: a raw block, then `gib` GiB of zeros as
/// RLE blocks of 128 KiB (4 bytes each). About 32 KiB per GiB; no content size in the header.
pub fn zstd_bomb(engine: Engine, gib: u64) -> Vec<u8> {
    let magic: &[u8] = if engine == Engine::Sqlite { b"SQLite format 3\0" } else { b"PGDMP" };
    // Frame header: magic, descriptor 0 (no content size, no checksum), window 128 KiB.
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3];
    let raw = (magic.len() as u32) << 3; // block type 0 (raw), not last
    out.extend_from_slice(&raw.to_le_bytes()[..3]);
    out.extend_from_slice(magic);
    let blocks = gib * 8192;
    for i in 0..blocks {
        let header = (131072u32 << 3) | (1 << 1) | u32::from(i + 1 == blocks);
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.push(0);
    }
    out
}

/// A downloaded backup, decompressed into `dir` (SQLite: a database file; PostgreSQL: an archive).
async fn unpacked(app: &TestApp, backup: &Value, dir: &std::path::Path) -> PathBuf {
    let bytes =
        app.get(&format!("/api/backups/{}/download", backup["id"].as_str().unwrap())).await.bytes().await.unwrap();
    let path = dir.join(format!("legit-{}", Uuid::new_v4().simple()));
    std::fs::write(&path, zstd::decode_all(&bytes[..]).unwrap()).unwrap();
    path
}

/// A copy of the SQLite backup `legit` with `ddl` run on it, compressed as a backup file.
/// (sqlx calls run in their own task with owned data: their futures are Send only that way.)
async fn doctored_sqlite(legit: &std::path::Path, ddl: &str) -> Vec<u8> {
    let (legit, ddl) = (legit.to_owned(), ddl.to_owned());
    tokio::spawn(async move {
        use sqlx::{ConnectOptions, Connection};
        let copy = legit.with_extension(format!("doctored-{}", Uuid::new_v4().simple()));
        std::fs::copy(&legit, &copy).unwrap();
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new().filename(&copy).connect().await.unwrap();
        sqlx::Executor::execute(&mut conn, ddl.as_str()).await.unwrap();
        conn.close().await.unwrap();
        zstd::encode_all(&std::fs::read(&copy).unwrap()[..], 3).unwrap()
    })
    .await
    .unwrap()
}

/// A pg_dump archive of the PostgreSQL backup `legit` restored into a new database of the test
/// cluster, with `ddl` run there first; compressed as a backup file.
async fn doctored_pg(legit: &std::path::Path, ddl: &str) -> Vec<u8> {
    let (legit, ddl) = (legit.to_owned(), ddl.to_owned());
    tokio::spawn(async move {
        use sqlx::Connection;
        let url = CLUSTER.get().unwrap().create_database().await;
        let bin = crate::postgres::bin_dir();
        let out = std::process::Command::new(bin.join("pg_restore"))
            .args(["--no-owner", "--no-acl", "-d", &url])
            .arg(&legit)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::Executor::execute(&mut conn, ddl.as_str()).await.unwrap();
        conn.close().await.unwrap();
        let file = legit.with_extension(format!("doctored-{}", Uuid::new_v4().simple()));
        let out = std::process::Command::new(bin.join("pg_dump"))
            .args(["-Fc", "--no-owner", "--no-acl", "-d", &url, "-f"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        zstd::encode_all(&std::fs::read(&file).unwrap()[..], 3).unwrap()
    })
    .await
    .unwrap()
}

/// One number or text from the live database (owned data in its own task, see above).
async fn scalar(db: &mostrador::db::Db, sql: String, bind: String) -> String {
    let pool = db.pool();
    tokio::spawn(async move {
        let row = sqlx::Executor::fetch_optional(&pool, sqlx::query(&sql).bind(bind)).await.unwrap();
        row.map(|r| r.try_get::<String, _>(0).or_else(|_| r.try_get::<i64, _>(0).map(|n| n.to_string())).unwrap())
            .unwrap_or_default()
    })
    .await
    .unwrap()
}

async fn upload_bytes(app: &TestApp, bytes: Vec<u8>) -> (StatusCode, Value) {
    status_json(app.client.post(app.url("/api/backups/upload")).body(bytes).send().await.unwrap()).await
}

/// The database role's own settings (ALTER ROLE … SET), as text.
async fn role_settings(db: &mostrador::db::Db) -> String {
    scalar(
        db,
        "SELECT COALESCE(string_agg(array_to_string(setconfig, ','), ';'), '') FROM pg_db_role_setting s \
         JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = current_user AND $1 = $1"
            .into(),
        String::new(),
    )
    .await
}

/// Removes what a role-altering function may have set (so a failing run leaves the cluster clean).
async fn reset_role(db: &mostrador::db::Db, tag: &str) {
    let pool = db.pool();
    let sql = format!("ALTER ROLE CURRENT_USER RESET mostrador.pwned_{tag}");
    let _ = tokio::spawn(async move { sqlx::Executor::execute(&pool, sql.as_str()).await.map(|_| ()) }).await;
}

/// After a refusal: nothing was listed, nothing left in the directory, the live rows are as they
/// were, and the next backup still runs and verifies.
async fn nothing_changed(app: &TestApp, before: &BTreeMap<String, Vec<String>>, listed_before: &Value) {
    let listed = list(app).await;
    assert_eq!(listed["totals"]["count"], listed_before["totals"]["count"], "a refused file is not listed");
    assert!(leftovers(&backup_dir(&listed)).is_empty(), "{:?}", leftovers(&backup_dir(&listed)));
    assert_eq!(&digest(&app.db, NOT_COMPARED).await, before, "a refused file changes no row");
    let next = create_backup(app).await;
    let (status, report) =
        status_json(app.post(&format!("/api/backups/{}/verify", next["id"].as_str().unwrap()), &json!({})).await).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], true, "the next backup still runs and verifies: {report}");
}

/// A function that alters the database role (ALTER ROLE … SET), run by a CHECK constraint of
/// `products` for each row a restore loads. The constraint is added while the function is harmless.
const PWN_DDL: &str = "CREATE FUNCTION pwn() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN true; END $$;
    ALTER TABLE products ADD CONSTRAINT products_pwn CHECK (pwn());
    CREATE OR REPLACE FUNCTION pwn() RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN EXECUTE format('ALTER ROLE %I SET mostrador.pwned_{tag} = %L', current_user, 'yes'); RETURN true; END $$;";

/// A few KB that decompress to 2 GiB: refused with 422 `backup_too_large` (the default cap is
/// 4 × the live database, at least 1 GiB), without unpacking it to disk; the next backup runs.
pub async fn zstd_bomb_upload_is_refused(app: TestApp) {
    app.login_admin().await;
    app.create_product("BOMB", 100).await;
    let listed_before = list(&app).await;
    let before = digest(&app.db, NOT_COMPARED).await;
    let bomb = zstd_bomb(app.engine, 2);
    assert!(bomb.len() < 200 * 1024);
    let started = std::time::Instant::now();
    let (status, body) = upload_bytes(&app, bomb).await;
    println!(
        "zstd bomb ({} engine): refused in {} ms",
        if app.engine == Engine::Sqlite { "sqlite" } else { "postgres" },
        started.elapsed().as_millis()
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "backup_too_large");
    assert!(body["error"]["message"].as_str().unwrap().contains("MOSTRADOR_BACKUP_MAX_RESTORE_BYTES"), "{body}");
    assert!(body["error"]["details"]["max_restore_bytes"].as_u64().unwrap() >= 1 << 30);
    nothing_changed(&app, &before, &listed_before).await;
}

/// Backup files with objects our migrations never make — a recursive view, a trigger, a table
/// whose name is SQL (quotes, semicolons, an ATTACH); on PostgreSQL also a function that alters
/// the database role, run by an index — are refused with 422 `backup_unexpected_objects`, and
/// none of it runs.
pub async fn hostile_backups_are_refused_and_nothing_runs(app: TestApp) {
    app.login_admin().await;
    app.create_product("LEGIT", 100).await;
    let legit_backup = create_backup(&app).await;
    let work = tempfile::tempdir().unwrap();
    let legit = unpacked(&app, &legit_backup, work.path()).await;
    let listed_before = list(&app).await;
    let before = digest(&app.db, NOT_COMPARED).await;
    let pwned = work.path().join("pwned.db");
    let tag = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let injection = format!(
        "CREATE TABLE \"a\"\" WHERE 0 GROUP BY 1; ATTACH DATABASE '{}' AS p; CREATE TABLE p.t (x); SELECT 1 --\" (x);",
        pwned.display()
    );
    let cases: Vec<(&str, String)> = match app.engine {
        Engine::Sqlite => vec![
            ("recursive view", "CREATE VIEW spin AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c;".into()),
            (
                "trigger",
                "CREATE TRIGGER cheap AFTER INSERT ON _sqlx_migrations BEGIN UPDATE products SET price_cents = 1; END; \
                 CREATE TRIGGER cheap2 AFTER DELETE ON products BEGIN DELETE FROM users; END;"
                    .into(),
            ),
            ("table named with SQL", injection),
            ("table replaced by a view", "DROP TABLE late_operations; CREATE VIEW late_operations AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c;".into()),
            ("index calling a function", "CREATE INDEX products_lower ON products (lower(name));".into()),
        ],
        Engine::Postgres => vec![
            (
                "function that alters the role, run by a CHECK constraint while the rows load",
                PWN_DDL.replace("{tag}", &tag),
            ),
            ("recursive view", "CREATE VIEW spin AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c;".into()),
            ("table named with SQL", "CREATE TABLE \"x\"\"; DROP TABLE products; --\" (a int);".into()),
        ],
    };
    let settings_before = if app.engine == Engine::Postgres { role_settings(&app.db).await } else { String::new() };
    for (what, ddl) in &cases {
        let file = match app.engine {
            Engine::Sqlite => doctored_sqlite(&legit, ddl).await,
            Engine::Postgres => doctored_pg(&legit, ddl).await,
        };
        let (status, body) = upload_bytes(&app, file).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
        assert_eq!(code(&body), "backup_unexpected_objects", "{what}: {body}");
        assert!(!pwned.exists(), "{what}: SQL from a table name ran (ATTACH made {})", pwned.display());
    }
    if app.engine == Engine::Postgres {
        let after = role_settings(&app.db).await;
        reset_role(&app.db, &tag).await;
        assert_eq!(after, settings_before, "the archive's function ran and altered the role");
        assert_eq!(scalar(&app.db, "SELECT COUNT(*) FROM pg_proc WHERE proname = $1".into(), "pwn".into()).await, "0");
        let scratch = scalar(
            &app.db,
            "SELECT COUNT(*) FROM pg_database WHERE datname LIKE current_database() || $1".into(),
            "\\_scr\\_%".into(),
        )
        .await;
        assert_eq!(scratch, "0", "no scratch database is left behind");
    }
    nothing_changed(&app, &before, &listed_before).await;
    // The legit file itself still goes in, and restores.
    let (status, body) = upload_bytes(&app, zstd::encode_all(&std::fs::read(&legit).unwrap()[..], 3).unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) =
        status_json(app.post(&format!("/api/backups/{}/restore", body["id"].as_str().unwrap()), &json!({})).await)
            .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// An upload that sends its headers and a few bytes, then nothing: a manual backup meanwhile runs
/// at once (the lock is taken only once a file has fully arrived), and the upload is cut off with
/// 503 `upload_stalled` after `--stall-timeout` (2 s here), leaving nothing behind.
pub async fn stalled_upload_blocks_no_backup_and_is_cut_off(app: TestApp) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_like(&app, |c| c.backup.stall_timeout_secs = 2).await;
    app.login_admin().await;
    let login = app.login_with(&Client::new(), "admin", crate::helpers::ADMIN_PASSWORD).await;
    let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST /api/backups/upload HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\nContent-Type: application/zstd\r\nContent-Length: 1000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]).await.unwrap();
    stream.flush().await.unwrap();
    let stalled_at = std::time::Instant::now();

    // Meanwhile a backup runs (bounded wait: on a blocked lock this fails instead of hanging).
    let r = app.client.post(app.url("/api/backups")).timeout(Duration::from_secs(20)).send().await;
    let r = r.expect("a manual backup is not held up by a stalled upload");
    assert_eq!(r.status(), StatusCode::CREATED);

    // The stalled upload gets its answer once the limit has passed.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(14).any(|w| w == b"upload_stalled") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the stalled upload was never cut off");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("upload_stalled"), "{answer}");
    println!("stalled upload cut off after {} ms (limit 2 s)", stalled_at.elapsed().as_millis());
    assert!(stalled_at.elapsed() >= Duration::from_secs(2));
    let listed = list(&app).await;
    assert_eq!(listed["totals"]["count"], 1);
    assert!(leftovers(&backup_dir(&listed)).is_empty(), "{:?}", leftovers(&backup_dir(&listed)));
    assert!(std::fs::read_dir(backup_dir(&listed)).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".incoming-")));
}

/// A standby takes shipments only through the same checks: a forged shipment with a bomb, or with
/// a trigger (SQLite) / a function altering the role (PostgreSQL), is refused with 422 and the
/// standby's data stays as the last good shipment left it.
pub async fn forged_shipments_are_refused_by_the_standby(app: TestApp) {
    const SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
    app.login_admin().await;
    app.create_product("SHIPPED", 100).await;
    let backup = create_backup(&app).await;
    let work = tempfile::tempdir().unwrap();
    let legit = unpacked(&app, &backup, work.path()).await;
    let standby = spawn_like(&app, |c| {
        c.ha.role = mostrador::config::NodeRole::Standby;
        c.ha.ha_secret = Some(SECRET.into());
    })
    .await;
    let ship = |bytes: Vec<u8>| {
        Client::new().post(standby.url("/api/ha/peer/shipments")).bearer_auth(SECRET).body(bytes).send()
    };
    let good = zstd::encode_all(&std::fs::read(&legit).unwrap()[..], 3).unwrap();
    let (status, body) = status_json(ship(good).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "a good shipment is restored: {body}");
    let before = digest(&standby.db, NOT_COMPARED).await;
    assert!(before["products"].iter().any(|p| p.contains("SHIPPED")));
    let settings_before = if app.engine == Engine::Postgres { role_settings(&standby.db).await } else { String::new() };

    let tag = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let forged = match app.engine {
        Engine::Sqlite => {
            doctored_sqlite(
                &legit,
                "CREATE TRIGGER wipe AFTER INSERT ON _sqlx_migrations BEGIN DELETE FROM products; END;",
            )
            .await
        }
        Engine::Postgres => doctored_pg(&legit, &PWN_DDL.replace("{tag}", &tag)).await,
    };
    for (what, bytes, expected) in
        [("bomb", zstd_bomb(app.engine, 2), "backup_too_large"), ("forged schema", forged, "backup_unexpected_objects")]
    {
        let (status, body) = status_json(ship(bytes).await.unwrap()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {body}");
        assert_eq!(code(&body), expected, "{what}: {body}");
        assert_eq!(digest(&standby.db, NOT_COMPARED).await, before, "{what}: the standby's data is unchanged");
    }
    if app.engine == Engine::Postgres {
        let after = role_settings(&standby.db).await;
        reset_role(&standby.db, &tag).await;
        assert_eq!(after, settings_before, "the archive's function ran on the standby");
    }
    let listed =
        status_json(Client::new().get(standby.url("/api/ha/peer/valve")).bearer_auth(SECRET).send().await.unwrap())
            .await;
    assert_eq!(listed.0, StatusCode::OK);
}
