//! /pending — "Pendientes de enviar": every write this device has not had confirmed yet, with its
//! state, age and the server's message; retry, edit and resend, resolve a conflict field by field,
//! discard (after confirming, never silently), send all now, export the whole outbox as JSON.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::components::use_toast;
use crate::entity::{to_text, EntityDef, Kind, CATEGORIES, CUSTOMERS, PRODUCTS};
use crate::i18n::{fill, use_i18n, Key, Lang};
use crate::money::format_display;
use crate::offline::device;
use crate::offline::outbox::{blocked, conflict_current, conflicting_fields, Action, ItemState, OutboxItem};
use crate::offline::sync::{self, now_ms, use_sync};

/// The edit form's description of a catalog table (labels and kinds of its fields).
fn entity_def(table: &str) -> Option<&'static EntityDef> {
    match table {
        "products" => Some(&PRODUCTS),
        "categories" => Some(&CATEGORIES),
        "customers" => Some(&CUSTOMERS),
        _ => None,
    }
}

fn op_text(a: Action) -> Key {
    match a {
        Action::Create => "op_create",
        Action::Update => "op_update",
        Action::Delete => "op_delete",
        Action::Close => "op_close",
        Action::Void => "op_void",
    }
}

fn table_text(table: &str) -> Key {
    match table {
        "sales" => "table_sales",
        "refunds" => "table_refunds",
        "cash_sessions" => "table_cash_sessions",
        "products" => "table_products",
        "categories" => "table_categories",
        "customers" => "table_customers",
        _ => "table_other",
    }
}

/// "Alta · Venta · Yerba 1 kg × 2 · $ 3.000"
pub fn summary(item: &OutboxItem, lang: Lang) -> String {
    let mut parts = vec![
        crate::i18n::text(lang, op_text(item.action)).to_string(),
        crate::i18n::text(lang, table_text(&item.table)).to_string(),
    ];
    if !item.label.is_empty() {
        parts.push(item.label.clone());
    }
    if let Some(total) = item.preview.as_ref().and_then(|p| p.get("total_cents")).and_then(Value::as_i64) {
        parts.push(format_display(total, lang));
    }
    parts.join(" · ")
}

fn age_minutes(created_at: &str) -> i64 {
    #[cfg(feature = "hydrate")]
    {
        let then = js_sys::Date::parse(created_at);
        if then.is_nan() {
            return 0;
        }
        ((now_ms() - then) / 60_000.0).floor().max(0.0) as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (created_at, now_ms());
        0
    }
}

fn age_text(created_at: &str, lang: Lang) -> String {
    crate::i18n::ago(lang, age_minutes(created_at))
}

/// The server's message, with its per-field messages (a 422 says which field and why).
fn error_text(e: &crate::offline::outbox::ItemError) -> String {
    let mut text = if e.message.is_empty() { e.code.clone() } else { e.message.clone() };
    if let Some(fields) = e.details.as_ref().and_then(|d| d.get("fields")).and_then(Value::as_object) {
        for (field, msg) in fields {
            text.push_str(&format!(" · {field}: {}", msg.as_str().unwrap_or_default()));
        }
    }
    text
}

/// Scalar fields of a body a person may correct before resending (ids and versions are not theirs).
fn editable_fields(body: &Value) -> Vec<(String, Value)> {
    body.as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, v)| {
                    !matches!(k.as_str(), "id" | "version" | "cash_session_id" | "customer_id")
                        && (v.is_string() || v.is_number() || v.is_null() || v.is_boolean())
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// A text typed in place of `old` as the JSON value of the same kind.
fn parse_like(old: &Value, text: &str) -> Value {
    let t = text.trim();
    match old {
        Value::Number(_) => t.parse::<i64>().map(Value::from).unwrap_or_else(|_| old.clone()),
        Value::Bool(_) => Value::Bool(t == "true"),
        Value::Null if t.is_empty() => Value::Null,
        _ => Value::String(t.to_string()),
    }
}

/// The same request with a new key, pending again (a changed request needs a new key: the old one
/// keeps its stored answer; the refused request had no effect, so this cannot apply twice).
fn resend(mut item: OutboxItem) -> OutboxItem {
    item.key = Uuid::new_v4();
    item.state = ItemState::Pending;
    item.error = None;
    item
}

fn download_json(name: &str, text: &str) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
        let opts = web_sys::BlobPropertyBag::new();
        opts.set_type("application/json");
        let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &opts) else { return };
        let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else { return };
        if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
            if let Ok(a) = doc.create_element("a") {
                let a: web_sys::HtmlAnchorElement = a.unchecked_into();
                a.set_href(&url);
                a.set_download(name);
                a.click();
            }
        }
        let _ = web_sys::Url::revoke_object_url(&url);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (name, text);
}

