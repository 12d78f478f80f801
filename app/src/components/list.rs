//! The catalog list: a search box that filters as you type (debounced, kept in `?q=` so a reload or the
//! back button keeps it), one page of rows, and previous/next links (`?page=`).

use std::time::Duration;

use leptos::leptos_dom::helpers::debounce;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::icons::Icon;
use super::{use_goto, use_list_memory, use_session};
use crate::api::{encode_query, ApiError};
use crate::entity::EntityDef;
use crate::i18n::{fill, use_i18n, Lang};
use crate::model::{Category, Customer, Page, Product};
use crate::offline::{data, sync::use_sync};

pub const PAGE_SIZE: i64 = 20;

/// A row that a list links to by id.
pub trait ListRow: DeserializeOwned + Clone + Send + Sync + 'static {
    fn id(&self) -> Uuid;
}

impl ListRow for Product {
    fn id(&self) -> Uuid {
        self.id
    }
}
impl ListRow for Category {
    fn id(&self) -> Uuid {
        self.id
    }
}
impl ListRow for Customer {
    fn id(&self) -> Uuid {
        self.id
    }
}
impl ListRow for crate::model::TaxRate {
    fn id(&self) -> Uuid {
        self.id
    }
}

fn list_url(path: &str, q: &str, page: i64) -> String {
    let mut params = Vec::new();
    if !q.is_empty() {
        params.push(format!("q={}", encode_query(q)));
    }
    if page > 1 {
        params.push(format!("page={page}"));
    }
    if params.is_empty() {
        format!("/{path}")
    } else {
        format!("/{path}?{}", params.join("&"))
    }
}

