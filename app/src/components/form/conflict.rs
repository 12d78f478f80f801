//! The conflict panel of a catalog form: a save found the row changed on the server; each field this
//! form changed is shown with both values, and the person keeps theirs or takes the server's.

use leptos::prelude::*;
use serde_json::{Map, Value};

use crate::components::icons::Icon;
use crate::entity::{to_text, EntityDef, Field, Kind};
use crate::i18n::Lang;

/// A stale save: the server's row now, and the changes this form tried to make.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    pub current: Value,
    pub mine: Map<String, Value>,
}

#[component]
pub fn ConflictPanel(
    def: &'static EntityDef,
    conflict: RwSignal<Option<Conflict>>,
    choices: RwSignal<std::collections::HashMap<&'static str, Vec<(String, String)>>>,
    busy: RwSignal<bool>,
    on_keep: Callback<()>,
    on_take: Callback<()>,
) -> impl IntoView {
    let i18n = crate::i18n::use_i18n();
    move || {
        conflict.get().map(|c| {
        let lang = i18n.lang.get();
        let rows = def
            .fields
            .iter()
            .filter(|f| c.mine.contains_key(f.key))
            .map(|f| {
                let mine = show_value(choices, f, c.mine.get(f.key), lang);
                let theirs = show_value(choices, f, c.current.get(f.key), lang);
                let differs = mine != theirs;
                view! {
                    <div class="conflict-row" class:differs=differs data-testid=format!("conflict-{}", f.input)>
                        <div class="conflict-field">{crate::i18n::text(lang, f.label)}</div>
                        <div class="conflict-mine">
                            <span class="conflict-tag">{crate::i18n::text(lang, "mine")}</span>
                            <span class="conflict-value" data-testid="conflict-mine">{mine}</span>
                        </div>
                        <div class="conflict-theirs">
                            <span class="conflict-tag">{crate::i18n::text(lang, "on_server")}</span>
                            <span class="conflict-value" data-testid="conflict-server">{theirs}</span>
                        </div>
                    </div>
                }
            })
            .collect_view();
        view! {
            <section class="conflict" role="alert" data-testid="conflict" aria-labelledby="conflict-title">
                <h2 id="conflict-title">
                    <Icon name="alert"/>
                    <span>{crate::i18n::text(lang, "conflict_title")}</span>
                </h2>
                <p>{crate::i18n::text(lang, "conflict_help")}</p>
                <div class="conflict-grid">{rows}</div>
                <div class="actions">
                    <button type="button" class="btn primary" data-testid="keep-mine" disabled=busy on:click=move |_| on_keep.run(())>
                        {crate::i18n::text(lang, "keep_mine")}
                    </button>
                    <button type="button" class="btn" data-testid="take-server" disabled=busy on:click=move |_| on_take.run(())>
                        {crate::i18n::text(lang, "take_server")}
                    </button>
                </div>
            </section>
        }
    })
    }
}

/// How a value reads in the conflict view ("Sí", "$ 12,50", the category's name…).
fn show_value(
    choices: RwSignal<std::collections::HashMap<&'static str, Vec<(String, String)>>>,
    f: &'static Field,
    v: Option<&Value>,
    lang: Lang,
) -> String {
    let text = match f.kind {
        Kind::Flag => i18n_yes_no(v.and_then(Value::as_bool).unwrap_or(false), lang).to_string(),
        Kind::Money => v.and_then(Value::as_i64).map(|c| crate::money::format_display(c, lang)).unwrap_or_default(),
        Kind::Ref(table) => {
            let id = to_text(f.kind, v, lang);
            choices
                .with(|c| c.get(table).and_then(|cs| cs.iter().find(|(cid, _)| *cid == id).map(|(_, n)| n.clone())))
                .unwrap_or(id)
        }
        Kind::Percent => v.and_then(Value::as_i64).map(|bp| crate::format::percent(bp, lang)).unwrap_or_default(),
        _ => to_text(f.kind, v, lang),
    };
    if text.is_empty() {
        crate::i18n::text(lang, "empty").to_string()
    } else {
        text
    }
}

fn i18n_yes_no(b: bool, lang: Lang) -> &'static str {
    if b {
        crate::i18n::text(lang, "yes")
    } else {
        crate::i18n::text(lang, "no")
    }
}
