//! The outbox: every write this device makes, stored in IndexedDB before it is sent, kept until the
//! server has confirmed it. Plain data and pure rules (which items may go now, which are blocked by a
//! failed one), unit-tested natively; `sync.rs` does the sending.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// Waiting to be sent (or being sent: the key makes a resend harmless).
    Pending,
    /// The server refused it (4xx other than a version conflict): its message is in `error`.
    Failed,
    /// 409 `version_conflict` on fields someone else changed too: a person chooses.
    Conflict,
    /// The server confirmed it; it leaves the outbox once a pull has brought the data that includes it.
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    Delete,
    /// `POST /api/cash-sessions/{id}/close`
    Close,
    /// `POST /api/sales/{id}/void`
    Void,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemError {
    pub status: u16,
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub details: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// IndexedDB's auto-increment key: the queue order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The Idempotency-Key. It changes only when the request changes (edit, keep mine).
    pub key: Uuid,
    /// Who made it: the server scopes keys per user, so only its author's session sends it.
    pub user_id: Uuid,
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub body: Option<Value>,
    /// The table the row lives in (`products`, `sales`, `cash_sessions`, …).
    pub table: String,
    pub action: Action,
    /// The row it creates or changes.
    pub entity_id: Uuid,
    /// Rows it needs to exist first (the customer of a sale, its cash session, its products).
    #[serde(default)]
    pub depends_on: Vec<Uuid>,
    /// For updates and deletes: the row as it was when the person edited it.
    #[serde(default)]
    pub base: Option<Value>,
    /// For creates: the row to show until the server's own arrives.
    #[serde(default)]
    pub preview: Option<Value>,
    /// A few words naming it ("Yerba 1 kg", "3 artículos"), in the data's own language.
    #[serde(default)]
    pub label: String,
    pub created_at: String,
    pub state: ItemState,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub last_attempt_at: Option<String>,
    #[serde(default)]
    pub error: Option<ItemError>,
}

impl OutboxItem {
    pub fn is_open(&self) -> bool {
        self.state != ItemState::Done
    }

    /// Failed or in conflict: it needs a person.
    pub fn needs_attention(&self) -> bool {
        matches!(self.state, ItemState::Failed | ItemState::Conflict)
    }
}

/// Items that cannot go because an earlier item they need has failed (or is itself blocked):
/// blocked key → the key of the item at the root of it. Everything else is independent: one bad
/// record never holds up the rest of the queue.
///
/// An item needs (a) every earlier open item on its own row (edits of one row stay in order) and
/// (b) the earlier item that *creates* each row it depends on (a sale needs its new customer, not a
/// customer's later edit).
pub fn blocked(items: &[OutboxItem]) -> HashMap<Uuid, Uuid> {
    let mut out = HashMap::new();
    // Row → the key of the failed/blocked item that makes it unusable.
    let mut bad_row: HashMap<Uuid, Uuid> = HashMap::new();
    let mut bad_create: HashMap<Uuid, Uuid> = HashMap::new();
    for item in items.iter().filter(|i| i.is_open()) {
        let root =
            bad_row.get(&item.entity_id).or_else(|| item.depends_on.iter().find_map(|d| bad_create.get(d))).copied();
        let root = match (root, item.needs_attention()) {
            (Some(r), _) => {
                out.insert(item.key, r);
                Some(r)
            }
            (None, true) => Some(item.key),
            (None, false) => None,
        };
        if let Some(r) = root {
            bad_row.entry(item.entity_id).or_insert(r);
            if item.action == Action::Create {
                bad_create.entry(item.entity_id).or_insert(r);
            }
        }
    }
    out
}

/// The next batch to send, oldest first: pending items of `user`, not blocked, at most `max`. Each
/// comes with the keys of earlier items in the same batch it needs, so the server skips it (424)
/// if one of them fails on the way.
pub fn next_batch(items: &[OutboxItem], user: Uuid, max: usize) -> Vec<(OutboxItem, Vec<Uuid>)> {
    let blocked = blocked(items);
    let mut batch: Vec<(OutboxItem, Vec<Uuid>)> = Vec::new();
    let mut row_key: HashMap<Uuid, Uuid> = HashMap::new();
    let mut create_key: HashMap<Uuid, Uuid> = HashMap::new();
    // Rows with an earlier open item that is not in this batch (someone else's, or held back):
    // later items on them wait too, so edits of one row never overtake each other.
    let mut held: HashSet<Uuid> = HashSet::new();
    for item in items.iter().filter(|i| i.is_open()) {
        let sendable = item.state == ItemState::Pending
            && item.user_id == user
            && !blocked.contains_key(&item.key)
            && !held.contains(&item.entity_id)
            && !item.depends_on.iter().any(|d| held.contains(d));
        if !sendable || batch.len() >= max {
            held.insert(item.entity_id);
            continue;
        }
        let mut needs: Vec<Uuid> = Vec::new();
        if let Some(k) = row_key.get(&item.entity_id) {
            needs.push(*k);
        }
        for d in &item.depends_on {
            if let Some(k) = create_key.get(d) {
                if !needs.contains(k) {
                    needs.push(*k);
                }
            }
        }
        row_key.insert(item.entity_id, item.key);
        if item.action == Action::Create {
            create_key.insert(item.entity_id, item.key);
        }
        batch.push((item.clone(), needs));
    }
    batch
}

