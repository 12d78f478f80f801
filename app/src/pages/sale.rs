//! /sale — ring up a sale on a phone, online or not: the till (open with a float, close with the
//! counted cash), product search from IndexedDB (a barcode scanner typing into it and pressing Enter
//! adds the product), the cart, an optional customer (a new one is created offline with the sale),
//! cash received and change, and today's sales with what is still waiting to be sent.
//!
//! Every write goes through the outbox; the sale shows at once, marked pending, and the stock and
//! expected cash shown already include it.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use serde_json::Value;
use uuid::Uuid;

use crate::components::{use_session, use_toast};
use crate::i18n::{fill, use_i18n, Key};
use crate::model::{taxes_of, CashSession, Customer, Payment, Sale, SaleLine, ShopSettings, TaxRate};
use crate::money::{format_display, parse_cents};
use crate::offline::data::{self, matches};
use crate::offline::outbox::{Action, OutboxItem};
use crate::offline::sync::{self, now_iso, use_sync};
use crate::offline::write::{CatalogWrite, CloseTillOf};
use crate::totals::{above_limit, parse_discount, rate_for, sale_lines, Priced, Totals, TotalsError};
use crate::wire::{CloseTill, ClosedSet, NewLine, NewSale, OpenTill as OpenTillBody, PaymentMethod};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Line {
    product_id: Uuid,
    name: String,
    unit_price_cents: i64,
    quantity: i64,
    /// The line's discount as typed ("10%", "1,50"); empty for none.
    #[serde(default)]
    discount: String,
    #[serde(default)]
    tax_rate_id: Option<Uuid>,
}

/// The sale being rung up, kept by the app rather than the page, so that looking something up on another
/// screen does not empty the cart.
#[derive(Clone, Copy)]
pub struct CurrentSale {
    lines: RwSignal<Vec<Line>>,
    method: RwSignal<PaymentMethod>,
    /// The ticket's discount as typed, and why discounts are given.
    ticket_discount: RwSignal<String>,
    reason: RwSignal<String>,
    /// The sale just charged: its total and change stay on screen, with a link to its receipt.
    last: RwSignal<Option<(Uuid, i64, i64)>>,
}

impl CurrentSale {
    pub fn new() -> CurrentSale {
        CurrentSale {
            lines: RwSignal::new(Vec::new()),
            method: RwSignal::new(PaymentMethod::Cash),
            ticket_discount: RwSignal::new(String::new()),
            reason: RwSignal::new(String::new()),
            last: RwSignal::new(None),
        }
    }
}

#[cfg(feature = "hydrate")]
const CART_KEY: &str = "mostrador.cart";

impl CurrentSale {
    /// Empties the cart and the last sale (its user signed out: the next one must not charge it).
    pub fn clear(self) {
        self.lines.set(Vec::new());
        self.ticket_discount.set(String::new());
        self.reason.set(String::new());
        self.last.set(None);
    }

    /// Browser only: brings back the cart saved before a reload, then saves every change, so neither a
    /// navigation nor a reload (or a crash of the tab) empties a half-rung sale.
    pub fn keep(self) {
        #[cfg(feature = "hydrate")]
        {
            let storage = || web_sys::window().and_then(|w| w.local_storage().ok().flatten());
            if let Some(saved) = storage().and_then(|s| s.get_item(CART_KEY).ok().flatten()) {
                if let Ok(lines) = serde_json::from_str::<Vec<Line>>(&saved) {
                    self.lines.set(lines);
                }
            }
            Effect::new(move || {
                let text = self.lines.with(|l| serde_json::to_string(l).unwrap_or_default());
                if let Some(s) = storage() {
                    let _ = s.set_item(CART_KEY, &text);
                }
            });
        }
    }
}

impl Default for CurrentSale {
    fn default() -> Self {
        Self::new()
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

fn i64_of(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0)
}

fn uuid_of(v: &Value, k: &str) -> Option<Uuid> {
    Uuid::parse_str(str_of(v, k)).ok()
}

#[component]
pub fn SalePage() -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();

