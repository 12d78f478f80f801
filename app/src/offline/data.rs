//! What pages read and write. Reads come from IndexedDB with the outbox laid over them (so they work
//! offline and search is instant); writes become outbox items (so they survive anything) and are sent
//! at once when there is a connection. One code path online and offline.

use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::outbox::{Action, ItemError, OutboxItem};
use super::overlay::overlay;
use super::store;
use super::sync::{self, now_iso, Outcome, SyncState};
use super::write::CatalogWrite;
use crate::api::ApiError;
use crate::model::Page;

impl From<ItemError> for ApiError {
    fn from(e: ItemError) -> ApiError {
        ApiError { status: e.status, code: e.code, message: e.message, details: e.details, retry_after: None }
    }
}

fn local_error(e: store::StoreError) -> ApiError {
    ApiError { status: 0, code: "local_storage".into(), message: e.to_string(), details: None, retry_after: None }
}

/// Every row of `table` as this device should show it.
pub async fn rows(table: &str) -> Result<Vec<Value>, ApiError> {
    let base = store::all(table).await.map_err(local_error)?;
    let items = store::outbox_all().await.map_err(local_error)?;
    Ok(overlay(table, base, &items))
}

/// Where the shop's settings are kept on the device (the `meta` store), refreshed by every pull.
pub const SETTINGS_KEY: &str = "shop_settings";

/// The shop's settings as this device last heard them; asked of the server (and kept) when it has
/// none yet. None offline on a device that never pulled.
pub async fn shop_settings() -> Option<crate::model::ShopSettings> {
    let kept: Option<crate::model::ShopSettings> =
        store::meta_get(SETTINGS_KEY).await.ok().flatten().and_then(|v| serde_json::from_value(v).ok());
    if let Some(s) = &kept {
        crate::region::adopt(s);
        return kept;
    }
    let fresh = crate::api::settings().await.ok()?;
    keep_settings(&fresh).await;
    Some(fresh)
}

/// Keeps `settings` as this device's copy (what its receipts print), and writes money and times by them.
pub async fn keep_settings(settings: &crate::model::ShopSettings) {
    crate::region::adopt(settings);
    if let Ok(v) = serde_json::to_value(settings) {
        let _ = store::apply(store::Changes { meta: vec![(SETTINGS_KEY.into(), v)], ..Default::default() }).await;
    }
}

/// Lower case without accents, so "cafe" finds "Café".
pub fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'á' | 'à' | 'ä' | 'â' => 'a',
            'é' | 'è' | 'ë' | 'ê' => 'e',
            'í' | 'ì' | 'ï' | 'î' => 'i',
            'ó' | 'ò' | 'ö' | 'ô' => 'o',
            'ú' | 'ù' | 'ü' | 'û' => 'u',
            other => other,
        })
        .collect()
}

const SEARCHED: [&str; 7] = ["name", "sku", "barcode", "tax_id", "email", "phone", "description"];

/// Does `row` match every word of `q` (in any searched field)?
pub fn matches(row: &Value, q: &str) -> bool {
    let haystack: String =
        SEARCHED.iter().filter_map(|f| row.get(*f).and_then(Value::as_str)).map(fold).collect::<Vec<_>>().join(" ");
    fold(q).split_whitespace().all(|w| haystack.contains(w))
}

/// Filters, sorts by name and pages rows (the same contract as the API's list).
pub fn page_of(mut rows: Vec<Value>, q: &str, limit: i64, offset: i64) -> (Vec<Value>, i64) {
    rows.retain(|r| matches(r, q));
    rows.sort_by_key(|r| fold(r.get("name").and_then(Value::as_str).unwrap_or_default()));
    let total = rows.len() as i64;
    let items = rows.into_iter().skip(offset.max(0) as usize).take(limit.max(0) as usize).collect();
    (items, total)
}

pub async fn list<R: DeserializeOwned>(table: &str, q: &str, limit: i64, offset: i64) -> Result<Page<R>, ApiError> {
    let (items, total) = page_of(rows(table).await?, q, limit, offset);
    let items = items.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect();
    Ok(Page { items, total, limit, offset })
}

/// One row as this device should show it. A row the local copy does not have yet (the first pull is
/// still on its way) is asked of the server, and kept.
pub async fn get(table: &str, id: &str) -> Result<Value, ApiError> {
    let local = rows(table).await?.into_iter().find(|r| r.get("id").and_then(Value::as_str) == Some(id));
    if let Some(row) = local {
        return Ok(row);
    }
    let row = crate::api::get(table, id).await?;
    if store::TABLES.contains(&table) {
        let _ = store::put_rows(table, std::slice::from_ref(&row)).await;
    }
    Ok(row)
}

