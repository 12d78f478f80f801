//! What forms call: store a write in the outbox (only the signed-in user's, and an entry is replaced
//! only by its author), try to send it at once, and say what became of it; or discard an item.

use leptos::prelude::*;
use uuid::Uuid;

use super::{browser_online, changed, kick, run, Connection, SyncState};
use crate::offline::outbox::{Action, ItemError, ItemState, OutboxItem};
use crate::offline::store;

/// What a form does on submit: stores each of `items` in order (each sent at once when online) and
/// runs `then` once all of them are kept, however the sending goes. One that cannot be stored does
/// not stop the next (a sale whose new customer failed to store is kept, and the server's answer
/// about the missing customer shows on it).
pub fn queue(state: SyncState, items: Vec<OutboxItem>, then: impl FnOnce() + 'static) {
    leptos::task::spawn_local(async move {
        let mut all_kept = true;
        for item in items {
            all_kept &= enqueue(state, item).await.is_ok();
        }
        if all_kept {
            then();
        }
    });
}

/// Stores a write in the outbox (a new entry, or the entry with the same `seq`: an edited failed
/// item, a conflict resolved) and tries to send it at once. The caller shows it optimistically; the
/// outcome arrives through `items`.
pub async fn enqueue(state: SyncState, item: OutboxItem) -> Result<Uuid, store::StoreError> {
    let key = item.key;
    own(state, &item).await?;
    store_item(&item).await?;
    changed(state).await;
    kick(state);
    Ok(key)
}

/// Only the signed-in user's items are written, and an entry is replaced only by its author: on a
/// shared phone the next user must not resend, edit or discard what the last one left unsent.
async fn own(state: SyncState, item: &OutboxItem) -> Result<(), store::StoreError> {
    let me = state.user.get_untracked();
    let stored_author = match item.seq {
        Some(seq) => store::outbox_all_fresh().await?.into_iter().find(|i| i.seq == Some(seq)).map(|i| i.user_id),
        None => None,
    };
    if me.is_none() || me != Some(item.user_id) || stored_author.is_some_and(|a| Some(a) != me) {
        return Err(store::StoreError("this item belongs to another user".into()));
    }
    Ok(())
}

/// A new sale or refund takes the next receipt number of this device's register as it is stored.
async fn store_item(item: &OutboxItem) -> Result<Option<u64>, store::StoreError> {
    let numbered = item.action == Action::Create && matches!(item.table.as_str(), "sales" | "refunds");
    match item.seq {
        Some(_) => store::outbox_put(item).await.map(|_| item.seq),
        None if numbered => store::outbox_add_numbered(item).await.map(|(seq, _)| Some(seq)),
        None => store::outbox_add(item).await.map(Some),
    }
}

/// What became of one item shortly after it was queued (the forms wait for this when online).
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Confirmed,
    /// Not sent yet (offline, server unreachable, or another tab is sending): it will go later.
    Queued,
    Failed(ItemError),
    Conflict(ItemError),
}

/// Queues `item`, sends it now if possible, and says what happened to it (with the item as stored,
/// `seq` included, so a form can edit and resend the same entry).
/// An item with a `seq` replaces that entry (an edited failed item), never adds a second one.
pub async fn submit(state: SyncState, mut item: OutboxItem) -> Result<(Outcome, OutboxItem), store::StoreError> {
    let key = item.key;
    own(state, &item).await?;
    item.seq = store_item(&item).await?;
    changed(state).await;
    if !browser_online() {
        state.connection.set(Connection::Offline);
        kick(state);
        return Ok((Outcome::Queued, item));
    }
    run(state).await;
    let stored = store::outbox_all().await?.into_iter().find(|i| i.key == key);
    let Some(stored) = stored else {
        return Ok((Outcome::Confirmed, item));
    };
    let fallback =
        |status: u16, code: &str| ItemError { status, code: code.into(), message: String::new(), details: None };
    let outcome = match stored.state {
        ItemState::Done => Outcome::Confirmed,
        ItemState::Failed => Outcome::Failed(stored.error.clone().unwrap_or(fallback(0, "failed"))),
        ItemState::Conflict => Outcome::Conflict(stored.error.clone().unwrap_or(fallback(409, "version_conflict"))),
        ItemState::Pending => Outcome::Queued,
    };
    Ok((outcome, stored))
}

/// Removes an item the person chose to discard (after confirming).
pub async fn discard(state: SyncState, seq: u64) -> Result<(), store::StoreError> {
    let item = store::outbox_all_fresh().await?.into_iter().find(|i| i.seq == Some(seq));
    if let Some(item) = item {
        own(state, &item).await?;
    }
    store::outbox_delete(seq).await?;
    changed(state).await;
    Ok(())
}
