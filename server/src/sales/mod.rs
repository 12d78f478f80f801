//! Sales: lines, payments, change, and the stock they take, in one transaction.

pub(crate) mod convert;

use std::collections::BTreeMap;

pub use app::wire::{NewLine, NewSale};
use app::{
    limits::{self, Range},
    model::{taxes_of, Page, Payment, Sale, SaleLine, TaxRate, User},
    totals::{above_limit, rate_for, sale_lines, LineIn, Priced, TotalsError},
    wire::{ClosedSet, Discount, PaymentMethod},
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::Value;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::{
    auth::CurrentUser,
    cash::closed_at,
    db::{get_opt_uuid, get_uuid, now},
    http::{
        error::{ApiError, FieldErrors},
        extract::ApiQuery,
        AppState,
    },
    idempotency::{by_id, WriteTx},
    inventory::apply_stock,
    period::PeriodParams,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/sales", get(list).post(create))
        .route("/api/sales/{id}", get(get_one))
        .route("/api/quotes/{id}/convert", axum::routing::post(convert::convert))
}

/// Who records a sale: the name it is kept under, and whether a discount above the shop's limit for
/// cashiers is theirs to give.
pub struct Seller<'a> {
    pub username: &'a str,
    pub may_exceed_discount_limit: bool,
}

impl<'a> Seller<'a> {
    pub fn of(user: &'a User) -> Seller<'a> {
        Seller {
            username: &user.username,
            may_exceed_discount_limit: app::permissions::allowed(
                user.role,
                app::permissions::Action::DiscountAboveLimit,
            ),
        }
    }
    pub fn admin(username: &'a str) -> Seller<'a> {
        Seller { username, may_exceed_discount_limit: true }
    }
}

/// A discount as two columns (`discount_kind`, `discount_value`), and back.
fn discount_columns(d: Option<Discount>) -> (Option<&'static str>, Option<i64>) {
    match d {
        Some(Discount::PercentBp(v)) => (Some("percent_bp"), Some(v)),
        Some(Discount::AmountCents(v)) => (Some("amount_cents"), Some(v)),
        None => (None, None),
    }
}

fn discount_of_row(row: &sqlx::any::AnyRow) -> Result<Option<Discount>, sqlx::Error> {
    let kind: Option<String> = row.try_get("discount_kind")?;
    let value: Option<i64> = row.try_get("discount_value")?;
    Ok(match (kind.as_deref(), value) {
        (Some("percent_bp"), Some(v)) => Some(Discount::PercentBp(v)),
        (Some("amount_cents"), Some(v)) => Some(Discount::AmountCents(v)),
        _ => None,
    })
}

pub async fn load(conn: &mut AnyConnection, id: Uuid) -> Result<Option<Sale>, sqlx::Error> {
    let Some(row) = sqlx::query(
        "SELECT id, cash_session_id, customer_id, total_cents, paid_cents, change_cents, created_by, created_at, \
         after_close, subtotal_cents, discount_cents, discount_kind, discount_value, discount_reason, net_cents, \
         tax_cents, prices_include_tax, refunded_cents, voided_at, voided_by, void_reason, receipt_no FROM sales WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let lines = sqlx::query(
        "SELECT product_id, quantity, unit_price_cents, total_cents, discount_kind, discount_value, discount_cents, \
         ticket_discount_cents, tax_name, tax_rate_bp, net_cents, tax_cents, \
         (SELECT CAST(COALESCE(SUM(rl.quantity), 0) AS BIGINT) FROM refund_lines rl JOIN refunds r ON r.id = rl.refund_id \
          WHERE r.sale_id = l.sale_id AND rl.sale_line_no = l.line_no) AS refunded_quantity \
         FROM sale_lines l WHERE sale_id = $1 ORDER BY line_no",
    )
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|l| {
        Ok(SaleLine {
            product_id: get_uuid(l, "product_id")?,
            quantity: l.try_get("quantity")?,
            unit_price_cents: l.try_get("unit_price_cents")?,
            total_cents: l.try_get("total_cents")?,
            discount: discount_of_row(l)?,
            discount_cents: l.try_get("discount_cents")?,
            ticket_discount_cents: l.try_get("ticket_discount_cents")?,
            tax_name: l.try_get("tax_name")?,
            tax_rate_bp: l.try_get("tax_rate_bp")?,
            net_cents: l.try_get("net_cents")?,
            tax_cents: l.try_get("tax_cents")?,
            refunded_quantity: l.try_get("refunded_quantity")?,
        })
    })
    .collect::<Result<Vec<SaleLine>, sqlx::Error>>()?;
    let payments = sqlx::query("SELECT method, amount_cents FROM sale_payments WHERE sale_id = $1 ORDER BY line_no")
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|p| Ok(Payment { method: crate::db::get_choice(p, "method")?, amount_cents: p.try_get("amount_cents")? }))
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Some(Sale {
        id,
        cash_session_id: get_uuid(&row, "cash_session_id")?,
        customer_id: get_opt_uuid(&row, "customer_id")?,
        taxes: taxes_of(&lines),
        lines,
        payments,
        total_cents: row.try_get("total_cents")?,
        subtotal_cents: row.try_get("subtotal_cents")?,
        discount_cents: row.try_get("discount_cents")?,
        discount: discount_of_row(&row)?,
        discount_reason: row.try_get("discount_reason")?,
        net_cents: row.try_get("net_cents")?,
        tax_cents: row.try_get("tax_cents")?,
        prices_include_tax: crate::db::get_bool(&row, "prices_include_tax")?,
        paid_cents: row.try_get("paid_cents")?,
        change_cents: row.try_get("change_cents")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        after_close: crate::db::get_bool(&row, "after_close")?,
        refunded_cents: row.try_get("refunded_cents")?,
        voided_at: row.try_get("voided_at")?,
        voided_by: row.try_get("voided_by")?,
        void_reason: row.try_get("void_reason")?,
        receipt_no: row.try_get("receipt_no")?,
    }))
}

