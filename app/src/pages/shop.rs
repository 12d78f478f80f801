//! The shop's details on the settings page (admins): name, address, tax number, phone, the texts
//! printed above and below every receipt, and its currency, locale and time zone. Saved online with the
//! version the form was loaded at; a stale save shows the current details instead of overwriting them.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::api::{self, ApiError};
use crate::components::use_toast;
use crate::i18n::{use_i18n, Key};
use crate::model::ShopSettings;
use crate::offline::data;
use crate::offline::sync::{self, use_sync};
use crate::wire::{LogoUpdate, SettingsUpdate};

/// Each field's label, in the order of `SettingsUpdate::FIELDS`; the receipt texts are multi-line.
const LABELS: [Key; 9] = [
    "shop_name",
    "shop_address",
    "shop_tax_id",
    "shop_phone",
    "receipt_header_label",
    "receipt_footer_label",
    "shop_currency",
    "shop_locale",
    "shop_time_zone",
];

/// Suggestions for the code fields (any valid code may be typed): the currencies and locales of the
/// shops this is made for, and every time zone the browser knows.
const CURRENCIES: [&str; 16] =
    ["ARS", "BOB", "BRL", "CLP", "COP", "CRC", "DOP", "EUR", "GTQ", "MXN", "PEN", "PYG", "USD", "UYU", "VES", "HNL"];
const LOCALES: [&str; 14] = [
    "es", "es-AR", "es-BO", "es-CL", "es-CO", "es-CR", "es-ES", "es-MX", "es-PE", "es-PY", "es-UY", "es-VE", "en",
    "en-US",
];

fn time_zones() -> Vec<String> {
    #[cfg(feature = "hydrate")]
    {
        // Older browsers lack Intl.supportedValuesOf (and calling it would throw): no suggestions there.
        let intl = js_sys::Reflect::get(&js_sys::global(), &"Intl".into()).unwrap_or_default();
        if js_sys::Reflect::has(&intl, &"supportedValuesOf".into()).unwrap_or(false) {
            let zones = js_sys::Intl::supported_values_of(js_sys::Intl::SupportedValuesKey::TimeZone);
            return zones.iter().map(String::from).collect();
        }
    }
    Vec::new()
}

