//! /settings — this device: storage (persistent or not, usage and quota), language, and (set by an
//! admin) whether it wipes its data on sign-out, for a phone several people share; for admins, the
//! shop's details printed on receipts (`shop`) and the administration pages.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::components::icons::Icon;
use crate::components::{use_session, LangToggle};
use crate::i18n::{fill, use_i18n};
use crate::offline::device;
use crate::offline::sync::{self, use_sync};
use crate::pages::shop::ShopDetails;

fn megabytes(bytes: f64) -> String {
    if bytes >= 1e9 {
        format!("{:.1} GB", bytes / 1e9)
    } else {
        format!("{:.1} MB", bytes / 1e6)
    }
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let session = use_session();
    Effect::new(move || spawn_local(sync::ask_persistent_storage(sync)));
    view! {
        <Title text=move || i18n.t("settings").to_string()/>
        <section class="page">
            <header class="page-head"><h1>{move || i18n.t("settings")}</h1></header>
            <div class="panel" data-testid="storage">
                <h2>{move || i18n.t("storage_title")}</h2>
                {move || sync.storage.get().map(|s| view! {
                    <p data-testid="storage-usage">{fill(i18n.t("storage_usage"), &[("used", &megabytes(s.usage)), ("quota", &megabytes(s.quota))])}</p>
                    {if s.persisted {
                        view! { <p data-testid="storage-persistent">{i18n.t("storage_persistent")}</p> }.into_any()
                    } else {
                        view! { <p class="warn" role="alert" data-testid="storage-not-persistent">{i18n.t("storage_not_persistent")}</p> }.into_any()
                    }}
                })}
            </div>
            <SharedDevice/>
            <div class="panel">
                <h2>{move || i18n.t("language")}</h2>
                <LangToggle/>
            </div>
            <Show when=move || session.is_admin()>
                <ShopDetails/>
                <crate::pages::taxes::TaxSettingsForm/>
            </Show>
            <Show when=move || session.is_admin()>
                <nav class="panel admin-links" aria-label=move || i18n.t("administration")>
                    <h2>{move || i18n.t("administration")}</h2>
                    <a class="btn wide" href="/dashboard" data-testid="settings-dashboard"><Icon name="dashboard"/><span>{move || i18n.t("dashboard")}</span></a>
                    <a class="btn wide" href="/users" data-testid="settings-users"><Icon name="users"/><span>{move || i18n.t("users")}</span></a>
                    <a class="btn wide" href="/backups" data-testid="settings-backups"><Icon name="backups"/><span>{move || i18n.t("backups")}</span></a>
                    <a class="btn wide" href="/system" data-testid="settings-system"><Icon name="system"/><span>{move || i18n.t("system")}</span></a>
                    <a class="btn wide" href="/phone" data-testid="settings-phone"><Icon name="phone"/><span>{move || i18n.t("phone_nav")}</span></a>
                </nav>
            </Show>
        </section>
    }
    .into_any()
}

/// "Borrar los datos del dispositivo al cerrar sesión": an admin turns it on for a shared phone;
/// everyone else only sees that it is on.
#[component]
fn SharedDevice() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    // localStorage exists only in the browser: read after hydration, so both renders agree.
    let on = RwSignal::new(false);
    Effect::new(move || on.set(device::wipe_on_logout()));
    let admin = move || session.is_admin();
    view! {
        <div class="panel" data-testid="shared-device">
            <h2>{move || i18n.t("shared_device")}</h2>
            <Show
                when=admin
                fallback=move || view! {
                    <Show when=move || on.get()>
                        <p data-testid="wipe-on-logout-is-on">{move || i18n.t("wipe_on_logout_is_on")}</p>
                    </Show>
                }
            >
                <label class="check">
                    <input
                        type="checkbox"
                        name="wipe_on_logout"
                        data-testid="wipe-on-logout"
                        aria-describedby="wipe-on-logout-help"
                        prop:checked=move || on.get()
                        on:change=move |ev| {
                            let checked = event_target_checked(&ev);
                            // Admins only: the checkbox is not shown to anyone else.
                            if session.is_admin() {
                                device::set_wipe_on_logout(checked);
                                on.set(checked);
                            }
                        }
                    />
                    <span>{move || i18n.t("wipe_on_logout")}</span>
                </label>
            </Show>
            <p class="help" id="wipe-on-logout-help">{move || i18n.t("wipe_on_logout_help")}</p>
        </div>
    }
}
