//! Giving money back, from a sale's receipt: a refund of some of its units (by line, damaged or not,
//! paid out by a method from this device's open till) or the void of a sale rung up by mistake while
//! its till is still open. Both go through the outbox like a sale; a refund has its own receipt,
//! /refund/:id, which says it is one and names the original sale.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde_json::Value;
use uuid::Uuid;

use crate::components::{use_goto, use_session};
use crate::format;
use crate::i18n::{use_i18n, Key};
use crate::model::{refund_taxes, Refund, RefundLine, Sale};
use crate::money::format_display;
use crate::offline::data;
use crate::offline::outbox::OutboxItem;
use crate::offline::sync::{self, now_iso, use_sync};
use crate::offline::write::VoidOf;
use crate::totals::refund_share;
use crate::wire::{ClosedSet, NewRefund, NewRefundLine, PaymentMethod, VoidSale};

/// The open till this device knows of (the most recently opened, as the sale page picks it), if any.
async fn open_till() -> Option<Uuid> {
    let mut open: Vec<Value> = data::rows("cash_sessions")
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.get("closed_at").map(Value::is_null).unwrap_or(true))
        .collect();
    open.sort_by(|a, b| b["opened_at"].as_str().cmp(&a["opened_at"].as_str()));
    open.first().and_then(|t| t["id"].as_str()).and_then(|id| Uuid::parse_str(id).ok())
}

/// A refund's lines as the server will compute them: each line's share of what it was sold for.
fn refund_lines(sale: &Sale, asked: &[(i64, bool)]) -> Vec<RefundLine> {
    sale.lines
        .iter()
        .zip(asked)
        .enumerate()
        .filter(|(_, (_, (q, _)))| *q > 0)
        .map(|(i, (l, &(quantity, damaged)))| {
            let share = |amount| refund_share(amount, l.quantity, l.refunded_quantity, quantity);
            let (total, tax) = (share(l.total_cents), share(l.tax_cents));
            RefundLine {
                sale_line_no: i as i64 + 1,
                product_id: l.product_id,
                quantity,
                damaged,
                tax_name: l.tax_name.clone(),
                tax_rate_bp: l.tax_rate_bp,
                net_cents: total - tax,
                tax_cents: tax,
                total_cents: total,
            }
        })
        .collect()
}

