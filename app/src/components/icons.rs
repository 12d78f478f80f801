//! A handful of inline stroke icons (no icon font to download: the app must open offline).

use leptos::prelude::*;

#[component]
pub fn Icon(name: &'static str) -> impl IntoView {
    let paths = match name {
        "products" => view! {
            <path d="M21 8 12 3 3 8l9 5 9-5Z"/>
            <path d="M3 8v8l9 5 9-5V8"/>
            <path d="M12 13v8"/>
        }
        .into_any(),
        "categories" => view! {
            <path d="M20.6 13.4 13.4 20.6a2 2 0 0 1-2.8 0L3 13V3h10l7.6 7.6a2 2 0 0 1 0 2.8Z"/>
            <circle cx="7.5" cy="7.5" r="1.5"/>
        }
        .into_any(),
        "customers" => view! {
            <circle cx="9" cy="8" r="4"/>
            <path d="M2 21v-1a6 6 0 0 1 6-6h2a6 6 0 0 1 6 6v1"/>
            <path d="M16 4a4 4 0 0 1 0 8"/>
            <path d="M22 21v-1a6 6 0 0 0-4-5.6"/>
        }
        .into_any(),
        "users" => view! {
            <path d="M12 3 20 6v6c0 5-3.5 8-8 9-4.5-1-8-4-8-9V6l8-3Z"/>
            <path d="m9 12 2 2 4-4"/>
        }
        .into_any(),
        "logout" => view! {
            <path d="M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4"/>
            <path d="m16 17 5-5-5-5"/>
            <path d="M21 12H9"/>
        }
        .into_any(),
        "search" => view! {
            <circle cx="11" cy="11" r="7"/>
            <path d="m21 21-4.3-4.3"/>
        }
        .into_any(),
        "plus" => view! { <path d="M12 5v14M5 12h14"/> }.into_any(),
        "system" => view! {
            <rect x="3" y="4" width="18" height="7" rx="1.5"/>
            <rect x="3" y="13" width="18" height="7" rx="1.5"/>
            <path d="M7 7.5h.01M7 16.5h.01M11 7.5h6M11 16.5h6"/>
        }
        .into_any(),
        "phone" => view! {
            <rect x="6" y="2" width="12" height="20" rx="2"/>
            <path d="M11 18h2"/>
        }
        .into_any(),
        "backups" => view! {
            <ellipse cx="12" cy="5" rx="8" ry="3"/>
            <path d="M4 5v6c0 1.7 3.6 3 8 3s8-1.3 8-3V5"/>
            <path d="M4 11v6c0 1.7 3.6 3 8 3s8-1.3 8-3v-6"/>
        }
        .into_any(),
        "dashboard" => view! {
            <path d="M4 20V10"/>
            <path d="M10 20V4"/>
            <path d="M16 20v-7"/>
            <path d="M21 20H3"/>
        }
        .into_any(),
        "cash" => view! {
            <rect x="3" y="6" width="18" height="12" rx="2"/>
            <circle cx="12" cy="12" r="2.5"/>
        }
        .into_any(),
        "minus" => view! { <path d="M5 12h14"/> }.into_any(),
        "sale" => view! {
            <circle cx="9" cy="20" r="1.5"/>
            <circle cx="18" cy="20" r="1.5"/>
            <path d="M2 3h3l2.7 12.4a2 2 0 0 0 2 1.6h7.6a2 2 0 0 0 2-1.5L21 7H6"/>
        }
        .into_any(),
        "pending" => view! {
            <path d="M7 18a5 5 0 1 1 .9-9.9A6 6 0 0 1 19 9a4.5 4.5 0 0 1-1 8.9"/>
            <path d="m9 14 3-3 3 3"/>
            <path d="M12 11v10"/>
        }
        .into_any(),
        "settings" => view! {
            <circle cx="12" cy="12" r="3"/>
            <path d="M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1Z"/>
        }
        .into_any(),
        "back" => view! { <path d="m15 18-6-6 6-6"/> }.into_any(),
        "prev" => view! { <path d="m15 18-6-6 6-6"/> }.into_any(),
        "next" => view! { <path d="m9 18 6-6-6-6"/> }.into_any(),
        "chevron" => view! { <path d="m9 18 6-6-6-6"/> }.into_any(),
        "globe" => view! {
            <circle cx="12" cy="12" r="9"/>
            <path d="M3 12h18"/>
            <path d="M12 3a14 14 0 0 1 0 18 14 14 0 0 1 0-18Z"/>
        }
        .into_any(),
        "trash" => view! {
            <path d="M3 6h18"/>
            <path d="M8 6V4h8v2"/>
            <path d="M6 6l1 14h10l1-14"/>
        }
        .into_any(),
        "alert" => view! {
            <path d="M12 3 2 20h20L12 3Z"/>
            <path d="M12 10v4M12 17h.01"/>
        }
        .into_any(),
        _ => view! { <circle cx="12" cy="12" r="2"/> }.into_any(),
    };
    view! {
        <svg
            class="icon"
            viewBox="0 0 24 24"
            width="24"
            height="24"
            fill="none"
            stroke="currentColor"
            stroke-width="2"
            stroke-linecap="round"
            stroke-linejoin="round"
            aria-hidden="true"
            focusable="false"
        >
            {paths}
        </svg>
    }
    .into_any()
}
