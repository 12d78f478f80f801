//! Taxes (admins): the tax rates (/tax_rates, the catalog's list and form), and on the settings page the
//! tax mode, the default rate and how far a cashier may discount. Sales keep the figures they were made
//! with; these change only the sales made after.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::api;
use crate::components::form::EntityForm;
use crate::components::list::entity_list;
use crate::components::use_toast;
use crate::entity::TAX_RATES;
use crate::i18n::{use_i18n, Lang};
use crate::model::{ShopSettings, TaxRate};
use crate::offline::data;
use crate::offline::sync::{self, use_sync};
use crate::wire::TaxSettingsUpdate;

fn rate_row(r: TaxRate, lang: Lang) -> impl IntoView {
    let state = if r.active { None } else { Some(crate::i18n::text(lang, "inactive")) };
    view! {
        <div class="row-main">
            <span class="row-title" data-testid="row-name">{r.name}</span>
            {state.map(|s| view! { <span class="badge">{s}</span> })}
        </div>
        <span class="row-end">{crate::format::percent(r.rate_bp, lang)}</span>
    }
    .into_any()
}

#[component]
pub fn TaxRatesPage() -> impl IntoView {
    entity_list(&TAX_RATES, rate_row)
}

#[component]
pub fn TaxRateEditPage() -> impl IntoView {
    view! { <EntityForm def=&TAX_RATES/> }.into_any()
}

/// The tax mode, the default rate and the cashier's discount limit, saved online with the settings'
/// version (`PUT /api/settings/taxes`).
#[component]
pub fn TaxSettingsForm() -> impl IntoView {
    let i18n = use_i18n();
    let toast = use_toast();
    let sync = use_sync();
    let include = RwSignal::new(true);
    let default = RwSignal::new(String::new());
    let limit = RwSignal::new(String::new());
    let version = RwSignal::new(None::<i64>);
    let rates = RwSignal::new(Vec::<TaxRate>::new());
    let banner = RwSignal::new(None::<String>);
    let fill = move |s: &ShopSettings| {
        include.set(s.prices_include_tax);
        default.set(s.default_tax_rate_id.map(|id| id.to_string()).unwrap_or_default());
        limit.set(
            crate::format::percent(s.cashier_max_discount_bp, i18n.lang.get_untracked()).trim_end_matches(" %").into(),
        );
        version.set(Some(s.version));
    };
    let _loaded = LocalResource::new(move || async move {
        let rows = data::rows("tax_rates").await.unwrap_or_default();
        let mut live: Vec<TaxRate> = rows
            .into_iter()
            .filter_map(|v| serde_json::from_value::<TaxRate>(v).ok())
            .filter(|r| r.active && r.deleted_at.is_none())
            .collect();
        live.sort_by_key(|r| r.name.to_lowercase());
        rates.set(live);
        if let Ok(s) = api::settings().await {
            fill(&s);
        }
    });
    let save = Action::new_local(|update: &TaxSettingsUpdate| {
        let update = update.clone();
        async move { api::put_taxes(&update).await }
    });
    Effect::new(move || match save.value().get() {
        Some(Ok(s)) => {
            fill(&s);
            banner.set(None);
            toast.show("saved");
            leptos::task::spawn_local(async move {
                data::keep_settings(&s).await;
                sync::kick(sync);
            });
        }
        Some(Err(e)) => {
            let lang = i18n.lang.get_untracked();
            if let Some(current) = e.conflict_current().and_then(|c| serde_json::from_value::<ShopSettings>(c).ok()) {
                fill(&current);
                banner.set(Some(crate::i18n::text(lang, "shop_conflict").into()));
            } else {
                banner.set(Some(e.describe(lang)));
            }
        }
        None => {}
    });
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(v) = version.get_untracked() else { return };
        let lang = i18n.lang.get_untracked();
        let bp = match crate::money::parse_minor(limit.get_untracked().trim().trim_end_matches('%').trim(), 2) {
            Ok(bp) if crate::limits::DISCOUNT_LIMIT_BP.contains(bp) => bp,
            _ => {
                banner.set(Some(crate::i18n::text(lang, "invalid_percent").into()));
                return;
            }
        };
        banner.set(None);
        save.dispatch_local(TaxSettingsUpdate {
            version: v,
            prices_include_tax: include.get_untracked(),
            default_tax_rate_id: uuid::Uuid::parse_str(&default.get_untracked()).ok(),
            cashier_max_discount_bp: bp,
        });
    };
    view! {
        <form class="panel form" data-testid="tax-form" on:submit=on_submit>
            <h2>{move || i18n.t("taxes_title")}</h2>
            <p class="help">{move || i18n.t("taxes_help")}</p>
            {move || banner.get().map(|b| view! { <p class="banner" role="alert" data-testid="tax-banner">{b}</p> })}
            <fieldset class="field wide methods">
                <legend class="label">{move || i18n.t("tax_mode")}</legend>
                <label class="method">
                    <input type="radio" name="tax_mode" data-testid="tax-mode-included" prop:checked=move || include.get()
                        on:change=move |_| include.set(true)/>
                    <span>{move || i18n.t("prices_include_tax")}</span>
                </label>
                <label class="method">
                    <input type="radio" name="tax_mode" data-testid="tax-mode-added" prop:checked=move || !include.get()
                        on:change=move |_| include.set(false)/>
                    <span>{move || i18n.t("tax_added")}</span>
                </label>
            </fieldset>
            <div class="fields">
                <div class="field">
                    <label for="tax-default">{move || i18n.t("default_tax_rate_label")}</label>
                    <select id="tax-default" data-testid="tax-default" on:change=move |ev| default.set(event_target_value(&ev))>
                        <option value="" prop:selected=move || default.get().is_empty()>{move || i18n.t("untaxed")}</option>
                        {move || rates.get().into_iter().map(|r| {
                            let id = r.id.to_string();
                            let selected = id.clone();
                            view! { <option value=id prop:selected=move || default.get() == selected>
                                {crate::format::tax_label(&r.name, r.rate_bp, i18n.lang.get())}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="tax-limit">{move || i18n.t("cashier_max_discount")}</label>
                    <input type="text" id="tax-limit" inputmode="decimal" data-testid="tax-limit" autocomplete="off"
                        prop:value=limit on:input=move |ev| limit.set(event_target_value(&ev))/>
                </div>
            </div>
            <a class="btn" href="/tax_rates" data-testid="to-tax-rates">{move || i18n.t("tax_rates")}</a>
            <button type="submit" class="btn primary wide" data-testid="tax-save"
                disabled=move || save.pending().get() || version.get().is_none()>
                {move || i18n.t(if save.pending().get() { "saving" } else { "save" })}
            </button>
        </form>
    }
}
