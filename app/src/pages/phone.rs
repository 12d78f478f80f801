//! /phone — "Conectar un teléfono" (admins, issue #17): the https address as a QR code, and in LAN
//! mode the shop's CA certificate to download, its SHA-256 fingerprint and the steps to trust it and
//! install the app on Android and iOS. Without https it says what to run instead: a phone on plain
//! http gets no offline mode.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::api::{self, ApiError};
use crate::components::use_session;
use crate::i18n::{fill, use_i18n, Key};
use crate::model::PhoneSetup;
use crate::permissions::Action;

#[component]
pub fn PhonePage() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    view! {
        <Title text=move || i18n.t("phone_title").to_string()/>
        <Show
            when=move || session.may(Action::System)
            fallback=move || view! { <p class="panel center" data-testid="forbidden">{move || i18n.t("system_admins_only")}</p> }
        >
            <PhoneAdmin/>
        </Show>
    }
    .into_any()
}

#[component]
fn PhoneAdmin() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let setup = RwSignal::new(None::<Result<PhoneSetup, ApiError>>);
    Effect::new(move || {
        spawn_local(async move {
            let r = api::phone_setup().await;
            if matches!(&r, Err(e) if e.is_unauthorized()) {
                session.expired();
                return;
            }
            setup.set(Some(r));
        });
    });
    view! {
        <section class="page phone">
            <header class="page-head"><h1>{move || i18n.t("phone_title")}</h1></header>
            {move || match setup.get() {
                None => view! { <p class="panel">{i18n.t("loading")}</p> }.into_any(),
                Some(Err(e)) => view! { <p class="panel error" role="alert">{e.describe(i18n.lang.get())}</p> }.into_any(),
                Some(Ok(s)) if s.urls.is_empty() => view! { <NoHttps/> }.into_any(),
                Some(Ok(s)) => view! { <PhoneView s=s/> }.into_any(),
            }}
        </section>
    }
}

/// The server speaks plain http only: what to run so phones get https.
#[component]
fn NoHttps() -> impl IntoView {
    let i18n = use_i18n();
    let t = move |k: Key| i18n.t(k);
    view! {
        <div class="panel" data-testid="phone-no-tls">
            <h2>{move || t("phone_no_tls_title")}</h2>
            <p>{move || t("phone_no_tls_explain")}</p>
            <p>{move || t("phone_no_tls_lan")}</p>
            <pre class="command" data-testid="phone-command">"mostrador serve --addr 0.0.0.0:3443 --tls-lan --http-redirect-addr 0.0.0.0:3000"</pre>
            <p>{move || t("phone_no_tls_domain")}</p>
            <pre class="command">"mostrador serve --addr 0.0.0.0:443 --http-redirect-addr 0.0.0.0:80 --acme-domain caja.example.com"</pre>
            <p>{move || t("phone_no_tls_readme")}</p>
        </div>
    }
}

#[component]
fn PhoneView(s: PhoneSetup) -> impl IntoView {
    let i18n = use_i18n();
    let t = move |k: Key| i18n.t(k);
    let url = s.urls.first().cloned().unwrap_or_default();
    let others: Vec<String> = s.urls.iter().skip(1).cloned().collect();
    // The QR image is the server's own SVG (made by the qrcode crate from our URL, no outside service).
    let qr = s.qr_svg.clone();
    let lan = s.ca.is_some();
    let address = view! {
        <div class="panel phone-address" data-testid="phone-address">
            <h2>{move || t("phone_scan")}</h2>
            <div class="qr" data-testid="phone-qr" role="img" aria-label=move || t("phone_qr_label") inner_html=qr></div>
            <a class="phone-url" href=url.clone() data-testid="phone-url">{url.clone()}</a>
            {(!others.is_empty()).then(|| view! {
                <p class="muted">{move || t("phone_other_addresses")}</p>
                <ul class="phone-others">
                    {others.into_iter().map(|u| view! { <li><a href=u.clone()>{u.clone()}</a></li> }).collect_view()}
                </ul>
            })}
        </div>
    };
    let certificate = s.ca.clone().map(|ca| {
        // Where a phone that does not trust the CA yet can fetch it: the same https address (its
        // browser warns once) or the plain-http listener of --http-redirect-addr.
        let ca_url = format!("{}{}", url.trim_end_matches('/'), ca.download);
        let ca_url_text = ca_url.clone();
        view! {
            <div class="panel" data-testid="phone-ca">
                <h2>{move || t("phone_ca_title")}</h2>
                <p>{move || t("phone_ca_explain")}</p>
                <a class="btn primary wide" href=ca.download.clone() download="mostrador-ca.crt" data-testid="phone-ca-download">
                    {move || t("phone_ca_download")}
                </a>
                <p class="muted">{move || fill(t("phone_ca_on_phone"), &[("url", &ca_url_text)])}</p>
                <dl class="facts">
                    <dt>{move || t("phone_ca_name")}</dt><dd>{ca.name.clone()}</dd>
                    <dt>{move || t("phone_fingerprint")}</dt>
                    <dd><code class="fingerprint" data-testid="phone-fingerprint">{ca.sha256.clone()}</code></dd>
                </dl>
            </div>
        }
    });
    let steps = move |title: Key, keys: &'static [Key], testid: &'static str| {
        view! {
            <div class="panel" data-testid=testid>
                <h2>{move || t(title)}</h2>
                <ol class="steps">
                    {keys.iter().copied().map(|k| view! { <li>{move || t(k)}</li> }).collect_view()}
                </ol>
            </div>
        }
    };
    let (android, ios): (&'static [Key], &'static [Key]) = if lan {
        (
            &[
                "phone_android_download",
                "phone_android_install_ca",
                "phone_check_fingerprint",
                "phone_android_open",
                "phone_android_install_app",
            ],
            &[
                "phone_ios_download",
                "phone_ios_profile",
                "phone_ios_trust",
                "phone_check_fingerprint",
                "phone_ios_open",
                "phone_ios_install_app",
            ],
        )
    } else {
        (&["phone_android_open", "phone_android_install_app"], &["phone_ios_open", "phone_ios_install_app"])
    };
    view! {
        {address}
        {certificate}
        {steps("phone_android", android, "phone-steps-android")}
        {steps("phone_ios", ios, "phone-steps-ios")}
    }
}
