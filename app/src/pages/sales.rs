//! /sales?from=&to= — the sales of a period (the list behind the dashboard's figures), and
//! /receipt/:id — one sale as a printable receipt that says whether it has reached the server.
//!
//! Both read the server when it answers and fall back to this device's copy (today's sales and
//! everything still waiting in the outbox) when it does not.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde_json::Value;

use crate::format;
use crate::i18n::{use_i18n, Lang};
use crate::money::format_display;
use crate::offline::data;
use crate::offline::sync::use_sync;

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn i64_of(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0)
}

pub fn method_key(method: &str) -> crate::i18n::Key {
    match method {
        "cash" => "method_cash",
        "card" => "method_card",
        "transfer" => "method_transfer",
        _ => "method_other",
    }
}

/// "Efectivo, Tarjeta" for a sale's payments.
fn methods_text(sale: &Value, lang: Lang) -> String {
    let mut names: Vec<&str> = sale
        .get("payments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| crate::i18n::text(lang, method_key(str_of(p, "method"))))
        .collect();
    names.dedup();
    names.join(", ")
}

/// "Neto 12,08 · IVA 21 % 1,69 · Descuentos −3,23" for a sale with taxes or discounts; empty otherwise.
fn tax_text(sale: &Value, lang: Lang) -> String {
    let Ok(s) = serde_json::from_value::<crate::model::Sale>(sale.clone()) else { return String::new() };
    let mut parts = Vec::new();
    if !s.taxes.is_empty() {
        parts.push(format!("{} {}", crate::i18n::text(lang, "net"), format_display(s.net_cents, lang)));
        for t in &s.taxes {
            parts.push(format!(
                "{} {}",
                format::tax_label(&t.name, t.rate_bp, lang),
                format_display(t.tax_cents, lang)
            ));
        }
    }
    if s.discount_cents > 0 {
        parts.push(format!("{} {}", crate::i18n::text(lang, "discounts"), format_display(-s.discount_cents, lang)));
    }
    parts.join(" · ")
}

/// Sent, or the outbox state of a sale this device has not delivered yet.
fn state_key(sale: &Value) -> crate::i18n::Key {
    match sale.get("_pending").and_then(Value::as_str) {
        Some("pending") => "receipt_pending",
        Some("failed") => "state_failed",
        Some("conflict") => "state_conflict",
        _ if sale.get("voided_at").is_some_and(|v| !v.is_null()) => "sale_voided_state",
        // Sent, but after its till was closed: listed on that till as a late sale.
        _ if sale.get("after_close").and_then(Value::as_bool) == Some(true) => "sent_after_close",
        _ => "receipt_sent",
    }
}

#[component]
pub fn SalesPage() -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let query = use_query_map();
    let rows = RwSignal::new(None::<Vec<Value>>);
    let offline = RwSignal::new(false);
    let period = move || {
        let q = query.get();
        (q.get("from").unwrap_or_default(), q.get("to").unwrap_or_default())
    };
    Effect::new(move || {
        sync.data_version.track();
        let (from, to) = period();
        spawn_local(async move {
            let url = format!(
                "/api/sales?from={}&to={}&limit=500",
                crate::api::encode_query(&from),
                crate::api::encode_query(&to)
            );
            let server = crate::api::get_json(&url).await;
            // This device's copy carries the sales still waiting to be sent.
            let local: Vec<Value> = data::rows("sales").await.unwrap_or_default();
            let in_period = |s: &Value| {
                let day = crate::format::shop_day(Some(str_of(s, "created_at")));
                (from.is_empty() || day >= from) && (to.is_empty() || day <= to)
            };
            let mut list: Vec<Value> = match server {
                Ok(page) => {
                    offline.set(false);
                    page["items"].as_array().cloned().unwrap_or_default()
                }
                Err(_) => {
                    offline.set(true);
                    Vec::new()
                }
            };
            for s in local.into_iter().filter(|s| in_period(s)) {
                match list.iter_mut().find(|x| str_of(x, "id") == str_of(&s, "id")) {
                    Some(x) if s.get("_pending").is_some() => *x = s,
                    Some(_) => {}
                    None => list.push(s),
                }
            }
            list.sort_by(|a, b| str_of(b, "created_at").cmp(str_of(a, "created_at")));
            rows.set(Some(list));
        });
    });
    let title = move || {
        let (from, to) = period();
        let lang = i18n.lang.get();
        match (from.is_empty(), from == to) {
            (true, _) => i18n.t("sales_count").to_string(),
            (false, true) => format!("{} · {}", i18n.t("sales_count"), format::day(&from, lang)),
            (false, false) => {
                format!("{} · {} – {}", i18n.t("sales_count"), format::day(&from, lang), format::day(&to, lang))
            }
        }
    };
    view! {
        <Title text=title/>
        <section class="page">
            <header class="page-head"><h1 data-testid="sales-title">{title}</h1></header>
            <Show when=move || offline.get()>
                <p class="panel warn" role="status">{move || i18n.t("sales_offline_copy")}</p>
            </Show>
            {move || match rows.get() {
                None => view! { <p class="loading" data-testid="loading">{move || i18n.t("loading")}</p> }.into_any(),
                Some(list) if list.is_empty() => view! { <p class="panel center">{move || i18n.t("no_results")}</p> }.into_any(),
                Some(list) => {
                    let total: i64 = list.iter().map(|s| i64_of(s, "total_cents")).sum();
                    view! {
                        <p class="cart-sum" data-testid="sales-sum"><span>{move || format!("{} ({})", i18n.t("total"), list.len())}</span>
                            <strong>{move || format_display(total, i18n.lang.get())}</strong></p>
                        <ul class="rows" data-testid="sales-list">
                            {rows.get().unwrap_or_default().into_iter().map(|s| {
                                let id = str_of(&s, "id").to_string();
                                let s2 = s.clone();
                                view! {
                                    <li>
                                        <a class="row" href=format!("/receipt/{id}") data-testid="sales-row">
                                            <span class="row-main">
                                                <span class="row-title">{move || format!("{} · {}", format::date_time(str_of(&s2, "created_at"), i18n.lang.get()), str_of(&s2, "created_by"))}</span>
                                                <span class="row-sub">{let s3 = s.clone(); move || format!("{} · {}", methods_text(&s3, i18n.lang.get()), i18n.t(state_key(&s3)))}</span>
                                                {let s4 = s.clone(); move || { let t = tax_text(&s4, i18n.lang.get()); (!t.is_empty()).then(|| view! { <span class="row-sub" data-testid="sales-row-tax">{t}</span> }) }}
                                            </span>
                                            <span class="row-end price">{let t = i64_of(&s, "total_cents"); move || format_display(t, i18n.lang.get())}</span>
                                        </a>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }
            }}
        </section>
    }
    .into_any()
}

/// The top of a receipt: the shop's name and details and its header text, from the settings this
/// device keeps ("Mostrador" until it has heard them).
#[component]
pub fn ShopHeading(shop: RwSignal<Option<crate::model::ShopSettings>>) -> impl IntoView {
    move || {
        let s = shop.get();
        let name = s.as_ref().map(|s| s.name.clone()).unwrap_or_else(|| "Mostrador".into());
        let details = s
            .as_ref()
            .map(|s| {
                [s.address.as_str(), s.phone.as_str(), s.tax_id.as_str()]
                    .into_iter()
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let logo = s.as_ref().map(|s| s.logo.clone()).filter(|l| !l.is_empty());
        view! {
            {logo.map(|src| view! { <img class="receipt-logo" data-testid="receipt-logo" src=src alt=""/> })}
            <h1 data-testid="receipt-shop">{name}</h1>
            {details.into_iter().map(|d| view! { <p class="receipt-shop-detail">{d}</p> }).collect_view()}
            {s.map(|s| text_lines(&s.receipt_header, "receipt-header"))}
        }
    }
}

/// "Descuento 10 %" or "Descuento".
fn discount_label(d: Option<crate::wire::Discount>, lang: Lang) -> String {
    let word = crate::i18n::text(lang, "add_discount");
    match d {
        Some(crate::wire::Discount::PercentBp(bp)) => format!("{word} {}", format::percent(bp, lang)),
        _ => word.to_string(),
    }
}

/// The sums above the total: subtotal and discounts (with why), then net and tax per rate. With tax
/// in the prices the tax is part of the total ("incl."); without it, it is added to the net.
fn receipt_figures(s: crate::model::Sale, lang: RwSignal<Lang>) -> impl IntoView {
    let ticket_off: i64 = s.lines.iter().map(|l| l.ticket_discount_cents).sum();
    let line_off = s.discount_cents - ticket_off;
    let shown_subtotal = s.subtotal_cents - line_off;
    let included = s.prices_include_tax;
    let reason = s.discount_reason.clone();
    view! {
        {(ticket_off > 0).then(|| view! {
            <dt>{move || crate::i18n::text(lang.get(), "subtotal")}</dt>
            <dd data-testid="receipt-subtotal">{move || format_display(shown_subtotal, lang.get())}</dd>
            <dt>{move || discount_label(s.discount, lang.get())}</dt>
            <dd data-testid="receipt-ticket-discount">{move || format_display(-ticket_off, lang.get())}</dd>
        })}
        {(!reason.is_empty()).then(|| view! {
            <dt class="receipt-reason">{move || crate::i18n::text(lang.get(), "discount_reason")}</dt>
            <dd class="receipt-reason" data-testid="receipt-discount-reason">{reason.clone()}</dd>
        })}
        {(!s.taxes.is_empty()).then(|| view! {
            <dt>{move || crate::i18n::text(lang.get(), "net")}</dt>
            <dd data-testid="receipt-net">{move || format_display(s.net_cents, lang.get())}</dd>
            {s.taxes.iter().cloned().map(|t| view! {
                <dt>{move || {
                    let label = format::tax_label(&t.name, t.rate_bp, lang.get());
                    if included { format!("{label} ({})", crate::i18n::text(lang.get(), "included")) } else { label }
                }}</dt>
                <dd data-testid="receipt-tax">{move || format_display(t.tax_cents, lang.get())}</dd>
            }).collect_view()}
        })}
    }
}

/// A receipt text the admin wrote, line by line (empty: nothing).
fn text_lines(text: &str, testid: &'static str) -> Option<impl IntoView> {
    (!text.is_empty()).then(|| {
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        view! { <div class="receipt-text" data-testid=testid>{lines.into_iter().map(|l| view! { <p>{l}</p> }).collect_view()}</div> }
    })
}

#[component]
pub fn ReceiptPage() -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let params = use_params_map();
    let sale = RwSignal::new(None::<Option<Value>>);
    let names = RwSignal::new(std::collections::HashMap::<String, String>::new());
    let customer = RwSignal::new(None::<String>);
    let shop = RwSignal::new(None::<crate::model::ShopSettings>);
    Effect::new(move || {
        sync.data_version.track();
        let id = params.get().get("id").unwrap_or_default();
        // Apart: a device that has no copy of the settings yet asks the server, and the receipt must
        // not wait for that answer.
        spawn_local(async move { shop.set(data::shop_settings().await) });
        spawn_local(async move {
            // The local copy first: it knows whether the sale is still waiting to be sent.
            let local = data::rows("sales").await.unwrap_or_default().into_iter().find(|s| str_of(s, "id") == id);
            let found = match local {
                Some(s) => Some(s),
                None => crate::api::get_json(&format!("/api/sales/{}", crate::api::encode_query(&id))).await.ok(),
            };
            let products = data::rows("products").await.unwrap_or_default();
            names.set(products.iter().map(|p| (str_of(p, "id").to_string(), str_of(p, "name").to_string())).collect());
            if let Some(cid) = found.as_ref().map(|s| str_of(s, "customer_id").to_string()).filter(|c| !c.is_empty()) {
                let cs = data::rows("customers").await.unwrap_or_default();
                customer.set(cs.iter().find(|c| str_of(c, "id") == cid).map(|c| str_of(c, "name").to_string()));
            }
            sale.set(Some(found));
        });
    });
    let print = move |_| crate::components::print_page();
    view! {
        <Title text=move || i18n.t("receipt").to_string()/>
        <section class="page receipt-page">
            {move || match sale.get() {
                None => view! { <p class="loading" data-testid="loading">{move || i18n.t("loading")}</p> }.into_any(),
                Some(None) => view! { <p class="panel center">{move || i18n.t("not_found")}</p> }.into_any(),
                Some(Some(s)) => {
                    let state = state_key(&s);
                    let pending = state != "receipt_sent";
                    let lines = s.get("lines").and_then(Value::as_array).cloned().unwrap_or_default();
                    // The figures as the sale keeps them (a copy from before taxes reads as untaxed).
                    let kept = serde_json::from_value::<crate::model::Sale>(s.clone()).ok();
                    let payments = s.get("payments").and_then(Value::as_array).cloned().unwrap_or_default();
                    let names = names.get();
                    let s2 = s.clone();
                    let refunded = i64_of(&s, "refunded_cents");
                    let actions = view! { <crate::pages::refund::RefundActions sale=s.clone() names=names.clone()/> };
                    view! {
                        <article class="receipt" data-testid="receipt" data-state=if pending { "pending" } else { "sent" }>
                            <header>
                                <ShopHeading shop/>
                                <p data-testid="receipt-date">{move || format::date_time(str_of(&s2, "created_at"), i18n.lang.get())}</p>
                                <p class="receipt-id" data-testid="receipt-number">{
                                    // Its register's number (C1-000123); a sale from before numbers shows its id.
                                    let number = s.get("receipt_no").and_then(Value::as_str).map(str::to_owned)
                                        .unwrap_or_else(|| str_of(&s, "id").get(..8).unwrap_or_default().to_uppercase());
                                    move || format!("{} {}", i18n.t("receipt"), number)
                                }</p>
                                {customer.get().map(|c| view! { <p>{move || format!("{}: {}", i18n.t("customer_label"), c)}</p> })}
                            </header>
                            <table class="receipt-lines">
                                <thead><tr>
                                    <th scope="col">{move || i18n.t("product")}</th>
                                    <th scope="col" class="num">{move || i18n.t("quantity")}</th>
                                    <th scope="col" class="num">{move || i18n.t("amount")}</th>
                                </tr></thead>
                                <tbody>
                                    {lines.into_iter().map(|l| {
                                        let name = names.get(str_of(&l, "product_id")).cloned().unwrap_or_else(|| str_of(&l, "product_id").get(..8).unwrap_or_default().to_string());
                                        let (q, unit) = (i64_of(&l, "quantity"), i64_of(&l, "unit_price_cents"));
                                        let off = i64_of(&l, "discount_cents");
                                        let what = l.get("discount").cloned().and_then(|d| serde_json::from_value::<crate::wire::Discount>(d).ok());
                                        view! {
                                            <tr data-testid="receipt-line">
                                                <td>{name}<br/><small>{move || format!("{} × {}", q, format_display(unit, i18n.lang.get()))}</small></td>
                                                <td class="num">{q}</td>
                                                <td class="num">{move || format_display(unit * q, i18n.lang.get())}</td>
                                            </tr>
                                            {(off > 0).then(|| view! {
                                                <tr class="receipt-discount" data-testid="receipt-line-discount">
                                                    <td colspan="2">{move || discount_label(what, i18n.lang.get())}</td>
                                                    <td class="num">{move || format_display(-off, i18n.lang.get())}</td>
                                                </tr>
                                            })}
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <dl class="receipt-sums">
                                {kept.map(|k| receipt_figures(k, i18n.lang))}
                                <dt>{move || i18n.t("total")}</dt>
                                <dd data-testid="receipt-total">{let t = i64_of(&s, "total_cents"); move || format_display(t, i18n.lang.get())}</dd>
                                {payments.into_iter().map(|p| {
                                    let m = str_of(&p, "method").to_string();
                                    let a = i64_of(&p, "amount_cents");
                                    view! {
                                        <dt>{move || i18n.t(method_key(&m))}</dt>
                                        <dd>{move || format_display(a, i18n.lang.get())}</dd>
                                    }
                                }).collect_view()}
                                <dt>{move || i18n.t("change")}</dt>
                                <dd data-testid="receipt-change">{let c = i64_of(&s, "change_cents"); move || format_display(c, i18n.lang.get())}</dd>
                                {(refunded > 0).then(|| view! {
                                    <dt>{move || i18n.t("refunded_so_far")}</dt>
                                    <dd data-testid="receipt-refunded">{move || format_display(refunded, i18n.lang.get())}</dd>
                                })}
                            </dl>
                            {move || shop.get().map(|s| text_lines(&s.receipt_footer, "receipt-footer"))}
                            <p class=if pending { "receipt-state pending" } else { "receipt-state sent" } data-testid="receipt-state" role="status">
                                {move || i18n.t(state)}
                            </p>
                        </article>
                        <div class="actions no-print">
                            <button type="button" class="btn primary big" data-testid="print-receipt" on:click=print>{move || i18n.t("print")}</button>
                            <a class="btn big" href="/sale" data-testid="new-sale">{move || i18n.t("new_sale")}</a>
                        </div>
                        {actions}
                    }.into_any()
                }
            }}
        </section>
    }
    .into_any()
}
