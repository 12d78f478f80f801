//! /backups (admins): the backups (date, size, trigger, short checksum, verified, local/remote),
//! create, download, verify, restore with a typed confirmation, delete, the totals, and the exports.
//!
//! Self-contained on purpose (its own strings and a small JSON call helper), so that it touches none of
//! the shared client modules; the route and nav entry are added in lib.rs / layout.rs.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use serde_json::Value;

use crate::components::use_session;
use crate::i18n::{use_i18n, Lang};

/// Spanish or English text for the current language.
fn tr(lang: Lang, key: crate::i18n::Key) -> &'static str {
    crate::i18n::text(lang, key)
}

/// A failed call: HTTP status (0 = no answer) and the server's message.
#[derive(Clone, Debug)]
struct CallError {
    status: u16,
    message: String,
}

#[cfg(feature = "hydrate")]
async fn call(method: &str, url: &str) -> Result<Value, CallError> {
    use gloo_net::http::{Method, RequestBuilder};
    let m = match method {
        "POST" => Method::POST,
        "DELETE" => Method::DELETE,
        _ => Method::GET,
    };
    let mut rb = RequestBuilder::new(url).method(m).header("Accept", "application/json");
    if method != "GET" {
        rb = rb.header("Idempotency-Key", &uuid::Uuid::new_v4().to_string());
    }
    let network = |_| CallError { status: 0, message: String::new() };
    let resp = rb.build().map_err(network)?.send().await.map_err(network)?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        let message = body["error"]["message"].as_str().unwrap_or("").to_owned();
        Err(CallError { status, message })
    }
}

#[cfg(not(feature = "hydrate"))]
async fn call(_method: &str, _url: &str) -> Result<Value, CallError> {
    Err(CallError { status: 0, message: String::new() })
}

fn describe(e: &CallError, lang: Lang) -> String {
    if e.status == 0 {
        return tr(lang, "backup_no_connection_to_the_server").into();
    }
    if e.message.is_empty() {
        format!("HTTP {}", e.status)
    } else {
        e.message.clone()
    }
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.0} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

fn trigger_label(lang: Lang, trigger: &str) -> &'static str {
    match trigger {
        "manual" => tr(lang, "backup_manual"),
        "scheduled" => tr(lang, "backup_scheduled"),
        "pre-restore" => tr(lang, "backup_pre_restore"),
        "upload" => tr(lang, "backup_upload"),
        _ => "?",
    }
}

/// "2026-11-22T02:00:00.000Z" → "2026-11-22 02:00".
fn when(stamp: &str) -> String {
    stamp.get(..16).map(|s| s.replace('T', " ")).unwrap_or_else(|| stamp.to_owned())
}

#[component]
pub fn BackupsPage() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    view! {
        <Title text=move || tr(i18n.lang.get(), "backup_backups").to_string()/>
        <Show
            when=move || session.is_admin()
            fallback=move || view! {
                <p class="panel center" data-testid="forbidden">
                    {move || tr(i18n.lang.get(), "backup_admins_only")}
                </p>
            }
        >
            <BackupsAdmin/>
            <Exports/>
        </Show>
    }
    .into_any()
}