    let products = RwSignal::new(Vec::<Value>::new());
    let customers = RwSignal::new(Vec::<Value>::new());
    let session = RwSignal::new(None::<Value>);
    let sales = RwSignal::new(Vec::<Value>::new());
    let rates = RwSignal::new(Vec::<TaxRate>::new());
    let settings = RwSignal::new(None::<ShopSettings>);
    let loaded = RwSignal::new(false);
    // The register is rebuilt only when the till itself changes, not when its totals do.
    let session_id = Memo::new(move |_| session.with(|s| s.as_ref().and_then(|v| uuid_of(v, "id"))));

    Effect::new(move || {
        sync.data_version.track();
        spawn_local(async move {
            let (p, c, s, sa, r, st) = (
                data::rows("products").await,
                data::rows("customers").await,
                data::rows("cash_sessions").await,
                data::rows("sales").await,
                data::rows("tax_rates").await,
                data::shop_settings().await,
            );
            // The cashier may have left the page while IndexedDB answered: its signals are gone.
            if loaded.is_disposed() {
                return;
            }
            // Set only what changed: a sync tick must not rebuild the register under the cashier.
            let set_if = |sig: RwSignal<Vec<Value>>, v: Vec<Value>| {
                if sig.with_untracked(|now| *now != v) {
                    sig.set(v);
                }
            };
            set_if(products, p.unwrap_or_default());
            let r: Vec<TaxRate> =
                r.unwrap_or_default().into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect();
            if rates.with_untracked(|now| *now != r) {
                rates.set(r);
            }
            if settings.with_untracked(|now| *now != st) {
                settings.set(st);
            }
            set_if(customers, c.unwrap_or_default());
            // The most recently opened till that is still open.
            let mut open: Vec<Value> = s
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r.get("closed_at").map(Value::is_null).unwrap_or(true))
                .collect();
            open.sort_by(|a, b| str_of(b, "opened_at").cmp(str_of(a, "opened_at")));
            let open = open.into_iter().next();
            if session.with_untracked(|now| *now != open) {
                session.set(open);
            }
            let today = crate::format::shop_day(None);
            let mut today_sales: Vec<Value> = sa
                .unwrap_or_default()
                .into_iter()
                .filter(|r| crate::format::shop_day(Some(str_of(r, "created_at"))) == today)
                .collect();
            today_sales.sort_by(|a, b| str_of(b, "created_at").cmp(str_of(a, "created_at")));
            set_if(sales, today_sales);
            loaded.set(true);
        });
    });

    view! {
        <Title text=move || i18n.t("sell").to_string()/>
        <section class="page sale-page">
            <header class="page-head">
                <h1>{move || i18n.t("sell")}</h1>
                <a class="btn" href="/cash" data-testid="to-cash">{move || i18n.t("cash_and_stock")}</a>
            </header>
            <Show when=move || loaded.get() fallback=move || view! { <p class="loading" data-testid="loading">{i18n.t("loading")}</p> }>
                {move || match session_id.get() {
                    None => view! { <OpenTill/> }.into_any(),
                    Some(id) => view! {
                        <TillBar session/>
                        <Register session_id=id products customers rates settings/>
                    }
                    .into_any(),
                }}
            </Show>
            <TodaySales sales/>
        </section>
    }
    .into_any()
}

