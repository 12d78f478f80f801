//! The wire contract of writes and sync: every body a device sends to change data, the closed sets
//! of values in them, and the push and pull envelopes, defined once for the server and the client.
//!
//! The server reads a write's raw JSON first (ranges and closed sets are checked there, so a bad
//! value is reported under its own field name) and only then takes it in these shapes; the client
//! builds these instead of `json!` and reads these instead of `.get("…")`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::model::{CashSession, Category, Customer, Payment, Product, Quote, TaxRate};

/// A closed set of values sent as lower-case strings: its members, each one's name on the wire, and
/// the words a validation message uses to list them.
pub trait ClosedSet: Sized + Copy + 'static {
    const ALL: &'static [Self];

    fn as_str(self) -> &'static str;

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s)
    }

    /// "a, b or c", for the message that refuses anything else.
    fn listed() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
        match names.split_last() {
            Some((last, [])) => (*last).to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

macro_rules! closed_set {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        // `rename_all` rather than a rename per variant: the OpenAPI derive reads only the former.
        // A unit test checks that serde's names are the `$wire` ones.
        #[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($variant,)+
        }

        impl ClosedSet for $name {
            const ALL: &'static [$name] = &[$($name::$variant),+];

            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

closed_set! {
    /// How a payment was made. Only cash can be overpaid: the change is given in cash.
    PaymentMethod { Cash = "cash", Card = "card", Transfer = "transfer", Other = "other" }
}

closed_set! {
    /// Cash put into a till or taken out of it.
    CashMovementKind { In = "in", Out = "out" }
}

closed_set! {
    /// Why stock moved. A cashier may receive a purchase; the others need an admin.
    StockReason { Purchase = "purchase", Adjustment = "adjustment", Waste = "waste", Return = "return" }
}

/// `POST /api/sales`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewSale {
    pub id: Uuid,
    pub cash_session_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub lines: Vec<NewLine>,
    pub payments: Vec<Payment>,
    /// A discount on the whole ticket, shared across the lines by what each still costs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Discount>,
    /// Why discounts were given; required when any line or the ticket has one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub discount_reason: String,
    /// The number this device's register gave it (`C1-000123`), if it has a register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_no: Option<String>,
}

/// `POST /api/registers`: this device asks for its register code (once, online).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewRegister {
    pub device_id: Uuid,
    pub name: String,
}

/// A receipt number: the register's code and its own counter, `C1-000123`.
pub fn receipt_no(code: &str, seq: i64) -> String {
    format!("{code}-{seq:06}")
}

/// `C1-000123` → ("C1", 123); None for anything else.
pub fn parse_receipt_no(no: &str) -> Option<(&str, i64)> {
    let (code, seq) = no.split_once('-')?;
    let n = code.strip_prefix('C')?;
    let ok_code = !n.is_empty() && n.len() <= 9 && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0');
    let ok_seq = (6..=12).contains(&seq.len()) && seq.bytes().all(|b| b.is_ascii_digit());
    let seq: i64 = if ok_code && ok_seq { seq.parse().ok()? } else { return None };
    (seq >= 1 && receipt_no(code, seq) == no).then_some((code, seq))
}

/// `POST /api/refunds`: units of a sale's lines given back, paid out by `method` from the open till
/// `cash_session_id`, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewRefund {
    pub id: Uuid,
    pub sale_id: Uuid,
    pub cash_session_id: Uuid,
    pub method: PaymentMethod,
    pub reason: String,
    pub lines: Vec<NewRefundLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_no: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewRefundLine {
    /// The sale's line (1-based, in the order the sale lists them).
    pub line_no: i64,
    pub quantity: i64,
    /// Damaged units are not returned to stock.
    #[serde(default)]
    pub damaged: bool,
}

/// `POST /api/sales/{id}/void`: undoes a sale made by mistake, while its till is open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VoidSale {
    pub reason: String,
}

