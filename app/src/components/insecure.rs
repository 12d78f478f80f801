//! The banner a page opened at an insecure address shows (issue #17): browsers give service workers,
//! installation and persistent storage only to secure contexts (`https://` or `localhost`), so at
//! `http://192.168.1.20:3000` the app would quietly lose its offline mode. The banner says so and
//! links the https address (MOSTRADOR_PUBLIC_URL or the server's own, from `GET /api/tls/address`).

use leptos::prelude::*;

use crate::i18n::use_i18n;

/// Shown on every page, the sign-in page too; nothing on a secure context, nothing in the server's
/// HTML (the server cannot know how the browser reached it), so hydration always matches.
#[component]
pub fn InsecureBanner() -> impl IntoView {
    let i18n = use_i18n();
    let insecure = RwSignal::new(false);
    // The https address to open instead, once the server has said it.
    let secure_url = RwSignal::new(None::<String>);
    #[cfg(feature = "hydrate")]
    Effect::new(move || {
        if web_sys::window().is_some_and(|w| w.is_secure_context()) {
            return;
        }
        insecure.set(true);
        leptos::task::spawn_local(async move {
            // Offline or an old server: the banner still says what is wrong, without the address.
            if let Ok(address) = crate::api::secure_address().await {
                secure_url.set(address.url.filter(|u| u.starts_with("https://")));
            }
        });
    });
    view! {
        <Show when=move || insecure.get()>
            <div class="insecure-banner" role="alert" data-testid="insecure-banner">
                <p class="insecure-title">{move || i18n.t("insecure_title")}</p>
                <p>{move || i18n.t("insecure_explain")}</p>
                {move || match secure_url.get() {
                    Some(url) => view! {
                        <a class="btn primary wide insecure-link" href=url.clone() data-testid="insecure-url">
                            {move || i18n.t("insecure_open")} " " <span class="insecure-address">{url.clone()}</span>
                        </a>
                    }
                    .into_any(),
                    None => view! { <p data-testid="insecure-no-url">{move || i18n.t("insecure_ask_admin")}</p> }.into_any(),
                }}
            </div>
        </Show>
    }
}
