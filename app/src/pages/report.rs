//! /till/:id/report — a till's X report (open: the figures so far) or Z report (closed), as the server
//! sums them (`GET /api/cash-sessions/{id}/report`), on screen and printable on an 80 mm or a 58 mm
//! receipt printer or on A4 (the paper chosen here sets the printed width).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::format;
use crate::i18n::{use_i18n, Key, Lang};
use crate::model::{MethodTotal, TillReport};
use crate::money::format_display;
use crate::offline::data;

const PAPERS: [(&str, Key); 3] = [("80", "paper_80"), ("58", "paper_58"), ("a4", "paper_a4")];

#[component]
pub fn TillReportPage() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let paper = RwSignal::new("80");
    let shop = RwSignal::new(None::<crate::model::ShopSettings>);
    let report = LocalResource::new(move || {
        let id = params.with(|p| p.get("id").unwrap_or_default());
        async move {
            shop.set(data::shop_settings().await);
            crate::api::get_json(&format!("/api/cash-sessions/{}/report", crate::api::encode_query(&id)))
                .await
                .and_then(|v| {
                    serde_json::from_value::<TillReport>(v).map_err(|e| crate::api::ApiError {
                        status: 200,
                        code: "unreadable_answer".into(),
                        message: e.to_string(),
                        details: None,
                        retry_after: None,
                    })
                })
        }
    });
    let print = move |_| crate::components::print_page();
    view! {
        <Title text=move || i18n.t("till_report").to_string()/>
        <section class="page report-page">
            <div class="actions no-print paper-choice" role="group" aria-label=move || i18n.t("paper")>
                {PAPERS.iter().map(|&(p, label)| view! {
                    <label class="method">
                        <input type="radio" name="paper" data-testid=format!("paper-{p}") prop:checked=move || paper.get() == p
                            on:change=move |_| paper.set(p)/>
                        <span>{move || i18n.t(label)}</span>
                    </label>
                }).collect_view()}
            </div>
            <Suspense fallback=move || view! { <p class="loading" data-testid="loading">{move || i18n.t("loading")}</p> }>
                {move || report.get().map(|r| match r {
                    Err(e) => view! { <p class="panel banner" role="alert">{e.describe(i18n.lang.get())}</p> }.into_any(),
                    Ok(r) => {
                        let kind = r.kind.clone();
                        let z = kind == "z";
                        view! {
                            <article class=move || format!("receipt till-report paper-{}", paper.get()) data-testid="till-report" data-kind=kind>
                                <header>
                                    <crate::pages::sales::ShopHeading shop/>
                                    <p class="receipt-kind"><strong data-testid="report-title">{move || i18n.t(if z { "z_report" } else { "x_report" })}</strong></p>
                                </header>
                                {move || figures(&r, i18n.lang.get())}
                            </article>
                        }.into_any()
                    }
                })}
            </Suspense>
            <div class="actions no-print">
                <button type="button" class="btn primary big" data-testid="print-report" on:click=print>{move || i18n.t("print")}</button>
                <a class="btn big" href="/cash">{move || i18n.t("cash_and_stock")}</a>
            </div>
        </section>
    }
    .into_any()
}

fn methods(list: &[MethodTotal], lang: Lang) -> impl IntoView {
    list.iter()
        .map(|m| {
            let name = crate::i18n::text(lang, crate::pages::sales::method_key(&m.method));
            view! { <dt class="sub">{name}</dt><dd>{format_display(m.amount_cents, lang)}</dd> }
        })
        .collect_view()
}

fn figures(r: &TillReport, lang: Lang) -> impl IntoView {
    let t = |k: Key| crate::i18n::text(lang, k);
    let money = |c: i64| format_display(c, lang);
    let s = &r.session;
    let when = |at: &str| format::date_time(at, lang);
    view! {
        <dl class="receipt-sums report-sums">
            <dt>{t("register")}</dt><dd>{s.register.clone()}</dd>
            <dt>{t("opened")}</dt><dd>{format!("{} · {}", when(&s.opened_at), s.opened_by)}</dd>
            {s.closed_at.clone().map(|at| view! { <dt>{t("closed")}</dt><dd data-testid="report-closed">{format!("{} · {}", when(&at), s.closed_by.clone().unwrap_or_default())}</dd> })}
            <dt>{t("opening_float")}</dt><dd>{money(s.opening_float_cents)}</dd>
            {r.first_receipt_no.clone().zip(r.last_receipt_no.clone()).map(|(first, last)| view! {
                <dt>{t("receipt_numbers")}</dt><dd data-testid="report-numbers">{format!("{first} – {last}")}</dd>
            })}
            <dt class="head">{format!("{} ({})", t("sales_count"), r.sales_count)}</dt><dd data-testid="report-sales">{money(r.sales_total_cents)}</dd>
            {methods(&r.by_method, lang)}
            <dt>{t("discounts")}</dt><dd data-testid="report-discounts">{money(r.discounts_cents)}</dd>
            <dt>{format!("{} ({})", t("voided_sales"), r.voided_count)}</dt><dd>{money(r.voided_total_cents)}</dd>
            <dt class="head">{format!("{} ({})", t("refunds"), r.refunds_count)}</dt><dd data-testid="report-refunds">{money(r.refunds_total_cents)}</dd>
            {methods(&r.refunds_by_method, lang)}
            <dt class="head">{t("net")}</dt><dd data-testid="report-net">{money(r.net_cents)}</dd>
            {r.taxes.iter().map(|x| view! {
                <dt class="sub">{format::tax_label(&x.name, x.rate_bp, lang)}</dt><dd data-testid="report-tax">{money(x.tax_cents)}</dd>
            }).collect_view()}
            <dt>{t("cash_in")}</dt><dd>{money(r.cash_in_cents)}</dd>
            <dt>{t("cash_out")}</dt><dd>{money(r.cash_out_cents)}</dd>
            <dt>{t("expenses")}</dt><dd>{money(r.expenses_cents)}</dd>
            <dt class="head">{t("expected_cash")}</dt><dd data-testid="report-expected">{money(s.expected_cents)}</dd>
            {s.counted_cents.map(|c| view! { <dt>{t("counted_cash")}</dt><dd data-testid="report-counted">{money(c)}</dd> })}
            {s.difference_cents.map(|d| view! { <dt>{t("difference")}</dt><dd data-testid="report-difference">{money(d)}</dd> })}
            {(r.late_sales > 0).then(|| view! {
                <dt class="head">{format!("{} ({})", t("late_sales"), r.late_sales)}</dt><dd data-testid="report-late">{money(r.late_total_cents)}</dd>
            })}
        </dl>
    }
}
