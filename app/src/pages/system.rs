//! /system — "Sistema" (admins): this server's role and mode, the emergency toggle (a standby),
//! which database is in use, the newest backup and its age, backup shipping and reconciliation
//! (a primary), the database failover's state, and the recent alerts (issue #6).

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::api::{self, ApiError};
use crate::components::use_session;
use crate::i18n::{ago, fill, use_i18n, Key};
use crate::model::SystemStatus;
use crate::offline::sync::now_ms;

/// Minutes since an RFC 3339 stamp (0 when it cannot be read).
fn minutes_since(stamp: &str) -> i64 {
    #[cfg(feature = "hydrate")]
    {
        let at = js_sys::Date::parse(stamp);
        if at.is_nan() {
            return 0;
        }
        ((now_ms() - at) / 60_000.0).floor() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (stamp, now_ms);
        0
    }
}

fn role_key(role: &str) -> Key {
    if role == "standby" {
        "system_role_standby"
    } else {
        "system_role_primary"
    }
}

fn database_key(db: &str) -> Key {
    match db {
        "mirror" => "system_db_mirror",
        "unreachable" => "system_db_unreachable",
        _ => "system_db_primary",
    }
}

fn shipment_key(status: &str) -> Key {
    match status {
        "shipped" => "system_shipment_shipped",
        "aborted" => "system_shipment_aborted",
        _ => "system_shipment_failed",
    }
}

#[component]
pub fn SystemPage() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    view! {
        <Title text=move || i18n.t("system").to_string()/>
        <Show
            when=move || session.is_admin()
            fallback=move || view! { <p class="panel center" data-testid="forbidden">{move || i18n.t("system_admins_only")}</p> }
        >
            <SystemAdmin/>
        </Show>
    }
    .into_any()
}

