//! One input of a catalog form: the control its kind calls for, its label, help and error.

use std::collections::HashMap;

use leptos::prelude::*;

use super::Msg;
use crate::entity::{Field, Kind};
use crate::i18n::use_i18n;

/// The input of `f`, bound to `value`; its message comes from `errors`, the choices of a reference
/// field from `choices` (per table: id, label).
#[component]
pub fn FieldInput(
    f: &'static Field,
    value: RwSignal<String>,
    errors: RwSignal<HashMap<&'static str, Msg>>,
    choices: RwSignal<HashMap<&'static str, Vec<(String, String)>>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let input_id = format!("f-{}", f.input);
    let error_id = format!("err-{}", f.input);
    let error = move || errors.with(|m| m.get(f.key).map(|m| m.show(i18n.lang.get())));
    let invalid = move || error().is_some().then_some("true");
    let described = error_id.clone();
    let described_by = move || error().is_some().then(|| described.clone());
    let control = match f.kind {
        Kind::Flag => view! {
            <label class="check">
                <input
                    type="checkbox"
                    id=input_id.clone()
                    name=f.input
                    prop:checked=move || value.get() == "true"
                    on:change=move |ev| value.set(if event_target_checked(&ev) { "true" } else { "false" }.into())
                />
                <span>{move || i18n.t(f.label)}</span>
            </label>
        }
        .into_any(),
        Kind::LongText => view! {
            <textarea
                id=input_id.clone()
                name=f.input
                rows="3"
                aria-invalid=invalid
                aria-describedby=described_by
                prop:value=value
                on:input=move |ev| value.set(event_target_value(&ev))
            ></textarea>
        }
        .into_any(),
        Kind::Ref(table) => view! {
            <select
                id=input_id.clone()
                name=f.input
                aria-invalid=invalid
                aria-describedby=described_by
                on:change=move |ev| value.set(event_target_value(&ev))
            >
                <option value="" prop:selected=move || value.get().is_empty()>
                    {move || i18n.t(crate::entity::none_label(table))}
                </option>
                {move || {
                    choices
                        .with(|c| c.get(table).cloned().unwrap_or_default())
                        .into_iter()
                        .map(|(cid, name)| {
                            let selected = cid.clone();
                            view! {
                                <option value=cid prop:selected=move || value.get() == selected>
                                    {name}
                                </option>
                            }
                        })
                        .collect_view()
                }}
            </select>
        }
        .into_any(),
        _ => view! {
            <input
                type="text"
                id=input_id.clone()
                name=f.input
                autocomplete=f.autocomplete
                inputmode=f.input_mode
                aria-invalid=invalid
                aria-describedby=described_by
                required=matches!(f.kind, Kind::Text | Kind::Money | Kind::Percent)
                prop:value=value
                on:input=move |ev| value.set(event_target_value(&ev))
            />
        }
        .into_any(),
    };
    let label = (f.kind != Kind::Flag).then(|| {
        view! {
            <label for=input_id.clone()>{move || i18n.t(f.label)}</label>
        }
    });
    let wide = matches!(f.kind, Kind::LongText | Kind::Flag);
    view! {
        <div class="field" class:wide=wide class:invalid=move || error().is_some() data-field=f.input>
            {label}
            {control}
            {f.help.map(|h| view! { <p class="help">{move || i18n.t(h)}</p> })}
            {move || {
                error()
                    .map(|msg| {
                        view! {
                            <p class="field-error" id=error_id.clone() data-testid=format!("error-{}", f.input)>
                                {msg}
                            </p>
                        }
                    })
            }}
        </div>
    }
}
