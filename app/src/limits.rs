//! The documented range of every amount and quantity, in one place (issue #12). The server checks
//! each write against them (422 `validation_failed`, a message per field), the database repeats them
//! as CHECK constraints (migrations/*/20261130000001_bounds.sql: keep the numbers in step), and the
//! app refuses to queue what the server would refuse.
//!
//! Why these numbers: 10¹² cents is ten thousand million units of any currency, more than any one
//! amount a shop records, and far below i64::MAX (9.2·10¹⁸): a line's price × quantity is at most
//! 10¹² × 10⁶ = 10¹⁸, so it cannot overflow. Sums over many rows (a till's expected cash, the
//! dashboard) are still computed without overflow whatever the number of rows (see the server's
//! `bounds::sum_sql`). The stock-movement and sale-quantity limits are the ones the API already had,
//! so no record an honest shop made falls outside them.

/// A closed range of whole numbers, with the unit its messages name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: i64,
    pub max: i64,
    pub unit: &'static str,
}

/// The largest amount of money anywhere, in cents: any price, cost, payment, float, counted cash,
/// cash movement, expense, sale line, sale total, paid or change.
pub const MONEY_MAX: i64 = 1_000_000_000_000;
/// The most units on one sale or quote line.
pub const QUANTITY_MAX: i64 = 1_000_000;
/// The largest stock movement, in units, either way.
pub const DELTA_MAX: i64 = 1_000_000_000;
/// The largest stock (either way, when negative stock is allowed) and low-stock threshold.
pub const STOCK_MAX: i64 = 1_000_000_000_000;
/// Lines of a sale or a quote; payments of a sale.
pub const LINES_MAX: usize = 500;
pub const PAYMENTS_MAX: usize = 20;

/// A tax rate, in basis points: 0 (exempt) to 100 %.
pub const RATE_BP: Range = Range { min: 0, max: 10_000, unit: "basis points" };
/// A percentage discount, in basis points: more than nothing, at most all of it.
pub const DISCOUNT_BP: Range = Range { min: 1, max: 10_000, unit: "basis points" };
/// The largest discount a cashier may give, in basis points.
pub const DISCOUNT_LIMIT_BP: Range = Range { min: 0, max: 10_000, unit: "basis points" };
/// The reason written for a discount, in characters.
pub const REASON_MAX: usize = 200;

/// Prices and costs (a free item costs 0).
pub const PRICE: Range = Range { min: 0, max: MONEY_MAX, unit: "cents" };
/// Opening float and counted cash: an empty drawer is 0.
pub const CASH: Range = Range { min: 0, max: MONEY_MAX, unit: "cents" };
/// A payment, a cash movement, an expense: more than nothing.
pub const AMOUNT: Range = Range { min: 1, max: MONEY_MAX, unit: "cents" };
/// A sale's total, paid and change, and a line's total.
pub const SALE_TOTAL: Range = Range { min: 0, max: MONEY_MAX, unit: "cents" };
/// Units on a sale or quote line.
pub const QUANTITY: Range = Range { min: 1, max: QUANTITY_MAX, unit: "units" };
/// A stock movement (never 0).
pub const DELTA: Range = Range { min: -DELTA_MAX, max: DELTA_MAX, unit: "units" };
/// A product's stock.
pub const STOCK: Range = Range { min: -STOCK_MAX, max: STOCK_MAX, unit: "units" };
/// A product's low-stock alert.
pub const THRESHOLD: Range = Range { min: 0, max: STOCK_MAX, unit: "units" };

impl Range {
    pub fn contains(&self, v: i64) -> bool {
        (self.min..=self.max).contains(&v)
    }

    /// "must be a whole number of cents from 0 to 1000000000000"
    pub fn message(&self) -> String {
        format!("must be a whole number of {} from {} to {}", self.unit, self.min, self.max)
    }

    pub fn check(&self, v: i64) -> Result<i64, String> {
        if self.contains(v) {
            Ok(v)
        } else {
            Err(self.message())
        }
    }

    /// A JSON value that must be a whole number in range: floats, strings and numbers beyond i64
    /// get the same message, so a client learns the range whatever it sent.
    pub fn check_json(&self, v: &serde_json::Value) -> Result<i64, String> {
        v.as_i64().filter(|n| self.contains(*n)).ok_or_else(|| self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_keep_products_and_sums_inside_i64() {
        assert!(MONEY_MAX.checked_mul(QUANTITY_MAX).is_some(), "price × quantity fits");
        assert!(STOCK_MAX.checked_add(DELTA_MAX * LINES_MAX as i64).is_some());
        assert_eq!(AMOUNT.check(0), Err("must be a whole number of cents from 1 to 1000000000000".into()));
        assert_eq!(DELTA.check(-5), Ok(-5));
        assert!(PRICE.check_json(&serde_json::json!(1e30)).is_err());
        assert!(PRICE.check_json(&serde_json::json!(12.5)).is_err());
        assert!(PRICE.check_json(&serde_json::json!("12")).is_err());
        assert_eq!(PRICE.check_json(&serde_json::json!(MONEY_MAX)), Ok(MONEY_MAX));
        assert!(PRICE.check_json(&serde_json::json!(MONEY_MAX + 1)).is_err());
    }
}
