//! Restoring into the running server: the rows come back exactly, devices pull them and every later
//! change, backups taken under concurrent writes restore consistent, a newer schema is refused, and
//! requests during a restore succeed or get 503 `restoring`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{backup_dir, create_backup, digest, list, sale, shop, NOT_COMPARED};
use crate::helpers::{code, status_json, TestApp};

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
