//! /dashboard — the owner's view: today's takings, the last 30 days, best sellers, open tills, low stock,
//! and what reached the server late from offline phones. Every figure links to the list behind it.
//!
//! The summary comes from `GET /api/dashboard`; the last one fetched is kept in IndexedDB, so the page
//! still opens with no connection and says how old its figures are.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use serde_json::json;

use crate::components::layout::data_age;
use crate::components::use_session;
use crate::format;
use crate::i18n::{fill, use_i18n, Lang};
use crate::model::{Dashboard, DayTotal};
use crate::money::format_display;
use crate::offline::store;
use crate::offline::sync::{self, use_sync};

const CACHE_KEY: &str = "dashboard";

fn method_label(method: &str) -> crate::i18n::Key {
    match method {
        "cash" => "method_cash",
        "card" => "method_card",
        "transfer" => "method_transfer",
        _ => "method_other",
    }
}

fn sales_link(from: &str, to: &str) -> String {
    format!("/sales?from={from}&to={to}")
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let session = use_session();
    // The summary and when it was fetched (ms since the epoch).
    let data = RwSignal::new(None::<(Dashboard, f64)>);
    let error = RwSignal::new(None::<String>);
    let now = RwSignal::new(sync::now_ms());

    // Offline copy first, then the server's; again whenever the local data changes (a sale was sent).
    Effect::new(move || {
        sync.data_version.track();
        spawn_local(async move {
            // A task starts after the effect that spawned it; the page may be gone by then.
            if data.is_disposed() {
                return;
            }
            if data.with_untracked(Option::is_none) {
                if let Ok(Some(cached)) = store::meta_get(CACHE_KEY).await {
                    let summary = serde_json::from_value::<Dashboard>(cached["summary"].clone());
                    if let (Ok(summary), Some(at)) = (summary, cached["fetched_ms"].as_f64()) {
                        data.set(Some((summary, at)));
                    }
                }
            }
            let fetched =
                crate::api::get_json("/api/dashboard").await.map_err(|e| e.describe(i18n.lang.get_untracked()));
            match fetched.and_then(|v| serde_json::from_value::<Dashboard>(v).map_err(|e| e.to_string())) {
                Ok(summary) => {
                    let at = sync::now_ms();
                    now.set(at);
                    let _ = store::apply(store::Changes {
                        meta: vec![(CACHE_KEY.into(), json!({"summary": summary, "fetched_ms": at}))],
                        ..Default::default()
                    })
                    .await;
                    error.set(None);
                    data.set(Some((summary, at)));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    });
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(move || now.set(sync::now_ms()), std::time::Duration::from_secs(30));
        on_cleanup(move || {
            if let Ok(h) = handle {
                h.clear();
            }
        });
    }

    view! {
        <Title text=move || i18n.t("dashboard").to_string()/>
        <section class="page dashboard">
            <header class="page-head">
                <h1>{move || i18n.t("dashboard")}</h1>
                <span class="data-age" data-testid="dashboard-age">
                    {move || data.get().map(|(_, at)| data_age(i18n.lang.get(), Some(at), now.get()))}
                </span>
            </header>
            <Show when=move || session.is_admin() || session.user.with(Option::is_none)
                fallback=move || view! { <p class="panel">{move || i18n.t("forbidden")}</p> }>
                {move || error.get().filter(|_| data.with(Option::is_none)).map(|e| view! { <p class="panel warn" role="alert">{e}</p> })}
                {move || match data.get() {
                    None => view! { <p class="loading" data-testid="loading">{move || i18n.t("loading")}</p> }.into_any(),
                    Some((d, _)) => view! { <Figures d/> }.into_any(),
                }}
            </Show>
        </section>
    }
    .into_any()
}

#[component]
fn Figures(d: Dashboard) -> impl IntoView {
    let i18n = use_i18n();
    let today = d.today.clone();
    let today_link = sales_link(&today, &today);
    let Dashboard { per_day, top_products, open_sessions, low_stock, late, today_by_method, .. } = d.clone();
    view! {
        <div class="kpis">
            <a class="kpi" href=today_link.clone() data-testid="kpi-total">
                <span class="kpi-label">{move || i18n.t("today_total")}</span>
                <strong class="kpi-value">{move || format_display(d.today_total_cents, i18n.lang.get())}</strong>
            </a>
            <a class="kpi" href=today_link.clone() data-testid="kpi-count">
                <span class="kpi-label">{move || i18n.t("today_count")}</span>
                <strong class="kpi-value">{move || format::number(d.today_count, i18n.lang.get())}</strong>
            </a>
            <a class="kpi" href=today_link.clone() data-testid="kpi-average">
                <span class="kpi-label">{move || i18n.t("average_ticket")}</span>
                <strong class="kpi-value">{move || format_display(d.today_average_cents, i18n.lang.get())}</strong>
            </a>
        </div>
        <section class="panel" data-testid="by-method">
            <h2>{move || i18n.t("by_method")}</h2>
            {if today_by_method.is_empty() {
                view! { <p class="empty">{move || i18n.t("no_sales_today")}</p> }.into_any()
            } else {
                view! {
                    <ul class="rows compact">
                        {today_by_method.into_iter().map(|m| {
                            let method = m.method.clone();
                            view! {
                                <li class="row" data-testid="method-row" data-method=m.method.clone()>
                                    <a href=today_link.clone()>{move || i18n.t(method_label(&method))}</a>
                                    <span class="row-end price">{move || format_display(m.amount_cents, i18n.lang.get())}</span>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section class="panel">
            <h2 id="chart-days">{move || i18n.t("sales_per_day")}</h2>
            <DaysChart days=per_day/>
        </section>
        <section class="panel" data-testid="top-products">
            <h2>{move || i18n.t("top_products")}</h2>
            {
                let max = top_products.iter().map(|p| p.total_cents).max().unwrap_or(0).max(1);
                if top_products.is_empty() {
                    view! { <p class="empty">{move || i18n.t("nothing_yet_30_days")}</p> }.into_any()
                } else {
                    view! {
                        <ol class="bars">
                            {top_products.into_iter().map(|p| {
                                let pct = (p.total_cents * 100 / max).max(2);
                                view! {
                                    <li class="bar-row" data-testid="top-product">
                                        <a href=format!("/products/{}", p.product_id)>{p.name.clone()}</a>
                                        <span class="bar" aria-hidden="true"><span class="bar-fill" style=format!("width:{pct}%")></span></span>
                                        <span class="bar-value">{move || format!("{} · {}", fill(i18n.t("units_n"), &[("n", &format::number(p.quantity, i18n.lang.get()))]), format_display(p.total_cents, i18n.lang.get()))}</span>
                                    </li>
                                }
                            }).collect_view()}
                        </ol>
                    }.into_any()
                }
            }
        </section>
        <section class="panel" data-testid="open-sessions">
            <h2>{move || i18n.t("open_tills")}</h2>
            {if open_sessions.is_empty() {
                view! { <p class="empty">{move || i18n.t("no_open_tills")}</p> }.into_any()
            } else {
                view! {
                    <ul class="rows compact">
                        {open_sessions.into_iter().map(|s| view! {
                            <li class="row" data-testid="open-session">
                                <a href="/cash">{format!("{} · {}", s.register, s.opened_by)}</a>
                                <span class="row-end price">{move || format!("{}: {}", i18n.t("expected_cash"), format_display(s.expected_cents, i18n.lang.get()))}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section class="panel" data-testid="low-stock">
            <h2>{move || i18n.t("low_stock")}</h2>
            {if low_stock.is_empty() {
                view! { <p class="empty">{move || i18n.t("no_low_stock")}</p> }.into_any()
            } else {
                view! {
                    <ul class="rows compact">
                        {low_stock.into_iter().map(|p| view! {
                            <li class="row" data-testid="low-stock-row">
                                <a href=format!("/products/{}", p.id)>{format!("{} · {}", p.name, p.sku)}</a>
                                <span class="row-end badge low">{move || fill(i18n.t("stock_of_threshold"), &[("n", &p.stock.to_string()), ("min", &p.low_stock_threshold.to_string())])}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section class="panel" id="late" data-testid="late">
            <h2>{move || i18n.t("late_operations")}</h2>
            <p class="help">{move || i18n.t("late_help")}</p>
            {if late.is_empty() {
                view! { <p class="empty">{move || i18n.t("no_late_operations")}</p> }.into_any()
            } else {
                view! {
                    <ul class="rows compact">
                        {late.into_iter().map(|l| view! {
                            <li class="row" data-testid="late-row">
                                <span>{move || format!("{} · {} · {}", l.path, l.username, format::date_time(&l.queued_at, i18n.lang.get()))}</span>
                                <span class="row-end">{move || fill(i18n.t("minutes_late"), &[("n", &format::number(l.minutes_late, i18n.lang.get()))])}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

/// Sales per day as an SVG bar chart drawn here (no chart library), with the same figures as a table of
/// links beneath it for keyboards and screen readers.
#[component]
fn DaysChart(days: Vec<DayTotal>) -> impl IntoView {
    let i18n = use_i18n();
    let max = days.iter().map(|d| d.total_cents).max().unwrap_or(0).max(1);
    let (w, h, n) = (300.0_f64, 100.0_f64, days.len().max(1) as f64);
    let slot = w / n;
    let bars = days
        .clone()
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let bh = (d.total_cents as f64 / max as f64 * (h - 4.0)).max(if d.total_cents > 0 { 1.0 } else { 0.0 });
            let (x, y) = (i as f64 * slot + slot * 0.15, h - bh);
            let date = d.date.clone();
            let total = d.total_cents;
            let title = move |lang: Lang| format!("{}: {}", format::day(&date, lang), format_display(total, lang));
            let d2 = d.clone();
            view! {
                <rect class="chart-bar" x=format!("{x:.2}") y=format!("{y:.2}") width=format!("{:.2}", slot * 0.7) height=format!("{bh:.2}")
                    data-date=d2.date.clone() data-total=d2.total_cents.to_string()>
                    <title>{move || title(i18n.lang.get())}</title>
                </rect>
            }
        })
        .collect_view();
    let first = days.first().map(|d| d.date.clone()).unwrap_or_default();
    let last = days.last().map(|d| d.date.clone()).unwrap_or_default();
    let rows = days.into_iter().rev().filter(|d| d.count > 0).collect::<Vec<_>>();
    view! {
        <figure class="chart" data-testid="days-chart">
            <svg viewBox=format!("0 0 {w} {}", h + 14.0) preserveAspectRatio="none" aria-hidden="true" focusable="false">
                <line class="chart-axis" x1="0" y1=h.to_string() x2=w.to_string() y2=h.to_string()/>
                {bars}
                // The top of the scale, so the bars read as amounts.
                {(max > 1).then(|| view! { <text class="chart-label" x="2" y="10">{move || format_display(max, i18n.lang.get())}</text> })}
                <line class="chart-axis" x1="0" y1="4" x2=w.to_string() y2="4" stroke-dasharray="2 2"/>
                <text class="chart-label" x="0" y=(h + 12.0).to_string()>{let f = first.clone(); move || format::day(&f, i18n.lang.get())}</text>
                <text class="chart-label" x=w.to_string() y=(h + 12.0).to_string() text-anchor="end">{let l = last.clone(); move || format::day(&l, i18n.lang.get())}</text>
            </svg>
            <figcaption class="visually-hidden">{move || i18n.t("sales_per_day")}</figcaption>
        </figure>
        <details class="chart-table">
            <summary>{move || i18n.t("days_with_sales")}</summary>
            <table>
                <thead><tr><th scope="col">{move || i18n.t("day")}</th><th scope="col">{move || i18n.t("sales_count")}</th><th scope="col">{move || i18n.t("total")}</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|d| {
                        let link = sales_link(&d.date, &d.date);
                        let date = d.date.clone();
                        view! {
                            <tr>
                                <td><a href=link>{move || format::day(&date, i18n.lang.get())}</a></td>
                                <td>{d.count}</td>
                                <td>{move || format_display(d.total_cents, i18n.lang.get())}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </details>
    }
}
