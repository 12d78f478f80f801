//! Taking a backup and what the API shows of it: list, get, download with its checksum, delete;
//! who may use the routes, which ids are valid, the Idempotency-Key replay, and a clear error when
//! PostgreSQL's pg_dump is missing or too old.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{backup_dir, create_backup, data_file, leftovers, list, sale, shop};
use crate::helpers::{code, new_client, spawn_app_with, status_json, Engine, TestApp, CLUSTER};

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
