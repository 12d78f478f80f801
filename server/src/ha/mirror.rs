//! `mostrador mirror init`: sets up the failover mirror with PostgreSQL logical replication.
//! 1. both databases are migrated (logical replication copies rows, not the schema);
//! 2. the primary publishes every table of the shop (`mostrador_mirror`), but not the node-local
//!    ones (`node_state`, `alerts`) or the migrations table;
//! 3. the mirror's tables are emptied and it subscribes, copying the current rows first.
//!
//! Run it once, and again to seed a mirror that diverged after a failback. The primary needs
//! `wal_level = logical`; the mirror's PostgreSQL must reach the primary (`--publisher-url`).

use sqlx::{postgres::PgConnection, Connection};

use super::failover::STATE_KEY;
use crate::{cli::CliResult, config::DatabaseConfig, db::Db};

pub const PUBLICATION: &str = "mostrador_mirror";
pub const SUBSCRIPTION: &str = "mostrador_mirror";
const NOT_PUBLISHED: [&str; 3] = ["_sqlx_migrations", "node_state", "alerts"];

pub async fn init(primary: &DatabaseConfig, mirror_url: &str, publisher_url: Option<&str>) -> CliResult {
    let primary_url = primary
        .database_url
        .as_deref()
        .filter(|u| u.starts_with("postgres"))
        .ok_or("the mirror needs PostgreSQL: set DATABASE_URL")?;
    // 1. Schema on both sides.
    let primary_db = Db::connect(primary).await?;
    let mirror_db =
        Db::connect(&DatabaseConfig { data_dir: primary.data_dir.clone(), database_url: Some(mirror_url.to_owned()) })
            .await?;
    let mut p = PgConnection::connect(primary_url).await?;
    let mut m = PgConnection::connect(mirror_url).await?;
    let level: String = sqlx::query_scalar("SHOW wal_level").fetch_one(&mut p).await?;
    if level != "logical" {
        return Err(format!("the primary's wal_level is {level}: set wal_level = logical and restart it").into());
    }
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
            .fetch_all(&mut p)
            .await?
            .into_iter()
            .filter(|t: &String| !NOT_PUBLISHED.contains(&t.as_str()))
            .collect();
    let list = tables.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ");
    // 2. The publication (re-created, so its table list follows the schema).
    sqlx::raw_sql(&format!("DROP PUBLICATION IF EXISTS {PUBLICATION}")).execute(&mut p).await?;
    sqlx::raw_sql(&format!("CREATE PUBLICATION {PUBLICATION} FOR TABLE {list}")).execute(&mut p).await?;
    // 3. A fresh subscription on empty tables.
    let exists: Option<String> = sqlx::query_scalar("SELECT subname::text FROM pg_subscription WHERE subname = $1")
        .bind(SUBSCRIPTION)
        .fetch_optional(&mut m)
        .await?;
    if exists.is_some() {
        // Detach the slot first: the primary's slot is dropped below, whatever state the link is in.
        sqlx::raw_sql(&format!("ALTER SUBSCRIPTION {SUBSCRIPTION} DISABLE")).execute(&mut m).await?;
        sqlx::raw_sql(&format!("ALTER SUBSCRIPTION {SUBSCRIPTION} SET (slot_name = NONE)")).execute(&mut m).await?;
        sqlx::raw_sql(&format!("DROP SUBSCRIPTION {SUBSCRIPTION}")).execute(&mut m).await?;
    }
    let _ = sqlx::raw_sql(&format!(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{SUBSCRIPTION}' AND NOT active"
    ))
    .execute(&mut p)
    .await;
    sqlx::raw_sql(&format!("TRUNCATE {list}")).execute(&mut m).await?;
    let conninfo = publisher_url.unwrap_or(primary_url).replace('\'', "''");
    sqlx::raw_sql(&format!("CREATE SUBSCRIPTION {SUBSCRIPTION} CONNECTION '{conninfo}' PUBLICATION {PUBLICATION}"))
        .execute(&mut m)
        .await?;
    // Both sides forget an earlier failover.
    for db in [&primary_db, &mirror_db] {
        sqlx::query("DELETE FROM node_state WHERE key = $1").bind(STATE_KEY).execute(&db.pool()).await?;
    }
    println!(
        "mirror set up: {} tables published as {PUBLICATION}; the mirror copies them now (subscription {SUBSCRIPTION})",
        tables.len()
    );
    Ok(())
}
