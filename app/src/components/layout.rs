//! The frame around every signed-in page: top bar, navigation (bottom bar on a phone, side bar on a
//! desktop) and the session check that sends anyone without a session to /login.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::{components::Outlet, hooks::use_location};

use super::icons::Icon;
use super::{use_goto, use_session, LangToggle, ToastView};
use crate::api;
use crate::i18n::{use_i18n, T};

#[component]
pub fn AppLayout() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let goto = use_goto();
    let check_failed = RwSignal::new(false);

    let check = move || {
        check_failed.set(false);
        spawn_local(async move {
            match api::me().await {
                Ok(user) => session.user.set(Some(user)),
                Err(e) if e.is_unauthorized() => session.expired(),
                Err(_) => check_failed.set(true),
            }
        });
    };
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
                    <p>{move || i18n.t(T::SessionCheckFailed)}</p>
                    <button type="button" class="btn" on:click=move |_| check()>
                        {move || i18n.t(T::Retry)}
                    </button>
                </div>
            }
            .into_any()
        } else {
            view! { <p class="loading" data-testid="loading">{move || i18n.t(T::Loading)}</p> }
                .into_any()
        }
    };

    view! {
        <div class="app">
            <a class="skip-link" href="#main">{move || i18n.t(T::SkipToContent)}</a>
            <TopBar/>
            <NavBar/>
            <main id="main" class="main" tabindex="-1">
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
fn TopBar() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();

    let logout = move |_| {
        spawn_local(async move {
            // Whatever the server says, this device forgets the user; the cookie is HttpOnly.
            let _ = api::logout().await;
            session.expired();
        });
    };

    view! {
        <header class="topbar">
            <a class="brand" href="/products" aria-label="Mostrador">
                <span class="brand-mark" aria-hidden="true">"M"</span>
                <span class="brand-name">"Mostrador"</span>
            </a>
            <div class="topbar-end">
                <LangToggle/>
                <span class="who" data-testid="user-name">
                    {move || session.user.with(|u| u.as_ref().map(|u| u.username.clone()).unwrap_or_default())}
                </span>
                <button type="button" class="btn ghost logout" data-testid="logout" on:click=logout>
                    <Icon name="logout"/>
                    <span>{move || i18n.t(T::Logout)}</span>
                </button>
            </div>
        </header>
    }
    .into_any()
}

#[component]
fn NavBar() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let location = use_location();
    let link = move |href: &'static str, icon: &'static str, label: T| {
        let current = move || {
            let path = location.pathname.get();
            (path == href || path.starts_with(&format!("{href}/"))).then_some("page")
        };
        view! {
            <a href=href class="nav-link" aria-current=current data-testid=format!("nav-{icon}")>
                <Icon name=icon/>
                <span>{move || i18n.t(label)}</span>
            </a>
        }
    };
    view! {
        <nav class="nav" aria-label=move || i18n.t(T::MainNav)>
            {link("/products", "products", T::Products)}
            {link("/categories", "categories", T::Categories)}
            {link("/customers", "customers", T::Customers)}
            <Show when=move || session.is_admin()>{link("/users", "users", T::Users)}</Show>
        </nav>
    }
    .into_any()
}