/// A discount: a percentage in basis points (1000 = 10 %, at most 10000) or an amount in the
/// currency's minor unit. On the wire `{"percent_bp": 1000}` or `{"amount_cents": 250}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Discount {
    PercentBp(i64),
    AmountCents(i64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewLine {
    pub product_id: Uuid,
    pub quantity: i64,
    /// A price other than the product's (admins only); absent: the product's current price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price_cents: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<Discount>,
}

/// `POST /api/cash-sessions`: a till opened on a register with its float.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OpenTill {
    pub id: Uuid,
    pub register: String,
    pub opening_float_cents: i64,
}

/// `POST /api/cash-sessions/{id}/close`: the cash counted in the drawer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CloseTill {
    pub counted_cents: i64,
}

/// `POST /api/cash-movements`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewCashMovement {
    pub id: Uuid,
    pub cash_session_id: Uuid,
    pub kind: CashMovementKind,
    pub amount_cents: i64,
    pub reason: String,
}

/// `POST /api/expenses`: paid from an open till (`cash_session_id`) or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewExpense {
    pub id: Uuid,
    /// The day it was spent, YYYY-MM-DD.
    pub spent_on: String,
    pub category: String,
    pub amount_cents: i64,
    #[serde(default)]
    pub description: String,
    pub cash_session_id: Option<Uuid>,
}

/// `POST /api/inventory-movements`: units in (positive) or out (negative) of one product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewStockMovement {
    pub id: Uuid,
    pub product_id: Uuid,
    pub delta: i64,
    pub reason: StockReason,
    pub note: Option<String>,
}

/// `PUT /api/settings` (admins): every field, and the version the edit was based on; a stale one
/// answers 409 `version_conflict` with the current settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SettingsUpdate {
    pub version: i64,
    pub name: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub tax_id: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub receipt_header: String,
    #[serde(default)]
    pub receipt_footer: String,
    /// ISO 4217 ("ARS", "EUR"). Its minor unit may change only while the shop has no products,
    /// sales, tills, expenses or quotes (their amounts would change meaning).
    pub currency: String,
    /// BCP 47 ("es-AR"), or empty for each reader's language.
    #[serde(default)]
    pub locale: String,
    /// IANA ("America/Argentina/Buenos_Aires").
    pub time_zone: String,
}

impl SettingsUpdate {
    /// The fields, in the order `texts` gives them (here and in `ShopSettings::texts`).
    pub const FIELDS: [&'static str; 9] =
        ["name", "address", "tax_id", "phone", "receipt_header", "receipt_footer", "currency", "locale", "time_zone"];

    pub fn texts(&self) -> [&str; 9] {
        [
            &self.name,
            &self.address,
            &self.tax_id,
            &self.phone,
            &self.receipt_header,
            &self.receipt_footer,
            &self.currency,
            &self.locale,
            &self.time_zone,
        ]
    }
}

/// `PUT /api/settings/logo` (admins): a new logo as a data URL (`data:image/png;base64,…`), or null
/// to print none; with the version of the settings it was chosen on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LogoUpdate {
    pub version: i64,
    pub image: Option<String>,
}

/// `PUT /api/settings/taxes` (admins): the tax mode, the default rate and the cashier's discount
/// limit, with the version of the settings they were chosen on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TaxSettingsUpdate {
    pub version: i64,
    pub prices_include_tax: bool,
    pub default_tax_rate_id: Option<Uuid>,
    /// 0 to 10000 basis points.
    pub cashier_max_discount_bp: i64,
}

/// A table's URL segment: `tax_rates` is served at `/api/tax-rates`, like `/api/cash-sessions`.
pub fn segment(table: &str) -> String {
    table.replace('_', "-")
}

/// The tables a device keeps a copy of, in the order a pull page lists them. Sales are not in the
/// feed: a device keeps today's, read from the sales list.
pub const SYNCED_TABLES: [&str; 6] = ["categories", "products", "customers", "quotes", "cash_sessions", "tax_rates"];

