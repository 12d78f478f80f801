//! /login

use leptos::ev::SubmitEvent;
use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::api;
use crate::components::form::Msg;
use crate::components::{use_goto, use_session, LangToggle};
use crate::i18n::{fill, use_i18n};
use crate::offline::device;

#[component]
pub fn LoginPage() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let goto = use_goto();
    let error = RwSignal::new(None::<Msg>);
    let busy = RwSignal::new(false);
    // The button stays disabled until the wasm has hydrated: a submit before that would be a plain
    // HTML form post that nothing handles.
    let interactive = RwSignal::new(false);
    // Uncontrolled inputs, read on submit: whatever the person (or a password manager) typed before
    // hydration is kept.
    let username_ref = NodeRef::<html::Input>::new();
    let password_ref = NodeRef::<html::Input>::new();

    Effect::new(move || interactive.set(true));

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let username = username_ref.get_untracked().map(|i| i.value()).unwrap_or_default();
        let password = password_ref.get_untracked().map(|i| i.value()).unwrap_or_default();
        if username.trim().is_empty() || password.is_empty() {
            error.set(Some(Msg::T("invalid_credentials")));
            return;
        }
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            // The last sign-out first: a new login replaces the cookie, and the old session must not
            // outlive it. Until the server has heard of it, nobody signs in.
            if !device::flush_logout().await {
                busy.set(false);
                error.set(Some(Msg::T("network_error")));
                return;
            }
            match api::login(username.trim(), &password).await {
                Ok(user) => {
                    session.user.set(Some(user));
                    session.needs_login.set(false);
                    goto.go("/products");
                }
                Err(e) => {
                    busy.set(false);
                    let msg = match e.status {
                        401 => Msg::T("invalid_credentials"),
                        429 => {
                            let wait = e.retry_after.unwrap_or(60).to_string();
                            Msg::Text(fill(
                                crate::i18n::text(i18n.lang.get_untracked(), "too_many_attempts"),
                                &[("n", &wait)],
                            ))
                        }
                        _ => Msg::Text(e.describe(i18n.lang.get_untracked())),
                    };
                    error.set(Some(msg));
                    if let Some(p) = password_ref.try_get_untracked().flatten() {
                        p.set_value("");
                        let _ = p.focus();
                    }
                }
            }
        });
    };

    view! {
        <Title text=move || i18n.t("login_title").to_string()/>
        <main class="login">
            <div class="login-top">
                <LangToggle/>
            </div>
            <div class="card login-card">
                <div class="login-brand">
                    <span class="brand-mark big" aria-hidden="true">"M"</span>
                    <span class="brand-name">"Mostrador"</span>
                </div>
                <h1 data-testid="login-title">{move || i18n.t("login_title")}</h1>
                <p class="muted">{move || i18n.t("login_subtitle")}</p>
                <form method="post" data-testid="login-form" on:submit=on_submit>
                    <div class="field">
                        <label for="username">{move || i18n.t("username")}</label>
                        <input
                            id="username"
                            name="username"
                            type="text"
                            autocomplete="username"
                            autocapitalize="none"
                            spellcheck="false"
                            required
                            node_ref=username_ref
                        />
                    </div>
                    <div class="field">
                        <label for="password">{move || i18n.t("password")}</label>
                        <input
                            id="password"
                            name="password"
                            type="password"
                            autocomplete="current-password"
                            required
                            node_ref=password_ref
                        />
                    </div>
                    {move || {
                        error
                            .get()
                            .map(|m| {
                                view! {
                                    <p class="banner" role="alert" data-testid="login-error">
                                        {m.show(i18n.lang.get())}
                                    </p>
                                }
                            })
                    }}
                    <button
                        type="submit"
                        class="btn primary wide"
                        data-testid="login-submit"
                        disabled=move || busy.get() || !interactive.get()
                    >
                        {move || i18n.t(if busy.get() { "signing_in" } else { "sign_in" })}
                    </button>
                </form>
            </div>
        </main>
    }
    .into_any()
}
