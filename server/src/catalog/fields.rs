//! Reading the fields of a create or PATCH body one by one, so each bad field gets its own message
//! and unknown or read-only fields are refused rather than silently dropped.

use app::limits::{self, Range};
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

    /// A whole number in `range` (app::limits). Floats are refused: money is never a float here.
    pub fn in_range(&mut self, field: &'static str, range: Range) -> Option<i64> {
        match self.map.get(field) {
            None | Some(Value::Null) => self.fail(field, "is required"),
            Some(v) => match range.check_json(v) {
                Ok(n) => Some(n),
                Err(message) => self.fail(field, &message),
            },
        }
    }

    pub fn opt_in_range(&mut self, field: &'static str, range: Range) -> Option<Option<i64>> {
        match self.map.get(field) {
            None | Some(Value::Null) => Some(None),
            Some(_) => self.in_range(field, range).map(Some),
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

    /// Quote lines: `[{product_id, quantity, unit_price_cents or null}]`, 1 to 500 of them, each
    /// number in its range (a quote becomes a sale, which checks the same).
    pub fn quote_lines(&mut self, field: &'static str) -> Option<Vec<app::model::QuoteLine>> {
        let lines: Option<Vec<app::model::QuoteLine>> =
            self.map.get(field).and_then(|v| serde_json::from_value(v.clone()).ok());
        match lines {
            Some(lines)
                if (1..=limits::LINES_MAX).contains(&lines.len())
                    && lines.iter().all(|l| {
                        limits::QUANTITY.contains(l.quantity) && l.unit_price_cents.is_none_or(|p| limits::PRICE.contains(p))
                    }) =>
            {
                Some(lines)
            }
            _ => self.fail(
                field,
                &format!(
                    "must be 1 to {} lines of {{product_id, quantity from 1 to {}, unit_price_cents from 0 to {} or null}}",
                    limits::LINES_MAX,
                    limits::QUANTITY_MAX,
                    limits::MONEY_MAX
                ),
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
