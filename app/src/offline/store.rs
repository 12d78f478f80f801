//! The browser's IndexedDB database `mostrador`: the server's rows as last pulled (one object store per
//! table), the outbox of writes not yet confirmed, and a few settings (`meta`).
//!
//! Rows are kept exactly as the server sent them; what this device has queued is laid over them at read
//! time (`overlay.rs`), so a pull can never wipe out a pending change and a confirmed change is never
//! counted twice. On the server (SSR) every call answers `Err`: nothing there reads IndexedDB.

use serde_json::Value;

use super::outbox::OutboxItem;

pub const DB_NAME: &str = "mostrador";
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
// 2: the `tax_rates` and `refunds` stores. The upgrade creates whichever stores are missing.
const DB_VERSION: u32 = 2;

/// Object stores of server rows, keyed by `id`: the tables of the sync feed
/// (`crate::wire::SYNCED_TABLES`), today's sales, and the refunds this device made.
pub const TABLES: [&str; 8] =
    ["categories", "products", "customers", "quotes", "cash_sessions", "tax_rates", "sales", "refunds"];
pub const OUTBOX: &str = "outbox";
/// This device's register in `meta`: `{code, device_id, next}` (the next receipt number to give).
pub const REGISTER: &str = "register";
pub const META: &str = "meta";

#[derive(Clone, Debug, PartialEq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "local storage: {}", self.0)
    }
}

