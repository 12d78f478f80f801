//! Pieces shared by every page: the session, the toast, the language toggle, icons and the app layout.

pub mod form;
pub mod icons;
pub mod insecure;
pub mod layout;
pub mod list;

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_router::{hooks::use_navigate, NavigateOptions};

use crate::i18n::{use_i18n, Key};
use crate::model::{Role, User};

/// Opens the browser's print dialog (receipts and reports); nothing on the server.
pub fn print_page() {
    #[cfg(feature = "hydrate")]
    if let Some(w) = web_sys::window() {
        let _ = w.print();
    }
}

/// Who is signed in. `None` until `/api/auth/me` (or the login form) has answered.
#[derive(Clone, Copy)]
pub struct Session {
    pub user: RwSignal<Option<User>>,
    /// Set when a call answers 401: the layout then sends the person to /login.
    pub needs_login: RwSignal<bool>,
}

impl Session {
    pub fn new() -> Session {
        Session { user: RwSignal::new(None), needs_login: RwSignal::new(false) }
    }

    pub fn is_admin(self) -> bool {
        self.user.with(|u| u.as_ref().is_some_and(|u| u.role == Role::Admin))
    }

    /// True when the signed-in user's role may do `action` (the server's own table; the UI hides
    /// what it would refuse).
    pub fn may(self, action: crate::permissions::Action) -> bool {
        self.user.with(|u| u.as_ref().is_some_and(|u| crate::permissions::allowed(u.role, action)))
    }

    /// The session is gone (expired, logged out elsewhere): forget the user and go to /login.
    pub fn expired(self) {
        self.user.set(None);
        self.needs_login.set(true);
    }
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}

/// A short message at the bottom of the screen ("Guardado.") that survives a navigation.
#[derive(Clone, Copy)]
pub struct Toast {
    msg: RwSignal<Option<(Key, u32)>>,
}

impl Toast {
    pub fn new() -> Toast {
        Toast { msg: RwSignal::new(None) }
    }

    pub fn show(self, text: Key) {
        let n = self.msg.with_untracked(|m| m.map(|(_, n)| n).unwrap_or(0)) + 1;
        self.msg.set(Some((text, n)));
        let msg = self.msg;
        set_timeout(
            move || {
                // Only hide the message this call showed, not a newer one.
                if msg.try_get_untracked().flatten().map(|(_, k)| k) == Some(n) {
                    msg.set(None);
                }
            },
            std::time::Duration::from_millis(3000),
        );
    }
}

impl Default for Toast {
    fn default() -> Self {
        Toast::new()
    }
}

pub fn use_toast() -> Toast {
    expect_context::<Toast>()
}

#[component]
pub fn ToastView() -> impl IntoView {
    let i18n = use_i18n();
    let toast = use_toast();
    view! {
        <div class="toast-area" role="status" aria-live="polite">
            {move || toast.msg.get().map(|(t, _)| view! { <div class="toast" data-testid="toast">{i18n.t(t)}</div> })}
        </div>
    }
    .into_any()
}

/// The last search and page of each list, so that "back", "cancel" and "save" return to the same results.
#[derive(Clone, Copy)]
pub struct ListMemory(RwSignal<HashMap<&'static str, String>>);

impl ListMemory {
    pub fn new() -> ListMemory {
        ListMemory(RwSignal::new(HashMap::new()))
    }

    pub fn remember(self, path: &'static str, url: String) {
        self.0.update(|m| {
            m.insert(path, url);
        });
    }

    /// The list's URL (reactive inside a view).
    pub fn url(self, path: &'static str) -> String {
        self.0.with(|m| m.get(path).cloned()).unwrap_or_else(|| format!("/{path}"))
    }

    /// The same, outside a view (event handlers, async code).
    pub fn url_now(self, path: &'static str) -> String {
        self.0.with_untracked(|m| m.get(path).cloned()).unwrap_or_else(|| format!("/{path}"))
    }
}

impl Default for ListMemory {
    fn default() -> Self {
        ListMemory::new()
    }
}

pub fn use_list_memory() -> ListMemory {
    expect_context::<ListMemory>()
}

/// Navigation requested from async code: a `Copy` handle (the router's navigate function is not `Copy`),
/// acted on by an effect in the component that created it.
#[derive(Clone, Copy)]
pub struct GoTo(RwSignal<Option<(String, bool)>>);

impl GoTo {
    pub fn go(self, path: impl Into<String>) {
        self.0.set(Some((path.into(), false)));
    }
    pub fn replace(self, path: impl Into<String>) {
        self.0.set(Some((path.into(), true)));
    }
}

pub fn use_goto() -> GoTo {
    let target = RwSignal::new(None::<(String, bool)>);
    let navigate = use_navigate();
    Effect::new(move || {
        if let Some((path, replace)) = target.get() {
            navigate(&path, NavigateOptions { replace, ..Default::default() });
        }
    });
    GoTo(target)
}

/// "ES | EN": switches the language of every text at once.
#[component]
pub fn LangToggle() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <button
            type="button"
            class="lang-toggle"
            data-testid="lang-toggle"
            title=move || i18n.t("switch_language")
            on:click=move |_| i18n.set(i18n.lang.get_untracked().other())
        >
            <icons::Icon name="globe"/>
            // The accessible name starts with the visible "EN" (axe: label-content-name-mismatch).
            <span>{move || i18n.lang.get().other().code().to_uppercase()}</span>
            <span class="visually-hidden">{move || format!(": {}", i18n.t("switch_language"))}</span>
        </button>
    }
    .into_any()
}
