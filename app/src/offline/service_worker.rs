//! The page's side of the service worker (`public/sw.js`, served by the server at `/sw.js`): registers
//! it, says when a new version is waiting, applies it on request, and relays the worker's Background
//! Sync wake-ups to the sync engine.
//!
//! The worker only caches the app shell. It never sends data: on a Background Sync event it posts
//! `{type: "SYNC"}` to the open windows and the Rust sync engine drains the outbox.
//!
//! Use (in `App`): `let sw = service_worker::register();` once, `<UpdateBanner/>` somewhere on every
//! page, `service_worker::on_sync_message(move || …run the sync…)`, and
//! `service_worker::request_background_sync()` whenever the outbox gets an item it could not send.
//! Everything is a no-op on the server and in browsers without service workers.

use leptos::prelude::*;

use crate::i18n::use_i18n;

/// The Background Sync tag the worker answers with `{type: "SYNC"}`.
pub const SYNC_TAG: &str = "mostrador-outbox";
/// How often a long-open page asks the server whether a new version exists (the browser itself only
/// checks on navigations, and a cashier's tab may stay open all day without one).
pub const UPDATE_CHECK_EVERY_MS: i32 = 30 * 60 * 1000;

/// The service worker as the UI sees it; provided as context by [`register`].
#[derive(Clone, Copy)]
pub struct ServiceWorker {
    /// A new version is installed and waits for [`apply_update`] (the update banner shows).
    pub update_waiting: RwSignal<bool>,
    /// A worker controls this page: the shell is cached and the app opens with no network.
    pub controlled: RwSignal<bool>,
}

/// Registers `/sw.js` (scope `/`) and provides [`ServiceWorker`] as context. Call it once, in `App`.
/// In the browser the work starts after hydration, so nothing it changes can disturb hydration.
pub fn register() -> ServiceWorker {
    let sw = ServiceWorker { update_waiting: RwSignal::new(false), controlled: RwSignal::new(false) };
    provide_context(sw);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| browser::start(sw));
    sw
}

pub fn use_service_worker() -> Option<ServiceWorker> {
    use_context::<ServiceWorker>()
}

/// Switches to the waiting version: tells it `{type: "SKIP_WAITING"}` and reloads this page when it has
/// taken control (`controllerchange`). Other open tabs keep running the code they loaded.
pub fn apply_update() {
    #[cfg(feature = "hydrate")]
    browser::apply_update();
}

/// Asks the browser for a Background Sync (`mostrador-outbox`): where the browser has it (Chromium), the
/// worker wakes the page with `{type: "SYNC"}` once the connection is back, even with the tab in the
/// background. Elsewhere this does nothing; the sync engine's own triggers cover those browsers.
pub fn request_background_sync() {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async {
        browser::register_sync().await;
    });
}

/// Calls `callback` each time the worker posts `{type: "SYNC"}` (a Background Sync fired).
pub fn on_sync_message(callback: impl Fn() + 'static) {
    #[cfg(feature = "hydrate")]
    browser::SYNC_CALLBACKS.with(|c| c.borrow_mut().push(Box::new(callback)));
    #[cfg(not(feature = "hydrate"))]
    let _ = callback;
}