#[component]
pub fn PendingPage() -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();

    let export = move |_| {
        let items = sync.items.get_untracked();
        let text = serde_json::to_string_pretty(&items).unwrap_or_default();
        let day = sync::now_iso().get(..10).unwrap_or_default().to_string();
        download_json(&format!("mostrador-pendientes-{day}.json"), &text);
    };

    // "2 operaciones de ana esperan": someone else's work is on this device, unsent.
    let others = move || {
        let lang = i18n.lang.get();
        let me = sync.user.get()?;
        let mut by_user: Vec<(Uuid, usize)> = Vec::new();
        sync.items.with(|items| {
            for i in items.iter().filter(|i| i.is_open() && i.user_id != me) {
                match by_user.iter_mut().find(|(u, _)| *u == i.user_id) {
                    Some((_, n)) => *n += 1,
                    None => by_user.push((i.user_id, 1)),
                }
            }
        });
        if by_user.is_empty() {
            return None;
        }
        let n: usize = by_user.iter().map(|(_, n)| n).sum();
        let users = by_user.iter().map(|(u, _)| author_name(*u, lang)).collect::<Vec<_>>().join(", ");
        Some(view! {
            <p class="note warn" role="status" data-testid="other-users-pending">
                {fill(i18n.t("others_waiting"), &[("n", &n.to_string()), ("users", &users)])}
            </p>
        })
    };

    // One row per open item, keyed by what the row shows: a row whose item did not change is kept
    // when another item is sent or refused, so an editor or a conflict choice open in it survives.
    let rows = move || {
        let lang = i18n.lang.get();
        let items = sync.items.get();
        let me = sync.user.get();
        let blocked = blocked(&items);
        let by_key: HashMap<Uuid, OutboxItem> = items.iter().map(|i| (i.key, i.clone())).collect();
        items
            .into_iter()
            .filter(|i| i.is_open())
            .map(|item| {
                let blocker = blocked.get(&item.key).and_then(|k| by_key.get(k)).map(|b| summary(b, lang));
                // Another user's item: whose it is, and nothing this user may do to it.
                let other_user = me.filter(|u| *u != item.user_id).map(|_| author_name(item.user_id, lang));
                let shown = format!(
                    "{}|{:?}|{:?}|{}|{:?}|{:?}|{:?}|{:?}",
                    item.key, item.seq, item.state, item.attempts, item.error, blocker, other_user, lang
                );
                (shown, item, blocker, other_user)
            })
            .collect::<Vec<_>>()
    };
    let any_open = move || sync.items.with(|items| items.iter().any(|i| i.is_open()));

    view! {
        <Title text=move || i18n.t("pending").to_string()/>
        <section class="page">
            <header class="page-head">
                <h1>{move || i18n.t("pending")}</h1>
            </header>
            <div class="toolbar">
                <button type="button" class="btn primary" data-testid="send-all" on:click=move |_| sync::kick(sync)>
                    {move || i18n.t("send_now")}
                </button>
                <button type="button" class="btn" data-testid="export-outbox" on:click=export>
                    {move || i18n.t("export_outbox")}
                </button>
            </div>
            {others}
            <Show
                when=any_open
                fallback=move || view! { <p class="empty" data-testid="nothing-pending">{move || i18n.t("nothing_pending")}</p> }
            >
                <ul class="pending-list" data-testid="pending-list">
                    <For
                        each=rows
                        key=|(shown, ..)| shown.clone()
                        children=|(_, item, blocker, other_user)| view! { <PendingRow item blocker other_user/> }
                    />
                </ul>
            </Show>
        </section>
    }
    .into_any()
}

