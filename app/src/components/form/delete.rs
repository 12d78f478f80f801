//! The delete button of a catalog form, and the confirmation it asks for first.

use leptos::prelude::*;
use serde_json::Value;

use crate::components::icons::Icon;
use crate::components::use_session;
use crate::entity::EntityDef;
use crate::i18n::{fill, use_i18n};

/// Shown for a loaded row (`base`) to whoever may delete it; `on_confirm` deletes.
#[component]
pub fn DeleteZone(
    def: &'static EntityDef,
    base: RwSignal<Option<Value>>,
    confirming: RwSignal<bool>,
    busy: RwSignal<bool>,
    on_confirm: Callback<()>,
) -> impl IntoView {
    let i18n = use_i18n();
    let session = use_session();
    move || {
        (base.with(|b| b.is_some()) && session.may(crate::permissions::catalog_write(def.path, "DELETE"))).then(|| {
        let name = move || {
            base.with(|b| {
                b.as_ref()
                    .and_then(|r| r.get(def.display_key))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            })
        };
        view! {
            <div class="danger-zone">
                <Show
                    when=move || confirming.get()
                    fallback=move || {
                        view! {
                            <button
                                type="button"
                                class="btn danger-ghost"
                                data-testid="delete"
                                on:click=move |_| confirming.set(true)
                            >
                                <Icon name="trash"/>
                                <span>{move || i18n.t("delete")}</span>
                            </button>
                        }
                    }
                >
                    <div class="confirm" role="alertdialog" aria-labelledby="confirm-title" data-testid="confirm-delete">
                        <p id="confirm-title" class="confirm-title">
                            {move || fill(i18n.t("confirm_delete"), &[("name", &name())])}
                        </p>
                        <p class="help">{move || i18n.t("confirm_delete_help")}</p>
                        <div class="actions">
                            <button
                                type="button"
                                class="btn danger"
                                data-testid="confirm-delete-yes"
                                disabled=busy
                                on:click=move |_| on_confirm.run(())
                            >
                                {move || i18n.t(if busy.get() { "deleting" } else { "delete" })}
                            </button>
                            <button type="button" class="btn" on:click=move |_| confirming.set(false)>
                                {move || i18n.t("cancel")}
                            </button>
                        </div>
                    </div>
                </Show>
            </div>
        }
    })
    }
}
