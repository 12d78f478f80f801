//! /cash — the till and the stock room: open the till with a float, put cash in or take it out, record an
//! expense paid from the drawer, close with the counted cash and see the difference; stock movements with
//! their reason (purchase, adjustment, waste, return). Every write goes through the outbox like a sale, so
//! all of it works offline and the expected cash shown already includes what is still pending.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use serde_json::Value;
use uuid::Uuid;

use crate::components::use_toast;
use crate::i18n::{use_i18n, Key};
use crate::money::{format_display, parse_cents};
use crate::offline::data;
use crate::offline::outbox::OutboxItem;
use crate::offline::sync::{self, use_sync};
use crate::pages::sale::{OpenTill, TillBar};
use crate::wire::{CashMovementKind, ClosedSet, NewCashMovement, NewExpense, NewStockMovement, StockReason};

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn reason_key(reason: StockReason) -> Key {
    match reason {
        StockReason::Purchase => "reason_purchase",
        StockReason::Adjustment => "reason_adjustment",
        StockReason::Waste => "reason_waste",
        StockReason::Return => "reason_return",
    }
}

#[component]
pub fn CashPage() -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let session = RwSignal::new(None::<Value>);
    let last_closed = RwSignal::new(None::<Value>);
    let products = RwSignal::new(Vec::<Value>::new());
    let loaded = RwSignal::new(false);
    let session_id =
        Memo::new(move |_| session.with(|s| s.as_ref().and_then(|v| Uuid::parse_str(str_of(v, "id")).ok())));

    Effect::new(move || {
        sync.data_version.track();
        spawn_local(async move {
            let mut all = data::rows("cash_sessions").await.unwrap_or_default();
            let mut ps = data::rows("products").await.unwrap_or_default();
            // The person may have left the page while IndexedDB answered: its signals are gone.
            if loaded.is_disposed() {
                return;
            }
            all.sort_by(|a, b| str_of(b, "opened_at").cmp(str_of(a, "opened_at")));
            let is_open = |r: &Value| r.get("closed_at").map(Value::is_null).unwrap_or(true);
            let open = all.iter().find(|r| is_open(r)).cloned();
            if session.with_untracked(|s| *s != open) {
                session.set(open);
            }
            last_closed.set(
                all.iter()
                    .filter(|r| !is_open(r))
                    .max_by(|a, b| str_of(a, "closed_at").cmp(str_of(b, "closed_at")))
                    .cloned(),
            );
            ps.sort_by_key(|p| data::fold(str_of(p, "name")));
            if products.with_untracked(|now| *now != ps) {
                products.set(ps);
            }
            loaded.set(true);
        });
    });

    view! {
        <Title text=move || i18n.t("cash_and_stock").to_string()/>
        <section class="page cash-page">
            <header class="page-head"><h1>{move || i18n.t("cash_and_stock")}</h1></header>
            <Show when=move || loaded.get() fallback=move || view! { <p class="loading" data-testid="loading">{move || i18n.t("loading")}</p> }>
                {move || last_closed.get().map(|c| {
                    let (counted, expected, diff) = (
                        c["counted_cents"].as_i64().unwrap_or(0),
                        c["expected_cents"].as_i64().unwrap_or(0),
                        c["difference_cents"].as_i64().unwrap_or(0),
                    );
                    let (late, late_cash) = (c["late_sales"].as_i64().unwrap_or(0), c["late_cash_cents"].as_i64().unwrap_or(0));
                    view! {
                        <div class="panel" data-testid="last-close">
                            <h2>{move || i18n.t("last_close")}</h2>
                            <a class="btn" href=format!("/till/{}/report", str_of(&c, "id")) data-testid="z-report-link">{move || i18n.t("z_report")}</a>
                            <p>{move || format!("{} · {}: {} · {}: {}", str_of(&c, "register"), i18n.t("counted_cash"), format_display(counted, i18n.lang.get()), i18n.t("expected_cash"), format_display(expected, i18n.lang.get()))}</p>
                            <p class=if diff == 0 { "diff ok" } else { "diff warn" } data-testid="close-difference">
                                {move || format!("{}: {}", i18n.t("difference"), format_display(diff, i18n.lang.get()))}
                            </p>
                            // Sales made offline that arrived after the close: the cash they took was
                            // most likely counted already, so the difference without it is shown too.
                            {(late > 0).then(|| view! {
                                <p class="diff warn" data-testid="late-sales">
                                    {move || {
                                        let lang = i18n.lang.get();
                                        format!("{}: {} · {}: {} · {}: {}", i18n.t("late_sales"), crate::format::number(late, lang),
                                            i18n.t("late_cash"), format_display(late_cash, lang),
                                            i18n.t("difference_without_late"), format_display(diff - late_cash, lang))
                                    }}
                                </p>
                            })}
                        </div>
                    }
                })}
                {move || match session_id.get() {
                    None => view! { <OpenTill/> }.into_any(),
                    Some(id) => view! {
                        <TillBar session/>
                        <CashMovementForm session_id=id/>
                        <ExpenseForm session_id=id/>
                    }
                    .into_any(),
                }}
                <StockMovementForm products/>
            </Show>
        </section>
    }
    .into_any()
}