/// The name of whoever queued an item on this device ("otro usuario" if it was never seen here).
fn author_name(id: Uuid, lang: Lang) -> String {
    device::user_name(id).unwrap_or_else(|| crate::i18n::text(lang, "another_user").to_string())
}

#[component]
fn PendingRow(item: OutboxItem, blocker: Option<String>, other_user: Option<String>) -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let toast = use_toast();
    let confirming = RwSignal::new(false);
    let editing = RwSignal::new(false);
    let item = StoredValue::new(item);

    let is_blocked = blocker.is_some();
    let state_key = move || {
        let it = item.get_value();
        if is_blocked && !it.needs_attention() {
            ("blocked", "state_blocked")
        } else {
            match it.state {
                ItemState::Pending => ("pending", "state_pending"),
                ItemState::Failed => ("failed", "state_failed"),
                ItemState::Conflict => ("conflict", "state_conflict"),
                ItemState::Done => ("done", "state_done"),
            }
        }
    };
    let state_attr = state_key().0;
    let key = item.with_value(|i| i.key.to_string());

    let retry = move |_| {
        let it = resend(item.get_value());
        spawn_local(async move {
            let _ = sync::enqueue(sync, it).await;
        });
    };
    let discard = move |_| {
        let Some(seq) = item.with_value(|i| i.seq) else { return };
        spawn_local(async move {
            if sync::discard(sync, seq).await.is_ok() {
                toast.show("discarded");
            }
        });
    };

    // A conflict explains itself in the resolver; other refusals show the server's words.
    let message = item.with_value(|i| i.error.as_ref().filter(|e| e.code != "version_conflict").map(error_text));
    let lang = i18n.lang.get_untracked();
    let (summary_text, age, attempts) =
        item.with_value(|i| (summary(i, lang), age_text(&i.created_at, lang), i.attempts));
    let needs_attention = item.with_value(|i| i.needs_attention());
    let is_conflict = item.with_value(|i| i.state == ItemState::Conflict);
    // Another user's item is theirs to resend, edit or discard (the sync engine refuses it too).
    let theirs = other_user.is_some();
    let is_failed = item.with_value(|i| i.state == ItemState::Failed) && !theirs;
    let needs_attention = needs_attention && !theirs;

    view! {
        <li class="pending-item" data-testid="pending-item" data-state=state_attr data-key=key>
            <div class="pending-head">
                <span class=move || format!("badge state-{}", state_key().0) data-testid="pending-state">
                    {move || i18n.t(state_key().1)}
                </span>
                <span class="pending-summary" data-testid="pending-summary">{summary_text}</span>
            </div>
            <div class="pending-meta">
                <span>{age}</span>
                {(attempts > 0).then(|| view! {
                    <span>{move || fill(i18n.t("attempts"), &[("n", &attempts.to_string())])}</span>
                })}
            </div>
            {message.map(|m| view! { <p class="pending-error" data-testid="pending-error">{m}</p> })}
            {blocker.clone().map(|b| view! {
                <p class="pending-blocked">{move || fill(i18n.t("blocked_by"), &[("what", &b)])}</p>
            })}
            {other_user.clone().map(|name| view! {
                <p class="pending-blocked" data-testid="pending-other-user">{move || fill(i18n.t("waits_for_user"), &[("user", &name)])}</p>
            })}
            {(is_conflict && !theirs).then(|| view! { <ConflictResolver item=item.get_value()/> }.into_any())}
            <Show when=move || editing.get()>
                {view! { <ItemEditor item=item.get_value() done=move || editing.set(false)/> }.into_any()}
            </Show>
            <div class="pending-actions">
                {is_failed.then(|| view! {
                    <button type="button" class="btn" data-testid="retry-item" on:click=retry>
                        {move || i18n.t("retry")}
                    </button>
                    <button type="button" class="btn" data-testid="edit-item" on:click=move |_| editing.update(|e| *e = !*e)>
                        {move || i18n.t("edit")}
                    </button>
                })}
                {needs_attention.then(|| view! {
                    <Show when=move || !confirming.get()>
                        <button type="button" class="btn danger ghost" data-testid="discard-item" on:click=move |_| confirming.set(true)>
                            {move || i18n.t("discard")}
                        </button>
                    </Show>
                })}
            </div>
            <Show when=move || confirming.get()>
                <div class="confirm" role="alertdialog" aria-live="assertive">
                    <p>{move || i18n.t("discard_confirm")}</p>
                    <button type="button" class="btn danger" data-testid="confirm-discard" on:click=discard>
                        {move || i18n.t("discard")}
                    </button>
                    <button type="button" class="btn" on:click=move |_| confirming.set(false)>
                        {move || i18n.t("cancel")}
                    </button>
                </div>
            </Show>
        </li>
    }
    .into_any()
}

