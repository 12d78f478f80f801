//! Any path the router does not know.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::i18n::use_i18n;

#[component]
pub fn NotFound() -> impl IntoView {
    let i18n = use_i18n();
    #[cfg(feature = "ssr")]
    {
        // A real 404 status for unknown paths, not a 200 with an error page.
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text=move || i18n.t("page_not_found").to_string()/>
        <main class="standalone">
            <div class="card center">
                <h1>{move || i18n.t("page_not_found")}</h1>
                <a class="btn primary" href="/products">{move || i18n.t("go_to_products")}</a>
            </div>
        </main>
    }
    .into_any()
}