/// "Nueva versión disponible — recargar": shown while a new version waits; one big button applies it.
/// The live region is always in the page so that screen readers announce the message when it appears.
#[component]
pub fn UpdateBanner() -> impl IntoView {
    let i18n = use_i18n();
    let waiting = use_service_worker().map(|sw| sw.update_waiting);
    let show = move || waiting.is_some_and(|w| w.get());
    let updating = RwSignal::new(false);
    view! {
        <div class="update-banner-area" role="status" aria-live="polite">
            <Show when=show>
                <div class="update-banner" data-testid="update-banner">
                    <button
                        type="button"
                        class="btn primary wide update-banner-button"
                        data-testid="update-reload"
                        disabled=move || updating.get()
                        on:click=move |_| {
                            updating.set(true);
                            apply_update();
                        }
                    >
                        {move || i18n.t(if updating.get() { "updating" } else { "update_available" })}
                    </button>
                </div>
            </Show>
        </div>
    }
    .into_any()
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::{Cell, RefCell};

    use leptos::prelude::*;
    use wasm_bindgen::{closure::Closure, JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{MessageEvent, ServiceWorkerContainer, ServiceWorkerRegistration, ServiceWorkerState};

    use super::{ServiceWorker, SYNC_TAG, UPDATE_CHECK_EVERY_MS};

    thread_local! {
        static REGISTRATION: RefCell<Option<ServiceWorkerRegistration>> = const { RefCell::new(None) };
        /// Set by `apply_update`: only the tab that asked reloads on `controllerchange` (the first
        /// install's `clients.claim()` fires it too, and must not reload anything).
        static RELOAD_ON_CONTROLLER_CHANGE: Cell<bool> = const { Cell::new(false) };
        pub(super) static SYNC_CALLBACKS: RefCell<Vec<Box<dyn Fn()>>> = RefCell::new(Vec::new());
    }

    /// `navigator.serviceWorker`, if this browser and context have it (not in insecure contexts).
    fn container() -> Option<ServiceWorkerContainer> {
        let navigator = web_sys::window()?.navigator();
        let value = js_sys::Reflect::get(&navigator, &JsValue::from_str("serviceWorker")).ok()?;
        (!value.is_undefined() && !value.is_null()).then(|| value.unchecked_into())
    }

    fn listen(target: &web_sys::EventTarget, event: &str, f: impl FnMut(web_sys::Event) + 'static) {
        let closure = Closure::<dyn FnMut(web_sys::Event)>::new(f);
        let _ = target.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref());
        // Listeners of the page's one container and registration live as long as the page.
        closure.forget();
    }

    pub fn start(sw: ServiceWorker) {
        let Some(container) = container() else {
            return;
        };
        sw.controlled.set(container.controller().is_some());
        {
            let container2 = container.clone();
            listen(&container, "controllerchange", move |_| {
                sw.controlled.set(container2.controller().is_some());
                // A page claimed late (CLAIM below) may find a newer version already waiting: offer it.
                if REGISTRATION.with(|r| r.borrow().as_ref().is_some_and(|r| r.waiting().is_some())) {
                    sw.update_waiting.set(true);
                }
                if RELOAD_ON_CONTROLLER_CHANGE.get() {
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().reload();
                    }
                }
            });
        }
        listen(&container, "message", move |event| {
            let Some(event) = event.dyn_ref::<MessageEvent>() else {
                return;
            };
            let kind = js_sys::Reflect::get(&event.data(), &JsValue::from_str("type")).ok().and_then(|t| t.as_string());
            if kind.as_deref() == Some("SYNC") {
                SYNC_CALLBACKS.with(|callbacks| {
                    for callback in callbacks.borrow().iter() {
                        callback();
                    }
                });
            }
        });
        // startMessages() (not in web-sys): deliver messages now rather than at DOMContentLoaded.
        if let Ok(start) = js_sys::Reflect::get(&container, &JsValue::from_str("startMessages")) {
            if let Some(start) = start.dyn_ref::<js_sys::Function>() {
                let _ = start.call0(&container);
            }
        }

        leptos::task::spawn_local(async move {
            let registration = match JsFuture::from(container.register("/sw.js")).await {
                Ok(r) => r.unchecked_into::<ServiceWorkerRegistration>(),
                Err(e) => {
                    leptos::logging::warn!("service worker registration failed: {e:?}");
                    return;
                }
            };
            REGISTRATION.with(|r| *r.borrow_mut() = Some(registration.clone()));
            watch_updates(sw, &container, &registration);
            periodic_update_check(&registration);
            claim_if_uncontrolled(&container).await;
        });
    }

    /// Once a worker is active, a page it does not control asks it to claim this page. The first
    /// install's `clients.claim()` (in `activate`) misses a page whose navigation was in flight at that
    /// moment (seen in CI: worker "activated", page never controlled), and this app never navigates
    /// fully again, so that page would have no offline shell all day.
    async fn claim_if_uncontrolled(container: &ServiceWorkerContainer) {
        let Some(registration) = ready(container).await else {
            return;
        };
        if container.controller().is_none() {
            if let Some(active) = registration.active() {
                post_type(&active, "CLAIM");
            }
        }
    }

    /// `navigator.serviceWorker.ready`: the registration once it has an active worker.
    async fn ready(container: &ServiceWorkerContainer) -> Option<ServiceWorkerRegistration> {
        let registration = JsFuture::from(container.ready().ok()?).await.ok()?;
        Some(registration.unchecked_into())
    }

    /// Posts `{type: kind}` to a worker (the messages public/sw.js answers).
    fn post_type(worker: &web_sys::ServiceWorker, kind: &str) {
        let message = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&message, &JsValue::from_str("type"), &JsValue::from_str(kind));
        let _ = worker.post_message(&message);
    }

    /// `update_waiting` becomes true when a new version has installed while an older one controls the
    /// page (with no controller, the first install simply activates).
    fn watch_updates(sw: ServiceWorker, container: &ServiceWorkerContainer, registration: &ServiceWorkerRegistration) {
        if registration.waiting().is_some() && container.controller().is_some() {
            sw.update_waiting.set(true);
        }
        let container = container.clone();
        let registration2 = registration.clone();
        listen(registration, "updatefound", move |_| {
            let Some(installing) = registration2.installing() else {
                return;
            };
            let container = container.clone();
            let worker = installing.clone();
            listen(&installing, "statechange", move |_| {
                if worker.state() == ServiceWorkerState::Installed && container.controller().is_some() {
                    sw.update_waiting.set(true);
                }
            });
        });
    }

    fn check_for_update(registration: &ServiceWorkerRegistration) {
        if let Ok(promise) = registration.update() {
            // A failed check (offline) is normal; the next one will do.
            leptos::task::spawn_local(async move {
                let _ = JsFuture::from(promise).await;
            });
        }
    }

    /// Every half hour, and whenever the page comes back to the foreground.
    fn periodic_update_check(registration: &ServiceWorkerRegistration) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let r = registration.clone();
        let tick = Closure::<dyn FnMut()>::new(move || check_for_update(&r));
        let _ = window.set_interval_with_callback_and_timeout_and_arguments_0(
            tick.as_ref().unchecked_ref(),
            UPDATE_CHECK_EVERY_MS,
        );
        tick.forget();
        if let Some(document) = window.document() {
            let r = registration.clone();
            let doc = document.clone();
            listen(&document, "visibilitychange", move |_| {
                if doc.visibility_state() == web_sys::VisibilityState::Visible {
                    check_for_update(&r);
                }
            });
        }
    }

    pub fn apply_update() {
        let waiting = REGISTRATION.with(|r| r.borrow().as_ref().and_then(|r| r.waiting()));
        let Some(waiting) = waiting else {
            // Nothing waits any more (another tab applied it): this tab's code is simply old; reload.
            if let Some(window) = web_sys::window() {
                let _ = window.location().reload();
            }
            return;
        };
        RELOAD_ON_CONTROLLER_CHANGE.set(true);
        post_type(&waiting, "SKIP_WAITING");
    }

    /// `registration.sync.register("mostrador-outbox")` where `sync` exists (web-sys's SyncManager is
    /// unstable, hence Reflect). Returns whether the browser accepted it.
    pub async fn register_sync() -> bool {
        let Some(container) = container() else {
            return false;
        };
        let Some(registration) = ready(&container).await else {
            return false;
        };
        let Ok(sync) = js_sys::Reflect::get(&registration, &JsValue::from_str("sync")) else {
            return false;
        };
        if sync.is_undefined() || sync.is_null() {
            return false;
        }
        let Ok(register) = js_sys::Reflect::get(&sync, &JsValue::from_str("register")) else {
            return false;
        };
        let Some(register) = register.dyn_ref::<js_sys::Function>() else {
            return false;
        };
        match register.call1(&sync, &JsValue::from_str(SYNC_TAG)) {
            Ok(promise) => match promise.dyn_into::<js_sys::Promise>() {
                Ok(promise) => JsFuture::from(promise).await.is_ok(),
                Err(_) => false,
            },
            Err(_) => false,
        }
    }
}