/// Fields every row of a catalog table has, for a row created here before the server has it.
fn catalog_preview(table: &str, id: Uuid, fields: &Map<String, Value>) -> Value {
    let now = now_iso();
    let mut row = match table {
        "products" => json!({"barcode": null, "category_id": null, "stock": 0,
            "low_stock_threshold": null, "active": true, "cost_cents": 0, "price_cents": 0}),
        "customers" => json!({"tax_id": null, "email": null, "phone": null, "notes": null}),
        "categories" => json!({"description": null}),
        _ => json!({}),
    };
    let obj = row.as_object_mut().expect("object");
    for (k, v) in fields {
        obj.insert(k.clone(), v.clone());
    }
    obj.insert("id".into(), json!(id));
    obj.insert("version".into(), json!(1));
    obj.insert("created_at".into(), json!(now));
    obj.insert("updated_at".into(), json!(now));
    obj.insert("deleted_at".into(), Value::Null);
    row
}

/// The id and version of the row an edit or delete is based on.
fn id_and_version(row: &Value) -> (Uuid, i64) {
    let id = row.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_default();
    (id, row.get("version").and_then(Value::as_i64).unwrap_or(1))
}

fn label_of(row: &Value) -> String {
    row.get("name").and_then(Value::as_str).unwrap_or_default().to_string()
}

fn user_of(state: SyncState) -> Result<Uuid, ApiError> {
    use leptos::prelude::GetUntracked;
    state.user.get_untracked().ok_or(ApiError {
        status: 401,
        code: "unauthorized".into(),
        message: String::new(),
        details: None,
        retry_after: None,
    })
}

/// Creates a catalog row (id chosen here, so anything created offline can refer to it).
/// `replacing` is the failed item this form sent before, if any: it is edited, never duplicated.
pub async fn create(
    state: SyncState,
    table: &str,
    fields: Map<String, Value>,
    replacing: Option<OutboxItem>,
) -> Result<(Outcome, OutboxItem), ApiError> {
    let user = user_of(state)?;
    let id = replacing
        .as_ref()
        .map(|i| i.entity_id)
        .or_else(|| fields.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()))
        .unwrap_or_else(Uuid::new_v4);
    let preview = catalog_preview(table, id, &fields);
    let mut it =
        OutboxItem::new(user, &CatalogWrite { table, action: Action::Create, id, version: 1, fields: Some(fields) });
    if let Some(old) = replacing {
        it.seq = old.seq;
        it.created_at = old.created_at;
    }
    it.label = label_of(&preview);
    it.preview = Some(preview);
    sync::submit(state, it).await.map_err(local_error)
}

/// Sends only `changes`, based on the version of `base` (the row the person edited).
pub async fn patch(
    state: SyncState,
    table: &str,
    base: &Value,
    changes: Map<String, Value>,
    replacing: Option<OutboxItem>,
) -> Result<(Outcome, OutboxItem), ApiError> {
    let user = user_of(state)?;
    let (id, version) = id_and_version(base);
    let mut it =
        OutboxItem::new(user, &CatalogWrite { table, action: Action::Update, id, version, fields: Some(changes) });
    if let Some(old) = replacing {
        it.seq = old.seq;
        it.created_at = old.created_at;
    }
    it.base = Some(base.clone());
    it.label = label_of(base);
    sync::submit(state, it).await.map_err(local_error)
}

pub async fn delete(state: SyncState, table: &str, base: &Value) -> Result<(Outcome, OutboxItem), ApiError> {
    let user = user_of(state)?;
    let (id, version) = id_and_version(base);
    let mut it = OutboxItem::new(user, &CatalogWrite { table, action: Action::Delete, id, version, fields: None });
    it.base = Some(base.clone());
    it.label = label_of(base);
    sync::submit(state, it).await.map_err(local_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_ignores_case_and_accents_and_needs_every_word() {
        let row = json!({"name": "Café Molido 500 g", "sku": "CAF-500"});
        assert!(matches(&row, "cafe"));
        assert!(matches(&row, "MOLIDO caf-500"));
        assert!(!matches(&row, "cafe te"));
        assert!(matches(&row, ""));
    }

    #[test]
    fn pages_sorted_by_name() {
        let rows = vec![json!({"name": "b"}), json!({"name": "Á"}), json!({"name": "c"})];
        let (items, total) = page_of(rows, "", 2, 1);
        assert_eq!(total, 3);
        assert_eq!(items, vec![json!({"name": "b"}), json!({"name": "c"})]);
    }
}