/// Edit a refused item's fields (and a sale's quantities) and send it again.
#[component]
fn ItemEditor(item: OutboxItem, done: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let body = item.body.clone().unwrap_or(Value::Null);
    let fields: Vec<(String, Value, RwSignal<String>)> = editable_fields(&body)
        .into_iter()
        .map(|(k, v)| {
            let text = match &v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, v, RwSignal::new(text))
        })
        .collect();
    let lines: Vec<(usize, String, RwSignal<String>)> = body
        .get("lines")
        .and_then(Value::as_array)
        .map(|ls| {
            ls.iter()
                .enumerate()
                .map(|(i, l)| {
                    let q = l.get("quantity").and_then(Value::as_i64).unwrap_or(1);
                    (
                        i,
                        l.get("product_id").and_then(Value::as_str).unwrap_or_default().to_string(),
                        RwSignal::new(q.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let def = entity_def(&item.table);
    let fields = StoredValue::new(fields);
    let lines = StoredValue::new(lines);
    let item = StoredValue::new(item);

    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut it = item.get_value();
        let mut body: Map<String, Value> = it.body.clone().and_then(|b| b.as_object().cloned()).unwrap_or_default();
        fields.with_value(|fs| {
            for (k, old, text) in fs {
                body.insert(k.clone(), parse_like(old, &text.get_untracked()));
            }
        });
        lines.with_value(|ls| {
            if let Some(Value::Array(arr)) = body.get_mut("lines") {
                for (i, _, q) in ls {
                    if let (Some(line), Ok(n)) = (arr.get_mut(*i), q.get_untracked().trim().parse::<i64>()) {
                        line["quantity"] = Value::from(n);
                    }
                }
            }
        });
        it.body = Some(Value::Object(body));
        let it = resend(it);
        spawn_local(async move {
            let _ = sync::enqueue(sync, it).await;
            done();
        });
    };

    view! {
        <form class="item-editor" on:submit=save data-testid="item-editor">
            {fields.get_value().into_iter().map(|(k, _, text)| {
                let id = format!("edit-{k}");
                view! {
                    <label class="field">
                        <span class="label">{def.and_then(|d| d.field(&k)).map(|f| crate::i18n::text(i18n.lang.get_untracked(), f.label).to_string()).unwrap_or_else(|| k.clone())}</span>
                        <input type="text" id=id name=k.clone() prop:value=text on:input=move |ev| text.set(event_target_value(&ev))/>
                    </label>
                }
            }).collect_view()}
            {lines.get_value().into_iter().map(|(i, pid, q)| view! {
                <label class="field">
                    <span class="label">{move || format!("{} {} ({})", i18n.t("quantity"), i + 1, &pid[..8.min(pid.len())])}</span>
                    <input type="number" inputmode="numeric" min="1" name=format!("quantity-{i}") data-testid="edit-quantity"
                        prop:value=q on:input=move |ev| q.set(event_target_value(&ev))/>
                </label>
            }).collect_view()}
            <button type="submit" class="btn primary" data-testid="resend-item">{move || i18n.t("send_now")}</button>
        </form>
    }
}

/// A 409 on fields both sides changed: my value and the server's, field by field.
#[component]
fn ConflictResolver(item: OutboxItem) -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let toast = use_toast();
    let error = item.error.clone();
    let current = error.as_ref().and_then(conflict_current).unwrap_or(Value::Null);
    let fields = error.as_ref().map(conflicting_fields).unwrap_or_default();
    let mine: Map<String, Value> = item.body.clone().and_then(|b| b.as_object().cloned()).unwrap_or_default();
    // Field → true when I keep mine. Starts with mine everywhere.
    let choice: Vec<(String, RwSignal<bool>)> = fields.iter().map(|f| (f.clone(), RwSignal::new(true))).collect();
    let choice = StoredValue::new(choice);
    let item = StoredValue::new(item);
    let current = StoredValue::new(current);
    let mine = StoredValue::new(mine);

    // Resend with the chosen fields over the current version; if nothing of mine is left, drop it.
    let apply = move |keep_all: Option<bool>| {
        let mut it = item.get_value();
        let cur = current.get_value();
        let mut body = mine.get_value();
        choice.with_value(|cs| {
            for (f, keep) in cs {
                if !keep_all.unwrap_or_else(|| keep.get_untracked()) {
                    body.remove(f);
                }
            }
        });
        // "Take the server's" drops my change altogether.
        let has_changes = keep_all != Some(false) && body.keys().any(|k| k != "version");
        spawn_local(async move {
            if !has_changes {
                if let Some(seq) = it.seq {
                    let _ = sync::discard(sync, seq).await;
                }
                toast.show("discarded");
                return;
            }
            body.insert("version".into(), cur.get("version").cloned().unwrap_or(Value::Null));
            it.body = Some(Value::Object(body));
            it.base = Some(cur);
            let _ = sync::enqueue(sync, resend(it)).await;
        });
    };

    // Field names and values as the edit form shows them ("Precio", "$ 12,00"), not as the API has them.
    let def = entity_def(&item.with_value(|i| i.table.clone()));
    let label = move |f: &str| match def.and_then(|d| d.field(f)) {
        Some(field) => crate::i18n::text(i18n.lang.get_untracked(), field.label).to_string(),
        None => f.to_string(),
    };
    let shown = move |f: &str, v: Option<&Value>| {
        let lang = i18n.lang.get_untracked();
        match (def.and_then(|d| d.field(f)), v) {
            (_, None | Some(Value::Null)) => "—".to_string(),
            (Some(field), Some(v)) if field.kind == Kind::Money => to_text(field.kind, Some(v), lang),
            (_, Some(Value::String(s))) => s.clone(),
            (_, Some(other)) => other.to_string(),
        }
    };

    view! {
        <div class="conflict" data-testid="conflict-resolver">
            <p class="conflict-title">{move || i18n.t("conflict_title")}</p>
            <table class="conflict-table">
                <thead>
                    <tr>
                        <th scope="col">{move || i18n.t("field")}</th>
                        <th scope="col">{move || i18n.t("mine")}</th>
                        <th scope="col">{move || i18n.t("on_server")}</th>
                    </tr>
                </thead>
                <tbody>
                    {choice.get_value().into_iter().map(|(f, keep)| {
                        let m = shown(&f, mine.with_value(|m| m.get(&f).cloned()).as_ref());
                        let t = shown(&f, current.with_value(|c| c.get(&f).cloned()).as_ref());
                        let name = format!("choice-{f}");
                        view! {
                            <tr data-testid="conflict-field" data-field=f.clone()>
                                <th scope="row">{label(&f)}</th>
                                <td>
                                    <label class="choice">
                                        <input type="radio" name=name.clone() data-testid="choose-mine"
                                            prop:checked=move || keep.get() on:change=move |_| keep.set(true)/>
                                        <span data-testid="mine-value">{m}</span>
                                    </label>
                                </td>
                                <td>
                                    <label class="choice">
                                        <input type="radio" name=name data-testid="choose-theirs"
                                            prop:checked=move || !keep.get() on:change=move |_| keep.set(false)/>
                                        <span data-testid="theirs-value">{t}</span>
                                    </label>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            <div class="conflict-actions">
                <button type="button" class="btn primary" data-testid="keep-mine" on:click=move |_| apply(Some(true))>
                    {move || i18n.t("keep_mine")}
                </button>
                <button type="button" class="btn" data-testid="take-server" on:click=move |_| apply(Some(false))>
                    {move || i18n.t("take_server")}
                </button>
                <button type="button" class="btn" data-testid="apply-choice" on:click=move |_| apply(None)>
                    {move || i18n.t("apply_choice")}
                </button>
            </div>
        </div>
    }
}
