//! The frame around every signed-in page: top bar, navigation (bottom bar on a phone, side bar on a
//! desktop) and the session check that sends anyone without a session to /login.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::{components::Outlet, hooks::use_location};

use super::icons::Icon;
use super::{use_goto, use_session, LangToggle, ToastView};
use crate::api;
use crate::i18n::{fill, use_i18n, Key, Lang};
use crate::offline::device::{self, remember_user, remembered_user, SignOutRefused};
use crate::offline::sync::{self, use_sync, Connection};

#[component]
pub fn AppLayout() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let sync = use_sync();
    let goto = use_goto();
    let check_failed = RwSignal::new(false);
    let refused = RwSignal::new(None::<SignOutRefused>);

    let check = move || {
        check_failed.set(false);
        spawn_local(async move {
            // Someone signed out and the server has not heard yet: the cookie may still be good, but
            // only a password lets anyone in now.
            if device::logout_pending() {
                device::flush_logout().await;
                session.expired();
                return;
            }
            match api::me().await {
                Ok(user) => session.user.set(Some(user)),
                Err(e) if e.is_unauthorized() => {
                    remember_user(None);
                    session.expired()
                }
                // No server: whoever used this device last keeps working offline; their writes
                // wait in the outbox and go out under their session when the server is back.
                Err(e) => match remembered_user() {
                    Some(user) => {
                        if e.is_network() {
                            sync.connection.set(if sync::browser_online() {
                                Connection::Unreachable
                            } else {
                                Connection::Offline
                            });
                        }
                        session.user.set(Some(user))
                    }
                    // Nobody to open the app for offline (signed out, or a new device): ask for a
                    // password rather than an error; the form says when there is no network.
                    None if e.is_network() => session.expired(),
                    None => check_failed.set(true),
                },
            }
        });
    };
    // The sync engine sends only the signed-in user's items.
    Effect::new(move || {
        let user = session.user.get();
        if user.is_some() {
            remember_user(user.as_ref());
        }
        let id = user.map(|u| u.id);
        if sync.user.get_untracked() != id {
            sync.user.set(id);
            if id.is_some() {
                sync::kick(sync);
            }
        }
    });
    // The server's session belongs to someone else (signed in in another tab): this tab shows them,
    // and the sync engine sends only their items.
    Effect::new(move || {
        if let Some(user) = sync.signed_in_as.get() {
            sync.signed_in_as.set(None);
            session.user.set(Some(user));
        }
    });
    Effect::new(move || {
        if sync.unauthorized.get() {
            sync.unauthorized.set(false);
            remember_user(None);
            session.expired();
        }
    });
    // Runs once, in the browser only: the server renders the shell without knowing who is signed in.
    Effect::new(move || {
        if session.user.get_untracked().is_none() {
            check();
        }
    });
    Effect::new(move || {
        if session.needs_login.get() {
            goto.replace("/login");
        }
    });

    let pending = move || {
        if check_failed.get() {
            view! {
                <div class="panel center" role="alert">
                    <p>{move || i18n.t("session_check_failed")}</p>
                    <button type="button" class="btn" on:click=move |_| check()>
                        {move || i18n.t("retry")}
                    </button>
                </div>
            }
            .into_any()
        } else {
            view! { <p class="loading" data-testid="loading">{move || i18n.t("loading")}</p> }.into_any()
        }
    };

    view! {
        <div class="app">
            <a class="skip-link" href="#main">{move || i18n.t("skip_to_content")}</a>
            <TopBar refused/>
            <NavBar/>
            <main id="main" class="main" tabindex="-1">
                <LogoutRefused refused/>
                <ConnectionBar/>
                <Show when=move || session.user.with(|u| u.is_some()) fallback=pending>
                    <Outlet/>
                </Show>
            </main>
            <ToastView/>
        </div>
    }
    .into_any()
}