#[component]
fn BackupsAdmin() -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let data = RwSignal::new(None::<Result<Value, CallError>>);
    let reload = RwSignal::new(0u32);
    let busy = RwSignal::new(None::<&'static str>);
    let notice = RwSignal::new(None::<(bool, String)>);

    Effect::new(move || {
        reload.track();
        spawn_local(async move {
            let r = call("GET", "/api/backups").await;
            if matches!(&r, Err(e) if e.status == 401) {
                session.expired();
                return;
            }
            data.set(Some(r));
        });
    });

    let create = move |_| {
        busy.set(Some("create"));
        notice.set(None);
        spawn_local(async move {
            let r = call("POST", "/api/backups").await;
            busy.set(None);
            let lang = i18n.lang.get_untracked();
            notice.set(Some(match r {
                Ok(b) => (true, format!("{} {}", tr(lang, "backup_backup_created"), b["id"].as_str().unwrap_or(""))),
                Err(e) => (false, describe(&e, lang)),
            }));
            reload.update(|n| *n += 1);
        });
    };

    let totals = move || {
        data.with(|d| match d {
            Some(Ok(v)) => {
                let t = &v["totals"];
                let lang = i18n.lang.get();
                let next = t["next_scheduled_at"]
                    .as_str()
                    .map(when)
                    .unwrap_or_else(|| tr(lang, "backup_not_scheduled").into());
                Some(format!(
                    "{} {} · {} · {} {} · {}",
                    t["count"],
                    tr(lang, "backup_backups_2"),
                    size(t["size_bytes"].as_u64().unwrap_or(0)),
                    tr(lang, "backup_next"),
                    next,
                    t["directory"].as_str().unwrap_or(""),
                ))
            }
            _ => None,
        })
    };

    let list = move || match data.get() {
        None => view! { <p class="loading" data-testid="loading">{move || tr(i18n.lang.get(), "backup_loading")}</p> }
            .into_any(),
        Some(Err(e)) => view! {
            <div class="panel center" role="alert">
                <p>{describe(&e, i18n.lang.get())}</p>
                <button type="button" class="btn" on:click=move |_| reload.update(|n| *n += 1)>
                    {move || tr(i18n.lang.get(), "backup_retry")}
                </button>
            </div>
        }
        .into_any(),
        Some(Ok(v)) => {
            let rows: Vec<Value> = v["backups"].as_array().cloned().unwrap_or_default();
            if rows.is_empty() {
                return view! { <p class="panel center">{move || tr(i18n.lang.get(), "backup_no_backups_yet")}</p> }
                    .into_any();
            }
            view! {
                <ul class="rows backups" data-testid="backup-list">
                    {rows.into_iter().map(|b| view! { <BackupRow backup=b reload=reload notice=notice/> }).collect_view()}
                </ul>
            }
            .into_any()
        }
    };

    view! {
        <section class="page">
            <header class="page-head">
                <h1>{move || tr(i18n.lang.get(), "backup_backups")}</h1>
                <button type="button" class="btn primary" data-testid="create-backup" disabled=move || busy.get().is_some() on:click=create>
                    {move || if busy.get() == Some("create") {
                        tr(i18n.lang.get(), "backup_creating_backup")
                    } else {
                        tr(i18n.lang.get(), "backup_back_up_now")
                    }}
                </button>
            </header>
            <Show when=move || busy.get() == Some("create")>
                <p class="panel progress-line" role="status" data-testid="backup-progress">
                    <progress aria-label=move || tr(i18n.lang.get(), "backup_creating_backup")></progress>
                    <span>{move || tr(i18n.lang.get(), "backup_creating_backup")}</span>
                </p>
            </Show>
            <p class="muted" data-testid="backup-totals">{totals}</p>
            {move || notice.get().map(|(ok, text)| view! {
                <p class=if ok { "panel ok" } else { "panel error" } role="status">{text}</p>
            })}
            {list}
        </section>
    }
    .into_any()
}

