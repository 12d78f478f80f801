//! The one row of `shop_settings`.

use app::model::ShopSettings;
use sqlx::{AnyConnection, Row};

use super::domain::{currency, Settings};
use crate::db::now;

const COLUMNS: &str =
    "name, address, tax_id, phone, receipt_header, receipt_footer, currency, locale, time_zone, logo, \
     prices_include_tax, default_tax_rate_id, cashier_max_discount_bp, version, updated_at";

/// The settings, with the currency's symbol and minor unit filled in, and `default_zone` (the
/// server's `--timezone`) as the time zone while no admin has chosen one.
pub async fn load(conn: &mut AnyConnection, default_zone: chrono_tz::Tz) -> Result<ShopSettings, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM shop_settings WHERE id = 'shop'")).fetch_one(conn).await?;
    let code: String = row.try_get("currency")?;
    // Stored only after `Settings::parse` accepted it; a hand-edited row still reads as cents.
    let (currency_symbol, minor_units) = currency(&code).unwrap_or_else(|| (code.clone(), 2));
    let time_zone: String = row.try_get("time_zone")?;
    Ok(ShopSettings {
        name: row.try_get("name")?,
        address: row.try_get("address")?,
        tax_id: row.try_get("tax_id")?,
        phone: row.try_get("phone")?,
        receipt_header: row.try_get("receipt_header")?,
        receipt_footer: row.try_get("receipt_footer")?,
        currency: code,
        currency_symbol,
        minor_units,
        locale: row.try_get("locale")?,
        time_zone: if time_zone.is_empty() { default_zone.name().to_owned() } else { time_zone },
        logo: row.try_get("logo")?,
        prices_include_tax: crate::db::get_bool(&row, "prices_include_tax")?,
        default_tax_rate_id: crate::db::get_opt_uuid(&row, "default_tax_rate_id")?,
        cashier_max_discount_bp: row.try_get("cashier_max_discount_bp")?,
        version: row.try_get("version")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// How a sale is taxed and how far a cashier may discount it.
pub struct TaxSettings {
    pub prices_include_tax: bool,
    pub default_rate: Option<uuid::Uuid>,
    pub cashier_max_discount_bp: i64,
}

pub async fn tax_settings(conn: &mut AnyConnection) -> Result<TaxSettings, sqlx::Error> {
    let row = sqlx::query(
        "SELECT prices_include_tax, default_tax_rate_id, cashier_max_discount_bp FROM shop_settings WHERE id = 'shop'",
    )
    .fetch_one(conn)
    .await?;
    Ok(TaxSettings {
        prices_include_tax: crate::db::get_bool(&row, "prices_include_tax")?,
        default_rate: crate::db::get_opt_uuid(&row, "default_tax_rate_id")?,
        cashier_max_discount_bp: row.try_get("cashier_max_discount_bp")?,
    })
}

/// Sets the tax mode, the default rate and the cashier's discount limit over version `base`; None
/// when the row is no longer at that version.
pub async fn save_taxes(
    conn: &mut AnyConnection,
    t: &app::wire::TaxSettingsUpdate,
    default_zone: chrono_tz::Tz,
) -> Result<Option<ShopSettings>, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE shop_settings SET prices_include_tax = $1, default_tax_rate_id = $2, cashier_max_discount_bp = $3, \
         version = version + 1, updated_at = $4 WHERE id = 'shop' AND version = $5",
    )
    .bind(t.prices_include_tax)
    .bind(t.default_tax_rate_id.map(|id| id.to_string()))
    .bind(t.cashier_max_discount_bp)
    .bind(now())
    .bind(t.version)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(None);
    }
    load(conn, default_zone).await.map(Some)
}

/// The shop's time zone: the one chosen in the settings, else `default_zone`.
pub async fn zone(conn: &mut AnyConnection, default_zone: chrono_tz::Tz) -> Result<chrono_tz::Tz, sqlx::Error> {
    let name: String =
        sqlx::query_scalar("SELECT time_zone FROM shop_settings WHERE id = 'shop'").fetch_one(conn).await?;
    Ok(super::domain::zone(&name).unwrap_or(default_zone))
}

/// Does any stored amount exist (whose meaning a new minor unit would change)?
pub async fn has_amounts(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    let tables = ["products", "sales", "cash_sessions", "expenses", "quotes"];
    let any = tables.map(|t| format!("EXISTS (SELECT 1 FROM {t})")).join(" OR ");
    let found: i64 = sqlx::query_scalar(&format!("SELECT CASE WHEN {any} THEN 1 ELSE 0 END")).fetch_one(conn).await?;
    Ok(found == 1)
}

/// Writes `s` over version `base`. None when the row is no longer at that version (a concurrent
/// edit committed first): nothing is written.
pub async fn save(
    conn: &mut AnyConnection,
    s: &Settings,
    base: i64,
    default_zone: chrono_tz::Tz,
) -> Result<Option<ShopSettings>, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE shop_settings SET name = $1, address = $2, tax_id = $3, phone = $4, receipt_header = $5, \
         receipt_footer = $6, currency = $7, locale = $8, time_zone = $9, version = version + 1, updated_at = $10 \
         WHERE id = 'shop' AND version = $11",
    )
    .bind(&s.0.name)
    .bind(&s.0.address)
    .bind(&s.0.tax_id)
    .bind(&s.0.phone)
    .bind(&s.0.receipt_header)
    .bind(&s.0.receipt_footer)
    .bind(&s.0.currency)
    .bind(&s.0.locale)
    .bind(&s.0.time_zone)
    .bind(now())
    .bind(base)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(None);
    }
    load(conn, default_zone).await.map(Some)
}

/// Sets the logo (`""`: none) over version `base`; None when the row is no longer at that version.
pub async fn save_logo(
    conn: &mut AnyConnection,
    logo: &str,
    base: i64,
    default_zone: chrono_tz::Tz,
) -> Result<Option<ShopSettings>, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE shop_settings SET logo = $1, version = version + 1, updated_at = $2 WHERE id = 'shop' AND version = $3",
    )
    .bind(logo)
    .bind(now())
    .bind(base)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(None);
    }
    load(conn, default_zone).await.map(Some)
}
