//! Mostrador's user interface: the HTML shell the server renders, the router, and every page.
//!
//! Pages render a data-free shell on the server ("Cargando…") and load their data in the browser after
//! hydration, from the offline IndexedDB copy (`offline/`), which the sync engine keeps fresh.

// The view types of the larger pages nest deeper than the default limit when building for wasm.
#![recursion_limit = "256"]

// Compiles app/locales/*.yml into lookup tables; `i18n::text` reads them.
rust_i18n::i18n!("locales", fallback = "es");

pub mod api;
pub mod components;
pub mod entity;
pub mod format;
pub mod i18n;
pub mod limits;
pub mod model;
pub mod money;
pub mod offline;
pub mod pages;
pub mod permissions;
pub mod region;
pub mod totals;
pub mod wire;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{ParentRoute, Redirect, Route, Router, Routes},
    path,
};

use components::layout::AppLayout;
use components::{ListMemory, Session, Toast};
use i18n::I18n;
use pages::categories::{CategoriesPage, CategoryEditPage};
use pages::customers::{CustomerEditPage, CustomersPage};
use pages::login::LoginPage;
use pages::not_found::NotFound;
use pages::pending::PendingPage;
use pages::products::{ProductEditPage, ProductsPage};
use pages::sale::SalePage;
use pages::settings::SettingsPage;
use pages::users::UsersPage;

/// The whole HTML document, rendered by the server for every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let lang = i18n::initial_lang();
    view! {
        <!DOCTYPE html>
        <html lang=lang.code()>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover"/>
                <meta name="theme-color" content="#0f766e"/>
                <meta name="color-scheme" content="light"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <link rel="apple-touch-icon" href="/icons/icon-192.png"/>
                <link rel="manifest" href="/manifest.webmanifest"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
    .into_any()
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let i18n = I18n { lang: RwSignal::new(i18n::initial_lang()) };
    provide_context(i18n);
    provide_context(Session::new());
    provide_context(Toast::new());
    provide_context(ListMemory::new());
    let current_sale = pages::sale::CurrentSale::new();
    provide_context(current_sale);
    let sync = offline::sync::SyncState::new();
    provide_context(sync);
    offline::service_worker::register();
    // Background Sync (Chromium) wakes the page when the connection is back: drain then.
    offline::service_worker::on_sync_message(move || offline::sync::kick(sync));

    // Browser only, right after hydration.
    Effect::new(move || {
        // A language saved in localStorage whose cookie was cleared: adopt it (and restore the cookie).
        if let Some(saved) = i18n::stored_lang() {
            if saved != i18n.lang.get_untracked() {
                i18n.set(saved);
            }
        }
        offline::sync::start(sync);
        current_sale.keep();
        mark_hydrated();
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/mostrador.css"/>
        <Title formatter=|text: String| {
            if text.is_empty() { "Mostrador".to_string() } else { format!("{text} · Mostrador") }
        }/>
        <offline::service_worker::UpdateBanner/>
        <components::insecure::InsecureBanner/>
        <pages::system::EmergencyBanner/>
        <Router>
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/") view=|| view! { <Redirect path="/products"/> }/>
                <Route path=path!("/login") view=LoginPage/>
                <ParentRoute path=path!("") view=AppLayout>
                    <Route path=path!("products") view=ProductsPage/>
                    <Route path=path!("products/:id") view=ProductEditPage/>
                    <Route path=path!("categories") view=CategoriesPage/>
                    <Route path=path!("categories/:id") view=CategoryEditPage/>
                    <Route path=path!("tax_rates") view=pages::taxes::TaxRatesPage/>
                    <Route path=path!("tax_rates/:id") view=pages::taxes::TaxRateEditPage/>
                    <Route path=path!("customers") view=CustomersPage/>
                    <Route path=path!("customers/:id") view=CustomerEditPage/>
                    <Route path=path!("users") view=UsersPage/>
                    <Route path=path!("sale") view=SalePage/>
                    <Route path=path!("sales") view=pages::sales::SalesPage/>
                    <Route path=path!("receipt/:id") view=pages::sales::ReceiptPage/>
                    <Route path=path!("refund/:id") view=pages::refund::RefundReceiptPage/>
                    <Route path=path!("dashboard") view=pages::dashboard::DashboardPage/>
                    <Route path=path!("cash") view=pages::cash::CashPage/>
                    <Route path=path!("till/:id/report") view=pages::report::TillReportPage/>
                    <Route path=path!("pending") view=PendingPage/>
                    <Route path=path!("settings") view=SettingsPage/>
                    <Route path=path!("backups") view=pages::backups::BackupsPage/>
                    <Route path=path!("system") view=pages::system::SystemPage/>
                    <Route path=path!("phone") view=pages::phone::PhonePage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
    .into_any()
}

/// `<html data-hydrated>` tells browser tests (and anyone debugging) that the wasm is running, so they
/// interact with live controls rather than the server's static HTML.
fn mark_hydrated() {
    #[cfg(feature = "hydrate")]
    if let Some(el) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) {
        let _ = el.set_attribute("data-hydrated", "true");
    }
}