#[component]
pub fn OpenTill() -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let session = use_session();
    let register = RwSignal::new("Caja 1".to_string());
    let float = RwSignal::new(String::new());
    let error = RwSignal::new(None::<Key>);

    let open = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let cents = match parse_cents(&float.get_untracked()) {
            Ok(c) => c,
            Err(crate::money::MoneyError::Empty) => 0,
            Err(_) => {
                error.set(Some("invalid_money"));
                return;
            }
        };
        let Some(user) = sync.user.get_untracked() else { return };
        let till = OpenTillBody {
            id: Uuid::new_v4(),
            register: register.get_untracked().trim().to_string(),
            opening_float_cents: cents,
        };
        let mut item = OutboxItem::new(user, &till);
        let now = now_iso();
        item.preview = serde_json::to_value(CashSession {
            id: till.id,
            register: till.register.clone(),
            opening_float_cents: cents,
            opened_by: session.user.with_untracked(|u| u.as_ref().map(|u| u.username.clone())).unwrap_or_default(),
            opened_at: now.clone(),
            expected_cents: cents,
            closed_at: None,
            closed_by: None,
            counted_cents: None,
            difference_cents: None,
            late_sales: 0,
            late_cash_cents: 0,
            version: 1,
            updated_at: now,
        })
        .ok();
        item.label = till.register;
        sync::queue(sync, vec![item], || ());
    };

    view! {
        <form class="panel till-open" on:submit=open data-testid="open-till">
            <p>{move || i18n.t("cash_closed")}</p>
            <label class="field">
                <span class="label">{move || i18n.t("register")}</span>
                <input type="text" name="register" prop:value=register on:input=move |ev| register.set(event_target_value(&ev))/>
            </label>
            <label class="field">
                <span class="label">{move || i18n.t("opening_float")}</span>
                <input type="text" name="opening_float" inputmode="decimal" prop:value=float on:input=move |ev| float.set(event_target_value(&ev))/>
            </label>
            {move || error.get().map(|t| view! { <p class="field-error" role="alert">{i18n.t(t)}</p> })}
            <button type="submit" class="btn primary big" data-testid="open-till-button">{move || i18n.t("open_cash")}</button>
        </form>
    }
}

#[component]
pub fn TillBar(session: RwSignal<Option<Value>>) -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let closing = RwSignal::new(false);
    let counted = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let field = move |f: &'static str| {
        session.with(|s| s.as_ref().map(|v| v.get(f).cloned().unwrap_or(Value::Null)).unwrap_or(Value::Null))
    };
    let id = session.with_untracked(|s| s.as_ref().and_then(|v| uuid_of(v, "id"))).unwrap_or_default();
    let register = move || field("register").as_str().unwrap_or_default().to_string();
    let expected = move || field("expected_cents").as_i64().unwrap_or(0);

    let close = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let lang = i18n.lang.get_untracked();
        // This device still owes the server operations of this till: closing now would freeze a
        // total that is missing them.
        let unsent = sync.items.with_untracked(|items| {
            items
                .iter()
                .filter(|i| {
                    i.is_open() && (i.depends_on.contains(&id) || (i.entity_id == id && i.action != Action::Create))
                })
                .count()
        });
        if unsent > 0 {
            error.set(Some(fill(crate::i18n::text(lang, "close_blocked"), &[("n", &unsent.to_string())])));
            return;
        }
        let cents = match parse_cents(&counted.get_untracked()) {
            Ok(c) => c,
            Err(_) => {
                error.set(Some(crate::i18n::text(lang, "invalid_money").to_string()));
                return;
            }
        };
        let Some(user) = sync.user.get_untracked() else { return };
        let mut item = OutboxItem::new(user, &CloseTillOf { till: id, body: CloseTill { counted_cents: cents } });
        item.label =
            session.with_untracked(|s| s.as_ref().map(|v| str_of(v, "register").to_string())).unwrap_or_default();
        sync::queue(sync, vec![item], || ());
        closing.set(false);
    };

    view! {
        <div class="till-bar" data-testid="till-bar">
            <span>{move || fill(i18n.t("cash_open_since"), &[("register", &register())])}</span>
            <span data-testid="expected-cash">{move || format!("{}: {}", i18n.t("expected_cash"), format_display(expected(), i18n.lang.get()))}</span>
            <a class="btn small" href=format!("/till/{id}/report") data-testid="x-report-link">{move || i18n.t("x_report")}</a>
            <button type="button" class="btn small" data-testid="close-till" on:click=move |_| closing.update(|c| *c = !*c)>
                {move || i18n.t("close_cash")}
            </button>
        </div>
        <Show when=move || closing.get()>
            <form class="panel" on:submit=close data-testid="close-till-form">
                <label class="field">
                    <span class="label">{move || i18n.t("counted_cash")}</span>
                    <input type="text" name="counted" inputmode="decimal" prop:value=counted on:input=move |ev| counted.set(event_target_value(&ev))/>
                </label>
                {move || error.get().map(|e| view! { <p class="field-error" role="alert" data-testid="close-error">{e}</p> })}
                <button type="submit" class="btn primary" data-testid="confirm-close-till">{move || i18n.t("close_cash")}</button>
            </form>
        </Show>
    }
}