/// The refund and void buttons under a sale's receipt, and their forms.
#[component]
pub fn RefundActions(sale: Value, names: HashMap<String, String>) -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let session = use_session();
    let goto = use_goto();
    let Ok(kept) = serde_json::from_value::<Sale>(sale.clone()) else { return ().into_any() };
    if kept.voided_at.is_some() {
        return ().into_any();
    }
    let till = RwSignal::new(None::<Uuid>);
    spawn_local(async move {
        let t = open_till().await;
        let _ = till.try_set(t);
    });
    let mode = RwSignal::new(None::<&'static str>);
    let asked: Vec<RwSignal<(i64, bool)>> = kept.lines.iter().map(|_| RwSignal::new((0, false))).collect();
    let method = RwSignal::new(PaymentMethod::Cash);
    let reason = RwSignal::new(String::new());
    let error = RwSignal::new(None::<Key>);
    let left: Vec<i64> = kept.lines.iter().map(|l| l.quantity - l.refunded_quantity).collect();
    let refundable = left.iter().any(|n| *n > 0);
    let untouched = kept.refunded_cents == 0 && kept.lines.iter().all(|l| l.refunded_quantity == 0);
    let sale_till = kept.cash_session_id;
    let voidable = move || untouched && !kept.after_close && till.get() == Some(sale_till);
    let sale_for_refund = kept.clone();
    let asked_now = asked.clone();
    let preview = Memo::new(move |_| {
        let a: Vec<(i64, bool)> = asked_now.iter().map(|s| s.get()).collect();
        refund_lines(&sale_for_refund, &a).iter().map(|l| l.total_cents).sum::<i64>()
    });

    let sale_for_submit = kept.clone();
    let asked_submit = asked.clone();
    let submit_refund = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(user) = sync.user.get_untracked() else { return };
        let Some(till) = till.get_untracked() else {
            error.set(Some("refund_needs_open_till"));
            return;
        };
        let a: Vec<(i64, bool)> = asked_submit.iter().map(|s| s.get_untracked()).collect();
        let lines = refund_lines(&sale_for_submit, &a);
        if lines.is_empty() {
            error.set(Some("refund_nothing"));
            return;
        }
        let why = reason.get_untracked().trim().to_string();
        if why.is_empty() {
            error.set(Some("reason_required"));
            return;
        }
        let body = NewRefund {
            id: Uuid::new_v4(),
            sale_id: sale_for_submit.id,
            cash_session_id: till,
            method: method.get_untracked(),
            reason: why.clone(),
            lines: lines
                .iter()
                .map(|l| NewRefundLine { line_no: l.sale_line_no, quantity: l.quantity, damaged: l.damaged })
                .collect(),
            receipt_no: None,
        };
        let id = body.id;
        let mut item = OutboxItem::new(user, &body);
        let total: i64 = lines.iter().map(|l| l.total_cents).sum();
        let tax: i64 = lines.iter().map(|l| l.tax_cents).sum();
        item.preview = serde_json::to_value(Refund {
            id,
            sale_id: sale_for_submit.id,
            cash_session_id: till,
            method: body.method,
            reason: why,
            taxes: refund_taxes(&lines),
            lines,
            net_cents: total - tax,
            tax_cents: tax,
            total_cents: total,
            created_by: session.user.with_untracked(|u| u.as_ref().map(|u| u.username.clone())).unwrap_or_default(),
            created_at: now_iso(),
            receipt_no: None,
        })
        .ok();
        item.label = crate::i18n::text(i18n.lang.get_untracked(), "refund").to_string();
        sync::queue(sync, vec![item], move || goto.go(format!("/refund/{id}")));
    };

    let void_sale = sale.clone();
    let submit_void = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(user) = sync.user.get_untracked() else { return };
        let why = reason.get_untracked().trim().to_string();
        if why.is_empty() {
            error.set(Some("reason_required"));
            return;
        }
        let mut item = OutboxItem::new(user, &VoidOf { sale: sale_id_of(&void_sale), body: VoidSale { reason: why } });
        item.preview = Some(void_sale.clone());
        item.label = crate::i18n::text(i18n.lang.get_untracked(), "void_sale").to_string();
        sync::queue(sync, vec![item], move || {
            mode.set(None);
        });
    };

    let rows = kept
        .lines
        .iter()
        .zip(asked)
        .zip(left)
        .map(|((l, slot), max)| {
            let name = names.get(&l.product_id.to_string()).cloned().unwrap_or_else(|| l.product_id.to_string()[..8].to_string());
            view! {
                <li class="refund-line" data-testid="refund-line">
                    <span class="cart-name">{name}</span>
                    <span class="row-sub">{move || format!("{} {max}", i18n.t("refundable"))}</span>
                    <input type="number" min="0" max=max inputmode="numeric" data-testid="refund-qty" aria-label=move || i18n.t("quantity")
                        prop:value=move || slot.get().0.to_string()
                        on:input=move |ev| {
                            let q = event_target_value(&ev).parse::<i64>().unwrap_or(0).clamp(0, max);
                            slot.update(|s| s.0 = q);
                        }/>
                    <label class="check">
                        <input type="checkbox" data-testid="refund-damaged" prop:checked=move || slot.get().1
                            on:change=move |ev| slot.update(|s| s.1 = event_target_checked(&ev))/>
                        <span>{move || i18n.t("damaged")}</span>
                    </label>
                </li>
            }
        })
        .collect_view();

    view! {
        <div class="actions no-print refund-actions">
            {refundable.then(|| view! {
                <button type="button" class="btn big" data-testid="refund-open" on:click=move |_| { error.set(None); mode.set(Some("refund")) }>
                    {move || i18n.t("refund")}</button>
            })}
            <Show when=voidable>
                <button type="button" class="btn big danger" data-testid="void-open" on:click=move |_| { error.set(None); mode.set(Some("void")) }>
                    {move || i18n.t("void_sale")}</button>
            </Show>
        </div>
        <Show when=move || mode.get() == Some("refund")>
            <form class="panel no-print" data-testid="refund-form" on:submit=submit_refund.clone()>
                <h2>{move || i18n.t("refund")}</h2>
                <ul class="rows">{rows.clone()}</ul>
                <fieldset class="field methods">
                    <legend class="label">{move || i18n.t("refund_method")}</legend>
                    {PaymentMethod::ALL.iter().copied().map(|m| view! {
                        <label class="method">
                            <input type="radio" name="refund_method" data-testid=format!("refund-method-{m}")
                                prop:checked=move || method.get() == m on:change=move |_| method.set(m)/>
                            <span>{move || i18n.t(crate::pages::sales::method_key(m.as_str()))}</span>
                        </label>
                    }).collect_view()}
                </fieldset>
                <label class="field">
                    <span class="label">{move || i18n.t("refund_reason")}</span>
                    <input type="text" data-testid="refund-reason" maxlength="200" prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev))/>
                </label>
                <p class="cart-sum"><span>{move || i18n.t("to_refund")}</span>
                    <strong data-testid="refund-total">{move || format_display(preview.get(), i18n.lang.get())}</strong></p>
                {move || error.get().map(|k| view! { <p class="field-error" role="alert" data-testid="refund-error">{i18n.t(k)}</p> })}
                <button type="submit" class="btn primary big" data-testid="refund-submit">{move || i18n.t("refund_confirm")}</button>
            </form>
        </Show>
        <Show when=move || mode.get() == Some("void")>
            <form class="panel no-print" data-testid="void-form" on:submit=submit_void.clone()>
                <h2>{move || i18n.t("void_sale")}</h2>
                <p class="help">{move || i18n.t("void_help")}</p>
                <label class="field">
                    <span class="label">{move || i18n.t("void_reason")}</span>
                    <input type="text" data-testid="void-reason" maxlength="200" prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev))/>
                </label>
                {move || error.get().map(|k| view! { <p class="field-error" role="alert" data-testid="void-error">{i18n.t(k)}</p> })}
                <button type="submit" class="btn primary big danger" data-testid="void-confirm">{move || i18n.t("void_confirm")}</button>
            </form>
        </Show>
    }
    .into_any()
}

