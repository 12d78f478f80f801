//! Draining the outbox: the signed-in user's sendable items, oldest first, in batches through
//! `/api/sync/push`; each answer marks its item done, failed or in conflict, and an update that
//! conflicts only on fields someone else changed is rebased and resent by itself.

use leptos::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use super::retry::{note_failure, note_success, schedule_retry};
use super::{browser_online, changed, now_iso, Connection, SyncState};
use crate::api;
use crate::offline::outbox::{self, conflict_current, conflicting_fields, Action, ItemError, ItemState, OutboxItem};
use crate::offline::store::{self, Changes, TABLES};
use crate::wire::PushOp;

/// Up to this many operations per push request.
pub const BATCH: usize = 100;

fn op_of(item: &OutboxItem, needs: &[Uuid]) -> PushOp {
    PushOp {
        idempotency_key: item.key.to_string(),
        method: item.method.clone(),
        path: item.path.clone(),
        body: item.body.clone(),
        depends_on: needs.iter().map(Uuid::to_string).collect(),
        // When it was recorded here: the server lists operations that arrive late on the dashboard.
        queued_at: Some(item.created_at.clone()),
        // Whose it is: if someone else signed in since `session_is`, the server refuses it (409).
        user_id: Some(item.user_id),
    }
}

fn item_error(status: u16, body: &Value) -> ItemError {
    let e = body.get("error");
    ItemError {
        status,
        code: e.and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or("http_error").to_string(),
        message: e.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or_default().to_string(),
        details: e.and_then(|e| e.get("details")).cloned(),
    }
}

/// The server's row in an answer, if it is one of the tables kept locally.
fn answer_row(item: &OutboxItem, body: &Value) -> Option<(&'static str, Value)> {
    let table = TABLES.iter().find(|t| **t == item.table)?;
    body.get("id")?;
    Some((table, body.clone()))
}

/// Sends every sendable item, batch after batch. True if it ended without a transport failure.
pub(super) async fn drain(state: SyncState) -> bool {
    let Some(user) = state.user.get_untracked() else {
        return true;
    };
    if !browser_online() {
        // No network at all: nothing to try (the `online` event starts the next drain).
        state.connection.set(Connection::Offline);
        return false;
    }
    let mut sent = 0usize;
    let mut ok = true;
    loop {
        let Ok(items) = store::outbox_all_fresh().await else {
            break;
        };
        state.items.set(items.clone());
        let batch = outbox::next_batch(&items, user, BATCH);
        if batch.is_empty() {
            break;
        }
        // Whose session the cookie carries, asked before every batch: another tab may have signed
        // someone else in since this drain began, and the server would take these items as theirs.
        if !session_is(state, user).await {
            ok = false;
            break;
        }
        let total = sent + outbox::next_batch(&items, user, usize::MAX).len();
        state.progress.set(Some((sent, total)));
        let ops: Vec<PushOp> = batch.iter().map(|(i, needs)| op_of(i, needs)).collect();
        let answer = match api::sync_push(ops).await {
            Ok(a) => a,
            Err(e) => {
                note_failure(state, &e);
                ok = false;
                break;
            }
        };
        note_success(state);
        let results = answer.results;
        let mut changes = Changes::default();
        let mut transient = false;
        for ((item, _), result) in batch.iter().zip(results.iter()) {
            let (status, body) = (result.status, result.body.clone());
            let mut item = item.clone();
            item.attempts += 1;
            item.last_attempt_at = Some(now_iso());
            match status {
                200..=299 => {
                    item.state = ItemState::Done;
                    item.error = None;
                    if let Some((table, row)) = answer_row(&item, &body) {
                        changes.put.push((table, row));
                    }
                    sent += 1;
                }
                // Its dependency failed in this batch: it stays pending (and shows as blocked).
                424 => {}
                409 if body["error"]["code"] == "version_conflict" => {
                    let error = item_error(status, &body);
                    let current = conflict_current(&error);
                    if let Some(cur) = &current {
                        if let Some((table, row)) = answer_row(&item, cur) {
                            changes.put.push((table, row));
                        }
                    }
                    if conflicting_fields(&error).is_empty() && item.action == Action::Update {
                        // Someone else changed other fields: mine merge by themselves. A new
                        // request, so a new key (the old one keeps its stored 409).
                        rebase(&mut item, current.as_ref());
                    } else {
                        item.state = ItemState::Conflict;
                        item.error = Some(error);
                    }
                }
                401 => {
                    state.unauthorized.set(true);
                    transient = true;
                }
                // Someone else signed in between the session check and this push: the item stays
                // pending for its author; the next drain's check finds out who is signed in.
                409 if body["error"]["code"] == "session_user_mismatch" => {
                    transient = true;
                }
                408 | 429 | 500..=599 | 0 => {
                    item.error = Some(item_error(status, &body));
                    transient = true;
                }
                _ => {
                    item.state = ItemState::Failed;
                    item.error = Some(item_error(status, &body));
                }
            }
            changes.outbox_put.push(item);
        }
        if results.len() != batch.len() {
            transient = true;
        }
        if store::apply(changes).await.is_err() {
            ok = false;
            break;
        }
        state.progress.set(Some((sent, total)));
        if transient {
            state.failures.update(|n| *n = (*n + 1).min(20));
            schedule_retry(state);
            ok = false;
            break;
        }
    }
    state.progress.set(None);
    changed(state).await;
    ok
}

/// True when the server's session is `user`'s. A sign-out not yet told to the server, or a session
/// that is someone else's, stops the drain (the layout then shows who is really signed in).
async fn session_is(state: SyncState, user: Uuid) -> bool {
    if crate::offline::device::logout_pending() {
        return false;
    }
    match api::me().await {
        Ok(me) if me.id == user => true,
        Ok(me) => {
            state.signed_in_as.set(Some(me));
            false
        }
        Err(e) => {
            note_failure(state, &e);
            false
        }
    }
}

/// An update resent on top of the server's current version, keeping my changed fields.
pub fn rebase(item: &mut OutboxItem, current: Option<&Value>) {
    let version = current.and_then(|c| c.get("version")).and_then(Value::as_i64);
    if let (Some(v), Some(Value::Object(body))) = (version, item.body.as_mut()) {
        body.insert("version".into(), Value::from(v));
    }
    if let Some(c) = current {
        item.base = Some(c.clone());
    }
    item.key = Uuid::new_v4();
    item.state = ItemState::Pending;
    item.error = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rebase_takes_the_current_version_and_a_new_key() {
        let mut item: OutboxItem = serde_json::from_value(json!({
            "key": Uuid::new_v4(), "user_id": Uuid::nil(), "method": "PATCH", "path": "/api/products/x",
            "body": {"version": 2, "name": "mine"}, "table": "products", "action": "update",
            "entity_id": Uuid::new_v4(), "created_at": "", "state": "pending"
        }))
        .unwrap();
        let old = item.key;
        rebase(&mut item, Some(&json!({"version": 5, "name": "theirs", "price_cents": 9})));
        assert_ne!(item.key, old);
        assert_eq!(item.body.as_ref().unwrap()["version"], 5);
        assert_eq!(item.body.as_ref().unwrap()["name"], "mine");
    }
}
