//! Generic SQL for catalog tables, in the subset both engines speak.

use app::model::Page;
use sqlx::{any::AnyArguments, query::Query, Any, AnyConnection};
use uuid::Uuid;

use super::{fields::SqlValue, CatalogEntity, META};
use crate::db::{now, Db};

fn select_list<E: CatalogEntity>() -> String {
    let mut cols: Vec<&str> = META.to_vec();
    cols.extend(E::FIELDS);
    cols.extend(E::READ_ONLY);
    cols.join(", ")
}

fn bind<'q>(q: Query<'q, Any, AnyArguments<'q>>, v: SqlValue) -> Query<'q, Any, AnyArguments<'q>> {
    match v {
        SqlValue::Text(t) => q.bind(t),
        SqlValue::Int(i) => q.bind(i),
        SqlValue::Bool(b) => q.bind(b),
    }
}

/// `%term%` for LIKE, with the wildcard characters of the term escaped.
fn like_pattern(term: &str) -> String {
    let escaped = term.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// Live rows matching `q`, created within `[created_from, created_to)`, a page of them.
pub async fn list<E: CatalogEntity>(
    db: &Db,
    q: Option<&str>,
    (created_from, created_to): (&str, &str),
    limit: i64,
    offset: i64,
) -> Result<Page<E>, sqlx::Error> {
    let mut filter = String::from("deleted_at IS NULL AND created_at >= $1 AND created_at < $2");
    let pattern = q.map(str::trim).filter(|s| !s.is_empty()).map(like_pattern);
    if pattern.is_some() {
        let ors: Vec<String> = E::SEARCH.iter().map(|c| format!("LOWER({c}) LIKE $3 ESCAPE '\\'")).collect();
        filter.push_str(&format!(" AND ({})", ors.join(" OR ")));
    }
    let n = if pattern.is_some() { 4 } else { 3 };
    let sql = format!(
        "SELECT {} FROM {} WHERE {filter} ORDER BY {}, id LIMIT ${} OFFSET ${}",
        select_list::<E>(),
        E::TABLE,
        E::ORDER_BY,
        n,
        n + 1
    );
    let count_sql = format!("SELECT COUNT(*) FROM {} WHERE {filter}", E::TABLE);
    let mut rows_q = sqlx::query(&sql).bind(created_from).bind(created_to);
    let mut count_q = sqlx::query_scalar::<_, i64>(&count_sql).bind(created_from).bind(created_to);
    if let Some(p) = &pattern {
        rows_q = rows_q.bind(p.clone());
        count_q = count_q.bind(p.clone());
    }
    let rows = rows_q.bind(limit).bind(offset).fetch_all(&db.pool()).await?;
    let total = count_q.fetch_one(&db.pool()).await?;
    let items = rows.iter().map(E::from_row).collect::<Result<_, _>>()?;
    Ok(Page { items, total, limit, offset })
}

/// The row, tombstoned or not.
pub async fn get<E: CatalogEntity>(conn: &mut AnyConnection, id: Uuid) -> Result<Option<E>, sqlx::Error> {
    let sql = format!("SELECT {} FROM {} WHERE id = $1", select_list::<E>(), E::TABLE);
    let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(conn).await?;
    row.as_ref().map(E::from_row).transpose()
}

/// Every row not deleted, for a small table read whole (the tax rates, for each sale).
pub async fn live_rows<E: CatalogEntity>(conn: &mut AnyConnection) -> Result<Vec<E>, sqlx::Error> {
    let sql = format!("SELECT {} FROM {} WHERE deleted_at IS NULL", select_list::<E>(), E::TABLE);
    sqlx::query(&sql).fetch_all(conn).await?.iter().map(E::from_row).collect()
}

/// The rows with these ids (tombstones included), for the sync feed.
pub async fn get_many<E: CatalogEntity>(conn: &mut AnyConnection, ids: &[Uuid]) -> Result<Vec<E>, sqlx::Error> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!("SELECT {} FROM {} WHERE id IN ({})", select_list::<E>(), E::TABLE, params.join(", "));
        let mut q = sqlx::query(&sql);
        for id in chunk {
            q = q.bind(id.to_string());
        }
        for row in q.fetch_all(&mut *conn).await? {
            out.push(E::from_row(&row)?);
        }
    }
    Ok(out)
}

