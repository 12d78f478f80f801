//! Reading the fields of a create or PATCH body one by one, so each bad field gets its own message
//! and unknown or read-only fields are refused rather than silently dropped.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::http::error::FieldErrors;

/// A column value to bind, in the common subset of both engines.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
}

/// The JSON object of a request, consumed field by field.
pub struct Body<'a> {
    map: &'a Map<String, Value>,
    pub errors: FieldErrors,
}

impl<'a> Body<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Body { map, errors: FieldErrors::new() }
    }

    pub fn has(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    fn fail<T>(&mut self, field: &'static str, message: &str) -> Option<T> {
        self.errors.insert(field, message.to_owned());
        None
    }

    /// A required, non-empty text (trimmed).
    pub fn text(&mut self, field: &'static str, max: usize) -> Option<String> {
        match self.map.get(field) {
            None | Some(Value::Null) => self.fail(field, "is required"),
            Some(Value::String(s)) if s.trim().is_empty() => self.fail(field, "must not be empty"),
            Some(Value::String(s)) if s.trim().chars().count() > max => {
                self.fail(field, &format!("must be at most {max} characters"))
            }
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            Some(_) => self.fail(field, "must be a string"),
        }
    }

    /// An optional text: absent, null or blank mean none. `Some(None)` = cleared.
    pub fn opt_text(&mut self, field: &'static str, max: usize) -> Option<Option<String>> {
        match self.map.get(field) {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) if s.trim().is_empty() => Some(None),
            Some(Value::String(s)) if s.trim().chars().count() > max => {
                self.fail(field, &format!("must be at most {max} characters"))
            }
            Some(Value::String(s)) => Some(Some(s.trim().to_owned())),
            Some(_) => self.fail(field, "must be a string or null"),
        }
    }

    /// A whole number of cents (or units) ≥ 0. Floats are refused: money is never a float here.
    pub fn non_negative(&mut self, field: &'static str) -> Option<i64> {
        match self.map.get(field) {
            None | Some(Value::Null) => self.fail(field, "is required"),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if v >= 0 => Some(v),
                Some(_) => self.fail(field, "must be 0 or more"),
                None => self.fail(field, "must be a whole number (cents)"),
            },
            Some(_) => self.fail(field, "must be a whole number (cents)"),
        }
    }

    pub fn opt_non_negative(&mut self, field: &'static str) -> Option<Option<i64>> {
        match self.map.get(field) {
            None | Some(Value::Null) => Some(None),
            Some(_) => self.non_negative(field).map(Some),
        }
    }

    pub fn opt_uuid(&mut self, field: &'static str) -> Option<Option<Uuid>> {
        match self.map.get(field) {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) => match Uuid::parse_str(s) {
                Ok(id) => Some(Some(id)),
                Err(_) => self.fail(field, "must be a UUID"),
            },
            Some(_) => self.fail(field, "must be a UUID"),
        }
    }

    /// Quote lines: `[{product_id, quantity ≥ 1, unit_price_cents ≥ 0 or null}]`, 1 to 500 of them.
    pub fn quote_lines(&mut self, field: &'static str) -> Option<Vec<app::model::QuoteLine>> {
        let lines: Option<Vec<app::model::QuoteLine>> =
            self.map.get(field).and_then(|v| serde_json::from_value(v.clone()).ok());
        match lines {
            Some(lines)
                if (1..=500).contains(&lines.len())
                    && lines.iter().all(|l| l.quantity >= 1 && l.unit_price_cents.is_none_or(|p| p >= 0)) =>
            {
                Some(lines)
            }
            _ => self.fail(
                field,
                "must be 1 to 500 lines of {product_id, quantity ≥ 1, unit_price_cents ≥ 0 or null}",
            ),
        }
    }

    /// An optional day, YYYY-MM-DD.
    pub fn opt_date(&mut self, field: &'static str) -> Option<Option<String>> {
        let day = time::macros::format_description!("[year]-[month]-[day]");
        match self.opt_text(field, 10)? {
            None => Some(None),
            Some(d) if time::Date::parse(&d, &day).is_ok() => Some(Some(d)),
            Some(_) => self.fail(field, "must be a date YYYY-MM-DD"),
        }
    }

    pub fn bool_or(&mut self, field: &'static str, default: bool) -> Option<bool> {
        match self.map.get(field) {
            None | Some(Value::Null) => Some(default),
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => self.fail(field, "must be true or false"),
        }
    }

    /// Refuses keys that are not `allowed` (typos would otherwise be dropped without a word).
    pub fn only(&mut self, allowed: &[&str], read_only: &[&'static str]) {
        for key in self.map.keys() {
            if let Some(ro) = read_only.iter().find(|r| **r == key) {
                self.errors.insert(ro, "is read-only".into());
            } else if !allowed.contains(&key.as_str()) {
                self.errors.insert("body", format!("unknown field '{key}'"));
            }
        }
    }
}
