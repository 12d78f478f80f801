//! `GET /api/export/{entity}?from=YYYY-MM-DD&to=YYYY-MM-DD&format=csv|xlsx` for the owner (admins).
//!
//! Days are the shop's local days (its settings' time zone): `from`/`to` become `[local midnight of from, local
//! midnight after to)` in UTC, the stored format. Times in the file are local too. Money is written
//! as decimal units of the shop's currency (`12.50`), not minor units. CSV is streamed row by row (with a UTF-8 BOM so spreadsheet
//! programs read accents right); XLSX is built in memory (at most 1,048,575 rows, the format's limit).
//! Text cells that a spreadsheet would run as a formula (starting with = + - @, tab or CR) are
//! prefixed with `'`.

use axum::{
    body::Body,
    extract::{Path, State},
    http::{header, HeaderValue},
    response::Response,
    routing::get,
    Router,
};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use sqlx::{any::AnyRow, Row};

use crate::{
    auth::AdminUser,
    http::{error::ApiError, extract::ApiQuery, AppState},
};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/export/{entity}", get(export))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Int,
    Cents,
    Bool,
    /// A stored UTC timestamp, written in local time.
    Time,
}

struct Entity {
    name: &'static str,
    from: &'static str,
    /// Column the period applies to, and whether it holds days (YYYY-MM-DD) rather than timestamps.
    period: (&'static str, bool),
    order: &'static str,
    columns: &'static [(&'static str, &'static str, Kind)],
}

use Kind::*;

const ENTITIES: &[Entity] = &[
    Entity {
        name: "sales",
        from: "sales s",
        period: ("s.created_at", false),
        order: "s.created_at, s.id",
        columns: &[
            ("id", "s.id", Text),
            ("created_at", "s.created_at", Time),
            ("cash_session_id", "s.cash_session_id", Text),
            ("customer_id", "s.customer_id", Text),
            ("customer", "(SELECT c.name FROM customers c WHERE c.id = s.customer_id)", Text),
            ("subtotal", "s.subtotal_cents", Cents),
            ("discount", "s.discount_cents", Cents),
            ("discount_reason", "s.discount_reason", Text),
            ("net", "s.net_cents", Cents),
            ("tax", "s.tax_cents", Cents),
            ("total", "s.total_cents", Cents),
            ("paid", "s.paid_cents", Cents),
            ("change", "s.change_cents", Cents),
            ("created_by", "s.created_by", Text),
            ("receipt_no", "s.receipt_no", Text),
            ("refunded", "s.refunded_cents", Cents),
            ("voided_at", "s.voided_at", Time),
            ("void_reason", "s.void_reason", Text),
        ],
    },
    Entity {
        name: "refunds",
        from: "refunds r",
        period: ("r.created_at", false),
        order: "r.created_at, r.id",
        columns: &[
            ("id", "r.id", Text),
            ("created_at", "r.created_at", Time),
            ("sale_id", "r.sale_id", Text),
            ("cash_session_id", "r.cash_session_id", Text),
            ("receipt_no", "r.receipt_no", Text),
            ("method", "r.method", Text),
            ("reason", "r.reason", Text),
            ("net", "r.net_cents", Cents),
            ("tax", "r.tax_cents", Cents),
            ("total", "r.total_cents", Cents),
            ("created_by", "r.created_by", Text),
        ],
    },
    Entity {
        name: "sale_lines",
        from: "sale_lines l JOIN sales s ON s.id = l.sale_id LEFT JOIN products p ON p.id = l.product_id",
        period: ("s.created_at", false),
        order: "s.created_at, l.sale_id, l.line_no",
        columns: &[
            ("sale_id", "l.sale_id", Text),
            ("created_at", "s.created_at", Time),
            ("line_no", "l.line_no", Int),
            ("product_id", "l.product_id", Text),
            ("sku", "p.sku", Text),
            ("product", "p.name", Text),
            ("quantity", "l.quantity", Int),
            ("unit_price", "l.unit_price_cents", Cents),
            ("discount", "l.discount_cents", Cents),
            ("ticket_discount", "l.ticket_discount_cents", Cents),
            ("tax_name", "l.tax_name", Text),
            ("tax_rate_bp", "l.tax_rate_bp", Int),
            ("net", "l.net_cents", Cents),
            ("tax", "l.tax_cents", Cents),
            ("total", "l.total_cents", Cents),
        ],
    },
    Entity {
        name: "products",
        from: "products p LEFT JOIN categories c ON c.id = p.category_id",
        period: ("p.created_at", false),
        order: "p.created_at, p.id",
        columns: &[
            ("id", "p.id", Text),
            ("sku", "p.sku", Text),
            ("name", "p.name", Text),
            ("barcode", "p.barcode", Text),
            ("category", "c.name", Text),
            ("price", "p.price_cents", Cents),
            ("cost", "p.cost_cents", Cents),
            ("stock", "p.stock", Int),
            ("low_stock_threshold", "p.low_stock_threshold", Int),
            ("active", "p.active", Bool),
            ("version", "p.version", Int),
            ("created_at", "p.created_at", Time),
            ("updated_at", "p.updated_at", Time),
            ("deleted_at", "p.deleted_at", Time),
        ],
    },
    Entity {
        name: "customers",
        from: "customers c",
        period: ("c.created_at", false),
        order: "c.created_at, c.id",
        columns: &[
            ("id", "c.id", Text),
            ("name", "c.name", Text),
            ("tax_id", "c.tax_id", Text),
            ("email", "c.email", Text),
            ("phone", "c.phone", Text),
            ("notes", "c.notes", Text),
            ("version", "c.version", Int),
            ("created_at", "c.created_at", Time),
            ("updated_at", "c.updated_at", Time),
            ("deleted_at", "c.deleted_at", Time),
        ],
    },
    Entity {
        name: "expenses",
        from: "expenses e",
        period: ("e.spent_on", true),
        order: "e.spent_on, e.created_at, e.id",
        columns: &[
            ("id", "e.id", Text),
            ("spent_on", "e.spent_on", Text),
            ("category", "e.category", Text),
            ("amount", "e.amount_cents", Cents),
            ("description", "e.description", Text),
            ("cash_session_id", "e.cash_session_id", Text),
            ("created_by", "e.created_by", Text),
            ("created_at", "e.created_at", Time),
        ],
    },
    Entity {
        name: "cash_movements",
        from: "cash_movements m",
        period: ("m.created_at", false),
        order: "m.created_at, m.id",
        columns: &[
            ("id", "m.id", Text),
            ("created_at", "m.created_at", Time),
            ("cash_session_id", "m.cash_session_id", Text),
            ("kind", "m.kind", Text),
            ("amount", "m.amount_cents", Cents),
            ("reason", "m.reason", Text),
            ("created_by", "m.created_by", Text),
        ],
    },
    Entity {
        name: "inventory_movements",
        from: "inventory_movements m LEFT JOIN products p ON p.id = m.product_id",
        period: ("m.created_at", false),
        order: "m.created_at, m.id",
        columns: &[
            ("id", "m.id", Text),
            ("created_at", "m.created_at", Time),
            ("product_id", "m.product_id", Text),
            ("sku", "p.sku", Text),
            ("product", "p.name", Text),
            ("delta", "m.delta", Int),
            ("reason", "m.reason", Text),
            ("note", "m.note", Text),
            ("created_by", "m.created_by", Text),
        ],
    },
];

#[derive(Debug, Deserialize)]
pub struct ExportParams {
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

const XLSX_MAX_ROWS: usize = 1_048_575;

/// A value as read from a row.
enum Cell {
    Empty,
    Text(String),
    Int(i64),
    /// An amount and its currency's minor-unit digits.
    Money(i64, u8),
}

/// Escapes a text cell that a spreadsheet would otherwise evaluate as a formula.
pub fn escape_formula(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// An amount in minor units as a decimal in the currency's units: `12.50`, `1500` (0 digits), `1.250` (3).
fn money(amount: i64, minor_units: u8) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let scale = 10u64.pow(u32::from(minor_units));
    let abs = amount.unsigned_abs();
    match minor_units {
        0 => format!("{sign}{abs}"),
        d => format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = usize::from(d)),
    }
}

fn local_time(tz: chrono_tz::Tz, stored: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(stored)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| stored.to_owned())
}

