//! Hostile backup files (issue #12): data, never code. A zstd bomb, and files with objects our
//! migrations never make (triggers, recursive views, SQL in a table name, a function altering the
//! role), are refused by an upload and by a standby's shipment alike, and none of it runs.

use std::{collections::BTreeMap, path::PathBuf};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;
use uuid::Uuid;

use super::{backup_dir, create_backup, digest, leftovers, list, spawn_like, NOT_COMPARED};
use crate::helpers::{code, status_json, Engine, TestApp, CLUSTER};

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
