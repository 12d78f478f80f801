//! The browser APIs the sync engine leans on, with stubs for the server build: the clock, the
//! browser's online flag, Web Locks (one tab syncs at a time) and the BroadcastChannel that tells
//! the other tabs local data changed.

#[cfg(feature = "hydrate")]
use uuid::Uuid;

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

/// Runs `f` while holding the named Web Lock, or not at all if another tab holds it. Browsers
/// without Web Locks just run it (the idempotency keys still prevent duplicates).
pub(super) async fn with_lock<F, Fut>(name: &str, f: F) -> bool
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
pub(super) const CHANNEL: &str = "mostrador-sync";

/// This tab's name on the channel: a tab hears its own messages too and must ignore them.
#[cfg(feature = "hydrate")]
pub(super) fn tab_id() -> String {
    thread_local! {
        static ID: String = Uuid::new_v4().to_string();
    }
    ID.with(|id| id.clone())
}

pub(super) fn broadcast() {
    #[cfg(feature = "hydrate")]
    if let Ok(ch) = web_sys::BroadcastChannel::new(CHANNEL) {
        let _ = ch.post_message(&wasm_bindgen::JsValue::from_str(&tab_id()));
        ch.close();
    }
}