/// Amount text → cents > 0, or the message key to show.
fn positive_cents(text: &str) -> Result<i64, Key> {
    match parse_cents(text) {
        Ok(c) if c > 0 => Ok(c),
        Ok(_) | Err(crate::money::MoneyError::Empty) => Err("required"),
        Err(_) => Err("invalid_money"),
    }
}

#[component]
fn CashMovementForm(session_id: Uuid) -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let toast = use_toast();
    let kind = RwSignal::new(CashMovementKind::In);
    let amount = RwSignal::new(String::new());
    let reason = RwSignal::new(String::new());
    let error = RwSignal::new(None::<Key>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let cents = match positive_cents(&amount.get_untracked()) {
            Ok(c) => c,
            Err(k) => return error.set(Some(k)),
        };
        let why = reason.get_untracked().trim().to_string();
        if why.is_empty() {
            return error.set(Some("required"));
        }
        let Some(user) = sync.user.get_untracked() else { return };
        let movement = NewCashMovement {
            id: Uuid::new_v4(),
            cash_session_id: session_id,
            kind: kind.get_untracked(),
            amount_cents: cents,
            reason: why.clone(),
        };
        let mut item = OutboxItem::new(user, &movement);
        item.label = why;
        amount.set(String::new());
        reason.set(String::new());
        error.set(None);
        queue_and_confirm(sync, toast, item);
    };
    view! {
        <form class="panel" on:submit=submit data-testid="cash-movement-form">
            <h2>{move || i18n.t("cash_in_out")}</h2>
            <fieldset class="field methods">
                <legend class="label">{move || i18n.t("movement_kind")}</legend>
                {[(CashMovementKind::In, "cash_in"), (CashMovementKind::Out, "cash_out")].into_iter().map(|(k, label)| view! {
                    <label class="method">
                        <input type="radio" name="cash-kind" value=k.as_str() data-testid=format!("cash-kind-{k}")
                            prop:checked=move || kind.get() == k on:change=move |_| kind.set(k)/>
                        <span>{move || i18n.t(label)}</span>
                    </label>
                }).collect_view()}
            </fieldset>
            <TextField label="amount" name="cash-amount" value=amount inputmode="decimal"/>
            <TextField label="reason" name="cash-reason" value=reason/>
            {move || error.get().map(|t| view! { <p class="field-error" role="alert">{i18n.t(t)}</p> })}
            <button type="submit" class="btn primary" data-testid="cash-movement-save">{move || i18n.t("save")}</button>
        </form>
    }
}

/// Queues a write in the outbox (sent at once when online) and says "Guardado" once it is stored.
fn queue_and_confirm(sync: sync::SyncState, toast: crate::components::Toast, item: OutboxItem) {
    sync::queue(sync, vec![item], move || toast.show("saved"));
}

/// A labelled one-line text field bound to `value`; `name` is also its test id.
#[component]
fn TextField(
    label: Key,
    name: &'static str,
    value: RwSignal<String>,
    #[prop(optional)] inputmode: Option<&'static str>,
) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <label class="field">
            <span class="label">{move || i18n.t(label)}</span>
            <input type="text" inputmode=inputmode name=name data-testid=name autocomplete="off"
                prop:value=value on:input=move |ev| value.set(event_target_value(&ev))/>
        </label>
    }
}

