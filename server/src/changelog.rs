//! The change log: which rows of the synced tables changed, numbered in commit order. A write
//! transaction (`idempotency::WriteTx`) publishes its changes here last; devices pull after a cursor
//! (`sync::feed`); a restore or a failback moves the numbering past every cursor handed out and
//! publishes everything again (`backup::engine`, `ha::failover`).

use sqlx::AnyConnection;

/// Gives this transaction's changes the next sequence number. Must be the last statement before the
/// commit: the row lock on `sync_state` is held until then, so numbers are taken in commit order.
pub async fn publish(conn: &mut AnyConnection, changes: &[(&'static str, String)]) -> Result<(), sqlx::Error> {
    if changes.is_empty() {
        return Ok(());
    }
    let seq: i64 = sqlx::query_scalar("UPDATE sync_state SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq")
        .fetch_one(&mut *conn)
        .await?;
    let mut seen = std::collections::HashSet::new();
    for (entity, id) in changes {
        if seen.insert((entity, id)) {
            sqlx::query("INSERT INTO change_log (seq, entity, entity_id) VALUES ($1, $2, $3)")
                .bind(seq)
                .bind(*entity)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// Moves the feed past `floor` — cursors another database handed out (the mirror's, after a
/// failback) — and publishes every synced row at the new number, in one transaction, as a restore
/// does: devices then fetch the rows again and miss no later change.
pub fn move_past(pool: &sqlx::AnyPool, floor: i64) -> futures::future::BoxFuture<'_, Result<(), sqlx::Error>> {
    use futures::FutureExt;
    async move {
        let mut tx = pool.begin().await?;
        for statement in republish_everything(floor) {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        tx.commit().await
    }
    .boxed()
}

/// Devices pull changes after a cursor (`sync_state.last_seq`). The restored feed is older than the
/// cursors devices already hold, so, inside the restore's transaction, the feed moves on past the
/// live position and every restored catalog row is published at that new number: devices then
/// refetch the restored rows, and later changes get numbers above every cursor handed out.
/// (Change_log rows are not counted against the backup for that reason: see `backup::engine::comparable`.)
pub fn republish<S: AsRef<str>>(tables: &[S], live_last_seq: Option<i64>) -> Vec<String> {
    let Some(before) = live_last_seq else { return Vec::new() };
    let has = |t: &str| tables.iter().any(|x| x.as_ref() == t);
    if !has("change_log") {
        return Vec::new();
    }
    let mut out = vec![format!(
        "UPDATE sync_state SET last_seq = (CASE WHEN last_seq > {before} THEN last_seq ELSE {before} END) + 1 WHERE id = 1"
    )];
    for entity in SYNCED {
        if has(entity) {
            out.push(format!(
                "INSERT INTO change_log (seq, entity, entity_id) SELECT (SELECT last_seq FROM sync_state WHERE id = 1), '{entity}', id FROM \"{entity}\""
            ));
        }
    }
    out
}

/// `republish` for a feed that must move past `floor` (cursors another database handed out: the
/// mirror's, after a failback), with every synced table.
fn republish_everything(floor: i64) -> Vec<String> {
    let mut tables = vec!["change_log"];
    tables.extend_from_slice(SYNCED);
    republish(&tables, Some(floor))
}

/// Tables whose rows devices keep (what /api/sync/pull serves).
const SYNCED: &[&str] = &app::wire::SYNCED_TABLES;