#[component]
fn BackupRow(backup: Value, reload: RwSignal<u32>, notice: RwSignal<Option<(bool, String)>>) -> impl IntoView {
    let i18n = use_i18n();
    let id = backup["id"].as_str().unwrap_or("").to_owned();
    let verifying = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let typed = RwSignal::new(String::new());
    let working = RwSignal::new(false);
    let deleting = RwSignal::new(false);

    let sha = backup["sha256"].as_str().unwrap_or("").chars().take(12).collect::<String>();
    let verified = backup["verified_at"].as_str().map(when);
    let last_failed = backup["last_verification"]["ok"] == Value::Bool(false);
    let local = backup["local"] == Value::Bool(true);
    let remote = backup["remote"].is_object();
    let created = when(backup["created_at"].as_str().unwrap_or(""));
    let bytes = size(backup["size_bytes"].as_u64().unwrap_or(0));
    let trigger = backup["trigger"].as_str().unwrap_or("").to_owned();
    let download = format!("/api/backups/{id}/download");

    let verify = {
        let id = id.clone();
        move |_| {
            verifying.set(true);
            let id = id.clone();
            spawn_local(async move {
                let r = call("POST", &format!("/api/backups/{id}/verify")).await;
                verifying.set(false);
                let lang = i18n.lang.get_untracked();
                notice.set(Some(match r {
                    Ok(v) if v["ok"] == Value::Bool(true) => (true, format!("{id}: {}", tr(lang, "backup_verified"))),
                    Ok(v) => {
                        let failed: Vec<String> = v["checks"]
                            .as_array()
                            .map(|c| {
                                c.iter()
                                    .filter(|c| c["ok"] != Value::Bool(true))
                                    .map(|c| {
                                        format!(
                                            "{}: {}",
                                            c["name"].as_str().unwrap_or(""),
                                            c["detail"].as_str().unwrap_or("")
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        (false, format!("{id}: {} ({})", tr(lang, "backup_verification_failed"), failed.join("; ")))
                    }
                    Err(e) => (false, describe(&e, lang)),
                }));
                reload.update(|n| *n += 1);
            });
        }
    };

    let restore = {
        let id = id.clone();
        move |_| {
            working.set(true);
            let id = id.clone();
            spawn_local(async move {
                let r = call("POST", &format!("/api/backups/{id}/restore")).await;
                working.set(false);
                confirming.set(false);
                typed.set(String::new());
                let lang = i18n.lang.get_untracked();
                notice.set(Some(match r {
                    Ok(v) => (
                        true,
                        format!(
                            "{} {id}. {} {}",
                            tr(lang, "backup_restored_backup"),
                            tr(lang, "backup_the_previous_data_is_in_backup"),
                            v["safety_backup"]["id"].as_str().unwrap_or("")
                        ),
                    ),
                    Err(e) => (false, describe(&e, lang)),
                }));
                reload.update(|n| *n += 1);
            });
        }
    };

    let delete = {
        let id = id.clone();
        move |_| {
            if !deleting.get_untracked() {
                deleting.set(true);
                return;
            }
            let id = id.clone();
            spawn_local(async move {
                let r = call("DELETE", &format!("/api/backups/{id}")).await;
                deleting.set(false);
                if let Err(e) = r {
                    notice.set(Some((false, describe(&e, i18n.lang.get_untracked()))));
                }
                reload.update(|n| *n += 1);
            });
        }
    };

    let id_for_check = id.clone();
    let matches = move || typed.with(|t| t.trim() == id_for_check);
    let id_attr = id.clone();
    view! {
        <li class="row backup" data-testid="backup-row" data-id=id_attr>
            <div class="row-main">
                <strong>{created}</strong>
                <span class="muted">{move || trigger_label(i18n.lang.get(), &trigger)}</span>
                <span>{bytes}</span>
                <code title=backup["sha256"].as_str().unwrap_or("").to_owned()>{sha}</code>
                <span class=if last_failed { "badge error" } else { "badge" }>
                    {move || match (&verified, last_failed) {
                        (_, true) => tr(i18n.lang.get(), "backup_verification_failed_2").to_string(),
                        (Some(at), _) => format!("{} {at}", tr(i18n.lang.get(), "backup_verified")),
                        (None, _) => tr(i18n.lang.get(), "backup_not_verified").to_string(),
                    }}
                </span>
                <span class="muted">
                    {move || match (local, remote) {
                        (true, true) => tr(i18n.lang.get(), "backup_local_and_remote"),
                        (true, false) => tr(i18n.lang.get(), "backup_local"),
                        (false, true) => tr(i18n.lang.get(), "backup_remote_only"),
                        (false, false) => "?",
                    }}
                </span>
            </div>
            <Show when=move || verifying.get() || working.get()>
                <progress class="row-progress" data-testid="backup-row-progress"
                    aria-label=move || tr(i18n.lang.get(), if working.get() { "backup_restoring" } else { "backup_verifying" })></progress>
            </Show>
            <div class="row-actions">
                <a class="btn" href=download download="">{move || tr(i18n.lang.get(), "backup_download")}</a>
                <button type="button" class="btn" disabled=move || verifying.get() on:click=verify>
                    {move || if verifying.get() { tr(i18n.lang.get(), "backup_verifying") } else { tr(i18n.lang.get(), "backup_verify") }}
                </button>
                <button type="button" class="btn" on:click=move |_| confirming.update(|c| *c = !*c)>
                    {move || tr(i18n.lang.get(), "backup_restore")}
                </button>
                <button type="button" class="btn danger" on:click=delete>
                    {move || if deleting.get() { tr(i18n.lang.get(), "backup_delete_click_again") } else { tr(i18n.lang.get(), "backup_delete") }}
                </button>
            </div>
            <Show when=move || confirming.get()>
                <div class="panel confirm" data-testid="restore-confirm">
                    <p>
                        {move || tr(i18n.lang.get(), "backup_restoring_replaces_all_data_with_this_ba")}
                    </p>
                    <code>{id.clone()}</code>
                    <input type="text" autocomplete="off" prop:value=move || typed.get() on:input=move |ev| typed.set(event_target_value(&ev))/>
                    <button type="button" class="btn danger" disabled={let m = matches.clone(); move || !m() || working.get()} on:click=restore.clone()>
                        {move || if working.get() { tr(i18n.lang.get(), "backup_restoring") } else { tr(i18n.lang.get(), "backup_restore_now") }}
                    </button>
                </div>
            </Show>
        </li>
    }
}

/// Export buttons: an entity, a period of the shop's days, CSV or XLSX (plain links: the browser
/// downloads the streamed file with the session cookie).
#[component]
fn Exports() -> impl IntoView {
    let i18n = use_i18n();
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let entities: [(&str, crate::i18n::Key); 7] = [
        ("sales", "export_sales"),
        ("sale_lines", "export_sale_lines"),
        ("products", "products"),
        ("customers", "customers"),
        ("expenses", "export_expenses"),
        ("cash_movements", "export_cash_movements"),
        ("inventory_movements", "export_inventory_movements"),
    ];
    let href = move |entity: &'static str, format: &'static str| {
        let mut url = format!("/api/export/{entity}?format={format}");
        let (f, t) = (from.get(), to.get());
        if !f.is_empty() {
            url.push_str(&format!("&from={f}"));
        }
        if !t.is_empty() {
            url.push_str(&format!("&to={t}"));
        }
        url
    };
    view! {
        <section class="page">
            <header class="page-head">
                <h2>{move || tr(i18n.lang.get(), "backup_export")}</h2>
            </header>
            <div class="filters">
                <label>{move || tr(i18n.lang.get(), "backup_from")}
                    <input type="date" prop:value=move || from.get() on:input=move |ev| from.set(event_target_value(&ev))/>
                </label>
                <label>{move || tr(i18n.lang.get(), "backup_to")}
                    <input type="date" prop:value=move || to.get() on:input=move |ev| to.set(event_target_value(&ev))/>
                </label>
            </div>
            <ul class="rows exports" data-testid="export-list">
                {entities.into_iter().map(|(entity, key)| view! {
                    <li class="row">
                        <span>{move || tr(i18n.lang.get(), key)}</span>
                        <a class="btn" href=move || href(entity, "csv") download="">"CSV"</a>
                        <a class="btn" href=move || href(entity, "xlsx") download="">"XLSX"</a>
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
}
