//! /customers and /customers/{id|new}

use leptos::prelude::*;

use crate::components::form::EntityForm;
use crate::components::list::entity_list;
use crate::entity::CUSTOMERS;
use crate::i18n::Lang;
use crate::model::Customer;

fn customer_row(c: Customer, _lang: Lang) -> impl IntoView {
    let sub: Vec<String> = [c.tax_id, c.phone, c.email].into_iter().flatten().filter(|s| !s.is_empty()).collect();
    view! {
        <div class="row-main">
            <span class="row-title" data-testid="row-name">{c.name}</span>
            {(!sub.is_empty()).then(|| view! { <span class="row-sub">{sub.join(" · ")}</span> })}
        </div>
    }
    .into_any()
}

#[component]
pub fn CustomersPage() -> impl IntoView {
    entity_list(&CUSTOMERS, customer_row)
}

#[component]
pub fn CustomerEditPage() -> impl IntoView {
    view! { <EntityForm def=&CUSTOMERS/> }.into_any()
}