/// `POST /api/sync/push`: a device's queued writes, in the order they were made.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PushRequest {
    pub ops: Vec<PushOp>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PushOp {
    pub idempotency_key: String,
    pub method: String,
    /// An API path such as `/api/sales` or `/api/products/{id}`, with its query if any.
    pub path: String,
    #[serde(default)]
    pub body: Option<Value>,
    /// Keys of earlier operations in this batch that this one needs (a sale of a customer created
    /// offline). If any of them did not succeed, this one is not run: it answers 424
    /// `dependency_failed` and stores nothing, so it can be sent again once its dependency is fixed.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// When the device recorded the operation (RFC 3339, the device's clock). One that takes effect much
    /// later is listed on the dashboard as late.
    #[serde(default)]
    pub queued_at: Option<String>,
    /// Who recorded it on the device. When given and not the signed-in user (someone else signed in
    /// on a shared phone between the device's check and this push), it answers 409
    /// `session_user_mismatch` and stores nothing: it is sent again under its author's session.
    #[serde(default)]
    pub user_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PushResult {
    pub idempotency_key: String,
    pub status: u16,
    /// What the single call would have answered: the row, or `{"error": …}`.
    pub body: Value,
    /// True when this answer is a stored one: the operation had already been applied.
    pub replayed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PushResponse {
    pub results: Vec<PushResult>,
}

/// `GET /api/sync/pull`: what changed after `since`: the current rows (tombstones included:
/// `deleted_at` set), the cursor to send next time, and whether more is waiting.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PullResponse {
    pub cursor: String,
    pub has_more: bool,
    pub categories: Vec<Category>,
    pub products: Vec<Product>,
    pub customers: Vec<Customer>,
    pub quotes: Vec<Quote>,
    /// Sessions that opened, closed or took money (with their expected cash).
    pub cash_sessions: Vec<CashSession>,
    #[serde(default)]
    pub tax_rates: Vec<TaxRate>,
}

impl PullResponse {
    /// Every row of the page with its table (one of `SYNCED_TABLES`), as the local copy keeps it.
    pub fn rows(&self) -> Vec<(&'static str, Value)> {
        fn add<T: Serialize>(out: &mut Vec<(&'static str, Value)>, table: &'static str, rows: &[T]) {
            out.extend(rows.iter().filter_map(|r| serde_json::to_value(r).ok()).map(|v| (table, v)));
        }
        let [categories, products, customers, quotes, cash_sessions, tax_rates] = SYNCED_TABLES;
        let mut out = Vec::new();
        add(&mut out, categories, &self.categories);
        add(&mut out, products, &self.products);
        add(&mut out, customers, &self.customers);
        add(&mut out, quotes, &self.quotes);
        add(&mut out, cash_sessions, &self.cash_sessions);
        add(&mut out, tax_rates, &self.tax_rates);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_sets_travel_as_their_names_and_refuse_others() {
        assert_eq!(serde_json::to_value(PaymentMethod::Transfer).unwrap(), "transfer");
        assert_eq!(serde_json::from_value::<StockReason>("waste".into()).unwrap(), StockReason::Waste);
        assert!(serde_json::from_value::<CashMovementKind>("sideways".into()).is_err());
        assert_eq!(PaymentMethod::parse("card"), Some(PaymentMethod::Card));
        assert_eq!(PaymentMethod::listed(), "cash, card, transfer or other");
        assert_eq!(CashMovementKind::listed(), "in or out");
    }

    #[test]
    fn serde_names_are_the_wire_names() {
        fn check<T: ClosedSet + Serialize>() {
            for v in T::ALL {
                assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
            }
        }
        check::<PaymentMethod>();
        check::<CashMovementKind>();
        check::<StockReason>();
    }

    #[test]
    fn receipt_numbers_read_back_only_in_their_one_spelling() {
        assert_eq!(receipt_no("C1", 123), "C1-000123");
        assert_eq!(parse_receipt_no("C12-000123"), Some(("C12", 123)));
        assert_eq!(parse_receipt_no("C1-1234567"), Some(("C1", 1_234_567)));
        for bad in [
            "C1-00012",
            "C0-000001",
            "C01-000001",
            "X1-000001",
            "C1-000000",
            "C1-0001234",
            "C1-00001a",
            "C-000001",
            "C1000001",
        ] {
            assert_eq!(parse_receipt_no(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_line_without_its_own_price_sends_none() {
        let line = NewLine { product_id: Uuid::nil(), quantity: 2, unit_price_cents: None, discount: None };
        assert_eq!(serde_json::to_value(&line).unwrap().get("unit_price_cents"), None);
    }
}
