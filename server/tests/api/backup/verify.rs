//! Verification: a flipped byte fails the checksum (and a restore of it is refused, changing
//! nothing); edited metadata fails the row-count check by name.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{backup_dir, create_backup, data_file, digest, list, sale, shop, NOT_COMPARED};
use crate::helpers::{code, status_json, TestApp};

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