/// Keeps the row as it is at its current version (for conflict details).
pub async fn save_revision<E: CatalogEntity>(conn: &mut AnyConnection, entity: &E) -> Result<(), sqlx::Error> {
    let snapshot = serde_json::to_string(entity).unwrap_or_default();
    sqlx::query("INSERT INTO revisions (entity, entity_id, version, snapshot) VALUES ($1, $2, $3, $4)")
        .bind(E::TABLE)
        .bind(entity.id().to_string())
        .bind(entity.version())
        .bind(snapshot)
        .execute(conn)
        .await?;
    Ok(())
}

/// The row as it was at `version`, if kept.
pub async fn revision<E: CatalogEntity>(
    conn: &mut AnyConnection,
    id: Uuid,
    version: i64,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    let snapshot: Option<String> =
        sqlx::query_scalar("SELECT snapshot FROM revisions WHERE entity = $1 AND entity_id = $2 AND version = $3")
            .bind(E::TABLE)
            .bind(id.to_string())
            .bind(version)
            .fetch_optional(conn)
            .await?;
    Ok(snapshot.and_then(|s| serde_json::from_str(&s).ok()))
}

/// Whether `id` names a live row of `table` (for reference checks).
pub async fn exists(conn: &mut AnyConnection, table: &str, id: &str) -> Result<bool, sqlx::Error> {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE id = $1 AND deleted_at IS NULL");
    let n: i64 = sqlx::query_scalar(&sql).bind(id).fetch_one(conn).await?;
    Ok(n > 0)
}

pub async fn insert<E: CatalogEntity>(conn: &mut AnyConnection, entity: &E) -> Result<E, sqlx::Error> {
    let cols = E::FIELDS.join(", ");
    let params: Vec<String> = (0..E::FIELDS.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "INSERT INTO {} (id, version, created_at, updated_at, {cols}) VALUES ($1, 1, $2, $2, {}) \
         RETURNING {}",
        E::TABLE,
        params.join(", "),
        select_list::<E>()
    );
    let mut q = sqlx::query(&sql).bind(entity.id().to_string()).bind(now());
    for v in entity.values() {
        q = bind(q, v);
    }
    E::from_row(&q.fetch_one(conn).await?)
}

/// Writes `entity`'s fields if the row is still at `base_version`; `None` when it is not (someone
/// else wrote in between), so the caller answers with a conflict instead of overwriting.
pub async fn update<E: CatalogEntity>(
    conn: &mut AnyConnection,
    entity: &E,
    base_version: i64,
) -> Result<Option<E>, sqlx::Error> {
    let sets: Vec<String> = E::FIELDS.iter().enumerate().map(|(i, c)| format!("{c} = ${}", i + 4)).collect();
    let sql = format!(
        "UPDATE {} SET version = version + 1, updated_at = $1, {} \
         WHERE id = $2 AND version = $3 AND deleted_at IS NULL RETURNING {}",
        E::TABLE,
        sets.join(", "),
        select_list::<E>()
    );
    let mut q = sqlx::query(&sql).bind(now()).bind(entity.id().to_string()).bind(base_version);
    for v in entity.values() {
        q = bind(q, v);
    }
    q.fetch_optional(conn).await?.as_ref().map(E::from_row).transpose()
}

/// Soft delete (a tombstone that sync can tell clients about), only at `base_version`.
pub async fn soft_delete<E: CatalogEntity>(
    conn: &mut AnyConnection,
    id: Uuid,
    base_version: i64,
) -> Result<Option<E>, sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET version = version + 1, updated_at = $1, deleted_at = $1 \
         WHERE id = $2 AND version = $3 AND deleted_at IS NULL RETURNING {}",
        E::TABLE,
        select_list::<E>()
    );
    let row = sqlx::query(&sql).bind(now()).bind(id.to_string()).bind(base_version).fetch_optional(conn).await?;
    row.as_ref().map(E::from_row).transpose()
}

pub async fn count_live(db: &Db, table: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE deleted_at IS NULL")).fetch_one(&db.pool()).await
}