/// What one pull page changes: rows to put and ids to delete, per table.
#[derive(Default, Debug)]
pub struct Changes {
    pub put: Vec<(&'static str, Value)>,
    pub delete: Vec<(&'static str, String)>,
    pub meta: Vec<(String, Value)>,
    /// Outbox entries with their new state (sent, failed, rebased).
    pub outbox_put: Vec<OutboxItem>,
    /// Outbox entries (by seq) the server has confirmed and this data now includes.
    pub outbox_delete: Vec<u64>,
}

pub use imp::*;

#[cfg(feature = "hydrate")]
mod imp {
    use std::cell::RefCell;
    use std::rc::Rc;

    use idb::{Database, DatabaseEvent, Factory, KeyPath, ObjectStoreParams, TransactionMode};
    use serde::Serialize;
    use serde_json::Value;
    use wasm_bindgen::JsValue;

    use super::*;

    thread_local! {
        static DB: RefCell<Option<Rc<Database>>> = const { RefCell::new(None) };
        /// This tab's copy of the outbox, so screens do not re-read and re-decode the whole queue from
        /// IndexedDB on every change (that made each sale slower the longer a device stayed offline).
        /// Every write of this tab updates it after its transaction commits; a message from another tab
        /// drops it; the sync engine reads IndexedDB itself, under its lock.
        static OUTBOX_CACHE: RefCell<Option<Vec<OutboxItem>>> = const { RefCell::new(None) };
    }

    fn cache_update(f: impl FnOnce(&mut Vec<OutboxItem>)) {
        OUTBOX_CACHE.with(|c| {
            if let Some(items) = c.borrow_mut().as_mut() {
                f(items);
            }
        });
    }

    fn cache_put(items: &mut Vec<OutboxItem>, item: &OutboxItem) {
        match items.iter_mut().find(|i| i.seq == item.seq) {
            Some(slot) => *slot = item.clone(),
            None => {
                items.push(item.clone());
                items.sort_by_key(|i| i.seq);
            }
        }
    }

    /// Forget this tab's copy (another tab changed the outbox).
    pub fn outbox_cache_drop() {
        OUTBOX_CACHE.with(|c| *c.borrow_mut() = None);
    }

    fn err(e: impl std::fmt::Debug) -> StoreError {
        StoreError(format!("{e:?}"))
    }

    fn to_js<T: Serialize>(v: &T) -> Result<JsValue, StoreError> {
        v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(err)
    }

    fn from_js<T: serde::de::DeserializeOwned>(v: JsValue) -> Result<T, StoreError> {
        serde_wasm_bindgen::from_value(v).map_err(err)
    }

    async fn db() -> Result<Rc<Database>, StoreError> {
        if let Some(db) = DB.with(|d| d.borrow().clone()) {
            return Ok(db);
        }
        let factory = Factory::new().map_err(err)?;
        let mut request = factory.open(DB_NAME, Some(DB_VERSION)).map_err(err)?;
        request.on_upgrade_needed(|event| {
            let Ok(db) = event.database() else { return };
            let names = db.store_names();
            for table in TABLES {
                if !names.iter().any(|n| n == table) {
                    let mut p = ObjectStoreParams::new();
                    p.key_path(Some(KeyPath::new_single("id")));
                    let _ = db.create_object_store(table, p);
                }
            }
            if !names.iter().any(|n| n == OUTBOX) {
                // Auto-increment `seq`: getAll returns the queue in the order it was written.
                let mut p = ObjectStoreParams::new();
                p.key_path(Some(KeyPath::new_single("seq")));
                p.auto_increment(true);
                let _ = db.create_object_store(OUTBOX, p);
            }
            if !names.iter().any(|n| n == META) {
                let _ = db.create_object_store(META, ObjectStoreParams::new());
            }
        });
        let mut database = request.await.map_err(err)?;
        // Another tab upgrading the schema: let it, this tab reopens on its next call.
        database.on_version_change(|_| DB.with(|d| *d.borrow_mut() = None));
        let database = Rc::new(database);
        DB.with(|d| *d.borrow_mut() = Some(database.clone()));
        Ok(database)
    }

    pub async fn all(table: &str) -> Result<Vec<Value>, StoreError> {
        let db = db().await?;
        let tx = db.transaction(&[table], TransactionMode::ReadOnly).map_err(err)?;
        let store = tx.object_store(table).map_err(err)?;
        let rows = store.get_all(None, None).map_err(err)?.await.map_err(err)?;
        rows.into_iter().map(from_js).collect()
    }

    pub async fn get(table: &str, id: &str) -> Result<Option<Value>, StoreError> {
        let db = db().await?;
        let tx = db.transaction(&[table], TransactionMode::ReadOnly).map_err(err)?;
        let store = tx.object_store(table).map_err(err)?;
        let row = store.get(JsValue::from_str(id)).map_err(err)?.await.map_err(err)?;
        row.map(from_js).transpose()
    }

    pub async fn put_rows(table: &str, rows: &[Value]) -> Result<(), StoreError> {
        let db = db().await?;
        let tx = db.transaction(&[table], TransactionMode::ReadWrite).map_err(err)?;
        let store = tx.object_store(table).map_err(err)?;
        for row in rows {
            store.put(&to_js(row)?, None).map_err(err)?.await.map_err(err)?;
        }
        tx.commit().map_err(err)?.await.map_err(err)?;
        Ok(())
    }

    /// One pull page (or one push answer) in one transaction: the data and the outbox entries it
    /// supersedes change together, so a reader never sees a confirmed sale counted twice.
    pub async fn apply(changes: Changes) -> Result<(), StoreError> {
        let db = db().await?;
        let mut names: Vec<&str> = TABLES.to_vec();
        names.push(OUTBOX);
        names.push(META);
        let tx = db.transaction(&names, TransactionMode::ReadWrite).map_err(err)?;
        for (table, row) in &changes.put {
            let store = tx.object_store(table).map_err(err)?;
            store.put(&to_js(row)?, None).map_err(err)?.await.map_err(err)?;
        }
        for (table, id) in &changes.delete {
            let store = tx.object_store(table).map_err(err)?;
            store.delete(JsValue::from_str(id)).map_err(err)?.await.map_err(err)?;
        }
        let meta = tx.object_store(META).map_err(err)?;
        for (key, value) in &changes.meta {
            meta.put(&to_js(value)?, Some(&JsValue::from_str(key))).map_err(err)?.await.map_err(err)?;
        }
        let outbox = tx.object_store(OUTBOX).map_err(err)?;
        for item in &changes.outbox_put {
            outbox.put(&to_js(item)?, None).map_err(err)?.await.map_err(err)?;
        }
        for seq in &changes.outbox_delete {
            outbox.delete(JsValue::from_f64(*seq as f64)).map_err(err)?.await.map_err(err)?;
        }
        tx.commit().map_err(err)?.await.map_err(err)?;
        cache_update(|items| {
            for item in &changes.outbox_put {
                cache_put(items, item);
            }
            items.retain(|i| !i.seq.is_some_and(|s| changes.outbox_delete.contains(&s)));
        });
        Ok(())
    }

    pub async fn meta_get(key: &str) -> Result<Option<Value>, StoreError> {
        let db = db().await?;
        let tx = db.transaction(&[META], TransactionMode::ReadOnly).map_err(err)?;
        let store = tx.object_store(META).map_err(err)?;
        let v = store.get(JsValue::from_str(key)).map_err(err)?.await.map_err(err)?;
        v.map(from_js).transpose()
    }

    /// Appends a sale or refund to the queue with the next number of this device's register, in one
    /// transaction with the register's counter: a number is never given twice nor skipped, whatever
    /// happens to the tab. Without a register (never set up online) the item goes in unnumbered.
    /// Returns its `seq` and number.
    pub async fn outbox_add_numbered(item: &OutboxItem) -> Result<(u64, Option<String>), StoreError> {
        let db = db().await?;
        let tx = db.transaction(&[OUTBOX, META], TransactionMode::ReadWrite).map_err(err)?;
        let meta = tx.object_store(META).map_err(err)?;
        let key = JsValue::from_str(REGISTER);
        let register: Option<Value> =
            meta.get(key.clone()).map_err(err)?.await.map_err(err)?.map(from_js).transpose()?;
        let mut stored = item.clone();
        let mut number = None;
        if let Some(mut register) = register {
            let code = register.get("code").and_then(Value::as_str).unwrap_or_default().to_string();
            let next = register.get("next").and_then(Value::as_i64).unwrap_or(1);
            let no = crate::wire::receipt_no(&code, next);
            for v in [stored.body.as_mut(), stored.preview.as_mut()].into_iter().flatten() {
                if let Some(o) = v.as_object_mut() {
                    o.insert("receipt_no".into(), Value::from(no.clone()));
                }
            }
            register["next"] = Value::from(next + 1);
            meta.put(&to_js(&register)?, Some(&key)).map_err(err)?.await.map_err(err)?;
            number = Some(no);
        }
        let outbox = tx.object_store(OUTBOX).map_err(err)?;
        let added = outbox.add(&to_js(&stored)?, None).map_err(err)?.await.map_err(err)?;
        tx.commit().map_err(err)?.await.map_err(err)?;
        let seq = added.as_f64().map(|k| k as u64).ok_or_else(|| StoreError("outbox key is not a number".into()))?;
        stored.seq = Some(seq);
        cache_update(|items| cache_put(items, &stored));
        Ok((seq, number))
    }

    /// Appends to the queue; returns its `seq`.
    pub async fn outbox_add(item: &OutboxItem) -> Result<u64, StoreError> {
        let db = db().await?;
        let tx = db.transaction(&[OUTBOX], TransactionMode::ReadWrite).map_err(err)?;
        let store = tx.object_store(OUTBOX).map_err(err)?;
        let key = store.add(&to_js(item)?, None).map_err(err)?.await.map_err(err)?;
        tx.commit().map_err(err)?.await.map_err(err)?;
        let seq = key.as_f64().map(|k| k as u64).ok_or_else(|| StoreError("outbox key is not a number".into()))?;
        let mut stored = item.clone();
        stored.seq = Some(seq);
        cache_update(|items| cache_put(items, &stored));
        Ok(seq)
    }

    pub async fn outbox_put(item: &OutboxItem) -> Result<(), StoreError> {
        apply(Changes { outbox_put: vec![item.clone()], ..Default::default() }).await
    }

    pub async fn outbox_delete(seq: u64) -> Result<(), StoreError> {
        apply(Changes { outbox_delete: vec![seq], ..Default::default() }).await
    }

    /// The whole queue, oldest first (this tab's copy when it has one).
    pub async fn outbox_all() -> Result<Vec<OutboxItem>, StoreError> {
        if let Some(items) = OUTBOX_CACHE.with(|c| c.borrow().clone()) {
            return Ok(items);
        }
        outbox_all_fresh().await
    }

    /// Empties this device's copy of the shop (every table, the pull cursor, the settings in `meta`)
    /// and the outbox entries `forget` picks, in one transaction. What it keeps (other users' unsent
    /// items) is theirs to send; it is not ours to destroy.
    pub async fn wipe(forget: impl Fn(&OutboxItem) -> bool) -> Result<(), StoreError> {
        let db = db().await?;
        let mut names: Vec<&str> = TABLES.to_vec();
        names.push(OUTBOX);
        names.push(META);
        let tx = db.transaction(&names, TransactionMode::ReadWrite).map_err(err)?;
        for table in TABLES.iter().chain([&META]) {
            let store = tx.object_store(table).map_err(err)?;
            store.clear().map_err(err)?.await.map_err(err)?;
        }
        let outbox = tx.object_store(OUTBOX).map_err(err)?;
        let rows = outbox.get_all(None, None).map_err(err)?.await.map_err(err)?;
        let items: Vec<OutboxItem> = rows.into_iter().map(from_js).collect::<Result<_, _>>()?;
        let mut kept = Vec::new();
        for item in items {
            match item.seq {
                Some(seq) if forget(&item) => {
                    outbox.delete(JsValue::from_f64(seq as f64)).map_err(err)?.await.map_err(err)?;
                }
                _ => kept.push(item),
            }
        }
        tx.commit().map_err(err)?.await.map_err(err)?;
        OUTBOX_CACHE.with(|c| *c.borrow_mut() = Some(kept));
        Ok(())
    }

    /// The whole queue as IndexedDB has it now (what the sync engine sends from).
    pub async fn outbox_all_fresh() -> Result<Vec<OutboxItem>, StoreError> {
        let db = db().await?;
        let tx = db.transaction(&[OUTBOX], TransactionMode::ReadOnly).map_err(err)?;
        let store = tx.object_store(OUTBOX).map_err(err)?;
        let rows = store.get_all(None, None).map_err(err)?.await.map_err(err)?;
        let items: Vec<OutboxItem> = rows.into_iter().map(from_js).collect::<Result<_, _>>()?;
        OUTBOX_CACHE.with(|c| *c.borrow_mut() = Some(items.clone()));
        Ok(items)
    }
}

#[cfg(not(feature = "hydrate"))]
mod imp {
    use super::*;

    fn none<T>() -> Result<T, StoreError> {
        Err(StoreError("IndexedDB exists only in the browser".into()))
    }
    pub async fn all(_: &str) -> Result<Vec<Value>, StoreError> {
        none()
    }
    pub async fn get(_: &str, _: &str) -> Result<Option<Value>, StoreError> {
        none()
    }
    pub async fn put_rows(_: &str, _: &[Value]) -> Result<(), StoreError> {
        none()
    }
    pub async fn apply(_: Changes) -> Result<(), StoreError> {
        none()
    }
    pub async fn meta_get(_: &str) -> Result<Option<Value>, StoreError> {
        none()
    }
    pub async fn outbox_add(_: &OutboxItem) -> Result<u64, StoreError> {
        none()
    }
    pub async fn outbox_add_numbered(_: &OutboxItem) -> Result<(u64, Option<String>), StoreError> {
        none()
    }
    pub async fn outbox_put(_: &OutboxItem) -> Result<(), StoreError> {
        none()
    }
    pub async fn outbox_delete(_: u64) -> Result<(), StoreError> {
        none()
    }
    pub async fn outbox_all() -> Result<Vec<OutboxItem>, StoreError> {
        none()
    }
    pub async fn outbox_all_fresh() -> Result<Vec<OutboxItem>, StoreError> {
        none()
    }
    pub async fn wipe(_: impl Fn(&OutboxItem) -> bool) -> Result<(), StoreError> {
        none()
    }
    pub fn outbox_cache_drop() {}
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_local_copy_keeps_every_synced_table_and_todays_sales() {
        assert_eq!(super::TABLES[..6], crate::wire::SYNCED_TABLES);
        assert_eq!(super::TABLES[6..], ["sales", "refunds"]);
    }
}
