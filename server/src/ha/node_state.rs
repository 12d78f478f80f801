//! Small JSON values about this node (emergency toggle, last shipment, last reconciliation, failover)
//! in the node-local `node_state` table: a restore leaves them, a mirror does not receive them.

use serde_json::Value;

use crate::db::{now, Db};

pub async fn get(db: &Db, key: &str) -> Result<Option<Value>, sqlx::Error> {
    let raw: Option<String> =
        sqlx::query_scalar("SELECT value FROM node_state WHERE key = $1").bind(key).fetch_optional(&db.pool()).await?;
    Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
}

pub async fn put(db: &Db, key: &str, value: &Value) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO node_state (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value.to_string())
    .bind(now())
    .execute(&db.pool())
    .await?;
    Ok(())
}