#[component]
pub fn ShopDetails() -> impl IntoView {
    let i18n = use_i18n();
    let toast = use_toast();
    let sync = use_sync();
    let fields: [RwSignal<String>; 9] = std::array::from_fn(|_| RwSignal::new(String::new()));
    let version = RwSignal::new(None::<i64>);
    let logo = RwSignal::new(String::new());
    let banner = RwSignal::new(None::<String>);
    let fill = move |s: &ShopSettings| {
        for (signal, value) in fields.iter().zip(s.texts()) {
            signal.set(value.to_owned());
        }
        logo.set(s.logo.clone());
        version.set(Some(s.version));
    };
    let loaded = LocalResource::new(move || async move {
        let r = api::settings().await;
        if let Ok(s) = &r {
            fill(s);
        }
        r
    });
    let save = Action::new_local(|update: &SettingsUpdate| {
        let update = update.clone();
        async move { api::put_settings(&update).await }
    });
    let save_logo = Action::new_local(|update: &LogoUpdate| {
        let update = update.clone();
        async move { api::put_logo(&update).await }
    });
    // Both saves answer with the whole settings: shown, kept on this device, then synced. A new logo
    // leaves the texts being typed alone (it changed nothing else; its version is the form's now).
    let settle = move |result: Option<Result<ShopSettings, ApiError>>, only_logo: bool| {
        let lang = i18n.lang.get_untracked();
        match result {
            Some(Ok(s)) => {
                if only_logo {
                    logo.set(s.logo.clone());
                    version.set(Some(s.version));
                } else {
                    fill(&s);
                }
                banner.set(None);
                toast.show("saved");
                // Kept at once, then a sync: a pull that read the old settings before this save
                // must not leave them on the device.
                leptos::task::spawn_local(async move {
                    data::keep_settings(&s).await;
                    sync::kick(sync);
                });
            }
            Some(Err(e)) => banner.set(Some(describe(&e, lang, fill))),
            None => {}
        }
    };
    Effect::new(move || settle(save.value().get(), false));
    Effect::new(move || settle(save_logo.value().get(), true));
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(v) = version.get_untracked() else { return };
        banner.set(None);
        let [name, address, tax_id, phone, receipt_header, receipt_footer, currency, locale, time_zone] =
            fields.map(|f| f.get_untracked());
        save.dispatch_local(SettingsUpdate {
            version: v,
            name,
            address,
            tax_id,
            phone,
            receipt_header,
            receipt_footer,
            currency,
            locale,
            time_zone,
        });
    };
    let on_logo = move |ev: leptos::ev::Event| {
        let Some(v) = version.get_untracked() else { return };
        banner.set(None);
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(file) = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                .and_then(|input| input.files())
                .and_then(|files| files.get(0))
            else {
                return;
            };
            // Refused here only to spare the upload; the server checks the bytes whatever is sent.
            if file.size() > 64.0 * 1024.0 {
                banner.set(Some(crate::i18n::text(i18n.lang.get_untracked(), "logo_too_big").into()));
                return;
            }
            leptos::task::spawn_local(async move {
                if let Some(url) = data_url(&file).await {
                    save_logo.dispatch_local(LogoUpdate { version: v, image: Some(url) });
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, v);
    };
    let remove_logo = move |_| {
        if let Some(v) = version.get_untracked() {
            save_logo.dispatch_local(LogoUpdate { version: v, image: None });
        }
    };
    let inputs = SettingsUpdate::FIELDS
        .into_iter()
        .zip(LABELS)
        .zip(fields)
        .map(|((name, label), value)| {
            let multiline = name.starts_with("receipt_");
            let id = format!("shop-{name}");
            let suggestions: Vec<String> = match name {
                "currency" => CURRENCIES.map(String::from).into(),
                "locale" => LOCALES.map(String::from).into(),
                "time_zone" => time_zones(),
                _ => Vec::new(),
            };
            let list = format!("{id}-list");
            let control = if multiline {
                view! { <textarea id=id.clone() name=name rows="2" data-testid=id.clone()
                prop:value=value on:input=move |ev| value.set(event_target_value(&ev))></textarea> }
                .into_any()
            } else {
                view! {
                    <input type="text" id=id.clone() name=name data-testid=id.clone() autocomplete="off"
                        list=(!suggestions.is_empty()).then(|| list.clone())
                        prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/>
                    {(!suggestions.is_empty()).then(|| view! {
                        <datalist id=list.clone()>
                            {suggestions.into_iter().map(|v| view! { <option value=v></option> }).collect_view()}
                        </datalist>
                    })}
                }
                .into_any()
            };
            view! {
                <div class="field" class:wide=multiline>
                    <label for=id>{move || i18n.t(label)}</label>
                    {control}
                </div>
            }
        })
        .collect_view();
    view! {
        <form class="panel form" data-testid="shop-form" on:submit=on_submit>
            <h2>{move || i18n.t("shop_title")}</h2>
            <p class="help">{move || i18n.t("shop_help")}</p>
            {move || match loaded.get() {
                None => Some(view! { <p class="loading">{i18n.t("loading")}</p> }.into_any()),
                Some(Err(e)) => Some(view! { <p class="banner" role="alert">{e.describe(i18n.lang.get())}</p> }.into_any()),
                Some(Ok(_)) => None,
            }}
            {move || banner.get().map(|b| view! { <p class="banner" role="alert" data-testid="shop-banner">{b}</p> })}
            <div class="fields">{inputs}</div>
            <div class="field wide logo-field">
                <label for="shop-logo">{move || i18n.t("shop_logo")}</label>
                {move || (!logo.get().is_empty()).then(|| view! {
                    <img class="logo-preview" data-testid="shop-logo-preview" src=logo.get() alt=""/>
                    <button type="button" class="btn" data-testid="shop-logo-remove" on:click=remove_logo
                        disabled=move || save_logo.pending().get()>{move || i18n.t("logo_remove")}</button>
                })}
                <input type="file" id="shop-logo" data-testid="shop-logo" accept="image/png,image/jpeg,image/webp"
                    on:change=on_logo disabled=move || save_logo.pending().get() || version.get().is_none()/>
                <p class="help">{move || i18n.t("logo_help")}</p>
            </div>
            <button type="submit" class="btn primary wide" data-testid="shop-save"
                disabled=move || save.pending().get() || version.get().is_none()>
                {move || i18n.t(if save.pending().get() { "saving" } else { "save" })}
            </button>
        </form>
    }
}

/// The file as a `data:` URL (FileReader), None if the browser could not read it.
#[cfg(feature = "hydrate")]
async fn data_url(file: &web_sys::File) -> Option<String> {
    let reader = web_sys::FileReader::new().ok()?;
    let read = reader.clone();
    let done = js_sys::Promise::new(&mut |resolve, _| read.set_onloadend(Some(&resolve)));
    reader.read_as_data_url(file).ok()?;
    wasm_bindgen_futures::JsFuture::from(done).await.ok()?;
    reader.result().ok()?.as_string()
}

/// What a refused save says. A stale one also shows the current details (the person checks them and
/// saves again); field messages are listed with their field.
fn describe(e: &ApiError, lang: crate::i18n::Lang, fill: impl Fn(&ShopSettings)) -> String {
    if let Some(current) = e.conflict_current().and_then(|c| serde_json::from_value::<ShopSettings>(c).ok()) {
        fill(&current);
        return crate::i18n::text(lang, "shop_conflict").to_string();
    }
    let fields = e.field_errors();
    if fields.is_empty() {
        e.describe(lang)
    } else {
        fields.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join(" · ")
    }
}