#[component]
fn ExpenseForm(session_id: Uuid) -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let toast = use_toast();
    let category = RwSignal::new(String::new());
    let amount = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let error = RwSignal::new(None::<Key>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let cents = match positive_cents(&amount.get_untracked()) {
            Ok(c) => c,
            Err(k) => return error.set(Some(k)),
        };
        let (cat, desc) = (category.get_untracked().trim().to_string(), description.get_untracked().trim().to_string());
        if cat.is_empty() || desc.is_empty() {
            return error.set(Some("required"));
        }
        let Some(user) = sync.user.get_untracked() else { return };
        let expense = NewExpense {
            id: Uuid::new_v4(),
            spent_on: crate::format::shop_day(None),
            category: cat,
            amount_cents: cents,
            description: desc.clone(),
            cash_session_id: Some(session_id),
        };
        let mut item = OutboxItem::new(user, &expense);
        item.label = desc;
        amount.set(String::new());
        description.set(String::new());
        error.set(None);
        queue_and_confirm(sync, toast, item);
    };
    view! {
        <form class="panel" on:submit=submit data-testid="expense-form">
            <h2>{move || i18n.t("expense")}</h2>
            <TextField label="expense_category" name="expense-category" value=category/>
            <TextField label="amount" name="expense-amount" value=amount inputmode="decimal"/>
            <TextField label="description" name="expense-description" value=description/>
            {move || error.get().map(|t| view! { <p class="field-error" role="alert">{i18n.t(t)}</p> })}
            <button type="submit" class="btn primary" data-testid="expense-save">{move || i18n.t("save")}</button>
        </form>
    }
}

#[component]
fn StockMovementForm(products: RwSignal<Vec<Value>>) -> impl IntoView {
    let i18n = use_i18n();
    let session = crate::components::use_session();
    let sync = use_sync();
    let toast = use_toast();
    let product = RwSignal::new(String::new());
    let delta = RwSignal::new(String::new());
    let reason = RwSignal::new(StockReason::Purchase);
    let note = RwSignal::new(String::new());
    let error = RwSignal::new(None::<Key>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Ok(pid) = Uuid::parse_str(&product.get_untracked()) else {
            return error.set(Some("required"));
        };
        let Ok(units) = delta.get_untracked().trim().parse::<i64>() else {
            return error.set(Some("invalid_delta"));
        };
        if units == 0 {
            return error.set(Some("invalid_delta"));
        }
        let Some(user) = sync.user.get_untracked() else { return };
        let text = note.get_untracked().trim().to_string();
        let movement = NewStockMovement {
            id: Uuid::new_v4(),
            product_id: pid,
            delta: units,
            reason: reason.get_untracked(),
            note: Some(text).filter(|t| !t.is_empty()),
        };
        let mut item = OutboxItem::new(user, &movement);
        item.label = products
            .with_untracked(|ps| {
                ps.iter()
                    .find(|p| str_of(p, "id") == pid.to_string())
                    .map(|p| format!("{} {units:+}", str_of(p, "name")))
            })
            .unwrap_or_default();
        delta.set(String::new());
        note.set(String::new());
        error.set(None);
        queue_and_confirm(sync, toast, item);
    };
    view! {
        <form class="panel" on:submit=submit data-testid="stock-form">
            <h2>{move || i18n.t("stock_movement")}</h2>
            <label class="field">
                <span class="label">{move || i18n.t("product")}</span>
                <select name="stock-product" data-testid="stock-product" prop:value=product on:change=move |ev| product.set(event_target_value(&ev))>
                    <option value="">{move || i18n.t("choose_product")}</option>
                    {move || products.get().into_iter().map(|p| {
                        let label = format!("{} · {} ({})", str_of(&p, "name"), str_of(&p, "sku"), p["stock"].as_i64().unwrap_or(0));
                        view! { <option value=str_of(&p, "id").to_string()>{label}</option> }
                    }).collect_view()}
                </select>
            </label>
            <TextField label="units_delta" name="stock-delta" value=delta inputmode="numeric"/>
            <label class="field">
                <span class="label">{move || i18n.t("reason")}</span>
                <select name="stock-reason" data-testid="stock-reason" prop:value=move || reason.get().as_str()
                    on:change=move |ev| reason.set(StockReason::parse(&event_target_value(&ev)).unwrap_or(StockReason::Purchase))>
                    // A cashier receives stock; adjustments, waste and returns need an admin.
                    {move || StockReason::ALL.iter().copied().filter(|r| session.may(crate::permissions::inventory_movement(*r))).map(|r| view! { <option value=r.as_str()>{move || i18n.t(reason_key(r))}</option> }).collect_view()}
                </select>
            </label>
            <TextField label="notes" name="stock-note" value=note/>
            {move || error.get().map(|t| view! { <p class="field-error" role="alert">{i18n.t(t)}</p> })}
            <button type="submit" class="btn primary" data-testid="stock-save">{move || i18n.t("save")}</button>
        </form>
    }
}
