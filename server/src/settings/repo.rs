//! The one row of `shop_settings`.

use app::model::ShopSettings;
use sqlx::{AnyConnection, Row};

use super::domain::Settings;
use crate::db::now;

const COLUMNS: &str = "name, address, tax_id, phone, receipt_header, receipt_footer, version, updated_at";

pub async fn load(conn: &mut AnyConnection) -> Result<ShopSettings, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM shop_settings WHERE id = 'shop'")).fetch_one(conn).await?;
    Ok(ShopSettings {
        name: row.try_get("name")?,
        address: row.try_get("address")?,
        tax_id: row.try_get("tax_id")?,
        phone: row.try_get("phone")?,
        receipt_header: row.try_get("receipt_header")?,
        receipt_footer: row.try_get("receipt_footer")?,
        version: row.try_get("version")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Writes `s` over version `base`. None when the row is no longer at that version (a concurrent
/// edit committed first): nothing is written.
pub async fn save(conn: &mut AnyConnection, s: &Settings, base: i64) -> Result<Option<ShopSettings>, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE shop_settings SET name = $1, address = $2, tax_id = $3, phone = $4, receipt_header = $5, \
         receipt_footer = $6, version = version + 1, updated_at = $7 WHERE id = 'shop' AND version = $8",
    )
    .bind(&s.0.name)
    .bind(&s.0.address)
    .bind(&s.0.tax_id)
    .bind(&s.0.phone)
    .bind(&s.0.receipt_header)
    .bind(&s.0.receipt_footer)
    .bind(now())
    .bind(base)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(None);
    }
    load(conn).await.map(Some)
}
