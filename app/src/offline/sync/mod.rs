//! The sync engine: drains the outbox through `/api/sync/push` (oldest first, one tab at a time under a
//! Web Lock) and refreshes the local copy through `/api/sync/pull`, from every trigger the browser has:
//! app start, `online`, the page becoming visible, a timer with exponential backoff and jitter after a
//! failure, a periodic refresh, the service worker's Background Sync message and the "send now" button.
//!
//! A network error, 429 or 5xx means "try again later" (nothing changes); a 4xx marks only that item
//! failed; a version conflict on fields only I changed is rebased and resent by itself.
//!
//! This file holds the state screens read and one run of the engine (send, then pull, under the
//! lock). Beside it: `push` (draining the outbox), `pull` (refreshing the local copy), `queue`
//! (what forms call to queue a write and learn its outcome), `retry` (the connection status and
//! the backoff after a failure), `triggers` (every event that starts a run) and `browser` (the
//! browser APIs the engine leans on: clock, online flag, Web Locks, the channel between tabs).

mod browser;
mod pull;
mod push;
mod queue;
mod retry;
mod triggers;

use leptos::prelude::*;
use uuid::Uuid;

pub use browser::{browser_online, now_iso, now_ms};
pub use pull::pull;
pub use push::{rebase, BATCH};
pub use queue::{discard, enqueue, queue, submit, Outcome};
pub use retry::backoff_ms;
pub use triggers::{ask_persistent_storage, start};

use super::{outbox::OutboxItem, store};
use browser::{broadcast, with_lock};
use push::drain;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Nothing known yet (first render, before the first call).
    Unknown,
    Online,
    /// The browser says there is no network.
    Offline,
    /// There is a network but the server does not answer (or answers 5xx).
    Unreachable,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StorageInfo {
    pub persisted: bool,
    pub usage: f64,
    pub quota: f64,
}

/// Everything screens show about sync. Created once in `App`, shared by context.
#[derive(Clone, Copy)]
pub struct SyncState {
    pub connection: RwSignal<Connection>,
    /// The whole outbox, oldest first (done items included until their pull arrives).
    pub items: RwSignal<Vec<OutboxItem>>,
    /// When the local copy was last refreshed from the server (milliseconds since the epoch).
    pub last_pull_ms: RwSignal<Option<f64>>,
    /// "Enviando 37 de 120" while a drain runs.
    pub progress: RwSignal<Option<(usize, usize)>>,
    /// True while the very first catalog download runs (nothing local yet).
    pub first_load: RwSignal<bool>,
    /// Rows received so far by the first download of the catalog (its total is not known in advance).
    pub downloaded: RwSignal<usize>,
    /// Bumped whenever local data changed (here or in another tab): lists read it to reload.
    pub data_version: RwSignal<u64>,
    /// The signed-in user: only their items are sent.
    pub user: RwSignal<Option<Uuid>>,
    /// Set when the server answers 401: the layout sends the person to /login.
    pub unauthorized: RwSignal<bool>,
    /// Set when the server's session turns out to be another user's (signed in in another tab):
    /// the layout switches to them.
    pub signed_in_as: RwSignal<Option<crate::model::User>>,
    pub storage: RwSignal<Option<StorageInfo>>,
    /// Consecutive failed attempts (for the backoff) and the pending timer's generation.
    failures: RwSignal<u32>,
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    timer_gen: RwSignal<u64>,
}

impl SyncState {
    pub fn new() -> SyncState {
        SyncState {
            connection: RwSignal::new(Connection::Unknown),
            items: RwSignal::new(Vec::new()),
            last_pull_ms: RwSignal::new(None),
            progress: RwSignal::new(None),
            first_load: RwSignal::new(false),
            downloaded: RwSignal::new(0),
            data_version: RwSignal::new(0),
            user: RwSignal::new(None),
            unauthorized: RwSignal::new(false),
            signed_in_as: RwSignal::new(None),
            storage: RwSignal::new(None),
            failures: RwSignal::new(0),
            timer_gen: RwSignal::new(0),
        }
    }

    /// Items still to be confirmed (what the badge counts).
    pub fn open_count(self) -> usize {
        self.items.with(|v| v.iter().filter(|i| i.is_open()).count())
    }

    pub fn attention_count(self) -> usize {
        self.items.with(|v| v.iter().filter(|i| i.needs_attention()).count())
    }
}

impl Default for SyncState {
    fn default() -> Self {
        SyncState::new()
    }
}

pub fn use_sync() -> SyncState {
    expect_context::<SyncState>()
}

/// Re-reads the outbox and the shop's settings (another tab may have pulled new ones), and tells every
/// screen that local data changed.
pub async fn refresh(state: SyncState) {
    let kept = store::meta_get(super::data::SETTINGS_KEY).await.ok().flatten();
    if let Some(settings) = kept.and_then(|v| serde_json::from_value::<crate::model::ShopSettings>(v).ok()) {
        crate::region::adopt(&settings);
    }
    if let Ok(items) = store::outbox_all().await {
        // Only a real change re-renders the pending page (an open editor there survives a refresh).
        if state.items.with_untracked(|now| *now != items) {
            state.items.set(items);
        }
    }
    state.data_version.update(|v| *v += 1);
}

async fn changed(state: SyncState) {
    refresh(state).await;
    broadcast();
}

/// Starts a drain + pull in the background (no-op if another tab is already doing it).
pub fn kick(state: SyncState) {
    leptos::task::spawn_local(async move {
        run(state).await;
    });
}

/// Sends what can be sent, then pulls. Returns false if another tab holds the sync lock.
pub async fn run(state: SyncState) -> bool {
    if state.user.get_untracked().is_none() {
        return true;
    }
    let got = with_lock("mostrador-sync", move || async move {
        if drain(state).await {
            pull(state).await;
        }
    })
    .await;
    if !got {
        // Another tab is sending; it broadcasts when it is done. Re-read in a moment anyway.
        refresh(state).await;
    }
    got
}
