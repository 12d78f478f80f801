//! Retention, by hand and on the schedule: pruning keeps the newest `--backup-keep` backups and
//! never the newest verified one; the scheduler takes, verifies and prunes by itself.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use super::{create_backup, list, spawn_like};
use crate::helpers::{status_json, TestApp};

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