/// Checks the shape of a sale that needs no database: counts, ranges (app::limits), methods. Works
/// on the raw JSON so that a number no i64 can hold is reported under `lines` or `payments` like any
/// other out-of-range value, naming the line and the field.
pub(crate) fn validate_json(raw: &Value) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    let lines = items(raw, "lines");
    if lines.is_empty() || lines.len() > limits::LINES_MAX {
        errors.insert("lines", format!("must have 1 to {} lines", limits::LINES_MAX));
    } else if let Some(bad) =
        first_bad(lines, &[("quantity", limits::QUANTITY, false), ("unit_price_cents", limits::PRICE, true)])
    {
        errors.insert("lines", format!("line {bad}"));
    } else if let Some((i, m)) =
        lines.iter().enumerate().find_map(|(i, l)| check_discount(l.get("discount")).err().map(|m| (i, m)))
    {
        errors.insert("lines", format!("line {}: discount {m}", i + 1));
    }
    if let Err(m) = check_discount(raw.get("discount")) {
        errors.insert("discount", m);
    }
    match raw.get("discount_reason") {
        None | Some(Value::Null) => {}
        Some(Value::String(r)) if r.chars().count() <= limits::REASON_MAX => {}
        Some(_) => {
            errors.insert("discount_reason", format!("must be text of at most {} characters", limits::REASON_MAX));
        }
    }
    check_payments(raw, &mut errors);
    ApiError::unless_any(errors)
}

/// The payments' part of `validate_json`, for a body that carries payments but no lines (a quote's
/// conversion).
pub(crate) fn validate_payments_json(raw: &Value) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    check_payments(raw, &mut errors);
    ApiError::unless_any(errors)
}

fn check_payments(raw: &Value, errors: &mut FieldErrors) {
    let payments = items(raw, "payments");
    if payments.is_empty() || payments.len() > limits::PAYMENTS_MAX {
        errors.insert("payments", format!("must have 1 to {} payments", limits::PAYMENTS_MAX));
    } else if payments.iter().any(|p| p.get("method").and_then(Value::as_str).and_then(PaymentMethod::parse).is_none())
    {
        errors.insert("payments", format!("method must be {}", PaymentMethod::listed()));
    } else if let Some(bad) = first_bad(payments, &[("amount_cents", limits::AMOUNT, false)]) {
        errors.insert("payments", format!("payment {bad}"));
    }
}

/// A discount is absent, `{"percent_bp": 1..10000}` or `{"amount_cents": 1..}`.
fn check_discount(d: Option<&Value>) -> Result<(), String> {
    let Some(d) = d.filter(|d| !d.is_null()) else { return Ok(()) };
    let shape = || "must be {\"percent_bp\": n} or {\"amount_cents\": n}".to_string();
    let map = d.as_object().filter(|m| m.len() == 1).ok_or_else(shape)?;
    match map.iter().next() {
        Some((k, v)) if k == "percent_bp" => limits::DISCOUNT_BP.check_json(v).map(|_| ()),
        Some((k, v)) if k == "amount_cents" => limits::AMOUNT.check_json(v).map(|_| ()),
        _ => Err(shape()),
    }
}

