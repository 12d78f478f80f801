//! /categories and /categories/{id|new}

use leptos::prelude::*;

use crate::components::form::EntityForm;
use crate::components::list::entity_list;
use crate::entity::CATEGORIES;
use crate::i18n::Lang;
use crate::model::Category;

fn category_row(c: Category, _lang: Lang) -> impl IntoView {
    view! {
        <div class="row-main">
            <span class="row-title" data-testid="row-name">{c.name}</span>
            {c.description.filter(|d| !d.is_empty()).map(|d| view! { <span class="row-sub">{d}</span> })}
        </div>
    }
    .into_any()
}

#[component]
pub fn CategoriesPage() -> impl IntoView {
    entity_list(&CATEGORIES, category_row)
}

#[component]
pub fn CategoryEditPage() -> impl IntoView {
    view! { <EntityForm def=&CATEGORIES/> }.into_any()
}