/// The fields a 409 says both sides changed: empty means my edit merges by itself.
pub fn conflicting_fields(error: &ItemError) -> Vec<String> {
    error
        .details
        .as_ref()
        .and_then(|d| d.get("conflicting_fields"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The server's row in a 409.
pub fn conflict_current(error: &ItemError) -> Option<Value> {
    error.details.as_ref()?.get("current").cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(table: &str, action: Action, entity: Uuid, deps: &[Uuid], state: ItemState) -> OutboxItem {
        OutboxItem {
            seq: None,
            key: Uuid::new_v4(),
            user_id: Uuid::nil(),
            method: "POST".into(),
            path: format!("/api/{table}"),
            body: Some(json!({})),
            table: table.into(),
            action,
            entity_id: entity,
            depends_on: deps.to_vec(),
            base: None,
            preview: None,
            label: String::new(),
            created_at: String::new(),
            state,
            attempts: 0,
            last_attempt_at: None,
            error: None,
        }
    }

    #[test]
    fn a_failed_item_blocks_only_its_dependants() {
        let (c, s1, s2, p) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let customer = item("customers", Action::Create, c, &[], ItemState::Failed);
        let sale_of_customer = item("sales", Action::Create, s1, &[c, p], ItemState::Pending);
        let other_sale = item("sales", Action::Create, s2, &[p], ItemState::Pending);
        let items = vec![customer.clone(), sale_of_customer.clone(), other_sale.clone()];
        let b = blocked(&items);
        assert_eq!(b.get(&sale_of_customer.key), Some(&customer.key));
        assert!(!b.contains_key(&other_sale.key));
        let batch = next_batch(&items, Uuid::nil(), 100);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].0.key, other_sale.key);
    }

    #[test]
    fn a_failed_edit_does_not_block_sales_of_that_product() {
        let (p, s) = (Uuid::new_v4(), Uuid::new_v4());
        let edit = item("products", Action::Update, p, &[], ItemState::Failed);
        let later_edit = item("products", Action::Update, p, &[], ItemState::Pending);
        let sale = item("sales", Action::Create, s, &[p], ItemState::Pending);
        let items = vec![edit.clone(), later_edit.clone(), sale.clone()];
        let b = blocked(&items);
        assert_eq!(b.get(&later_edit.key), Some(&edit.key), "edits of one row stay in order");
        assert!(!b.contains_key(&sale.key));
    }

    #[test]
    fn batches_carry_the_keys_they_need_and_skip_done_items() {
        let (c, s, p) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let done = item("products", Action::Create, p, &[], ItemState::Done);
        let customer = item("customers", Action::Create, c, &[], ItemState::Pending);
        let edit = item("customers", Action::Update, c, &[], ItemState::Pending);
        let sale = item("sales", Action::Create, s, &[c, p], ItemState::Pending);
        let items = vec![done, customer.clone(), edit.clone(), sale.clone()];
        let batch = next_batch(&items, Uuid::nil(), 100);
        let keys: Vec<Uuid> = batch.iter().map(|(i, _)| i.key).collect();
        assert_eq!(keys, [customer.key, edit.key, sale.key]);
        assert_eq!(batch[1].1, [customer.key]);
        assert_eq!(batch[2].1, [customer.key], "the sale needs the customer's create, not its edit");
    }

    #[test]
    fn a_full_batch_or_another_users_item_holds_back_later_edits_of_the_same_row() {
        let p = Uuid::new_v4();
        let mut theirs = item("products", Action::Update, p, &[], ItemState::Pending);
        theirs.user_id = Uuid::new_v4();
        let mine = item("products", Action::Update, p, &[], ItemState::Pending);
        assert!(next_batch(&[theirs, mine.clone()], Uuid::nil(), 100).is_empty());

        let a = item("products", Action::Create, p, &[], ItemState::Pending);
        let b = item("products", Action::Update, p, &[], ItemState::Pending);
        let batch = next_batch(&[a.clone(), b], Uuid::nil(), 1);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].0.key, a.key);
    }

    #[test]
    fn reads_conflict_details() {
        let e = ItemError {
            status: 409,
            code: "version_conflict".into(),
            message: String::new(),
            details: Some(json!({"current": {"version": 4}, "conflicting_fields": ["price_cents"]})),
        };
        assert_eq!(conflicting_fields(&e), ["price_cents"]);
        assert_eq!(conflict_current(&e), Some(json!({"version": 4})));
    }
}
