//! What the catalog edit forms know about each entity: its fields, how a JSON value becomes the text in an
//! input and back, and which fields a PATCH must carry. Plain functions over `serde_json::Value`, so one
//! form component serves products, categories and customers and the rules are unit-tested natively.

use serde_json::{Map, Value};

use crate::i18n::{Key, Lang};
use crate::money;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Required single-line text.
    Text,
    /// Optional single-line text: empty input is JSON `null`.
    OptText,
    /// Optional multi-line text.
    LongText,
    /// Required amount in cents, edited as "12,50".
    Money,
    /// Optional whole number ≥ 0.
    OptCount,
    /// A checkbox.
    Flag,
    /// Optional id of a row of the named table, chosen from a list (`categories`, `tax_rates`).
    Ref(&'static str),
    /// A percentage edited as "21" or "10,5", kept in basis points (2100, 1050).
    Percent,
}

#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The JSON key in the API.
    pub key: &'static str,
    /// The `name` attribute of the input (tests and password managers rely on it).
    pub input: &'static str,
    pub label: Key,
    pub kind: Kind,
    pub help: Option<Key>,
    pub autocomplete: &'static str,
    pub input_mode: &'static str,
}

impl Field {
    const fn new(key: &'static str, input: &'static str, label: Key, kind: Kind) -> Field {
        Field { key, input, label, kind, help: None, autocomplete: "off", input_mode: "text" }
    }
    const fn help(mut self, help: Key) -> Field {
        self.help = Some(help);
        self
    }
    const fn autocomplete(mut self, a: &'static str) -> Field {
        self.autocomplete = a;
        self
    }
    const fn mode(mut self, m: &'static str) -> Field {
        self.input_mode = m;
        self
    }
}

pub struct EntityDef {
    /// Both the API collection (`/api/products`) and the page route (`/products`).
    pub path: &'static str,
    pub title: Key,
    pub new_title: Key,
    pub edit_title: Key,
    pub search_hint: Key,
    pub fields: &'static [Field],
    /// The field that names a row (used in "Delete “…”?").
    pub display_key: &'static str,
}

impl EntityDef {
    pub fn field(&self, key_or_input: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.key == key_or_input || f.input == key_or_input)
    }
}

pub static PRODUCTS: EntityDef = EntityDef {
    path: "products",
    title: "products",
    new_title: "new_product",
    edit_title: "edit_product",
    search_hint: "search_products",
    display_key: "name",
    fields: &[
        Field::new("name", "name", "name", Kind::Text),
        Field::new("sku", "sku", "sku", Kind::Text),
        Field::new("price_cents", "price", "price", Kind::Money).mode("decimal"),
        Field::new("cost_cents", "cost", "cost", Kind::Money).mode("decimal"),
        Field::new("category_id", "category_id", "category", Kind::Ref("categories")),
        Field::new("tax_rate_id", "tax_rate_id", "tax_rate", Kind::Ref("tax_rates")).help("tax_rate_help"),
        Field::new("barcode", "barcode", "barcode", Kind::OptText).mode("numeric"),
        Field::new("low_stock_threshold", "low_stock_threshold", "low_stock_threshold", Kind::OptCount)
            .mode("numeric")
            .help("low_stock_help"),
        Field::new("active", "active", "active", Kind::Flag),
    ],
};

pub static CATEGORIES: EntityDef = EntityDef {
    path: "categories",
    title: "categories",
    new_title: "new_category",
    edit_title: "edit_category",
    search_hint: "search_categories",
    display_key: "name",
    fields: &[
        Field::new("name", "name", "name", Kind::Text),
        Field::new("description", "description", "description", Kind::LongText),
    ],
};

pub static TAX_RATES: EntityDef = EntityDef {
    path: "tax_rates",
    title: "tax_rates",
    new_title: "new_tax_rate",
    edit_title: "edit_tax_rate",
    search_hint: "search_tax_rates",
    display_key: "name",
    fields: &[
        Field::new("name", "name", "name", Kind::Text),
        Field::new("rate_bp", "rate", "tax_percent", Kind::Percent).mode("decimal"),
        Field::new("active", "active", "active", Kind::Flag).help("tax_rate_active_help"),
    ],
};

/// The label of a reference field left empty.
pub fn none_label(table: &str) -> Key {
    match table {
        "tax_rates" => "default_tax_rate",
        _ => "no_category",
    }
}

pub static CUSTOMERS: EntityDef = EntityDef {
    path: "customers",
    title: "customers",
    new_title: "new_customer",
    edit_title: "edit_customer",
    search_hint: "search_customers",
    display_key: "name",
    fields: &[
        Field::new("name", "name", "name", Kind::Text).autocomplete("off"),
        Field::new("tax_id", "tax_id", "tax_id", Kind::OptText),
        Field::new("email", "email", "email", Kind::OptText).mode("email"),
        Field::new("phone", "phone", "phone", Kind::OptText).mode("tel"),
        Field::new("notes", "notes", "notes", Kind::LongText),
    ],
};

/// The input text for a fresh form.
pub fn default_text(kind: Kind) -> String {
    match kind {
        Kind::Flag => "true".into(),
        _ => String::new(),
    }
}