#[component]
fn Register(
    session_id: Uuid,
    products: RwSignal<Vec<Value>>,
    customers: RwSignal<Vec<Value>>,
    rates: RwSignal<Vec<TaxRate>>,
    settings: RwSignal<Option<ShopSettings>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let sync = use_sync();
    let toast = use_toast();
    let user_session = use_session();

    let search = RwSignal::new(String::new());
    let current = expect_context::<CurrentSale>();
    let cart = current.lines;
    let method = current.method;
    let ticket_discount = current.ticket_discount;
    let reason = current.reason;
    let last = current.last;
    let customer = RwSignal::new(String::new());
    let new_customer = RwSignal::new(String::new());
    let received = RwSignal::new(String::new());
    let error = RwSignal::new(None::<Key>);

    let results = Memo::new(move |_| {
        let q = search.get();
        if q.trim().is_empty() {
            return Vec::new();
        }
        products.with(|ps| {
            ps.iter()
                .filter(|p| p.get("active").and_then(Value::as_bool).unwrap_or(true))
                .filter(|p| matches(p, &q))
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
        })
    });

    let add = move |p: &Value| {
        let Some(pid) = uuid_of(p, "id") else { return };
        let name = str_of(p, "name").to_string();
        let price = i64_of(p, "price_cents");
        let tax_rate_id = uuid_of(p, "tax_rate_id");
        last.set(None);
        cart.update(|c| match c.iter_mut().find(|l| l.product_id == pid) {
            Some(l) => l.quantity += 1,
            None => c.push(Line {
                product_id: pid,
                name,
                unit_price_cents: price,
                quantity: 1,
                discount: String::new(),
                tax_rate_id,
            }),
        });
        search.set(String::new());
        error.set(None);
    };

    // A scanner types the code and presses Enter: an exact barcode or SKU adds at once; otherwise
    // Enter adds the first match.
    let on_search_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() != "Enter" {
            return;
        }
        ev.prevent_default();
        let q = search.get_untracked().trim().to_string();
        let exact = products.with_untracked(|ps| {
            ps.iter().find(|p| str_of(p, "barcode") == q || str_of(p, "sku").eq_ignore_ascii_case(&q)).cloned()
        });
        if let Some(p) = exact.or_else(|| results.get_untracked().into_iter().next()) {
            add(&p);
        }
    };

    // The sale's figures as the server will compute them (`crate::totals`): the same discounts, rates
    // and rounding, so the receipt printed offline is the one the server keeps.
    let figures = Memo::new(move |_| -> Result<(Vec<SaleLine>, Totals), Key> {
        let digits = crate::region::current().minor_units;
        let (include, default) =
            settings.with(|s| s.as_ref().map_or((true, None), |s| (s.prices_include_tax, s.default_tax_rate_id)));
        let priced = cart.with(|c| {
            rates.with(|rs| {
                c.iter()
                    .map(|l| {
                        Ok(Priced {
                            product_id: l.product_id,
                            quantity: l.quantity,
                            unit_price_cents: l.unit_price_cents,
                            discount: parse_discount(&l.discount, digits).map_err(|_| "invalid_discount")?,
                            tax: rate_for(l.tax_rate_id, default, rs).map(|r| (r.name.clone(), r.rate_bp)),
                        })
                    })
                    .collect::<Result<Vec<_>, Key>>()
            })
        })?;
        let ticket = parse_discount(&ticket_discount.get(), digits).map_err(|_| "invalid_discount")?;
        sale_lines(&priced, ticket, include).map_err(|e| match e {
            TotalsError::Line(_) | TotalsError::Ticket => "discount_too_large",
        })
    });
    let total = Memo::new(move |_| figures.with(|f| f.as_ref().map_or(0, |f| f.1.total)));
    let discounted = move || {
        ticket_discount.with(|t| !t.trim().is_empty()) || cart.with(|c| c.iter().any(|l| !l.discount.trim().is_empty()))
    };
    // Only cash can be overpaid (the change is cash); card and transfer take the exact total.
    let paid = move || match (method.get(), parse_cents(&received.get())) {
        (PaymentMethod::Cash, Ok(c)) => Some(c),
        (PaymentMethod::Cash, Err(crate::money::MoneyError::Empty)) => Some(total.get()),
        (PaymentMethod::Cash, Err(_)) => None,
        _ => Some(total.get()),
    };
    let change = move || paid().map(|p| (p - total.get()).max(0));

    let charge = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let lines = cart.get_untracked();
        if lines.is_empty() {
            error.set(Some("empty_cart"));
            return;
        }
        let (sale_lines, figures) = match figures.get_untracked() {
            Ok(f) => f,
            Err(k) => {
                error.set(Some(k));
                return;
            }
        };
        let ticket =
            parse_discount(&ticket_discount.get_untracked(), crate::region::current().minor_units).ok().flatten();
        // The server's rule: any discount given (even one worth nothing after rounding) has a reason.
        let discounted = ticket.is_some() || sale_lines.iter().any(|l| l.discount.is_some());
        let why = reason.get_untracked().trim().to_string();
        if discounted && why.is_empty() {
            error.set(Some("discount_reason_required"));
            return;
        }
        // The server refuses it too (403 `discount_above_limit`); said here, before the sale is queued.
        let limit = settings.with_untracked(|s| s.as_ref().map_or(1000, |s| s.cashier_max_discount_bp));
        if !user_session.may(crate::permissions::Action::DiscountAboveLimit) {
            let ins: Vec<crate::totals::LineIn> = sale_lines
                .iter()
                .map(|l| crate::totals::LineIn {
                    gross: l.unit_price_cents * l.quantity,
                    discount: l.discount,
                    rate_bp: l.tax_rate_bp,
                })
                .collect();
            if above_limit(&ins, &figures, limit).is_some() {
                error.set(Some("discount_above_limit"));
                return;
            }
        }
        let total = figures.total;
        let Some(paid) = paid() else {
            error.set(Some("invalid_money"));
            return;
        };
        if paid < total {
            error.set(Some("not_enough_paid"));
            return;
        }
        let Some(user) = sync.user.get_untracked() else { return };
        let username = user_session.user.with_untracked(|u| u.as_ref().map(|u| u.username.clone())).unwrap_or_default();
        let now = now_iso();
        let mut items = Vec::new();

        // A new customer typed in: created first, and the sale waits for it.
        let new_name = new_customer.get_untracked().trim().to_string();
        let customer_id = if !new_name.is_empty() {
            let cid = Uuid::new_v4();
            let fields = serde_json::Map::from_iter([("name".to_string(), Value::from(new_name.clone()))]);
            let mut it = OutboxItem::new(
                user,
                &CatalogWrite { table: "customers", action: Action::Create, id: cid, version: 1, fields: Some(fields) },
            );
            it.preview = serde_json::to_value(Customer {
                id: cid,
                name: new_name.clone(),
                tax_id: None,
                email: None,
                phone: None,
                notes: None,
                version: 1,
                created_at: now.clone(),
                updated_at: now.clone(),
                deleted_at: None,
            })
            .ok();
            it.label = new_name;
            items.push(it);
            Some(cid)
        } else {
            Uuid::parse_str(&customer.get_untracked()).ok()
        };

        let payments = vec![Payment { method: method.get_untracked(), amount_cents: paid }];
        let new_sale = NewSale {
            id: Uuid::new_v4(),
            cash_session_id: session_id,
            customer_id,
            lines: sale_lines
                .iter()
                .map(|l| NewLine {
                    product_id: l.product_id,
                    quantity: l.quantity,
                    unit_price_cents: None,
                    discount: l.discount,
                })
                .collect(),
            payments: payments.clone(),
            discount: ticket,
            discount_reason: if discounted { why.clone() } else { String::new() },
            receipt_no: None,
        };
        let sale_id = new_sale.id;
        let mut sale = OutboxItem::new(user, &new_sale);
        sale.label = lines.iter().map(|l| format!("{} × {}", l.name, l.quantity)).collect::<Vec<_>>().join(", ");
        sale.preview = serde_json::to_value(Sale {
            id: sale_id,
            cash_session_id: session_id,
            customer_id,
            taxes: taxes_of(&sale_lines),
            lines: sale_lines,
            payments,
            total_cents: total,
            subtotal_cents: figures.subtotal,
            discount_cents: figures.discount,
            discount: ticket,
            discount_reason: if discounted { why } else { String::new() },
            net_cents: figures.net,
            tax_cents: figures.tax,
            prices_include_tax: settings.with_untracked(|s| s.as_ref().is_none_or(|s| s.prices_include_tax)),
            paid_cents: paid,
            change_cents: paid - total,
            created_by: username,
            created_at: now,
            after_close: false,
            refunded_cents: 0,
            voided_at: None,
            voided_by: None,
            void_reason: String::new(),
            receipt_no: None,
        })
        .ok();
        items.push(sale);

        cart.set(Vec::new());
        ticket_discount.set(String::new());
        reason.set(String::new());
        received.set(String::new());
        new_customer.set(String::new());
        customer.set(String::new());
        method.set(PaymentMethod::Cash);
        error.set(None);
        sync::queue(sync, items, move || {
            toast.show("sale_saved");
            last.set(Some((sale_id, total, paid - total)));
        });
    };

    view! {
        <div class="register">
            {move || last.get().map(|(id, total, change)| view! {
                <div class="panel last-sale" data-testid="last-sale" role="status">
                    <span>{move || format!("{} {} · {}: {}", i18n.t("sale_saved"), format_display(total, i18n.lang.get()), i18n.t("change"), format_display(change, i18n.lang.get()))}</span>
                    <a class="btn" href=format!("/receipt/{id}") data-testid="last-sale-receipt">{move || i18n.t("see_receipt")}</a>
                </div>
            })}
            <div class="search sale-search" role="search">
                <label class="visually-hidden" for="sale-search">{move || i18n.t("search_to_add")}</label>
                <input id="sale-search" type="search" data-testid="sale-search" autocomplete="off" enterkeyhint="enter"
                    placeholder=move || i18n.t("search_products")
                    prop:value=search
                    on:input=move |ev| search.set(event_target_value(&ev))
                    on:keydown=on_search_key/>
            </div>
            <ul class="rows results" data-testid="sale-results">
                {move || results.get().into_iter().map(|p| {
                    let lang = i18n.lang.get();
                    let label = format!("{} · {} · {}", str_of(&p, "name"), format_display(i64_of(&p, "price_cents"), lang),
                        fill("{t}: {n}", &[("t", crate::i18n::text(lang, "stock")), ("n", &i64_of(&p, "stock").to_string())]));
                    let p2 = p.clone();
                    view! {
                        <li>
                            <button type="button" class="row result" data-testid="sale-result" on:click=move |_| add(&p2)>
                                <span class="row-title">{label}</span>
                                <span class="row-end">{move || i18n.t("add")}</span>
                            </button>
                        </li>
                    }
                }).collect_view()}
            </ul>
            <form class="panel cart" on:submit=charge data-testid="cart">
                <h2>{move || i18n.t("cart")}</h2>
                {move || {
                    let lang = i18n.lang.get();
                    let lines = cart.get();
                    if lines.is_empty() {
                        return view! { <p class="empty">{i18n.t("empty_cart")}</p> }.into_any();
                    }
                    view! {
                        <ul class="cart-lines">
                            {lines.into_iter().map(|l| {
                                let pid = l.product_id;
                                let step = move |d: i64| cart.update(|c| {
                                    if let Some(x) = c.iter_mut().find(|x| x.product_id == pid) { x.quantity += d; }
                                    c.retain(|x| x.quantity > 0);
                                });
                                // What the line costs after its own discount (the ticket's is shown below).
                                let shown = figures.with(|f| f.as_ref().ok().and_then(|f| f.0.iter().find(|x| x.product_id == pid).map(|x| x.unit_price_cents * x.quantity - x.discount_cents)))
                                    .unwrap_or(l.unit_price_cents * l.quantity);
                                let set_discount = move |text: String| cart.update(|c| {
                                    if let Some(x) = c.iter_mut().find(|x| x.product_id == pid) { x.discount = text; }
                                });
                                let has_discount = !l.discount.trim().is_empty();
                                let open = RwSignal::new(has_discount);
                                view! {
                                    <li class="cart-line" data-testid="cart-line">
                                        <span class="cart-name">{l.name.clone()}</span>
                                        <span class="stepper">
                                            <button type="button" class="btn icon-only" aria-label=i18n.t("less") data-testid="qty-less" on:click=move |_| step(-1)>"−"</button>
                                            <span class="qty" data-testid="qty" aria-label=i18n.t("quantity")>{l.quantity}</span>
                                            <button type="button" class="btn icon-only" aria-label=i18n.t("more") data-testid="qty-more" on:click=move |_| step(1)>"+"</button>
                                        </span>
                                        <span class="cart-total" data-testid="line-total">{format_display(shown, lang)}</span>
                                        <Show when=move || !open.get()>
                                            <button type="button" class="btn small link-like" data-testid="line-discount-toggle" on:click=move |_| open.set(true)>{move || i18n.t("add_discount")}</button>
                                        </Show>
                                        <Show when=move || open.get()>
                                            <label class="field inline line-discount">
                                                <span class="label">{move || i18n.t("line_discount")}</span>
                                                <input type="text" inputmode="decimal" data-testid="line-discount" autocomplete="off"
                                                    placeholder=move || i18n.t("discount_hint") value=l.discount.clone()
                                                    on:change=move |ev| set_discount(event_target_value(&ev))/>
                                            </label>
                                        </Show>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
                <label class="field">
                    <span class="label">{move || i18n.t("ticket_discount")}</span>
                    <input type="text" name="ticket_discount" inputmode="decimal" data-testid="ticket-discount" autocomplete="off"
                        placeholder=move || i18n.t("discount_hint")
                        prop:value=ticket_discount on:input=move |ev| ticket_discount.set(event_target_value(&ev))/>
                </label>
                <Show when=discounted>
                    <label class="field">
                        <span class="label">{move || i18n.t("discount_reason")}</span>
                        <input type="text" name="discount_reason" data-testid="discount-reason" autocomplete="off" maxlength="200"
                            prop:value=reason on:input=move |ev| reason.set(event_target_value(&ev))/>
                    </label>
                </Show>
                {move || {
                    let lang = i18n.lang.get();
                    figures.with(|f| f.as_ref().ok().map(|(lines, t)| {
                        let row = |key: Key, amount: i64, id: &'static str| view! {
                            <p class="cart-sum minor"><span>{crate::i18n::text(lang, key)}</span><span data-testid=id>{format_display(amount, lang)}</span></p>
                        };
                        let taxes = taxes_of(lines);
                        view! {
                            {(t.discount > 0).then(|| view! { {row("subtotal", t.subtotal, "cart-subtotal")} {row("discounts", -t.discount, "cart-discount")} })}
                            {taxes.into_iter().map(|tx| view! {
                                <p class="cart-sum minor"><span>{crate::format::tax_label(&tx.name, tx.rate_bp, lang)}</span>
                                    <span data-testid="cart-tax">{format_display(tx.tax_cents, lang)}</span></p>
                            }).collect_view()}
                        }
                    }))
                }}
                <p class="cart-sum"><span>{move || i18n.t("total")}</span>
                    <strong data-testid="cart-total">{move || format_display(total.get(), i18n.lang.get())}</strong></p>
                <label class="field">
                    <span class="label">{move || i18n.t("customer_optional")}</span>
                    <select name="customer" data-testid="sale-customer" prop:value=customer on:change=move |ev| customer.set(event_target_value(&ev))>
                        <option value="">{move || i18n.t("no_customer")}</option>
                        {move || {
                            let mut cs = customers.get();
                            cs.sort_by_key(|c| data::fold(str_of(c, "name")));
                            cs.into_iter().map(|c| view! { <option value=str_of(&c, "id").to_string()>{str_of(&c, "name").to_string()}</option> }).collect_view()
                        }}
                    </select>
                </label>
                <label class="field">
                    <span class="label">{move || i18n.t("new_customer_name")}</span>
                    <input type="text" name="new_customer" data-testid="sale-new-customer" autocomplete="off" prop:value=new_customer on:input=move |ev| new_customer.set(event_target_value(&ev))/>
                </label>
                <fieldset class="field methods" data-testid="sale-methods">
                    <legend class="label">{move || i18n.t("payment_method")}</legend>
                    {PaymentMethod::ALL.iter().copied().map(|m| view! {
                        <label class="method">
                            <input type="radio" name="method" value=m.as_str() data-testid=format!("method-{m}")
                                prop:checked=move || method.get() == m on:change=move |_| method.set(m)/>
                            <span>{move || i18n.t(crate::pages::sales::method_key(m.as_str()))}</span>
                        </label>
                    }).collect_view()}
                </fieldset>
                <Show when=move || method.get() == PaymentMethod::Cash>
                <label class="field">
                    <span class="label">{move || i18n.t("cash_received")}</span>
                    <input type="text" name="received" inputmode="decimal" data-testid="sale-received" autocomplete="off"
                        placeholder=move || format_display(total.get(), i18n.lang.get())
                        prop:value=received on:input=move |ev| received.set(event_target_value(&ev))/>
                </label>
                <p class="cart-sum"><span>{move || i18n.t("change")}</span>
                    <strong data-testid="sale-change">{move || change().map(|c| format_display(c, i18n.lang.get())).unwrap_or_default()}</strong></p>
                </Show>
                {move || error.get().map(|t| view! { <p class="field-error" role="alert" data-testid="sale-error">{i18n.t(t)}</p> })}
                <button type="submit" class="btn primary big" data-testid="charge">{move || i18n.t("charge")}</button>
            </form>
        </div>
    }
}

#[component]
fn TodaySales(sales: RwSignal<Vec<Value>>) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="today">
            <h2>{move || i18n.t("today_sales")}</h2>
            {move || {
                let lang = i18n.lang.get();
                let list = sales.get();
                if list.is_empty() {
                    return view! { <p class="empty">{i18n.t("no_sales_today")}</p> }.into_any();
                }
                view! {
                    <ul class="rows" data-testid="today-sales">
                        {list.into_iter().map(|s| {
                            let state = s.get("_pending").and_then(Value::as_str).unwrap_or("sent").to_string();
                            let items: i64 = s.get("lines").and_then(Value::as_array)
                                .map(|ls| ls.iter().map(|l| i64_of(l, "quantity")).sum()).unwrap_or(0);
                            let badge = match state.as_str() {
                                "pending" => Some("state_pending"),
                                "failed" => Some("state_failed"),
                                "conflict" => Some("state_conflict"),
                                _ => None,
                            };
                            view! {
                                <li><a class="row" href=format!("/receipt/{}", str_of(&s, "id")) data-testid="sale-row" data-state=state.clone() data-id=str_of(&s, "id").to_string()>
                                    <div class="row-main">
                                        <span class="row-title">{format!("{} · {} {}", crate::format::shop_time(str_of(&s, "created_at")), items, crate::i18n::text(lang, "items"))}</span>
                                        {badge.map(|t| view! { <span class=format!("badge state-{state}")>{crate::i18n::text(lang, t)}</span> })}
                                    </div>
                                    <span class="row-end price">{format_display(i64_of(&s, "total_cents"), lang)}</span>
                                </a></li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}
