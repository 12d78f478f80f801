//! /products and /products/{id|new}

use leptos::prelude::*;

use crate::components::form::EntityForm;
use crate::components::list::entity_list;
use crate::entity::PRODUCTS;
use crate::i18n::Lang;
use crate::model::Product;
use crate::money::format_display;

fn product_row(p: Product, lang: Lang) -> impl IntoView {
    let low = p.low_stock_threshold.is_some_and(|t| p.stock <= t);
    view! {
        <div class="row-main">
            <span class="row-title" data-testid="row-name">{p.name}</span>
            <span class="row-sub">
                <span class="mono">{p.sku}</span>
                <span class="dot" aria-hidden="true">"·"</span>
                <span class:warn=low>{format!("{}: {}", crate::i18n::text(lang, "stock"), p.stock)}</span>
                {(!p.active).then(|| view! { <span class="badge muted">{crate::i18n::text(lang, "inactive")}</span> })}
                {low.then(|| view! { <span class="badge warn">{crate::i18n::text(lang, "low_stock")}</span> })}
            </span>
        </div>
        <span class="row-end price" data-testid="row-price">{format_display(p.price_cents, lang)}</span>
    }
    .into_any()
}

#[component]
pub fn ProductsPage() -> impl IntoView {
    entity_list(&PRODUCTS, product_row)
}

#[component]
pub fn ProductEditPage() -> impl IntoView {
    view! { <EntityForm def=&PRODUCTS/> }.into_any()
}