fn read(row: &AnyRow, i: usize, kind: Kind, (tz, minor_units): (chrono_tz::Tz, u8)) -> Result<Cell, sqlx::Error> {
    Ok(match kind {
        Text => row.try_get::<Option<String>, _>(i)?.map_or(Cell::Empty, Cell::Text),
        Time => row.try_get::<Option<String>, _>(i)?.map_or(Cell::Empty, |s| Cell::Text(local_time(tz, &s))),
        Int => row.try_get::<Option<i64>, _>(i)?.map_or(Cell::Empty, Cell::Int),
        Cents => row.try_get::<Option<i64>, _>(i)?.map_or(Cell::Empty, |a| Cell::Money(a, minor_units)),
        Bool => {
            let v = row
                .try_get::<Option<bool>, _>(i)
                .or_else(|_| row.try_get::<Option<i64>, _>(i).map(|o| o.map(|n| n != 0)))?;
            v.map_or(Cell::Empty, |b| Cell::Text(if b { "true" } else { "false" }.into()))
        }
    })
}

/// The bounds `[lower, upper)` for the period column (the shop's days, as every list reads them), and
/// the file name's date part.
fn bounds(params: &ExportParams, tz: chrono_tz::Tz, days: bool) -> Result<(String, String, String), ApiError> {
    let period = crate::period::PeriodParams { from: params.from.clone(), to: params.to.clone(), ..Default::default() }
        .parse(tz)?;
    let (lower, upper) = if days { period.days() } else { period.timestamps() };
    let day = |d: &Option<String>| d.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let label = match (day(&params.from), day(&params.to)) {
        (Some(f), Some(t)) => format!("-{f}_{t}"),
        (Some(f), None) => format!("-from-{f}"),
        (None, Some(t)) => format!("-to-{t}"),
        (None, None) => String::new(),
    };
    Ok((lower.to_owned(), upper.to_owned(), label))
}