fn sale_id_of(sale: &Value) -> Uuid {
    sale.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()).unwrap_or_default()
}

/// /refund/:id — a refund's receipt: it says it is one, names the original sale and what came back.
#[component]
pub fn RefundReceiptPage() -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let params = use_params_map();
    let refund = RwSignal::new(None::<Option<Value>>);
    let names = RwSignal::new(HashMap::<String, String>::new());
    let shop = RwSignal::new(None::<crate::model::ShopSettings>);
    Effect::new(move || {
        sync.data_version.track();
        let id = params.get().get("id").unwrap_or_default();
        spawn_local(async move { shop.set(data::shop_settings().await) });
        spawn_local(async move {
            let local = data::rows("refunds")
                .await
                .unwrap_or_default()
                .into_iter()
                .find(|r| r["id"].as_str() == Some(id.as_str()));
            let found = match local {
                Some(r) => Some(r),
                None => crate::api::get_json(&format!("/api/refunds/{}", crate::api::encode_query(&id))).await.ok(),
            };
            let products = data::rows("products").await.unwrap_or_default();
            names.set(
                products
                    .iter()
                    .map(|p| {
                        (
                            p["id"].as_str().unwrap_or_default().to_string(),
                            p["name"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
            );
            refund.set(Some(found));
        });
    });
    let print = move |_| crate::components::print_page();
    view! {
        <Title text=move || i18n.t("refund").to_string()/>
        <section class="page receipt-page">
            {move || match refund.get() {
                None => view! { <p class="loading" data-testid="loading">{move || i18n.t("loading")}</p> }.into_any(),
                Some(None) => view! { <p class="panel center">{move || i18n.t("not_found")}</p> }.into_any(),
                Some(Some(v)) => {
                    let pending = v.get("_pending").is_some();
                    let Ok(r) = serde_json::from_value::<Refund>(v) else {
                        return view! { <p class="panel center">{move || i18n.t("not_found")}</p> }.into_any();
                    };
                    let names = names.get();
                    let original = r.sale_id.to_string()[..8].to_uppercase();
                    let number = r.receipt_no.clone();
                    let method = r.method.as_str().to_string();
                    let created = r.created_at.clone();
                    view! {
                        <article class="receipt" data-testid="refund-receipt" data-state=if pending { "pending" } else { "sent" }>
                            <header>
                                <crate::pages::sales::ShopHeading shop/>
                                <p class="receipt-kind" data-testid="refund-title"><strong>{move || i18n.t("refund_receipt")}</strong></p>
                                {number.map(|n| view! { <p class="receipt-id" data-testid="refund-number">{move || format!("{} {}", i18n.t("receipt"), n)}</p> })}
                                <p data-testid="refund-original">{move || format!("{} {}", i18n.t("of_sale"), original)}
                                    " " <a class="no-print" href=format!("/receipt/{}", r.sale_id)>{move || i18n.t("see_receipt")}</a></p>
                                <p>{move || format::date_time(&created, i18n.lang.get())}</p>
                            </header>
                            <table class="receipt-lines">
                                <tbody>
                                    {r.lines.iter().cloned().map(|l| {
                                        let name = names.get(&l.product_id.to_string()).cloned().unwrap_or_default();
                                        view! {
                                            <tr data-testid="refund-receipt-line">
                                                <td>{name}{l.damaged.then(|| view! { <br/><small>{move || i18n.t("damaged")}</small> })}</td>
                                                <td class="num">{l.quantity}</td>
                                                <td class="num">{move || format_display(-l.total_cents, i18n.lang.get())}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <dl class="receipt-sums">
                                {(!r.taxes.is_empty()).then(|| view! {
                                    <dt>{move || i18n.t("net")}</dt><dd>{move || format_display(-r.net_cents, i18n.lang.get())}</dd>
                                    {r.taxes.iter().cloned().map(|t| view! {
                                        <dt>{move || format::tax_label(&t.name, t.rate_bp, i18n.lang.get())}</dt>
                                        <dd data-testid="refund-tax">{move || format_display(-t.tax_cents, i18n.lang.get())}</dd>
                                    }).collect_view()}
                                })}
                                <dt>{move || i18n.t("refunded_total")}</dt>
                                <dd data-testid="refund-receipt-total">{move || format_display(r.total_cents, i18n.lang.get())}</dd>
                                <dt>{move || i18n.t("refund_method")}</dt>
                                <dd>{move || i18n.t(crate::pages::sales::method_key(&method))}</dd>
                                <dt>{move || i18n.t("refund_reason")}</dt>
                                <dd>{r.reason.clone()}</dd>
                            </dl>
                            <p class=if pending { "receipt-state pending" } else { "receipt-state sent" } data-testid="receipt-state" role="status">
                                {move || i18n.t(if pending { "receipt_pending" } else { "receipt_sent" })}
                            </p>
                        </article>
                        <div class="actions no-print">
                            <button type="button" class="btn primary big" data-testid="print-receipt" on:click=print>{move || i18n.t("print")}</button>
                            <a class="btn big" href="/sale">{move || i18n.t("new_sale")}</a>
                        </div>
                    }.into_any()
                }
            }}
        </section>
    }
    .into_any()
}
