//! The sync engine: drains the outbox through `/api/sync/push` (oldest first, one tab at a time under a
//! Web Lock) and refreshes the local copy through `/api/sync/pull`, from every trigger the browser has:
//! app start, `online`, the page becoming visible, a timer with exponential backoff and jitter after a
//! failure, a periodic refresh, the service worker's Background Sync message and the "send now" button.
//!
//! A network error, 429 or 5xx means "try again later" (nothing changes); a 4xx marks only that item
//! failed; a version conflict on fields only I changed is rebased and resent by itself.

use leptos::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use super::outbox::{self, conflict_current, conflicting_fields, Action, ItemError, ItemState, OutboxItem};
use super::store::{self, Changes, TABLES};
use crate::api::{self, ApiError};

/// Up to this many operations per push request.
pub const BATCH: usize = 100;

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

pub fn now_iso() -> String {
    #[cfg(feature = "hydrate")]
    {
        String::from(js_sys::Date::new_0().to_iso_string())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}

pub fn now_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}

pub fn browser_online() -> bool {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window().map(|w| w.navigator().on_line()).unwrap_or(true)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        true
    }
}

/// Re-reads the outbox and tells every screen (and every other tab) that local data changed.
pub async fn refresh(state: SyncState) {
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

fn note_failure(state: SyncState, e: &ApiError) {
    if e.is_unauthorized() {
        state.unauthorized.set(true);
        return;
    }
    state.connection.set(if browser_online() { Connection::Unreachable } else { Connection::Offline });
    state.failures.update(|n| *n = (*n + 1).min(20));
    schedule_retry(state);
    // Where the browser has Background Sync, it also wakes us when the connection is back.
    if state.items.with_untracked(|v| v.iter().any(|i| i.is_open())) {
        super::service_worker::request_background_sync();
    }
}

fn note_success(state: SyncState) {
    // An answer that set out before the browser went offline says nothing about now: the browser's
    // own word (and its `offline` event, already handled) wins.
    state.connection.set(if browser_online() { Connection::Online } else { Connection::Offline });
    state.failures.set(0);
}

/// The next attempt after a failure: 2 s × 2ⁿ, at most 5 minutes, ±50 % jitter so that many devices
/// coming back at once do not all hit the server in the same second.
pub fn backoff_ms(failures: u32, random: f64) -> f64 {
    let base = 2_000.0 * 2f64.powi(failures.saturating_sub(1).min(8) as i32);
    base.min(300_000.0) * (0.5 + random)
}

fn schedule_retry(state: SyncState) {
    #[cfg(feature = "hydrate")]
    {
        let gen = state.timer_gen.get_untracked() + 1;
        state.timer_gen.set(gen);
        let delay = backoff_ms(state.failures.get_untracked(), js_sys::Math::random());
        set_timeout(
            move || {
                if state.timer_gen.get_untracked() == gen {
                    kick(state);
                }
            },
            std::time::Duration::from_millis(delay as u64),
        );
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = state;
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

fn op_json(item: &OutboxItem, needs: &[Uuid]) -> Value {
    json!({
        "idempotency_key": item.key,
        "method": item.method,
        "path": item.path,
        "body": item.body.clone().unwrap_or(Value::Null),
        "depends_on": needs,
        // When it was recorded here: the server lists operations that arrive late on the dashboard.
        "queued_at": item.created_at,
    })
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
async fn drain(state: SyncState) -> bool {
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
        let ops: Vec<Value> = batch.iter().map(|(i, needs)| op_json(i, needs)).collect();
        let answer = match api::sync_push(ops).await {
            Ok(a) => a,
            Err(e) => {
                note_failure(state, &e);
                ok = false;
                break;
            }
        };
        note_success(state);
        let results = answer.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut changes = Changes::default();
        let mut transient = false;
        for ((item, _), result) in batch.iter().zip(results.iter()) {
            let status = result.get("status").and_then(Value::as_u64).unwrap_or(0) as u16;
            let body = result.get("body").cloned().unwrap_or(Value::Null);
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
    if super::device::logout_pending() {
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

/// Brings the local copy up to date, page after page; the last page also removes the confirmed
/// items its data now includes.
pub async fn pull(state: SyncState) -> bool {
    let done: Vec<u64> = store::outbox_all_fresh()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|i| i.state == ItemState::Done)
        .filter_map(|i| i.seq)
        .collect();
    let mut cursor = store::meta_get("cursor").await.ok().flatten().and_then(|v| v.as_str().map(str::to_string));
    if cursor.is_none() {
        state.downloaded.set(0);
        state.first_load.set(true);
    }
    let mut ok = true;
    loop {
        let page = match api::sync_pull(cursor.as_deref()).await {
            Ok(p) => p,
            Err(e) => {
                note_failure(state, &e);
                ok = false;
                break;
            }
        };
        note_success(state);
        let mut changes = Changes::default();
        for table in TABLES {
            for row in page.get(table).and_then(Value::as_array).into_iter().flatten() {
                let id = row.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                if row.get("deleted_at").is_some_and(|d| !d.is_null()) {
                    changes.delete.push((table, id));
                } else {
                    changes.put.push((table, row.clone()));
                }
            }
        }
        let has_more = page.get("has_more").and_then(Value::as_bool).unwrap_or(false);
        state.downloaded.update(|n| *n += changes.put.len() + changes.delete.len());
        if let Some(c) = page.get("cursor") {
            cursor = c.as_str().map(str::to_string);
            changes.meta.push(("cursor".into(), c.clone()));
        }
        if !has_more {
            // Today's sales are not part of the catalog feed: keep the list the sale screen shows.
            if let Ok(sales) = api::get_json(&format!("/api/sales?from={}&limit=500", today_utc())).await {
                for row in sales.get("items").and_then(Value::as_array).into_iter().flatten() {
                    changes.put.push(("sales", row.clone()));
                }
            }
            changes.outbox_delete = done.clone();
            changes.meta.push(("last_pull_at".into(), json!(now_ms())));
        }
        // Signed out meanwhile (and perhaps wiped): this page is no longer this device's to keep.
        if super::device::logout_pending() || state.user.get_untracked().is_none() {
            ok = false;
            break;
        }
        if store::apply(changes).await.is_err() {
            ok = false;
            break;
        }
        if !has_more {
            state.last_pull_ms.set(Some(now_ms()));
            break;
        }
    }
    state.first_load.set(false);
    changed(state).await;
    ok
}

fn today_utc() -> String {
    now_iso().get(..10).unwrap_or_default().to_string()
}

/// Runs `f` while holding the named Web Lock, or not at all if another tab holds it. Browsers
/// without Web Locks just run it (the idempotency keys still prevent duplicates).
async fn with_lock<F, Fut>(name: &str, f: F) -> bool
where
    F: FnOnce() -> Fut + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::{closure::Closure, JsCast, JsValue};
        let Some(window) = web_sys::window() else {
            return false;
        };
        let locks = js_sys::Reflect::get(&window.navigator(), &"locks".into()).unwrap_or(JsValue::UNDEFINED);
        let request =
            js_sys::Reflect::get(&locks, &"request".into()).ok().and_then(|r| r.dyn_into::<js_sys::Function>().ok());
        let Some(request) = request.filter(|_| !locks.is_undefined()) else {
            f().await;
            return true;
        };
        let opts = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&opts, &"ifAvailable".into(), &JsValue::TRUE);
        let callback = Closure::once_into_js(move |lock: JsValue| -> js_sys::Promise {
            if lock.is_null() {
                return js_sys::Promise::resolve(&JsValue::FALSE);
            }
            wasm_bindgen_futures::future_to_promise(async move {
                f().await;
                Ok(JsValue::TRUE)
            })
        });
        match request.call3(&locks, &JsValue::from_str(name), &opts, &callback) {
            Ok(p) => wasm_bindgen_futures::JsFuture::from(js_sys::Promise::from(p))
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            Err(_) => false,
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (name, f);
        false
    }
}

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
const CHANNEL: &str = "mostrador-sync";

/// This tab's name on the channel: a tab hears its own messages too and must ignore them.
#[cfg(feature = "hydrate")]
fn tab_id() -> String {
    thread_local! {
        static ID: String = Uuid::new_v4().to_string();
    }
    ID.with(|id| id.clone())
}

fn broadcast() {
    #[cfg(feature = "hydrate")]
    if let Ok(ch) = web_sys::BroadcastChannel::new(CHANNEL) {
        let _ = ch.post_message(&wasm_bindgen::JsValue::from_str(&tab_id()));
        ch.close();
    }
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

async fn store_item(item: &OutboxItem) -> Result<Option<u64>, store::StoreError> {
    match item.seq {
        Some(_) => store::outbox_put(item).await.map(|_| item.seq),
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

/// Wires every trigger. Called once, in the browser, after hydration.
pub fn start(state: SyncState) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::{closure::Closure, JsCast};
        let Some(window) = web_sys::window() else { return };
        state.connection.set(if browser_online() { Connection::Unknown } else { Connection::Offline });
        let on = |target: &web_sys::EventTarget, event: &str, f: Box<dyn FnMut()>| {
            let c = Closure::<dyn FnMut()>::wrap(f);
            let _ = target.add_event_listener_with_callback(event, c.as_ref().unchecked_ref());
            c.forget();
        };
        on(
            &window,
            "online",
            Box::new(move || {
                state.failures.set(0);
                // A sign-out made offline ends the server's session first.
                leptos::task::spawn_local(async move {
                    super::device::flush_logout().await;
                    run(state).await;
                });
            }),
        );
        on(&window, "offline", Box::new(move || state.connection.set(Connection::Offline)));
        if let Some(doc) = window.document() {
            let d = doc.clone();
            on(
                &doc,
                "visibilitychange",
                Box::new(move || {
                    if d.visibility_state() == web_sys::VisibilityState::Visible {
                        kick(state);
                    }
                }),
            );
        }
        if let Ok(ch) = web_sys::BroadcastChannel::new(CHANNEL) {
            let c = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
                if ev.data().as_string().as_deref() == Some(tab_id().as_str()) {
                    return;
                }
                store::outbox_cache_drop();
                leptos::task::spawn_local(refresh(state));
            });
            ch.set_onmessage(Some(c.as_ref().unchecked_ref()));
            c.forget();
            std::mem::forget(ch);
        }
        // A periodic refresh while the page is open: other devices' changes, and a retry of
        // anything a lost timer left behind.
        let _ = set_interval_with_handle(
            move || {
                let visible = web_sys::window()
                    .and_then(|w| w.document())
                    .map(|d| d.visibility_state() == web_sys::VisibilityState::Visible)
                    .unwrap_or(true);
                if visible {
                    kick(state);
                }
            },
            std::time::Duration::from_secs(60),
        );
        leptos::task::spawn_local(async move {
            super::device::flush_logout().await;
            if let Ok(Some(ms)) = store::meta_get("last_pull_at").await {
                state.last_pull_ms.set(ms.as_f64());
            }
            refresh(state).await;
            ask_persistent_storage(state).await;
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = state;
}

/// Asks the browser not to evict this site's storage, and reads usage and quota for settings.
pub async fn ask_persistent_storage(state: SyncState) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen_futures::JsFuture;
        let Some(window) = web_sys::window() else { return };
        let storage = window.navigator().storage();
        let mut persisted = match storage.persisted() {
            Ok(p) => JsFuture::from(p).await.ok().and_then(|v| v.as_bool()).unwrap_or(false),
            Err(_) => false,
        };
        if !persisted {
            if let Ok(p) = storage.persist() {
                persisted = JsFuture::from(p).await.ok().and_then(|v| v.as_bool()).unwrap_or(false);
            }
        }
        let (mut usage, mut quota) = (0.0, 0.0);
        if let Ok(p) = storage.estimate() {
            if let Ok(est) = JsFuture::from(p).await {
                let get = |k: &str| js_sys::Reflect::get(&est, &k.into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
                usage = get("usage");
                quota = get("quota");
            }
        }
        state.storage.set(Some(StorageInfo { persisted, usage, quota }));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = state;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_five_minutes_with_jitter() {
        assert_eq!(backoff_ms(1, 0.5), 2_000.0);
        assert_eq!(backoff_ms(2, 0.5), 4_000.0);
        assert_eq!(backoff_ms(20, 0.5), 300_000.0);
        assert_eq!(backoff_ms(1, 0.0), 1_000.0);
        assert!(backoff_ms(3, 0.999) < 8_000.0 * 1.5);
    }

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
