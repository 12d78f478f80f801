//! Everything that starts a sync run in the browser: the `online` and `offline` events, the page
//! becoming visible, another tab's message, a periodic refresh and app start (which also asks for
//! persistent storage). On the server these are stubs that nothing calls.

#[cfg(feature = "hydrate")]
use leptos::prelude::*;

use super::SyncState;
#[cfg(feature = "hydrate")]
use super::{
    browser::{tab_id, CHANNEL},
    browser_online, kick, refresh, run, Connection, StorageInfo,
};
#[cfg(feature = "hydrate")]
use crate::offline::store;

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
                    crate::offline::device::flush_logout().await;
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
            crate::offline::device::flush_logout().await;
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