/// One entity's rows in a period, as CSV (streamed) or XLSX.
#[utoipa::path(get, path = "/api/export/{entity}", tag = "export",
    params(("entity" = String, Path, description = "sales, sale_lines, refunds, products, customers, expenses, cash_movements, inventory_movements"),
           ("from" = Option<String>, Query, description = "first local day, YYYY-MM-DD"),
           ("to" = Option<String>, Query, description = "last local day, YYYY-MM-DD"),
           ("format" = Option<String>, Query, description = "csv (default) or xlsx")),
    responses((status = 200, description = "text/csv or an .xlsx file, as an attachment"), (status = 404), (status = 422)))]
pub async fn export(
    _: AdminUser,
    State(state): State<AppState>,
    Path(entity): Path<String>,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let entity = ENTITIES.iter().find(|e| e.name == entity).ok_or(ApiError::NotFound)?;
    let xlsx = match params.format.as_deref().unwrap_or("csv") {
        "csv" | "" => false,
        "xlsx" => true,
        _ => return Err(ApiError::invalid("format", "must be csv or xlsx")),
    };
    let (tz, minor_units) = {
        let mut conn = state.db.pool().acquire().await?;
        let shop = crate::settings::load(&mut conn, state.backups.tz).await?;
        (shop.time_zone.parse::<chrono_tz::Tz>().ok().unwrap_or(state.backups.tz), shop.minor_units)
    };
    let (lower, upper, label) = bounds(&params, tz, entity.period.1)?;
    let exprs = entity.columns.iter().map(|(_, e, _)| *e).collect::<Vec<_>>().join(", ");
    let (column, _) = entity.period;
    let sql =
        format!("SELECT {exprs} FROM {} WHERE {column} >= $1 AND {column} < $2 ORDER BY {}", entity.from, entity.order);
    let file = format!("mostrador-{}{label}.{}", entity.name.replace('_', "-"), if xlsx { "xlsx" } else { "csv" });
    let pool = state.db.pool().clone();
    let kinds: Vec<Kind> = entity.columns.iter().map(|(_, _, k)| *k).collect();
    let headers: Vec<&'static str> = entity.columns.iter().map(|(h, _, _)| *h).collect();

    let body = if xlsx {
        let rows = sqlx::query(&sql).bind(&lower).bind(&upper).fetch_all(&pool).await?;
        if rows.len() > XLSX_MAX_ROWS {
            return Err(ApiError::Unprocessable {
                code: "too_many_rows",
                message: format!(
                    "{} rows do not fit in one spreadsheet; export a shorter period or as CSV",
                    rows.len()
                ),
                details: None,
            });
        }
        let mut cells = Vec::with_capacity(rows.len());
        for row in &rows {
            cells.push(
                kinds
                    .iter()
                    .enumerate()
                    .map(|(i, k)| read(row, i, *k, (tz, minor_units)))
                    .collect::<Result<Vec<_>, _>>()?,
            );
        }
        let bytes = tokio::task::spawn_blocking(move || xlsx_bytes(&headers, &cells))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|e| ApiError::Internal(format!("xlsx: {e}")))?;
        Body::from(bytes)
    } else {
        // Rows go out as they are read; a database error mid-way ends the stream with an error, so
        // the client sees a broken download rather than a silently short file.
        let (mut tx, rx) = futures::channel::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(8);
        // A client that stops reading is cut off after --stall-timeout: the query (and its pooled
        // connection) must not wait on it forever.
        let stall = state.backups.config.stall_timeout();
        tokio::spawn(async move {
            let mut out = csv::Writer::from_writer(Vec::with_capacity(64 * 1024));
            let mut buf_start = "\u{feff}".as_bytes().to_vec();
            let _ = out.write_record(&headers);
            let mut rows = sqlx::query(&sql).bind(&lower).bind(&upper).fetch(&pool);
            while let Some(row) = rows.next().await {
                let record = row.and_then(|row| {
                    kinds
                        .iter()
                        .enumerate()
                        .map(|(i, k)| read(&row, i, *k, (tz, minor_units)).map(csv_text))
                        .collect::<Result<Vec<String>, _>>()
                });
                match record {
                    Ok(r) => {
                        let _ = out.write_record(&r);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "export failed mid-way");
                        let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                        return;
                    }
                }
                if out.get_ref().len() >= 64 * 1024 {
                    let _ = out.flush();
                    let mut chunk = std::mem::take(&mut buf_start);
                    chunk.extend_from_slice(out.get_ref());
                    out = csv::Writer::from_writer(Vec::with_capacity(64 * 1024));
                    if !matches!(tokio::time::timeout(stall, tx.send(Ok(chunk.into()))).await, Ok(Ok(()))) {
                        tracing::warn!("export cut off: the client went away or stopped reading");
                        return;
                    }
                }
            }
            let _ = out.flush();
            let mut chunk = std::mem::take(&mut buf_start);
            chunk.extend_from_slice(out.get_ref());
            let _ = tx.send(Ok(chunk.into())).await;
        });
        Body::from_stream(rx)
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if xlsx {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        } else {
            "text/csv; charset=utf-8"
        }),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{file}\""))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(r)
}

