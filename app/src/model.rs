//! Request and response types shared by the server (serialises them) and the browser client (reads them).
//! The HTTP contract lives here once; the server derives its OpenAPI schemas from the same structs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `{"error": {"code": "snake_case", "message": "human text", "details": {...}}}`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Cashier,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Cashier => "cashier",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "cashier" => Some(Role::Cashier),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// `POST /api/users`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub role: Role,
}

/// `PATCH /api/users/{id}`: every field optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// One page of a list: `GET /api/{entity}?q=&limit=&offset=`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// Catalog rows all carry `version` (1 on create, +1 per change), timestamps in RFC 3339 UTC, and a
/// `deleted_at` tombstone (soft delete) so that sync can tell clients.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Category {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Product {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub barcode: Option<String>,
    pub category_id: Option<Uuid>,
    pub price_cents: i64,
    pub cost_cents: i64,
    /// Read-only through the catalog API: it changes through sales and inventory movements.
    pub stock: i64,
    pub low_stock_threshold: Option<i64>,
    pub active: bool,
    /// The tax rate its sales are taxed at; none: the shop's default rate (`ShopSettings`).
    #[serde(default)]
    pub tax_rate_id: Option<Uuid>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
}

/// A tax rate (VAT 21 %, reduced 10,5 %, exempt 0 %), in basis points: 2100 = 21 %. A sale keeps the
/// name and rate each line was taxed at, so editing a rate never rewrites a sale already made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TaxRate {
    pub id: Uuid,
    pub name: String,
    pub rate_bp: i64,
    /// An inactive rate is not applied: its products are taxed at the shop's default rate.
    pub active: bool,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Customer {
    pub id: Uuid,
    pub name: String,
    pub tax_id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub notes: Option<String>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
}