#[component]
fn SystemAdmin() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let status = RwSignal::new(None::<Result<SystemStatus, ApiError>>);
    let reload = RwSignal::new(0u32);
    let busy = RwSignal::new(false);
    // The outcome of the last action: (ok, text).
    let notice = RwSignal::new(None::<(bool, String)>);

    Effect::new(move || {
        reload.track();
        spawn_local(async move {
            let r = api::system_status().await;
            if matches!(&r, Err(e) if e.is_unauthorized()) {
                session.expired();
                return;
            }
            status.set(Some(r));
        });
    });

    // Runs an action, shows its outcome, reloads the status.
    let act = move |action: &'static str| {
        busy.set(true);
        notice.set(None);
        spawn_local(async move {
            let lang = i18n.lang.get_untracked();
            let outcome = match action {
                "emergency_on" => api::set_emergency(true).await.map(|_| i18n.t("system_mode_emergency").to_string()),
                "emergency_off" => api::set_emergency(false).await.map(|_| i18n.t("system_mode_normal").to_string()),
                "ship" => api::ship_now().await.map(|s| {
                    let status = s["status"].as_str().unwrap_or("failed");
                    format!("{} {}", crate::i18n::text(lang, shipment_key(status)), s["message"].as_str().unwrap_or(""))
                }),
                _ => api::reconcile().await.map(|r| {
                    let n = |k: &str| {
                        r[k].as_u64()
                            .map_or_else(|| r[k].as_array().map_or(0, |a| a.len()).to_string(), |v| v.to_string())
                    };
                    fill(
                        crate::i18n::text(lang, "system_reconcile_result"),
                        &[("applied", &n("applied")), ("present", &n("already_present")), ("rejected", &n("rejected"))],
                    )
                }),
            };
            busy.set(false);
            notice.set(Some(match outcome {
                Ok(text) => (true, text),
                Err(e) => (false, e.describe(lang)),
            }));
            reload.update(|n| *n += 1);
        });
    };

    view! {
        <section class="page system">
            <header class="page-head"><h1>{move || i18n.t("system")}</h1></header>
            {move || notice.get().map(|(ok, text)| view! {
                <p class=if ok { "notice ok" } else { "notice error" } role="status" data-testid="system-notice">{text}</p>
            })}
            {move || match status.get() {
                None => view! { <p class="panel">{i18n.t("loading")}</p> }.into_any(),
                Some(Err(e)) => view! { <p class="panel error" role="alert">{e.describe(i18n.lang.get())}</p> }.into_any(),
                Some(Ok(s)) => view! { <SystemView s=s busy=busy act=act/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn SystemView(
    s: SystemStatus,
    busy: RwSignal<bool>,
    act: impl Fn(&'static str) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let i18n = use_i18n();
    let standby = s.role == "standby";
    let emergency = s.mode == "emergency";
    let t = move |k: Key| i18n.t(k);
    let confirm_then = move |action: &'static str| {
        move |_| {
            #[cfg(feature = "hydrate")]
            if action == "emergency_on" {
                let ok = web_sys::window()
                    .and_then(|w| w.confirm_with_message(i18n.t("system_emergency_confirm")).ok())
                    .unwrap_or(false);
                if !ok {
                    return;
                }
            }
            act(action)
        }
    };
    let node = view! {
        <div class="panel" data-testid="system-node">
            <h2>{move || t("system_this_node")}</h2>
            <dl class="facts">
                <dt>{move || t("system_node")}</dt><dd>{s.node.clone()}</dd>
                <dt>{move || t("system_role")}</dt><dd data-testid="system-role">{move || t(role_key(&s.role))}</dd>
                <dt>{move || t("system_mode")}</dt>
                <dd data-testid="system-mode" class=if emergency { "danger" } else { "" }>
                    {move || t(if emergency { "system_mode_emergency" } else { "system_mode_normal" })}
                </dd>
                <dt>{move || t("system_database")}</dt><dd data-testid="system-database">{move || t(database_key(&s.database))} " · " {s.engine.clone()}</dd>
                <dt>{move || t("system_version")}</dt><dd>{s.version.clone()}</dd>
            </dl>
        </div>
    };
    let emergency_panel = standby.then(|| {
        let forced = s.emergency_forced;
        let unreconciled = s.unreconciled_emergency_writes;
        view! {
            <div class="panel" data-testid="system-emergency">
                <h2>{move || t("system_emergency_title")}</h2>
                <p>{move || t("system_emergency_help")}</p>
                {(unreconciled > 0).then(|| view! {
                    <p class="warn" data-testid="system-unreconciled">{move || fill(t("system_unreconciled"), &[("n", &unreconciled.to_string())])}</p>
                })}
                {if forced {
                    view! { <p class="warn">{move || t("system_emergency_forced")}</p> }.into_any()
                } else if emergency {
                    view! {
                        <button class="btn wide" data-testid="emergency-off" disabled=move || busy.get() on:click=confirm_then("emergency_off")>
                            {move || t("system_emergency_off")}
                        </button>
                    }.into_any()
                } else {
                    view! {
                        <button class="btn wide danger" data-testid="emergency-on" disabled=move || busy.get() on:click=confirm_then("emergency_on")>
                            {move || t("system_emergency_on")}
                        </button>
                    }.into_any()
                }}
            </div>
        }
    });
    let backup = s.newest_backup.clone();
    let backup_panel = view! {
        <div class="panel" data-testid="system-backup">
            <h2>{move || t("system_backup_title")}</h2>
            {match backup {
                None => view! { <p>{move || t("system_no_backup")}</p> }.into_any(),
                Some(b) => {
                    let verified = b.verified_at.is_some();
                    let minutes = b.age_secs / 60;
                    view! {
                        <p>
                            <span>{b.id.clone()}</span> " · "
                            <span data-testid="system-backup-age">{move || ago(i18n.lang.get(), minutes)}</span> " · "
                            <span class=if verified { "ok" } else { "warn" }>{move || t(if verified { "system_verified" } else { "system_not_verified" })}</span>
                        </p>
                    }.into_any()
                }
            }}
        </div>
    };
    let shipping_panel = (!standby).then(|| {
        let shipment = s.last_shipment.clone();
        let configured = s.standby_url.clone();
        view! {
            <div class="panel" data-testid="system-shipping">
                <h2>{move || t("system_shipping_title")}</h2>
                {match configured {
                    None => view! { <p>{move || t("system_no_standby")}</p> }.into_any(),
                    Some(url) => view! {
                        <p>{url}</p>
                        {match shipment {
                            None => view! { <p>{move || t("system_never_shipped")}</p> }.into_any(),
                            Some(sh) => {
                                let minutes = minutes_since(&sh.at);
                                let class = if sh.status == "shipped" { "ok" } else { "warn" };
                                view! {
                                    <p data-testid="system-last-shipment">
                                        <strong class=class>{move || t(shipment_key(&sh.status))}</strong> " · "
                                        {move || ago(i18n.lang.get(), minutes)} " · " {sh.message.clone()}
                                    </p>
                                }.into_any()
                            }
                        }}
                        <button class="btn wide" data-testid="ship-now" disabled=move || busy.get() on:click=confirm_then("ship")>
                            {move || if busy.get() { t("system_working") } else { t("system_ship_now") }}
                        </button>
                    }.into_any(),
                }}
            </div>
        }
    });
    let reconcile_panel = (!standby && s.standby_url.is_some()).then(|| {
        let last = s.last_reconciliation.clone();
        view! {
            <div class="panel" data-testid="system-reconcile">
                <h2>{move || t("system_reconcile_title")}</h2>
                <p>{move || t("system_reconcile_help")}</p>
                {match last {
                    None => view! { <p>{move || t("system_never_reconciled")}</p> }.into_any(),
                    Some(r) => {
                        let minutes = minutes_since(&r.finished_at);
                        view! {
                            <p data-testid="system-last-reconciliation">
                                {move || fill(t("system_reconcile_result"), &[
                                    ("applied", &r.applied.to_string()),
                                    ("present", &r.already_present.to_string()),
                                    ("rejected", &r.rejected.to_string()),
                                ])}
                                " · " {move || ago(i18n.lang.get(), minutes)}
                            </p>
                        }.into_any()
                    }
                }}
                <button class="btn wide" data-testid="reconcile-now" disabled=move || busy.get() on:click=confirm_then("reconcile")>
                    {move || if busy.get() { t("system_working") } else { t("system_reconcile_now") }}
                </button>
            </div>
        }
    });
    let failover_panel = s.failover.clone().map(|f| {
        let yes_no = move |b: bool| t(if b { "system_yes" } else { "system_no" });
        view! {
            <div class="panel" data-testid="system-failover">
                <h2>{move || t("system_failover_title")}</h2>
                <dl class="facts">
                    <dt>{move || t("system_failover_state")}</dt><dd data-testid="system-failover-state">{f.state.clone()}</dd>
                    <dt>{move || t("system_failover_auto")}</dt><dd>{move || yes_no(f.auto_failover_enabled)}</dd>
                    <dt>{move || t("system_failed_checks")}</dt><dd>{f.failed_checks}</dd>
                    <dt>{move || t("system_lag")}</dt><dd>{f.last_lag_bytes.map_or("—".to_string(), |b| format!("{b} B"))}</dd>
                </dl>
                {f.message.clone().map(|m| view! { <p>{m}</p> })}
            </div>
        }
    });
    let alerts = s.alerts.clone();
    let alerts_panel = view! {
        <div class="panel" data-testid="system-alerts">
            <h2>{move || t("system_alerts_title")}</h2>
            {if alerts.is_empty() {
                view! { <p>{move || t("system_no_alerts")}</p> }.into_any()
            } else {
                view! {
                    <ul class="alerts">
                        {alerts.into_iter().map(|a| {
                            let minutes = minutes_since(&a.at);
                            view! {
                                <li data-testid="system-alert" data-kind=a.kind.clone()>
                                    <span class="muted">{move || ago(i18n.lang.get(), minutes)}</span> " "
                                    <strong>{a.kind.clone()}</strong> " — " {a.message.clone()}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </div>
    };
    view! { {node} {emergency_panel} {backup_panel} {shipping_panel} {reconcile_panel} {failover_panel} {alerts_panel} }
}

/// The red banner every page shows while this server is a standby in emergency mode. It asks
/// /health (which says the mode to signed-in users, and to anyone during an emergency) after
/// hydration and every 30 s.
#[component]
pub fn EmergencyBanner() -> impl IntoView {
    let i18n = use_i18n();
    let emergency = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    {
        let check = move || {
            spawn_local(async move {
                if let Ok(h) = api::health().await {
                    emergency.set(h.mode.as_deref() == Some("emergency"));
                }
            })
        };
        Effect::new(check);
        let handle = leptos::prelude::set_interval_with_handle(check, std::time::Duration::from_secs(30)).ok();
        on_cleanup(move || {
            if let Some(h) = handle {
                h.clear();
            }
        });
    }
    view! {
        <Show when=move || emergency.get()>
            <div class="emergency-banner" role="alert" data-testid="emergency-banner">
                {move || i18n.t("system_emergency_banner")}
            </div>
        </Show>
    }
}
