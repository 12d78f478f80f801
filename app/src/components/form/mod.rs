//! The create/edit form of a catalog row (`/products/new`, `/products/{id}`, …).
//!
//! An existing row is saved with PATCH carrying the version the form was loaded at and only the fields
//! that changed. If someone else saved in between, the server answers 409 `version_conflict` with its
//! current row; the form then shows both versions side by side and lets the person keep theirs (resend the
//! same changes on top of the current version) or take the server's (reload the form from it).

mod conflict;
mod delete;
mod field;

use std::collections::HashMap;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde_json::{Map, Value};

use self::conflict::{Conflict, ConflictPanel};
use self::delete::DeleteZone;
use self::field::FieldInput;
use super::icons::Icon;
use super::{use_goto, use_list_memory, use_session, use_toast};
use crate::api::ApiError;
use crate::entity::{changed_fields, default_text, from_text, to_text, EntityDef, Field, Kind};
use crate::i18n::{use_i18n, Key, Lang};
use crate::model::{Category, TaxRate};
use crate::offline::outbox::{conflict_current, OutboxItem};
use crate::offline::sync::{self, use_sync, Outcome};
use crate::offline::{data, store};

/// A message that is either ours (re-translated when the language changes) or the server's text.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    T(Key),
    Text(String),
}