/// A JSON value as the text its input holds.
pub fn to_text(kind: Kind, v: Option<&Value>, lang: Lang) -> String {
    let v = v.unwrap_or(&Value::Null);
    match kind {
        Kind::Money => v.as_i64().map(|c| money::format_plain(c, lang)).unwrap_or_default(),
        Kind::OptCount => v.as_i64().map(|n| n.to_string()).unwrap_or_default(),
        Kind::Percent => {
            v.as_i64().map(|bp| crate::format::percent(bp, lang).trim_end_matches(" %").to_string()).unwrap_or_default()
        }
        Kind::Flag => (if v.as_bool().unwrap_or(false) { "true" } else { "false" }).into(),
        _ => v.as_str().unwrap_or_default().to_string(),
    }
}

/// The input text as the JSON value to send, or why it cannot be sent.
pub fn from_text(kind: Kind, text: &str) -> Result<Value, Key> {
    let t = text.trim();
    match kind {
        Kind::Text if t.is_empty() => Err("required"),
        Kind::Text => Ok(Value::String(t.to_string())),
        Kind::OptText | Kind::Ref(_) if t.is_empty() => Ok(Value::Null),
        Kind::OptText | Kind::Ref(_) => Ok(Value::String(t.to_string())),
        Kind::Percent => match money::parse_minor(t.trim_end_matches('%').trim(), 2) {
            Ok(bp) if crate::limits::RATE_BP.contains(bp) => Ok(Value::from(bp)),
            Ok(_) => Err("invalid_percent"),
            Err(money::MoneyError::Empty) => Err("required"),
            Err(money::MoneyError::Invalid) => Err("invalid_percent"),
        },
        // Keep inner line breaks of notes, drop only surrounding blank space.
        Kind::LongText if t.is_empty() => Ok(Value::Null),
        Kind::LongText => Ok(Value::String(t.to_string())),
        Kind::Money => match money::parse_cents(t) {
            Ok(c) => Ok(Value::from(c)),
            Err(money::MoneyError::Empty) => Err("required"),
            Err(money::MoneyError::Invalid) => Err("invalid_money"),
        },
        Kind::OptCount if t.is_empty() => Ok(Value::Null),
        Kind::OptCount => t
            .parse::<i64>()
            .ok()
            .filter(|n| crate::limits::THRESHOLD.contains(*n))
            .map(Value::from)
            .ok_or("invalid_count"),
        Kind::Flag => Ok(Value::Bool(t == "true")),
    }
}

/// The fields of `mine` whose value differs from the row the form was loaded from: exactly what a PATCH sends.
pub fn changed_fields(def: &EntityDef, base: &Value, mine: &Map<String, Value>) -> Map<String, Value> {
    def.fields
        .iter()
        .filter_map(|f| {
            let new = mine.get(f.key)?;
            let old = base.get(f.key).unwrap_or(&Value::Null);
            (new != old).then(|| (f.key.to_string(), new.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_round_trip() {
        assert_eq!(to_text(Kind::Money, Some(&json!(1250)), Lang::Es), "12,50");
        assert_eq!(from_text(Kind::Money, "12,50"), Ok(json!(1250)));
        assert_eq!(from_text(Kind::Money, ""), Err("required"));
        assert_eq!(from_text(Kind::Money, "12,345"), Err("invalid_money"));
        assert_eq!(from_text(Kind::Money, "1.234,50"), Ok(json!(123450)));
        assert_eq!(from_text(Kind::Money, "1,2,3"), Err("invalid_money"));
        assert_eq!(from_text(Kind::OptText, "  "), Ok(Value::Null));
        assert_eq!(from_text(Kind::Text, "  "), Err("required"));
        assert_eq!(from_text(Kind::Text, " Yerba "), Ok(json!("Yerba")));
        assert_eq!(from_text(Kind::OptCount, "5"), Ok(json!(5)));
        assert_eq!(from_text(Kind::OptCount, "-5"), Err("invalid_count"));
        assert_eq!(from_text(Kind::OptCount, "2.5"), Err("invalid_count"));
        assert_eq!(to_text(Kind::OptCount, Some(&Value::Null), Lang::Es), "");
        assert_eq!(to_text(Kind::Flag, Some(&json!(true)), Lang::Es), "true");
        assert_eq!(from_text(Kind::Flag, "false"), Ok(json!(false)));
    }

    #[test]
    fn only_changed_fields_are_sent() {
        let base = json!({"id": "x", "version": 3, "name": "Yerba", "sku": "Y1", "price_cents": 1000,
            "cost_cents": 500, "category_id": null, "barcode": null, "low_stock_threshold": null, "active": true});
        let mut mine = Map::new();
        for f in PRODUCTS.fields {
            let text = to_text(f.kind, base.get(f.key), Lang::Es);
            mine.insert(f.key.into(), from_text(f.kind, &text).unwrap());
        }
        assert!(changed_fields(&PRODUCTS, &base, &mine).is_empty());
        mine.insert("price_cents".into(), json!(1250));
        mine.insert("barcode".into(), json!("779"));
        let changed = changed_fields(&PRODUCTS, &base, &mine);
        assert_eq!(Value::Object(changed), json!({"price_cents": 1250, "barcode": "779"}));
    }
}
