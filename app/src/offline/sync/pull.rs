//! Refreshing the local copy through `/api/sync/pull`, page after page from the stored cursor (the
//! first download fills an empty device), plus today's sales; the last page also drops the outbox
//! items the server's data now includes.

use leptos::prelude::*;
use serde_json::{json, Value};

/// Where the pull cursor is kept. Renamed when pulled rows gain fields an older app dropped while it
/// advanced the cursor (`.2`: tax rates, a product's `tax_rate_id`): the next pull starts over, so
/// nothing stays missing on a phone that synced with the old app after the server was upgraded.
const CURSOR: &str = "cursor.2";

use super::retry::{note_failure, note_success};
use super::{changed, now_ms, SyncState};
use crate::api;
use crate::offline::outbox::ItemState;
use crate::offline::store::{self, Changes};

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
    let mut cursor = store::meta_get(CURSOR).await.ok().flatten().and_then(|v| v.as_str().map(str::to_string));
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
        for (table, row) in page.rows() {
            let id = row.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            if row.get("deleted_at").is_some_and(|d| !d.is_null()) {
                changes.delete.push((table, id));
            } else {
                changes.put.push((table, row));
            }
        }
        let has_more = page.has_more;
        state.downloaded.update(|n| *n += changes.put.len() + changes.delete.len());
        changes.meta.push((CURSOR.into(), Value::from(page.cursor.clone())));
        cursor = Some(page.cursor);
        if !has_more {
            // The shop's details, for receipts printed offline, and its currency and time zone.
            if let Ok(settings) = api::settings().await {
                crate::region::adopt(&settings);
                if let Ok(v) = serde_json::to_value(settings) {
                    changes.meta.push((crate::offline::data::SETTINGS_KEY.into(), v));
                }
            }
            // Today's sales (the shop's today: its settings are adopted just above) are not part of the
            // catalog feed: keep the list the sale screen shows.
            if let Ok(sales) = api::sales_since(&crate::format::shop_day(None)).await {
                changes
                    .put
                    .extend(sales.items.iter().filter_map(|s| serde_json::to_value(s).ok()).map(|s| ("sales", s)));
            }
            // Set up once, online: the register code this device numbers its receipts with.
            if store::meta_get(store::REGISTER).await.ok().flatten().is_none() {
                if let Ok(r) = api::register(uuid::Uuid::new_v4()).await {
                    let kept = json!({"code": r.code, "device_id": r.device_id, "next": r.last_seq + 1});
                    changes.meta.push((store::REGISTER.into(), kept));
                }
            }
            changes.outbox_delete = done.clone();
            changes.meta.push(("last_pull_at".into(), json!(now_ms())));
        }
        // Signed out meanwhile (and perhaps wiped): this page is no longer this device's to keep.
        if crate::offline::device::logout_pending() || state.user.get_untracked().is_none() {
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