fn csv_text(cell: Cell) -> String {
    match cell {
        Cell::Empty => String::new(),
        Cell::Text(s) => escape_formula(&s).into_owned(),
        Cell::Int(n) => n.to_string(),
        Cell::Money(a, digits) => money(a, digits),
    }
}

fn xlsx_bytes(headers: &[&str], rows: &[Vec<Cell>]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let money_formats: Vec<_> =
        ["0", "0.0", "0.00", "0.000", "0.0000"].map(|f| rust_xlsxwriter::Format::new().set_num_format(f)).into();
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            let c = c as u16;
            match cell {
                Cell::Empty => {}
                Cell::Text(s) => {
                    sheet.write_string(r, c, escape_formula(s).as_ref())?;
                }
                Cell::Int(n) => {
                    sheet.write_number(r, c, *n as f64)?;
                }
                Cell::Money(amount, digits) => {
                    let digits = usize::from(*digits).min(money_formats.len() - 1);
                    let value = *amount as f64 / 10f64.powi(digits as i32);
                    sheet.write_number_with_format(r, c, value, &money_formats[digits])?;
                }
            }
        }
    }
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_escaped_and_money_is_decimal() {
        assert_eq!(escape_formula("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        for s in ["+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(escape_formula(s).starts_with('\''), "{s:?}");
        }
        assert_eq!(escape_formula("Doña Rosa"), "Doña Rosa");
        assert_eq!(money(1250, 2), "12.50");
        assert_eq!(money(-5, 2), "-0.05");
        assert_eq!(money(0, 2), "0.00");
        assert_eq!(money(1500, 0), "1500", "Chilean pesos have no decimals");
        assert_eq!(money(-1250, 3), "-1.250", "Kuwaiti dinars have three");
    }

    #[test]
    fn local_days_become_utc_bounds() {
        let tz: chrono_tz::Tz = "America/Argentina/Buenos_Aires".parse().unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        assert_eq!(crate::period::start_of_day(tz, day), "2026-11-22T03:00:00.000Z");
        assert_eq!(crate::db::now().len(), "2026-11-22T03:00:00.000Z".len());
    }
}