/// `GET /health`: `status` for everyone; the rest only for a signed-in user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Health {
    /// `healthy` or `unhealthy`.
    pub status: String,
    /// `primary` (the configured database), `mirror` (after a failover) or `unreachable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// `primary` or `standby`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `normal`, or `emergency` on a standby taking writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// `GET /api/ha/status`: what the admin "Sistema" page shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SystemStatus {
    pub node: String,
    pub version: String,
    pub role: String,
    pub mode: String,
    /// MOSTRADOR_EMERGENCY_MODE=true: the toggle cannot turn it off.
    pub emergency_forced: bool,
    pub engine: String,
    /// `primary`, `mirror` or `unreachable`.
    pub database: String,
    pub failover: Option<FailoverStatus>,
    pub newest_backup: Option<BackupSummary>,
    pub standby_url: Option<String>,
    pub last_shipment: Option<ShipmentSummary>,
    pub last_reconciliation: Option<ReconciliationSummary>,
    /// On a standby: emergency writes not reconciled into the primary yet.
    pub unreconciled_emergency_writes: i64,
    pub alerts: Vec<AlertSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct FailoverStatus {
    pub auto_failover_enabled: bool,
    /// `normal`, `failed_over`, `needs_resync` (after a failback the mirror must be re-seeded).
    pub state: String,
    pub failed_checks: u32,
    pub last_lag_bytes: Option<i64>,
    pub since: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BackupSummary {
    pub id: String,
    pub created_at: String,
    pub verified_at: Option<String>,
    pub age_secs: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ShipmentSummary {
    pub at: String,
    /// `shipped`, `aborted` or `failed`.
    pub status: String,
    pub standby: String,
    pub backup_id: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ReconciliationSummary {
    pub source: String,
    pub finished_at: String,
    pub applied: u64,
    pub already_present: u64,
    pub rejected: u64,
    pub stopped: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AlertSummary {
    pub at: String,
    pub kind: String,
    pub message: String,
    pub node: String,
}

/// `GET /api/status`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Status {
    pub version: String,
    pub engine: String,
    pub role: String,
    pub counts: StatusCounts,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StatusCounts {
    pub users: i64,
    pub categories: i64,
    pub products: i64,
    pub customers: i64,
}

/// A till's working period: opened with a float, closed with the counted cash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CashSession {
    pub id: Uuid,
    pub register: String,
    pub opening_float_cents: i64,
    pub opened_by: String,
    pub opened_at: String,
    /// Cash that should be in the drawer: float + cash taken − change given + cash in − cash out −
    /// expenses paid from it. Live while open, frozen at close.
    pub expected_cents: i64,
    pub closed_at: Option<String>,
    pub closed_by: Option<String>,
    pub counted_cents: Option<i64>,
    /// counted − expected (negative: cash missing).
    pub difference_cents: Option<i64>,
    /// Sales that reached the server after this till was closed (made offline before the phone heard
    /// of the close), and the cash they took (payments in cash − change). The counted figures stay as
    /// counted: that cash was most likely in the drawer already, so `difference − late_cash` is what is
    /// left unexplained.
    #[serde(default)]
    pub late_sales: i64,
    #[serde(default)]
    pub late_cash_cents: i64,
    pub version: i64,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SaleLine {
    pub product_id: Uuid,
    pub quantity: i64,
    pub unit_price_cents: i64,
    /// What the customer pays for the line: unit price × quantity, less its discounts, plus its tax
    /// when prices do not include it.
    pub total_cents: i64,
    /// The line's own discount as it was given (a percentage or an amount), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<crate::wire::Discount>,
    /// What that discount took off, and this line's share of the ticket's discount.
    #[serde(default)]
    pub discount_cents: i64,
    #[serde(default)]
    pub ticket_discount_cents: i64,
    /// The tax as it was at sale time: the rate's name ("" when untaxed) and basis points.
    #[serde(default)]
    pub tax_name: String,
    #[serde(default)]
    pub tax_rate_bp: i64,
    /// `total_cents` split into net and tax (`net + tax = total`). Rows from before taxes read as
    /// net 0: use `SaleLine::net` for them.
    #[serde(default)]
    pub net_cents: i64,
    #[serde(default)]
    pub tax_cents: i64,
    /// Units of this line already taken back by refunds.
    #[serde(default)]
    pub refunded_quantity: i64,
}

impl SaleLine {
    /// The line's net; a line kept from before taxes is all net.
    pub fn net(&self) -> i64 {
        if self.net_cents == 0 && self.tax_cents == 0 {
            self.total_cents
        } else {
            self.net_cents
        }
    }
}

/// The tax of a sale at one rate: the sum of its lines'.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TaxAmount {
    pub name: String,
    pub rate_bp: i64,
    pub net_cents: i64,
    pub tax_cents: i64,
}

/// The sale's tax per rate (name and rate as at sale time), in the order the rates first appear;
/// untaxed lines are left out.
pub fn taxes_of(lines: &[SaleLine]) -> Vec<TaxAmount> {
    tally(lines.iter().map(|l| (l.tax_name.as_str(), l.tax_rate_bp, l.net(), l.tax_cents)))
}

/// The same for a refund's lines: the tax given back per rate, as it was sold.
pub fn refund_taxes(lines: &[RefundLine]) -> Vec<TaxAmount> {
    tally(lines.iter().map(|l| (l.tax_name.as_str(), l.tax_rate_bp, l.net_cents, l.tax_cents)))
}

fn tally<'a>(lines: impl Iterator<Item = (&'a str, i64, i64, i64)>) -> Vec<TaxAmount> {
    let mut out: Vec<TaxAmount> = Vec::new();
    for (name, rate_bp, net, tax) in lines.filter(|l| l.1 != 0 || !l.0.is_empty()) {
        match out.iter_mut().find(|t| t.name == name && t.rate_bp == rate_bp) {
            Some(t) => {
                t.net_cents += net;
                t.tax_cents += tax;
            }
            None => out.push(TaxAmount { name: name.to_owned(), rate_bp, net_cents: net, tax_cents: tax }),
        }
    }
    out
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Payment {
    pub method: crate::wire::PaymentMethod,
    pub amount_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Sale {
    pub id: Uuid,
    pub cash_session_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub lines: Vec<SaleLine>,
    pub payments: Vec<Payment>,
    /// What the customer pays: `net_cents + tax_cents`, and `subtotal_cents - discount_cents` (plus
    /// the tax when prices do not include it).
    pub total_cents: i64,
    /// Unit price × quantity over the lines, before discounts.
    #[serde(default)]
    pub subtotal_cents: i64,
    /// Every discount: the lines' own and the ticket's.
    #[serde(default)]
    pub discount_cents: i64,
    /// The ticket's discount as it was given, and why discounts were given (required with any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<crate::wire::Discount>,
    #[serde(default)]
    pub discount_reason: String,
    #[serde(default)]
    pub net_cents: i64,
    #[serde(default)]
    pub tax_cents: i64,
    /// Whether the prices included tax when it was sold (the tax mode at sale time).
    #[serde(default = "yes")]
    pub prices_include_tax: bool,
    /// Tax per rate, from the lines.
    #[serde(default)]
    pub taxes: Vec<TaxAmount>,
    pub paid_cents: i64,
    pub change_cents: i64,
    pub created_by: String,
    pub created_at: String,
    /// Recorded after its till was closed (a sale made offline meanwhile): accepted, and listed on
    /// that till as a late sale.
    #[serde(default)]
    pub after_close: bool,
    /// What refunds have given back of it.
    #[serde(default)]
    pub refunded_cents: i64,
    /// Undone by a void (a mistake, while its till was open): its stock is back and it counts nowhere.
    #[serde(default)]
    pub voided_at: Option<String>,
    #[serde(default)]
    pub voided_by: Option<String>,
    #[serde(default)]
    pub void_reason: String,
    /// The receipt number its register gave it (`C1-000123`); none for sales from before numbers.
    #[serde(default)]
    pub receipt_no: Option<String>,
}

/// A register: a device set up to number its own receipts. Its `code` is unique in the shop;
/// `last_seq` is the highest number the server holds from it (a device that lost its data goes on
/// from there).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Register {
    pub code: String,
    pub device_id: Uuid,
    pub name: String,
    pub last_seq: i64,
    pub created_by: String,
    pub created_at: String,
}

/// A line of a refund: units of one line of the original sale, at the figures they were sold at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RefundLine {
    /// The line of the sale (1-based), its product, and its tax as it was sold.
    pub sale_line_no: i64,
    pub product_id: Uuid,
    pub quantity: i64,
    /// Damaged units do not go back to stock.
    pub damaged: bool,
    pub tax_name: String,
    pub tax_rate_bp: i64,
    pub net_cents: i64,
    pub tax_cents: i64,
    pub total_cents: i64,
}

/// Money given back for some or all of a sale's lines, paid out by `method` from the till
/// `cash_session_id` (cash comes out of its expected cash).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Refund {
    pub id: Uuid,
    pub sale_id: Uuid,
    pub cash_session_id: Uuid,
    pub method: crate::wire::PaymentMethod,
    pub reason: String,
    pub lines: Vec<RefundLine>,
    pub net_cents: i64,
    pub tax_cents: i64,
    pub total_cents: i64,
    /// Tax per rate given back, from the lines.
    pub taxes: Vec<TaxAmount>,
    pub created_by: String,
    pub created_at: String,
    #[serde(default)]
    pub receipt_no: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CashMovement {
    pub id: Uuid,
    pub cash_session_id: Uuid,
    pub kind: crate::wire::CashMovementKind,
    pub amount_cents: i64,
    pub reason: String,
    pub created_by: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Expense {
    pub id: Uuid,
    /// The shop's day it was spent (YYYY-MM-DD).
    pub spent_on: String,
    pub category: String,
    pub amount_cents: i64,
    pub description: String,
    /// Set when it was paid from a till's cash.
    pub cash_session_id: Option<Uuid>,
    pub created_by: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InventoryMovement {
    pub id: Uuid,
    pub product_id: Uuid,
    /// Units added (+) or removed (−).
    pub delta: i64,
    pub reason: crate::wire::StockReason,
    pub note: Option<String>,
    pub created_by: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct QuoteLine {
    pub product_id: Uuid,
    pub quantity: i64,
    /// None: the product's price when the quote is converted.
    pub unit_price_cents: Option<i64>,
}

/// A quote: versioned master data (edited like the catalog) that can be turned into a sale.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Quote {
    pub id: Uuid,
    pub customer_id: Option<Uuid>,
    pub lines: Vec<QuoteLine>,
    pub notes: Option<String>,
    /// YYYY-MM-DD
    pub valid_until: Option<String>,
    /// `open` or `converted` (read-only: changed by converting).
    pub status: String,
    pub sale_id: Option<Uuid>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
}

/// `GET /api/dashboard`: what the owner looks at. Days are UTC days (as the period filters), newest last.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Dashboard {
    /// When the server computed it (the data's age when shown from the offline copy).
    pub generated_at: String,
    /// Today, `YYYY-MM-DD`.
    pub today: String,
    pub today_total_cents: i64,
    pub today_count: i64,
    /// Integer cents, rounded down; 0 without sales.
    pub today_average_cents: i64,
    /// Takings by payment method today; cash is net of the change given.
    pub today_by_method: Vec<MethodTotal>,
    /// One entry per day of the last 30, zeros included, oldest first.
    pub per_day: Vec<DayTotal>,
    /// Best sellers of the last 30 days by amount, at most 5.
    pub top_products: Vec<TopProduct>,
    pub open_sessions: Vec<OpenSession>,
    /// Active products at or below their own low-stock threshold.
    pub low_stock: Vec<LowStockProduct>,
    /// Operations of the last 30 days that reached the server long after a device recorded them offline.
    pub late: Vec<LateOperation>,
}

/// A till's report: the X report while it is open (the figures so far), the Z report once it is
/// closed. Computed from the records themselves (sales are never rewritten), so it reads the same
/// whenever it is asked; sales that arrived after the close are listed apart, as amendments.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TillReport {
    /// `x` (open) or `z` (closed).
    pub kind: String,
    /// The till: who opened and closed it, the float, expected and counted cash, the difference.
    pub session: CashSession,
    /// Sales made in it (voided ones and late ones apart) and what they took per method (cash net
    /// of change).
    pub sales_count: i64,
    pub sales_total_cents: i64,
    pub by_method: Vec<MethodTotal>,
    pub discounts_cents: i64,
    pub voided_count: i64,
    pub voided_total_cents: i64,
    /// Refunds paid from it, and per method.
    pub refunds_count: i64,
    pub refunds_total_cents: i64,
    pub refunds_by_method: Vec<MethodTotal>,
    /// Net and tax per rate of its sales less its refunds.
    pub net_cents: i64,
    pub tax_cents: i64,
    pub taxes: Vec<TaxAmount>,
    pub cash_in_cents: i64,
    pub cash_out_cents: i64,
    pub expenses_cents: i64,
    /// Sales that reached the server after the close: count and total.
    pub late_sales: i64,
    pub late_total_cents: i64,
    /// The first and last receipt numbers of its sales and refunds (in the order they were made).
    pub first_receipt_no: Option<String>,
    pub last_receipt_no: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MethodTotal {
    pub method: String,
    pub amount_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DayTotal {
    pub date: String,
    pub total_cents: i64,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TopProduct {
    pub product_id: Uuid,
    pub name: String,
    pub quantity: i64,
    pub total_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OpenSession {
    pub id: Uuid,
    pub register: String,
    pub opened_by: String,
    pub opened_at: String,
    pub expected_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LowStockProduct {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub stock: i64,
    pub low_stock_threshold: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct LateOperation {
    pub idempotency_key: String,
    pub method: String,
    pub path: String,
    pub username: String,
    /// When the device recorded it (the device's clock).
    pub queued_at: String,
    /// When the server applied it.
    pub received_at: String,
    pub minutes_late: i64,
}

/// `GET /api/tls/phone` (admins): what the "Connect a phone" page shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PhoneSetup {
    /// `lan` (the shop's own CA), `acme`, `files` (a certificate given), `proxy` (MOSTRADOR_PUBLIC_URL
    /// is https) or `none` (plain HTTP: phones get no offline mode).
    pub mode: String,
    /// The https addresses phones can open (names given with `--tls-name` first, then LAN addresses).
    pub urls: Vec<String>,
    /// The first URL as a QR code, an SVG image.
    pub qr_svg: String,
    /// LAN mode: the CA phones must trust.
    pub ca: Option<CaInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CaInfo {
    /// SHA-256 of the CA certificate (DER), colon-separated hex: what the phone shows when installing it.
    pub sha256: String,
    /// Where to download the CA certificate (DER, `.crt`).
    pub download: String,
    pub name: String,
}

/// `GET /api/tls/address` (anyone): where this server answers over https, for the banner a page
/// opened at a plain-http address shows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SecureAddress {
    /// The https URL to open instead (`MOSTRADOR_PUBLIC_URL` when it is https, else this server's
    /// own https address); null when the server has no https at all.
    pub url: Option<String>,
}

/// `GET /api/settings`: the shop's own details, printed on every receipt (kept on each device, so a
/// receipt printed offline has them too).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ShopSettings {
    pub name: String,
    pub address: String,
    /// The shop's tax number (CUIT, NIF, RFC…), as printed.
    pub tax_id: String,
    pub phone: String,
    /// Lines printed above the sale, and below it.
    pub receipt_header: String,
    pub receipt_footer: String,
    /// ISO 4217 code; every amount in the API is an integer count of its minor unit.
    // The defaults read a copy a device kept before these fields existed as what it meant: dollars
    // and cents, the browser's zone, no logo.
    #[serde(default = "usd")]
    pub currency: String,
    /// From the currency: its symbol ("$", "€") and how many digits its minor unit has (2 for
    /// cents, 0 for the Chilean peso, 3 for the Kuwaiti dinar).
    #[serde(default = "dollar")]
    pub currency_symbol: String,
    #[serde(default = "cents")]
    pub minor_units: u8,
    /// A BCP 47 tag ("es-AR") for numbers and dates; empty: each reader's language decides.
    #[serde(default)]
    pub locale: String,
    /// IANA zone; the shop's days (lists, dashboard, exports, reports) start at its midnight.
    #[serde(default)]
    pub time_zone: String,
    /// The logo printed on receipts, a `data:image/…;base64,` URL (PNG, JPEG or WebP, at most 64 KB);
    /// empty for none. Set with `PUT /api/settings/logo`.
    #[serde(default)]
    pub logo: String,
    /// The tax mode: prices (and so sale totals) include tax, or tax is added on top. Set with
    /// `PUT /api/settings/taxes`, like the two below.
    #[serde(default = "yes")]
    pub prices_include_tax: bool,
    /// The rate of a product that names none; none: such products are untaxed.
    #[serde(default)]
    pub default_tax_rate_id: Option<Uuid>,
    /// The largest discount a cashier may give without an admin, in basis points of what is
    /// discounted (1000 = 10 %): on any line, and on the whole ticket.
    #[serde(default = "ten_percent")]
    pub cashier_max_discount_bp: i64,
    pub version: i64,
    pub updated_at: String,
}

fn ten_percent() -> i64 {
    1000
}

fn yes() -> bool {
    true
}

fn usd() -> String {
    "USD".into()
}
fn dollar() -> String {
    "$".into()
}
fn cents() -> u8 {
    2
}

impl ShopSettings {
    /// The values in the order of `SettingsUpdate::FIELDS`.
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