#[component]
fn TopBar(refused: RwSignal<Option<SignOutRefused>>) -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let cart = expect_context::<crate::pages::sale::CurrentSale>();

    let logout = move |_| {
        let user = session.user.get_untracked().map(|u| u.id);
        spawn_local(async move {
            // Offline too: the device forgets the user now, the server's session ends when it can.
            match device::sign_out(user).await {
                Ok(()) => {
                    refused.set(None);
                    cart.clear();
                    session.expired();
                }
                Err(why) => refused.set(Some(why)),
            }
        });
    };

    view! {
        <header class="topbar">
            <a class="brand" href="/products">
                <span class="brand-mark" aria-hidden="true">"M"</span>
                <span class="brand-name">"Mostrador"</span>
            </a>
            <div class="topbar-end">
                <a class="btn ghost icon-only" href="/settings" data-testid="nav-settings"
                    aria-label=move || i18n.t("settings") title=move || i18n.t("settings")>
                    <Icon name="settings"/>
                </a>
                <LangToggle/>
                <span class="who" data-testid="user-name">
                    {move || session.user.with(|u| u.as_ref().map(|u| u.username.clone()).unwrap_or_default())}
                </span>
                <button type="button" class="btn ghost logout" data-testid="logout" on:click=logout>
                    <Icon name="logout"/>
                    <span>{move || i18n.t("logout")}</span>
                </button>
            </div>
        </header>
    }
    .into_any()
}

/// Why the last sign-out did not happen (wipe on sign-out with this user's items unsent).
#[component]
fn LogoutRefused(refused: RwSignal<Option<SignOutRefused>>) -> impl IntoView {
    let i18n = use_i18n();
    move || {
        refused.get().map(|why| {
            let text = match why {
                SignOutRefused::Unsent(n) => fill(i18n.t("logout_refused_unsent"), &[("n", &n.to_string())]),
                SignOutRefused::Storage(e) => fill(i18n.t("logout_refused_storage"), &[("error", &e.to_string())]),
            };
            view! {
                <div class="banner logout-refused" role="alert" data-testid="logout-refused">
                    <p>{text}</p>
                    <div class="actions">
                        <a class="btn" href="/pending" on:click=move |_| refused.set(None)>{move || i18n.t("pending")}</a>
                        <button type="button" class="btn ghost" on:click=move |_| refused.set(None)>{move || i18n.t("close")}</button>
                    </div>
                </div>
            }
        })
    }
}

#[component]
fn NavBar() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let sync = use_sync();
    let location = use_location();
    let link = move |href: &'static str, icon: &'static str, label: Key| {
        let current = move || {
            let path = location.pathname.get();
            (path == href || path.starts_with(&format!("{href}/"))).then_some("page")
        };
        // The admin pages stay out of a phone's bottom bar (five thumbs' worth); /settings links them.
        let class = if matches!(icon, "users" | "backups" | "dashboard" | "cash" | "system" | "phone") {
            "nav-link nav-admin"
        } else {
            "nav-link"
        };
        view! {
            <a href=href class=class aria-current=current data-testid=format!("nav-{icon}")>
                <Icon name=icon/>
                <span>{move || i18n.t(label)}</span>
            </a>
        }
    };
    view! {
        <nav class="nav" aria-label=move || i18n.t("main_nav")>
            {link("/sale", "sale", "sell")}
            {link("/cash", "cash", "cash_nav")}
            {link("/products", "products", "products")}
            {link("/categories", "categories", "categories")}
            {link("/customers", "customers", "customers")}
            <a href="/pending" class="nav-link" data-testid="nav-pending"
                aria-current=move || (location.pathname.get() == "/pending").then_some("page")>
                <span class="nav-icon-wrap">
                    <Icon name="pending"/>
                    <Show when=move || { sync.open_count() > 0 }>
                        <span class=move || { if sync.attention_count() > 0 { "badge count alert" } else { "badge count" } }
                            data-testid="pending-badge"
                            aria-label=move || fill(i18n.t("pending_badge"), &[("n", &sync.open_count().to_string())])>
                            {move || sync.open_count()}
                        </span>
                    </Show>
                </span>
                <span>{move || i18n.t("pending_nav")}</span>
            </a>
            <Show when=move || session.is_admin()>{link("/dashboard", "dashboard", "dashboard")}</Show>
            <Show when=move || session.is_admin()>{link("/users", "users", "users")}</Show>
            <Show when=move || session.is_admin()>{link("/backups", "backups", "backups")}</Show>
            <Show when=move || session.is_admin()>{link("/system", "system", "system")}</Show>
            <Show when=move || session.may(crate::permissions::Action::System)>{link("/phone", "phone", "phone_nav")}</Show>
        </nav>
    }
    .into_any()
}

