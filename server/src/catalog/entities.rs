//! The three catalog entities: their fields, rules and rows.

use app::{
    limits,
    model::{Category, Customer, Product, Quote, TaxRate},
};
use sqlx::{any::AnyRow, Row};
use uuid::Uuid;

use crate::db::{get_opt_uuid, get_uuid};

use super::{
    fields::{Body, SqlValue},
    CatalogEntity,
};

const NAME_MAX: usize = 200;
const NOTE_MAX: usize = 2000;

impl CatalogEntity for Category {
    const TABLE: &'static str = "categories";
    const FIELDS: &'static [&'static str] = &["name", "description"];
    const SEARCH: &'static [&'static str] = &["name", "description"];

    fn parse(id: Uuid, b: &mut Body) -> Option<Self> {
        let name = b.text("name", NAME_MAX);
        let description = b.opt_text("description", NOTE_MAX);
        Some(Category {
            id,
            name: name?,
            description: description?,
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
            deleted_at: None,
        })
    }
    fn values(&self) -> Vec<SqlValue> {
        vec![SqlValue::Text(Some(self.name.clone())), SqlValue::Text(self.description.clone())]
    }
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Category {
            id: get_uuid(row, "id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            deleted_at: row.try_get("deleted_at")?,
        })
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

impl CatalogEntity for Product {
    const TABLE: &'static str = "products";
    const FIELDS: &'static [&'static str] = &[
        "sku",
        "name",
        "barcode",
        "category_id",
        "price_cents",
        "cost_cents",
        "low_stock_threshold",
        "active",
        "tax_rate_id",
    ];
    const READ_ONLY: &'static [&'static str] = &["stock"];
    const SEARCH: &'static [&'static str] = &["name", "sku", "barcode"];
    const REFERENCES: &'static [(&'static str, &'static str)] =
        &[("category_id", "categories"), ("tax_rate_id", "tax_rates")];
    const UNIQUE_CONFLICT: Option<(&'static str, &'static str)> = Some(("duplicate_sku", "sku"));

    fn parse(id: Uuid, b: &mut Body) -> Option<Self> {
        let sku = b.text("sku", 64);
        let name = b.text("name", NAME_MAX);
        let barcode = b.opt_text("barcode", 64);
        let category_id = b.opt_uuid("category_id");
        let price_cents = b.in_range("price_cents", limits::PRICE);
        let cost_cents = b.in_range("cost_cents", limits::PRICE);
        let low_stock_threshold = b.opt_in_range("low_stock_threshold", limits::THRESHOLD);
        let active = b.bool_or("active", true);
        let tax_rate_id = b.opt_uuid("tax_rate_id");
        Some(Product {
            id,
            sku: sku?,
            name: name?,
            barcode: barcode?,
            category_id: category_id?,
            price_cents: price_cents?,
            cost_cents: cost_cents?,
            stock: 0,
            low_stock_threshold: low_stock_threshold?,
            active: active?,
            tax_rate_id: tax_rate_id?,
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
            deleted_at: None,
        })
    }
    fn values(&self) -> Vec<SqlValue> {
        vec![
            SqlValue::Text(Some(self.sku.clone())),
            SqlValue::Text(Some(self.name.clone())),
            SqlValue::Text(self.barcode.clone()),
            SqlValue::Text(self.category_id.map(|c| c.to_string())),
            SqlValue::Int(Some(self.price_cents)),
            SqlValue::Int(Some(self.cost_cents)),
            SqlValue::Int(self.low_stock_threshold),
            SqlValue::Bool(self.active),
            SqlValue::Text(self.tax_rate_id.map(|c| c.to_string())),
        ]
    }
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Product {
            id: get_uuid(row, "id")?,
            sku: row.try_get("sku")?,
            name: row.try_get("name")?,
            barcode: row.try_get("barcode")?,
            category_id: get_opt_uuid(row, "category_id")?,
            price_cents: row.try_get("price_cents")?,
            cost_cents: row.try_get("cost_cents")?,
            stock: row.try_get("stock")?,
            low_stock_threshold: row.try_get("low_stock_threshold")?,
            active: crate::db::get_bool(row, "active")?,
            tax_rate_id: get_opt_uuid(row, "tax_rate_id")?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            deleted_at: row.try_get("deleted_at")?,
        })
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

