//! Backups (issue #5): create, list, download, verify, restore, upload, retention, off-site copies
//! against a real S3-compatible server (moto), and SIGKILL of the real binary during backups and
//! restores.
//!
//! One file a concept; this one holds the helpers they share. The tests are re-exported here, so
//! `main.rs` lists them (and they are named) `backup::<test>` as before.

mod cli;
mod create;
mod hostile;
mod offsite;
mod restore;
mod retention;
mod sigkill;
mod upload;
mod verify;

use std::{collections::BTreeMap, path::PathBuf};

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Row;
use uuid::Uuid;

pub use cli::cli_creates_lists_verifies_restores_and_prunes;
pub use create::{
    bad_ids_are_400_and_unknown_ids_404, cashier_is_403_on_every_backup_route,
    create_list_get_and_download_match_the_checksum, missing_or_old_pg_dump_is_a_clear_error,
    repeated_create_with_the_same_key_replays,
};
pub use hostile::{
    forged_shipments_are_refused_by_the_standby, hostile_backups_are_refused_and_nothing_runs,
    zstd_bomb_upload_is_refused,
};
pub use offsite::{offsite_copy_and_fetch_back, offsite_copy_is_encrypted_with_age, offsite_key_comes_from_our_naming};
pub use restore::{
    backup_during_concurrent_writes_restores_consistent, backup_with_a_newer_schema_is_refused,
    devices_pull_the_restored_rows_and_later_changes, requests_during_a_restore_succeed_or_get_503_restoring,
    restore_round_trip_gives_identical_rows,
};
pub use retention::{retention_never_prunes_the_newest_verified_backup, schedule_takes_verifies_and_prunes};
pub use sigkill::{
    sigkill_during_backups_leaves_nothing_half_made_postgres, sigkill_during_backups_leaves_nothing_half_made_sqlite,
    sigkill_during_restore_leaves_old_or_new_postgres, sigkill_during_restore_leaves_old_or_new_sqlite,
};
pub use upload::{
    stalled_upload_blocks_no_backup_and_is_cut_off, upload_checks_the_file_and_restores_elsewhere,
    upload_over_the_limit_is_413,
};
pub use verify::{edited_metadata_fails_the_row_count_check, flipped_byte_fails_verification_and_restore};

use crate::helpers::{spawn_app_with, status_json, Engine, TestApp, CLUSTER};

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

/// A second app on the same engine as `app`, with a fresh database.
async fn spawn_like(app: &TestApp, adjust: impl FnOnce(&mut mostrador::config::ServeConfig)) -> TestApp {
    let url = match app.engine {
        Engine::Sqlite => None,
        Engine::Postgres => Some(CLUSTER.get().unwrap().create_database().await),
    };
    spawn_app_with(app.engine, url, adjust).await
}

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp-") || n.starts_with(".incoming-"))
        .collect()
}