/// Connection state and what is waiting, on every page: "Sin conexión — 3 pendientes". Reading is
/// never blocked by it; it only says what is true.
#[component]
pub fn ConnectionBar() -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let now = RwSignal::new(sync::now_ms());
    // Re-render the age every 30 s.
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(move || now.set(sync::now_ms()), std::time::Duration::from_secs(30));
        on_cleanup(move || {
            if let Ok(h) = handle {
                h.clear();
            }
        });
    }
    let state = move || match sync.connection.get() {
        Connection::Online => ("online", "conn_online"),
        Connection::Offline => ("offline", "conn_offline"),
        Connection::Unreachable => ("unreachable", "conn_unreachable"),
        Connection::Unknown => ("unknown", "conn_checking"),
    };
    let age = move || {
        now.track();
        sync.data_version.track();
        data_age(i18n.lang.get(), sync.last_pull_ms.get(), sync::now_ms())
    };
    let send_now = move |_| {
        sync::kick(sync);
    };
    view! {
        <div class="connbar" data-state=move || state().0 data-testid="connection" role="status">
            <span class="conn-dot" aria-hidden="true"></span>
            <span class="conn-text" data-testid="connection-text">{move || i18n.t(state().1)}</span>
            <Show when=move || { sync.open_count() > 0 }>
                <a class="conn-pending" href="/pending" data-testid="connection-pending">
                    {move || fill(i18n.t("pending_badge"), &[("n", &sync.open_count().to_string())])}
                </a>
            </Show>
            <span class="conn-age" data-testid="data-age">
                {age}
            </span>
            <Show when=move || sync.first_load.get()>
                <span class="conn-progress" data-testid="download-progress" role="status">
                    // Indeterminate: the server does not say how many rows will come.
                    <progress aria-label=move || i18n.t("first_download")></progress>
                    {move || fill(i18n.t("downloaded_rows"), &[("n", &sync.downloaded.get().to_string())])}
                </span>
            </Show>
            {move || sync.progress.get().map(|(n, total)| view! {
                <span class="conn-progress" data-testid="send-progress">
                    <progress max=total.to_string() value=n.to_string()></progress>
                    {fill(i18n.t("sending_progress"), &[("n", &n.to_string()), ("total", &total.to_string())])}
                </span>
            })}
            <Show when=move || { sync.open_count() > 0 && sync.progress.get().is_none() }>
                <button type="button" class="btn small" data-testid="send-now" on:click=send_now>
                    {move || i18n.t("send_now")}
                </button>
            </Show>
        </div>
    }
}

/// How old the local copy is, in words ("datos de hace 5 min").
pub fn data_age(lang: Lang, last_pull_ms: Option<f64>, now_ms: f64) -> String {
    let Some(last) = last_pull_ms else {
        return crate::i18n::text(lang, "data_never").to_string();
    };
    let minutes = ((now_ms - last) / 60_000.0).floor().max(0.0) as i64;
    if minutes == 0 {
        return crate::i18n::text(lang, "data_age_now").to_string();
    }
    fill(crate::i18n::text(lang, "data_age"), &[("ago", &crate::i18n::ago(lang, minutes))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_age_in_words() {
        assert_eq!(data_age(Lang::Es, None, 0.0), "todavía sin datos del servidor");
        assert_eq!(data_age(Lang::Es, Some(0.0), 59_000.0), "datos al día");
        assert_eq!(data_age(Lang::Es, Some(0.0), 12.0 * 60_000.0), "datos de hace 12 min");
        assert_eq!(data_age(Lang::En, Some(0.0), 5.0 * 3_600_000.0), "data from 5 h ago");
        assert_eq!(data_age(Lang::Es, Some(0.0), 3.0 * 86_400_000.0), "datos de hace 3 días");
    }
}