impl CatalogEntity for TaxRate {
    const TABLE: &'static str = "tax_rates";
    const PATH: &'static str = "tax-rates";
    const FIELDS: &'static [&'static str] = &["name", "rate_bp", "active"];
    const SEARCH: &'static [&'static str] = &["name"];

    fn parse(id: Uuid, b: &mut Body) -> Option<Self> {
        let name = b.text("name", 60);
        let rate_bp = b.in_range("rate_bp", limits::RATE_BP);
        let active = b.bool_or("active", true);
        Some(TaxRate {
            id,
            name: name?,
            rate_bp: rate_bp?,
            active: active?,
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
            deleted_at: None,
        })
    }
    fn values(&self) -> Vec<SqlValue> {
        vec![SqlValue::Text(Some(self.name.clone())), SqlValue::Int(Some(self.rate_bp)), SqlValue::Bool(self.active)]
    }
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(TaxRate {
            id: get_uuid(row, "id")?,
            name: row.try_get("name")?,
            rate_bp: row.try_get("rate_bp")?,
            active: crate::db::get_bool(row, "active")?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            deleted_at: row.try_get("deleted_at")?,
        })
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

impl CatalogEntity for Customer {
    const TABLE: &'static str = "customers";
    const FIELDS: &'static [&'static str] = &["name", "tax_id", "email", "phone", "notes"];
    const SEARCH: &'static [&'static str] = &["name", "tax_id", "email", "phone"];

    fn parse(id: Uuid, b: &mut Body) -> Option<Self> {
        let name = b.text("name", NAME_MAX);
        let tax_id = b.opt_text("tax_id", 32);
        let email = b.opt_text("email", 254);
        let phone = b.opt_text("phone", 32);
        let notes = b.opt_text("notes", NOTE_MAX);
        if let Some(Some(e)) = &email {
            if !e.contains('@') || e.starts_with('@') || e.ends_with('@') {
                b.errors.insert("email", "is not an email address".into());
            }
        }
        Some(Customer {
            id,
            name: name?,
            tax_id: tax_id?,
            email: email?,
            phone: phone?,
            notes: notes?,
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
            deleted_at: None,
        })
    }
    fn values(&self) -> Vec<SqlValue> {
        vec![
            SqlValue::Text(Some(self.name.clone())),
            SqlValue::Text(self.tax_id.clone()),
            SqlValue::Text(self.email.clone()),
            SqlValue::Text(self.phone.clone()),
            SqlValue::Text(self.notes.clone()),
        ]
    }
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Customer {
            id: get_uuid(row, "id")?,
            name: row.try_get("name")?,
            tax_id: row.try_get("tax_id")?,
            email: row.try_get("email")?,
            phone: row.try_get("phone")?,
            notes: row.try_get("notes")?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            deleted_at: row.try_get("deleted_at")?,
        })
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

impl CatalogEntity for Quote {
    const TABLE: &'static str = "quotes";
    const FIELDS: &'static [&'static str] = &["customer_id", "lines", "notes", "valid_until"];
    const READ_ONLY: &'static [&'static str] = &["status", "sale_id"];
    const SEARCH: &'static [&'static str] = &["notes"];
    const ORDER_BY: &'static str = "created_at DESC";
    const REFERENCES: &'static [(&'static str, &'static str)] = &[("customer_id", "customers")];

    fn parse(id: Uuid, b: &mut Body) -> Option<Self> {
        let customer_id = b.opt_uuid("customer_id");
        let lines = b.quote_lines("lines");
        let notes = b.opt_text("notes", NOTE_MAX);
        let valid_until = b.opt_date("valid_until");
        Some(Quote {
            id,
            customer_id: customer_id?,
            lines: lines?,
            notes: notes?,
            valid_until: valid_until?,
            status: "open".into(),
            sale_id: None,
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
            deleted_at: None,
        })
    }
    fn values(&self) -> Vec<SqlValue> {
        vec![
            SqlValue::Text(self.customer_id.map(|c| c.to_string())),
            SqlValue::Text(Some(serde_json::to_string(&self.lines).unwrap_or_else(|_| "[]".into()))),
            SqlValue::Text(self.notes.clone()),
            SqlValue::Text(self.valid_until.clone()),
        ]
    }
    fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        let lines: String = row.try_get("lines")?;
        Ok(Quote {
            id: get_uuid(row, "id")?,
            customer_id: get_opt_uuid(row, "customer_id")?,
            lines: serde_json::from_str(&lines).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            notes: row.try_get("notes")?,
            valid_until: row.try_get("valid_until")?,
            status: row.try_get("status")?,
            sale_id: get_opt_uuid(row, "sale_id")?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            deleted_at: row.try_get("deleted_at")?,
        })
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}