/// A plain function rather than a `#[component]`: the props struct could not carry the row type.
pub fn entity_list<R, F, V>(def: &'static EntityDef, row: F) -> impl IntoView
where
    R: ListRow,
    F: Fn(R, Lang) -> V + Copy + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let i18n = use_i18n();
    let session = use_session();
    let sync = use_sync();
    let goto = use_goto();
    let memory = use_list_memory();
    let query = use_query_map();
    let q = Memo::new(move |_| query.with(|m| m.get("q").unwrap_or_default()));
    let page = Memo::new(move |_| {
        query.with(|m| m.get("page").and_then(|p| p.parse::<i64>().ok()).filter(|p| *p >= 1).unwrap_or(1))
    });

    let search = RwSignal::new(q.get_untracked());
    let result = RwSignal::new(None::<Result<Page<R>, ApiError>>);
    let loading = RwSignal::new(true);
    let reload = RwSignal::new(0u32);
    // Only the answer to the latest query is shown, whatever order the answers arrive in.
    let latest = StoredValue::new(0u64);

    Effect::new(move || {
        let (q, page) = (q.get(), page.get());
        reload.track();
        // Reload when the local copy changes (a pull, a queued write, another tab).
        sync.data_version.track();
        memory.remember(def.path, list_url(def.path, &q, page));
        let n = latest.get_value() + 1;
        latest.set_value(n);
        loading.set(true);
        spawn_local(async move {
            // From IndexedDB with this device's queued writes laid over it: instant, and offline too.
            let r = data::list::<R>(def.path, &q, PAGE_SIZE, (page - 1) * PAGE_SIZE).await;
            if latest.try_get_value() != Some(n) {
                return;
            }
            if matches!(&r, Err(e) if e.is_unauthorized()) {
                session.expired();
                return;
            }
            result.set(Some(r));
            loading.set(false);
        });
    });

    let mut search_later = debounce(Duration::from_millis(300), move |text: String| {
        goto.replace(list_url(def.path, text.trim(), 1));
    });
    let on_search_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        goto.replace(list_url(def.path, search.get_untracked().trim(), 1));
    };

    let rows = move || {
        let lang = i18n.lang.get();
        match result.get() {
            None => view! { <p class="loading" data-testid="loading">{i18n.t("loading")}</p> }.into_any(),
            Some(Err(e)) => view! {
                <div class="panel center" role="alert">
                    <p>{e.describe(lang)}</p>
                    <button type="button" class="btn" on:click=move |_| reload.update(|n| *n += 1)>
                        {i18n.t("retry")}
                    </button>
                </div>
            }
            .into_any(),
            Some(Ok(p)) if p.items.is_empty() => {
                let text = if sync.first_load.get() {
                    "first_download"
                } else if q.get().is_empty() {
                    "empty_list"
                } else {
                    "no_results"
                };
                view! { <p class="empty" data-testid="empty">{i18n.t(text)}</p> }.into_any()
            }
            Some(Ok(p)) => {
                let from = p.offset + 1;
                let to = p.offset + p.items.len() as i64;
                let range = fill(
                    i18n.t("range_of"),
                    &[("from", &from.to_string()), ("to", &to.to_string()), ("total", &p.total.to_string())],
                );
                let current = page.get();
                let has_prev = current > 1;
                let has_next = to < p.total;
                let single_page = !has_prev && !has_next;
                let q_now = q.get();
                let range_label = range.clone();
                view! {
                    <ul class="rows" data-testid="list">
                        {p
                            .items
                            .into_iter()
                            .map(|r| {
                                let href = format!("/{}/{}", def.path, r.id());
                                view! {
                                    <li>
                                        <a class="row" href=href data-testid="row">
                                            {row(r, lang)}
                                            <Icon name="chevron"/>
                                        </a>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                    <nav class="pager" class:single=single_page aria-label=range_label>
                        <PagerLink
                            enabled=has_prev
                            href=list_url(def.path, &q_now, current - 1)
                            icon="prev"
                            label=i18n.t("previous")
                            testid="prev-page"
                        />
                        <span class="pager-range" data-testid="range">{range}</span>
                        <PagerLink
                            enabled=has_next
                            href=list_url(def.path, &q_now, current + 1)
                            icon="next"
                            label=i18n.t("next")
                            testid="next-page"
                        />
                    </nav>
                }
                .into_any()
            }
        }
    };

    view! {
        <Title text=move || i18n.t(def.title).to_string()/>
        <section class="page">
            <header class="page-head">
                <h1>{move || i18n.t(def.title)}</h1>
                <Show when=move || session.may(crate::permissions::catalog_write(def.path, "POST"))>
                    <a class="btn primary" href=format!("/{}/new", def.path) data-testid="new-button">
                        <Icon name="plus"/>
                        <span>{move || i18n.t("new")}</span>
                    </a>
                </Show>
            </header>
            <form class="search" role="search" method="get" on:submit=on_search_submit>
                <label class="visually-hidden" for="search">{move || i18n.t("search")}</label>
                <Icon name="search"/>
                <input
                    id="search"
                    type="search"
                    name="q"
                    data-testid="search"
                    autocomplete="off"
                    enterkeyhint="search"
                    placeholder=move || i18n.t(def.search_hint)
                    prop:value=search
                    on:input=move |ev| {
                        let text = event_target_value(&ev);
                        search.set(text.clone());
                        search_later(text);
                    }
                />
                <span class="spinner" class:visible=loading aria-hidden="true"></span>
            </form>
            {rows}
        </section>
    }
    .into_any()
}

#[component]
fn PagerLink(
    enabled: bool,
    href: String,
    icon: &'static str,
    label: &'static str,
    testid: &'static str,
) -> impl IntoView {
    if enabled {
        view! {
            <a class="btn" href=href data-testid=testid>
                {(icon == "prev").then(|| view! { <Icon name="prev"/> })}
                <span class="pager-label">{label}</span>
                {(icon == "next").then(|| view! { <Icon name="next"/> })}
            </a>
        }
        .into_any()
    } else {
        view! {
            <span class="btn disabled" aria-disabled="true">
                {(icon == "prev").then(|| view! { <Icon name="prev"/> })}
                <span class="pager-label">{label}</span>
                {(icon == "next").then(|| view! { <Icon name="next"/> })}
            </span>
        }
        .into_any()
    }
}

#[cfg(test)]
mod tests {
    use super::list_url;

    #[test]
    fn list_urls_keep_only_what_is_set() {
        assert_eq!(list_url("products", "", 1), "/products");
        assert_eq!(list_url("products", "yerba mate", 1), "/products?q=yerba%20mate");
        assert_eq!(list_url("products", "", 3), "/products?page=3");
        assert_eq!(list_url("customers", "ñ&x", 2), "/customers?q=%C3%B1%26x&page=2");
    }
}