fn items<'a>(raw: &'a Value, key: &str) -> &'a [Value] {
    raw.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// The first item (1-based) with a missing required field or a value out of its range, as "n: field …".
fn first_bad(list: &[Value], checks: &[(&str, Range, bool)]) -> Option<String> {
    list.iter().enumerate().find_map(|(i, item)| {
        checks.iter().find_map(|(field, range, optional)| match item.get(*field) {
            None | Some(Value::Null) if *optional => None,
            None | Some(Value::Null) => Some(format!("{}: {field} is required", i + 1)),
            Some(v) => range.check_json(v).err().map(|m| format!("{}: {field} {m}", i + 1)),
        })
    })
}

/// The same checks on a sale already built (a quote's lines with the payments sent to convert it).
pub(crate) fn validate(sale: &NewSale) -> Result<(), ApiError> {
    validate_json(&serde_json::json!({
        "lines": sale.lines.iter().map(|l| serde_json::json!({"quantity": l.quantity, "unit_price_cents": l.unit_price_cents, "discount": l.discount})).collect::<Vec<_>>(),
        "discount": sale.discount,
        "payments": sale.payments,
    }))
}

/// Records a sale the way the single call and a pushed queue both do. Separate from the handler so
/// benchmarks can time it without HTTP.
pub async fn record(
    conn: &mut AnyConnection,
    tx: Option<&WriteTx>,
    seller: &Seller<'_>,
    sale: &NewSale,
    request_hash: &str,
    allow_negative_stock: bool,
) -> Result<Sale, ApiError> {
    // A till closed meanwhile (by another device, while this sale waited offline) still takes the sale:
    // a sale that happened is never refused for it. It is marked, and its till lists it as late.
    let after_close = closed_at(&mut *conn, "cash_session_id", sale.cash_session_id).await?.is_some();
    if let Some(customer) = sale.customer_id {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE id = $1 AND deleted_at IS NULL")
            .bind(customer.to_string())
            .fetch_one(&mut *conn)
            .await?;
        if n == 0 {
            return Err(ApiError::invalid("customer_id", "no such customer"));
        }
    }
    let taxes = crate::settings::tax_settings(&mut *conn).await?;
    let rates: Vec<TaxRate> = crate::catalog::live_rows::<TaxRate>(&mut *conn).await?;
    // Prices: the line's own, or the product's current price; the tax: the product's rate now.
    let mut priced = Vec::with_capacity(sale.lines.len());
    for (i, line) in sale.lines.iter().enumerate() {
        let found = sqlx::query("SELECT price_cents, tax_rate_id FROM products WHERE id = $1 AND deleted_at IS NULL")
            .bind(line.product_id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        let Some(found) = found else {
            return Err(ApiError::Validation(FieldErrors::from([(
                "lines",
                format!("line {}: no such product", i + 1),
            )])));
        };
        let unit = line.unit_price_cents.unwrap_or(found.try_get("price_cents")?);
        // In range: ≤ 10¹² × 10⁶, so the product cannot overflow; the sale's total is checked below.
        limits::SALE_TOTAL.check(unit.saturating_mul(line.quantity)).map_err(|m| {
            ApiError::invalid("lines", format!("line {}: the line's total (unit price × quantity) {m}", i + 1))
        })?;
        let rate = rate_for(get_opt_uuid(&found, "tax_rate_id")?, taxes.default_rate, &rates);
        priced.push(Priced {
            product_id: line.product_id,
            quantity: line.quantity,
            unit_price_cents: unit,
            discount: line.discount,
            tax: rate.map(|r| (r.name.clone(), r.rate_bp)),
        });
    }
    // Each line's gross is at most 10¹² and there are at most 500: no sum below can overflow.
    let (lines, figures) = sale_lines(&priced, sale.discount, taxes.prices_include_tax).map_err(|e| match e {
        TotalsError::Line(n) => {
            ApiError::invalid("lines", format!("line {n}: the discount is larger than the line's price × quantity"))
        }
        TotalsError::Ticket => {
            ApiError::invalid("discount", "is larger than what the lines cost after their own discounts")
        }
    })?;
    let discounted = sale.discount.is_some() || sale.lines.iter().any(|l| l.discount.is_some());
    if discounted && sale.discount_reason.trim().is_empty() {
        return Err(ApiError::invalid("discount_reason", "is required when a discount is given"));
    }
    if !seller.may_exceed_discount_limit {
        let ins: Vec<LineIn> = priced
            .iter()
            .map(|p| LineIn { gross: p.unit_price_cents * p.quantity, discount: p.discount, rate_bp: 0 })
            .collect();
        if let Some(why) = above_limit(&ins, &figures, taxes.cashier_max_discount_bp) {
            return Err(ApiError::ForbiddenBecause { code: "discount_above_limit", message: why });
        }
    }
    // Summed in i128 (500 lines of 10¹² cannot overflow it), then held to the documented range.
    let sum = |amounts: &mut dyn Iterator<Item = i64>| amounts.map(i128::from).sum::<i128>();
    let in_range = |field: &'static str, what: &str, v: i128| {
        i64::try_from(v).ok().filter(|v| limits::SALE_TOTAL.contains(*v)).ok_or_else(|| {
            ApiError::invalid(field, format!("{what} ({v}) must be at most {} cents", limits::MONEY_MAX))
        })
    };
    let total = in_range("lines", "the sale's total", i128::from(figures.total))?;
    let paid = in_range("payments", "the payments' sum", sum(&mut sale.payments.iter().map(|p| p.amount_cents)))?;
    let cash = in_range(
        "payments",
        "the cash paid",
        sum(&mut sale.payments.iter().filter(|p| p.method == PaymentMethod::Cash).map(|p| p.amount_cents)),
    )?;
    if paid < total {
        return Err(ApiError::Validation(FieldErrors::from([(
            "payments",
            format!("payments ({paid}) do not cover the total ({total})"),
        )])));
    }
    let change = paid - total;
    if change > cash {
        return Err(ApiError::invalid("payments", "only cash can be overpaid (change is given in cash)"));
    }
    // Stock, per product, in a fixed order so concurrent sales lock rows in the same order.
    let mut per_product: BTreeMap<Uuid, i64> = BTreeMap::new();
    for l in &lines {
        *per_product.entry(l.product_id).or_default() += l.quantity;
    }
    for (product, quantity) in &per_product {
        apply_stock(&mut *conn, *product, -quantity, allow_negative_stock, "lines", "lines").await?;
        if let Some(tx) = tx {
            tx.changed("products", product);
        }
    }
    if let Some(no) = &sale.receipt_no {
        crate::registers::claim(&mut *conn, no, "sale", sale.id).await?;
    }
    let created_at = now();
    sqlx::query(
        "INSERT INTO sales (id, cash_session_id, customer_id, total_cents, paid_cents, change_cents, created_by, created_at, \
         request_hash, after_close, subtotal_cents, discount_cents, discount_kind, discount_value, discount_reason, \
         net_cents, tax_cents, prices_include_tax, receipt_no) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
    )
    .bind(sale.id.to_string())
    .bind(sale.cash_session_id.to_string())
    .bind(sale.customer_id.map(|c| c.to_string()))
    .bind(total)
    .bind(paid)
    .bind(change)
    .bind(seller.username)
    .bind(&created_at)
    .bind(request_hash)
    .bind(after_close)
    .bind(figures.subtotal)
    .bind(figures.discount)
    .bind(discount_columns(sale.discount).0)
    .bind(discount_columns(sale.discount).1)
    .bind(if discounted { sale.discount_reason.trim() } else { "" })
    .bind(figures.net)
    .bind(figures.tax)
    .bind(taxes.prices_include_tax)
    .bind(sale.receipt_no.as_deref())
    .execute(&mut *conn)
    .await?;
    for (i, l) in lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO sale_lines (sale_id, line_no, product_id, quantity, unit_price_cents, total_cents, discount_kind, \
             discount_value, discount_cents, ticket_discount_cents, tax_name, tax_rate_bp, net_cents, tax_cents) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(sale.id.to_string())
        .bind(i as i64 + 1)
        .bind(l.product_id.to_string())
        .bind(l.quantity)
        .bind(l.unit_price_cents)
        .bind(l.total_cents)
        .bind(discount_columns(l.discount).0)
        .bind(discount_columns(l.discount).1)
        .bind(l.discount_cents)
        .bind(l.ticket_discount_cents)
        .bind(&l.tax_name)
        .bind(l.tax_rate_bp)
        .bind(l.net_cents)
        .bind(l.tax_cents)
        .execute(&mut *conn)
        .await?;
    }
    for (i, p) in sale.payments.iter().enumerate() {
        sqlx::query("INSERT INTO sale_payments (sale_id, line_no, method, amount_cents) VALUES ($1, $2, $3, $4)")
            .bind(sale.id.to_string())
            .bind(i as i64 + 1)
            .bind(p.method.as_str())
            .bind(p.amount_cents)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(tx) = tx {
        tx.changed("cash_sessions", sale.cash_session_id);
    }
    Ok(Sale {
        id: sale.id,
        cash_session_id: sale.cash_session_id,
        customer_id: sale.customer_id,
        taxes: taxes_of(&lines),
        lines,
        payments: sale.payments.clone(),
        total_cents: total,
        subtotal_cents: figures.subtotal,
        discount_cents: figures.discount,
        discount: sale.discount,
        discount_reason: if discounted { sale.discount_reason.trim().to_owned() } else { String::new() },
        net_cents: figures.net,
        tax_cents: figures.tax,
        prices_include_tax: taxes.prices_include_tax,
        paid_cents: paid,
        change_cents: change,
        created_by: seller.username.to_owned(),
        created_at,
        after_close,
        refunded_cents: 0,
        voided_at: None,
        voided_by: None,
        void_reason: String::new(),
        receipt_no: sale.receipt_no.clone(),
    })
}