impl Msg {
    pub fn show(&self, lang: Lang) -> String {
        match self {
            Msg::T(t) => crate::i18n::text(lang, t).to_string(),
            Msg::Text(s) => s.clone(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Load {
    Loading,
    Ready,
    Missing,
    Failed(ApiError),
}

/// Known duplicate codes → the field they belong to and our sentence for it.
fn duplicate_message(code: &str) -> Option<(&'static str, Key)> {
    match code {
        "duplicate_sku" => Some(("sku", "duplicate_sku")),
        _ => None,
    }
}

#[component]
pub fn EntityForm(def: &'static EntityDef) -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    let sync = use_sync();
    let toast = use_toast();
    let goto = use_goto();
    let memory = use_list_memory();
    let params = use_params_map();
    // The outbox entry this form sent that the server refused or found stale: a resubmit edits it
    // (same entry, new key) rather than queueing a second one.
    let sent_item = RwSignal::new(None::<OutboxItem>);
    let id = Memo::new(move |_| params.with(|p| p.get("id").unwrap_or_default()));

    let fields: Vec<(&'static Field, RwSignal<String>)> =
        def.fields.iter().map(|f| (f, RwSignal::new(default_text(f.kind)))).collect();
    let fields = StoredValue::new(fields);
    let base = RwSignal::new(None::<Value>);
    // Same initial state on the server and in the browser, so hydration matches.
    let load = RwSignal::new(if id.get_untracked() == "new" { Load::Ready } else { Load::Loading });
    let errors = RwSignal::new(HashMap::<&'static str, Msg>::new());
    let banner = RwSignal::new(None::<Msg>);
    let busy = RwSignal::new(false);
    let conflict = RwSignal::new(None::<Conflict>);
    let confirming = RwSignal::new(false);
    let choices = RwSignal::new(HashMap::<&'static str, Vec<(String, String)>>::new());

    // Also called from tasks (a conflict answer to a delete), when the form may be gone: try_.
    let fill_from = move |row: &Value| {
        let lang = i18n.lang.get_untracked();
        let _ = fields.try_with_value(|fs| {
            for (f, s) in fs {
                s.set(to_text(f.kind, row.get(f.key), lang));
            }
        });
        base.set(Some(row.clone()));
    };

    let id_now = id;
    Effect::new(move || {
        let id = id.get();
        errors.set(HashMap::new());
        banner.set(None);
        conflict.set(None);
        confirming.set(false);
        sent_item.set(None);
        if id == "new" {
            fields.with_value(|fs| fs.iter().for_each(|(f, s)| s.set(default_text(f.kind))));
            base.set(None);
            load.set(Load::Ready);
            return;
        }
        load.set(Load::Loading);
        spawn_local(async move {
            let result = data::get(def.path, &id).await;
            // The person may have moved on to another row meanwhile.
            if id_now.try_get_untracked().as_deref() != Some(id.as_str()) {
                return;
            }
            match result {
                Ok(row) => {
                    fill_from(&row);
                    load.set(Load::Ready);
                }
                Err(e) if e.is_unauthorized() => session.expired(),
                Err(e) if e.status == 404 => load.set(Load::Missing),
                Err(e) => load.set(Load::Failed(e)),
            }
        });
    });

    for table in def.fields.iter().filter_map(|f| if let Kind::Ref(t) = f.kind { Some(t) } else { None }) {
        Effect::new(move || {
            spawn_local(async move {
                if let Ok(rows) = data::rows(table).await {
                    let lang = i18n.lang.get_untracked();
                    let mut opts: Vec<(String, String)> =
                        rows.into_iter().filter_map(|v| choice(table, v, lang)).collect();
                    opts.sort_by_key(|(_, name)| name.to_lowercase());
                    let _ = choices.try_update(|c| c.insert(table, opts));
                }
            });
        });
    }

    let on_error = move |e: ApiError, mine: Map<String, Value>| {
        busy.set(false);
        if e.is_unauthorized() {
            session.expired();
            return;
        }
        if let Some(current) = e.conflict_current() {
            conflict.set(Some(Conflict { current, mine }));
            return;
        }
        if let Some((key, text)) = duplicate_message(&e.code) {
            errors.update(|m| {
                m.insert(key, Msg::T(text));
            });
            banner.set(Some(Msg::T("fix_fields")));
            return;
        }
        let field_errors = e.field_errors();
        if !field_errors.is_empty() {
            let mut by_field = HashMap::new();
            let mut other = Vec::new();
            for (k, msg) in field_errors {
                match def.field(&k) {
                    Some(f) => {
                        by_field.insert(f.key, Msg::Text(msg));
                    }
                    None => other.push(format!("{k}: {msg}")),
                }
            }
            errors.set(by_field);
            banner.set(Some(if other.is_empty() { Msg::T("fix_fields") } else { Msg::Text(other.join(" · ")) }));
            return;
        }
        banner.set(Some(if e.status == 404 {
            Msg::T("not_found")
        } else {
            Msg::Text(e.describe(i18n.lang.get_untracked()))
        }));
    };

    // What became of a queued write: sent, kept for later, refused or stale.
    let on_outcome = move |result: Result<(Outcome, OutboxItem), ApiError>, mine: Map<String, Value>| {
        busy.set(false);
        match result {
            Ok((Outcome::Confirmed, _)) => {
                sent_item.set(None);
                conflict.set(None);
                toast.show("saved");
                goto.go(memory.url_now(def.path));
            }
            Ok((Outcome::Queued, _)) => {
                sent_item.set(None);
                conflict.set(None);
                toast.show("saved_offline");
                goto.go(memory.url_now(def.path));
            }
            Ok((Outcome::Conflict(e), item)) => {
                sent_item.set(Some(item));
                match conflict_current(&e) {
                    Some(current) => conflict.set(Some(Conflict { current, mine })),
                    None => on_error(e.into(), mine),
                }
            }
            Ok((Outcome::Failed(e), item)) => {
                sent_item.set(Some(item));
                on_error(e.into(), mine)
            }
            Err(e) => on_error(e, mine),
        }
    };

    let send_patch = move |base_row: Value, changes: Map<String, Value>| {
        busy.set(true);
        banner.set(None);
        // Read now, not in the task: the task starts later, when the form may be gone.
        let replacing = sent_item.get_untracked();
        spawn_local(async move {
            let result = data::patch(sync, def.path, &base_row, changes.clone(), replacing).await;
            on_outcome(result, changes);
        });
    };
    // The form's values as JSON, or the message of each field that cannot be sent.
    let collect = move || -> Result<Map<String, Value>, HashMap<&'static str, Msg>> {
        let mut mine = Map::new();
        let mut invalid = HashMap::new();
        fields.with_value(|fs| {
            for (f, s) in fs {
                match from_text(f.kind, &s.get_untracked()) {
                    Ok(v) => {
                        mine.insert(f.key.to_string(), v);
                    }
                    Err(t) => {
                        invalid.insert(f.key, Msg::T(t));
                    }
                }
            }
        });
        if invalid.is_empty() {
            Ok(mine)
        } else {
            Err(invalid)
        }
    };

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let collected = collect();
        banner.set(None);
        let mine = match collected {
            Ok(mine) => mine,
            Err(invalid) => {
                errors.set(invalid);
                banner.set(Some(Msg::T("fix_fields")));
                return;
            }
        };
        errors.set(HashMap::new());
        match base.get_untracked() {
            None => {
                busy.set(true);
                let replacing = sent_item.get_untracked();
                spawn_local(async move {
                    let result = data::create(sync, def.path, mine.clone(), replacing).await;
                    on_outcome(result, mine);
                });
            }
            Some(row) => {
                let changes = changed_fields(def, &row, &mine);
                if changes.is_empty() {
                    banner.set(Some(Msg::T("no_changes")));
                } else {
                    send_patch(row, changes);
                }
            }
        }
    };

    // My changes as the form holds them now (the person may have kept typing), relative to the row the
    // form was loaded from, laid over the server's current version.
    let keep_mine = move |_| {
        let (Some(c), Some(row)) = (conflict.get_untracked(), base.get_untracked()) else {
            return;
        };
        match collect() {
            Ok(mine) => {
                let changes = changed_fields(def, &row, &mine);
                // My changes, on top of the server's current version.
                send_patch(c.current, if changes.is_empty() { c.mine } else { changes });
            }
            Err(invalid) => {
                errors.set(invalid);
                banner.set(Some(Msg::T("fix_fields")));
            }
        }
    };
    let take_server = move |_| {
        if let Some(c) = conflict.get_untracked() {
            // My stale change is dropped from the outbox: the person chose the server's version.
            if let Some(seq) = sent_item.get_untracked().and_then(|i| i.seq) {
                spawn_local(async move {
                    let _ = sync::discard(sync, seq).await;
                });
            }
            sent_item.set(None);
            fill_from(&c.current);
            errors.set(HashMap::new());
            banner.set(None);
            conflict.set(None);
        }
    };

    let confirm_delete = move |_| {
        let Some(row) = base.get_untracked() else {
            return;
        };
        busy.set(true);
        let id = id.get_untracked();
        spawn_local(async move {
            let _ = id;
            match data::delete(sync, def.path, &row).await {
                Ok((Outcome::Confirmed, _)) => {
                    busy.set(false);
                    toast.show("deleted");
                    goto.go(memory.url_now(def.path));
                }
                Ok((Outcome::Queued, _)) => {
                    busy.set(false);
                    toast.show("saved_offline");
                    goto.go(memory.url_now(def.path));
                }
                Ok((Outcome::Conflict(e) | Outcome::Failed(e), item)) => {
                    busy.set(false);
                    confirming.set(false);
                    // The delete was refused here and now, in front of the person: it leaves the
                    // outbox rather than waiting there as a failed item.
                    if let Some(seq) = item.seq {
                        let _ = store::outbox_delete(seq).await;
                        sync::refresh(sync).await;
                    }
                    if let Some(current) = conflict_current(&e) {
                        // Deleting what someone just changed would discard their change unseen: show it first.
                        fill_from(&current);
                        banner.set(Some(Msg::T("conflict_delete_help")));
                    } else {
                        on_error(e.into(), Map::new());
                    }
                }
                Err(e) => {
                    busy.set(false);
                    confirming.set(false);
                    on_error(e, Map::new());
                }
            }
        });
    };

    let read_only = move || {
        base.with(|b| {
            b.as_ref().filter(|_| def.path == "products").map(|row| {
                let stock = row.get("stock").and_then(Value::as_i64).unwrap_or(0);
                view! {
                    <div class="readonly" data-testid="stock">
                        <span class="readonly-label">{move || i18n.t("stock")}</span>
                        <span class="readonly-value">{stock}</span>
                        <span class="help">{move || i18n.t("stock_help")}</span>
                    </div>
                }
            })
        })
    };

    // What this role may do here (the server refuses the rest with 403).
    let may_save = move || {
        session.may(crate::permissions::catalog_write(def.path, if id.get() == "new" { "POST" } else { "PATCH" }))
    };
    let title = move || i18n.t(if id.get() == "new" { def.new_title } else { def.edit_title });

    let body = move || match load.get() {
        Load::Loading => view! { <p class="loading" data-testid="loading">{move || i18n.t("loading")}</p> }.into_any(),
        Load::Missing => view! { <p class="panel center">{move || i18n.t("not_found")}</p> }.into_any(),
        Load::Failed(e) => view! { <p class="panel center" role="alert">{e.describe(i18n.lang.get())}</p> }.into_any(),
        Load::Ready => {
            let inputs = fields.with_value(|fs| {
                fs.iter().map(|(f, s)| view! { <FieldInput f=*f value=*s errors choices/> }).collect_view()
            });
            view! {
                <ConflictPanel def conflict choices busy on_keep=Callback::new(keep_mine) on_take=Callback::new(take_server)/>
                <form class="card form" method="post" novalidate data-testid="entity-form" on:submit=on_submit>
                    {move || {
                        banner
                            .get()
                            .map(|m| {
                                view! {
                                    <p class="banner" role="alert" data-testid="form-banner">
                                        {m.show(i18n.lang.get())}
                                    </p>
                                }
                            })
                    }}
                    <div class="fields">{inputs}</div>
                    {read_only}
                    <div class="actions sticky">
                        <Show when=may_save>
                            <button type="submit" class="btn primary wide" data-testid="save" disabled=busy>
                                {move || i18n.t(if busy.get() { "saving" } else { "save" })}
                            </button>
                        </Show>
                        <a class="btn" href=move || memory.url(def.path)>{move || i18n.t("cancel")}</a>
                    </div>
                </form>
                <DeleteZone def base confirming busy on_confirm=Callback::new(confirm_delete)/>
            }
            .into_any()
        }
    };

    view! {
        <Title text=move || title().to_string()/>
        <section class="page narrow">
            <header class="page-head">
                <a class="back" href=move || memory.url(def.path)>
                    <Icon name="back"/>
                    // "Volver: Productos": the accessible name contains the visible text.
                    <span class="visually-hidden">{move || format!("{}: ", i18n.t("back"))}</span>
                    <span>{move || i18n.t(def.title)}</span>
                </a>
                <h1 data-testid="form-title">{title}</h1>
            </header>
            {body}
        </section>
    }
    .into_any()
}

/// A row of a reference field's table as a choice (id, label), if it may be chosen: a category by its
/// name, an active tax rate as "IVA 21 %".
fn choice(table: &str, row: Value, lang: Lang) -> Option<(String, String)> {
    match table {
        "tax_rates" => serde_json::from_value::<TaxRate>(row)
            .ok()
            .filter(|r| r.active && r.deleted_at.is_none())
            .map(|r| (r.id.to_string(), crate::format::tax_label(&r.name, r.rate_bp, lang))),
        _ => serde_json::from_value::<Category>(row).ok().map(|c| (c.id.to_string(), c.name)),
    }
}
