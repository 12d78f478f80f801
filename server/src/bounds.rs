//! Money and quantities have bounds (issue #12): the ranges are `app::limits`; here is how the server
//! applies them — field checks on a raw JSON body, sums that cannot overflow, and the database's CHECK
//! constraints (migrations 20261130000001_bounds) reported as a 422 naming the field.

use app::limits::Range;
use serde_json::Value;
use sqlx::{any::AnyRow, Row};

use crate::http::error::{ApiError, FieldErrors};

/// Checks required whole-number fields of a JSON object against their ranges, before the body is
/// deserialised: a float, a string or a number beyond i64 then gets the range message under its
/// own field name instead of a generic "body" error.
pub fn check_fields(raw: &Value, fields: &[(&'static str, Range)], errors: &mut FieldErrors) {
    for (field, range) in fields {
        match raw.get(*field) {
            None | Some(Value::Null) => {
                errors.insert(field, "is required".into());
            }
            Some(v) => {
                if let Err(message) = range.check_json(v) {
                    errors.insert(field, message);
                }
            }
        }
    }
}

/// Checks that `field` of a raw JSON body is one of a closed set, so that anything else is refused
/// under its own name ("kind: must be in or out") rather than as a generic "body" error.
pub fn check_choice<T: app::wire::ClosedSet>(raw: &Value, field: &'static str, errors: &mut FieldErrors) {
    if raw.get(field).and_then(Value::as_str).and_then(T::parse).is_none() {
        errors.insert(field, format!("must be {}", T::listed()));
    }
}

/// `check_fields` as a 422 when anything is wrong.
pub fn require(raw: &Value, fields: &[(&'static str, Range)]) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    check_fields(raw, fields, &mut errors);
    ApiError::unless_any(errors)
}

/// Each summed value is split at this power of ten: `x = (x / SPLIT) · SPLIT + x % SPLIT` exactly
/// (both engines divide integers toward zero, and `%` keeps the sign of `x`).
const SPLIT: i64 = 1_000_000;

/// SELECT items summing the integer expression `expr` that no number of rows can make overflow:
/// `SUM(x)` fails on SQLite past i64 ("integer overflow") and PostgreSQL's numeric SUM fails when
/// cast back to BIGINT. Every stored amount is at most 10¹² in magnitude (CHECK constraints), so each
/// half is at most 10⁶ per row, and a half's SUM would need over 9·10¹² rows to overflow — petabytes
/// of rows, which no request rate can write. The halves are joined in i128 by `read_sum`.
pub fn sum_sql(expr: &str, alias: &str) -> String {
    format!(
        "CAST(COALESCE(SUM(({expr}) / {SPLIT}), 0) AS BIGINT) AS {alias}_hi, \
         CAST(COALESCE(SUM(({expr}) % {SPLIT}), 0) AS BIGINT) AS {alias}_lo"
    )
}

/// The exact sum selected by `sum_sql(…, alias)`.
pub fn read_sum(row: &AnyRow, alias: &str) -> Result<i128, sqlx::Error> {
    let hi: i64 = row.try_get(format!("{alias}_hi").as_str())?;
    let lo: i64 = row.try_get(format!("{alias}_lo").as_str())?;
    Ok(i128::from(hi) * i128::from(SPLIT) + i128::from(lo))
}

/// A sum or difference for a JSON i64 field. Within the documented bounds a till or a day would need
/// millions of maximal amounts to pass ±9.2·10¹⁸ cents; if it ever does, the figure is pinned at the
/// limit (and logged) rather than making the read fail.
pub fn saturate(v: i128, what: &str) -> i64 {
    i64::try_from(v).unwrap_or_else(|_| {
        tracing::warn!(what, value = %v, "sum beyond i64, reported at the limit");
        if v < 0 {
            i64::MIN
        } else {
            i64::MAX
        }
    })
}

/// Columns with a range CHECK (named `<column>_range` in the migrations): the field a violation names.
const CHECKED: &[&str] = &[
    "price_cents",
    "cost_cents",
    "stock",
    "low_stock_threshold",
    "opening_float_cents",
    "counted_cents",
    "total_cents",
    "paid_cents",
    "change_cents",
    "quantity",
    "unit_price_cents",
    "amount_cents",
    "delta",
];

/// A range CHECK the database refused (the API checks first, so this is the second line): 422 naming
/// the column, instead of a 500.
pub fn check_violation(err: &sqlx::Error) -> Option<ApiError> {
    let sqlx::Error::Database(db) = err else { return None };
    if !db.is_check_violation() {
        return None;
    }
    // PostgreSQL names the constraint; SQLite puts it in the message ("CHECK constraint failed: x").
    let text = db.constraint().map(str::to_owned).unwrap_or_else(|| db.message().to_owned());
    let field = CHECKED.iter().find(|c| text.contains(&format!("{c}_range")))?;
    Some(ApiError::invalid(field, "is outside its documented range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_join_exactly_for_any_sign() {
        for x in
            [0i64, 5, -5, 999_999, 1_000_000, -1_000_001, 1_000_000_000_000, -1_000_000_000_000, i64::MAX, i64::MIN + 1]
        {
            let (hi, lo) = (x / SPLIT, x % SPLIT);
            assert_eq!(i128::from(hi) * i128::from(SPLIT) + i128::from(lo), i128::from(x));
        }
        assert_eq!(saturate(i128::from(i64::MAX) * 2, "t"), i64::MAX);
        assert_eq!(saturate(-(i128::from(i64::MAX) * 2), "t"), i64::MIN);
        assert_eq!(saturate(-7, "t"), -7);
    }
}