/// A sale: lines, payments and the stock they take, in one transaction.
#[utoipa::path(post, path = "/api/sales", tag = "sales", request_body = NewSale,
    responses((status = 201, body = Sale), (status = 200, body = Sale, description = "the same request again"),
              (status = 409, body = app::model::ErrorEnvelope), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn create(
    CurrentUser(user): CurrentUser,
    State(state): State<AppState>,
    tx: WriteTx,
    sent: by_id::Sent,
) -> Result<Response, ApiError> {
    validate_json(&sent.raw)?;
    let sale: NewSale = sent.parse()?;
    crate::permissions::require(&user, crate::permissions::Action::Sell)?;
    if sale.lines.iter().any(|l| l.unit_price_cents.is_some()) {
        crate::permissions::require(&user, crate::permissions::Action::OverridePrice)?;
    }
    let mut conn = tx.lock().await;
    if let by_id::Existing::SameRequest = by_id::check(&mut conn, "sales", sale.id, &sent.hash).await? {
        return Ok(by_id::replayed(load(&mut conn, sale.id).await?.ok_or(ApiError::NotFound)?));
    }
    let seller = Seller::of(&user);
    let recorded = record(&mut conn, Some(&tx), &seller, &sale, &sent.hash, state.config.allow_negative_stock).await?;
    if recorded.after_close {
        let (alerts, sale) = (state.alerts.clone(), recorded.clone());
        tx.after_commit(move || {
            tokio::spawn(async move {
                let message = format!(
                    "{} recorded a sale of {} cents into a till that was already closed; it was accepted and is listed on that till",
                    sale.created_by, sale.total_cents
                );
                let details = serde_json::json!({"sale_id": sale.id, "cash_session_id": sale.cash_session_id,
                    "total_cents": sale.total_cents, "created_by": sale.created_by});
                alerts.raise(crate::alerts::AlertKind::LateSaleAfterClose, message, Some(details)).await;
            });
        });
    }
    Ok((StatusCode::CREATED, Json(recorded)).into_response())
}

#[utoipa::path(get, path = "/api/sales/{id}", tag = "sales", params(("id" = Uuid, Path)),
    responses((status = 200, body = Sale), (status = 404, body = app::model::ErrorEnvelope)))]
pub async fn get_one(
    _: CurrentUser,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<Sale>, ApiError> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(load(&mut conn, id).await?.ok_or(ApiError::NotFound)?))
}

/// `?from=&to=` (days), newest first, with lines and payments.
#[utoipa::path(get, path = "/api/sales", tag = "sales", params(("from" = Option<String>, Query, description = "first day, YYYY-MM-DD"), ("to" = Option<String>, Query, description = "last day, YYYY-MM-DD"), ("limit" = Option<String>, Query, description = "page size, at most 200"), ("offset" = Option<String>, Query, description = "rows to skip")),
    responses((status = 200, body = app::model::Page<Sale>), (status = 422, body = app::model::ErrorEnvelope)))]
pub async fn list(
    _: CurrentUser,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PeriodParams>,
) -> Result<Json<Page<Sale>>, ApiError> {
    let p = params.in_shop_days(&state).await?;
    let mut conn = state.db.pool().acquire().await?;
    let (ids, total) = p.page_ids(&mut conn, "sales").await?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(sale) = load(&mut conn, id).await? {
            items.push(sale);
        }
    }
    Ok(Json(Page { items, total, limit: p.limit, offset: p.offset }))
}
