//! Money is an integer count of the currency's minor unit everywhere (cents for dollars, pesos for
//! Chilean pesos, fils for Kuwaiti dinars: `region::Region::minor_units`); these functions are the
//! only place where text becomes an amount.
//!
//! People type prices the way they write them: "12,50" in Spanish, "12.50" in English, "1.234,50" or
//! "1,234.50" with grouping. We never go through floats: the digits are read as integers.

use crate::i18n::Lang;
use crate::region;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyError {
    Empty,
    Invalid,
}

/// Parses a non-negative amount of the shop's currency into minor units.
pub fn parse_cents(text: &str) -> Result<i64, MoneyError> {
    let r = region::current();
    let t = text.trim();
    // The symbol as it is written before ("€ 12,50") or after ("12,50 €") the amount.
    let bare = t.strip_prefix(r.symbol.as_str()).or_else(|| t.strip_suffix(r.symbol.as_str())).unwrap_or(t);
    parse_minor(bare, r.minor_units)
}

/// Parses a non-negative amount into minor units of `digits` digits.
///
/// Rules: spaces and a leading `$` are ignored. With both `,` and `.`, the later one is the decimal mark
/// and the other groups thousands. A mark appearing once is the decimal mark when followed by at most
/// `digits` digits. Followed by exactly 3 in a currency of 1 or 2 digits ("1.234", "12,505") it is
/// refused as ambiguous: a slip of the finger must not turn 12,50 into 12.505,00; in a currency without
/// decimals it groups thousands ("1.500" pesos). A mark appearing several times groups thousands.
pub fn parse_minor(text: &str, digits: u8) -> Result<i64, MoneyError> {
    let s: String = text.chars().filter(|c| !c.is_whitespace() && *c != '$' && *c != '\u{a0}').collect();
    let s = s.strip_prefix('+').unwrap_or(&s);
    if s.is_empty() {
        return Err(MoneyError::Empty);
    }
    if !s.chars().all(|c| c.is_ascii_digit() || c == ',' || c == '.') {
        return Err(MoneyError::Invalid);
    }
    let digits = usize::from(digits);

    let commas = s.matches(',').count();
    let dots = s.matches('.').count();
    let (int_part, frac_part, group_sep): (&str, &str, Option<char>) = match (commas, dots) {
        (0, 0) => (s, "", None),
        (_, _) if commas > 0 && dots > 0 => {
            let (dec, group) = if s.rfind(',') > s.rfind('.') { (',', '.') } else { ('.', ',') };
            // The decimal mark must appear once, after every group separator.
            if s.matches(dec).count() != 1 {
                return Err(MoneyError::Invalid);
            }
            let (i, f) = s.split_once(dec).unwrap();
            if f.contains(group) {
                return Err(MoneyError::Invalid);
            }
            (i, f, Some(group))
        }
        _ => {
            let mark = if commas > 0 { ',' } else { '.' };
            let count = commas + dots;
            let (i, f) = s.split_once(mark).unwrap();
            if count == 1 && f.len() == 3 && (1..3).contains(&digits) {
                return Err(MoneyError::Invalid);
            }
            if count == 1 && digits > 0 {
                (i, f, None)
            } else {
                (s, "", Some(mark))
            }
        }
    };

    let int_digits = match group_sep {
        None => int_part.to_string(),
        Some(sep) => {
            let groups: Vec<&str> = int_part.split(sep).collect();
            let first_ok = !groups[0].is_empty() && groups[0].len() <= 3 && !groups[0].starts_with('0');
            if !first_ok || groups[1..].iter().any(|g| g.len() != 3) {
                return Err(MoneyError::Invalid);
            }
            groups.concat()
        }
    };
    if frac_part.len() > digits || (int_digits.is_empty() && frac_part.is_empty()) {
        return Err(MoneyError::Invalid);
    }
    if !int_digits.chars().all(|c| c.is_ascii_digit()) || !frac_part.chars().all(|c| c.is_ascii_digit()) {
        return Err(MoneyError::Invalid);
    }

    let units: i64 = if int_digits.is_empty() { 0 } else { int_digits.parse().map_err(|_| MoneyError::Invalid)? };
    // "5" in a two-digit currency is 50 minor units: pad the fraction on the right.
    let frac: i64 = if frac_part.is_empty() { 0 } else { format!("{frac_part:0<digits$}").parse().unwrap() };
    // Nothing beyond the API's range (limits::MONEY_MAX): the server would refuse it anyway.
    units
        .checked_mul(10i64.pow(digits as u32))
        .and_then(|u| u.checked_add(frac))
        .filter(|c| *c <= crate::limits::MONEY_MAX)
        .ok_or(MoneyError::Invalid)
}

/// The decimal mark and the thousands separator of the reader's language (or the shop's locale in it).
fn marks(lang: Lang) -> (char, char) {
    crate::format::number_marks(lang)
}

/// `amount` as "1234,50" with `dec` and `digits` (grouped with `group` if any, no symbol); "-" before a
/// negative (all of i64, its minimum included: the server reports a sum beyond range at that limit).
fn digits_of(amount: i64, digits: u8, (dec, group): (char, Option<char>)) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let scale = 10u64.pow(u32::from(digits));
    let abs = amount.unsigned_abs();
    let units = (abs / scale).to_string();
    let mut out = String::from(sign);
    for (i, c) in units.chars().enumerate() {
        if let Some(g) = group.filter(|_| i > 0 && (units.len() - i).is_multiple_of(3)) {
            out.push(g);
        }
        out.push(c);
    }
    if digits > 0 {
        out.push(dec);
        out.push_str(&format!("{:0width$}", abs % scale, width = usize::from(digits)));
    }
    out
}

/// For a form field: "1234,50" (es) / "1234.50" (en), no grouping so it is easy to edit.
pub fn format_plain(cents: i64, lang: Lang) -> String {
    let (dec, _) = marks(lang);
    digits_of(cents, region::current().minor_units, (dec, None))
}

/// For display: "$ 1.234,50" (es) / "$ 1,234.50" (en), with the shop's currency symbol and decimals.
pub fn format_display(cents: i64, lang: Lang) -> String {
    let r = region::current();
    display(cents, &r.symbol, r.minor_units, marks(lang))
}

/// "-$ 1.234,50": the sign, the symbol, the grouped amount.
fn display(amount: i64, symbol: &str, digits: u8, (dec, group): (char, char)) -> String {
    let text = digits_of(amount, digits, (dec, Some(group)));
    match text.strip_prefix('-') {
        Some(magnitude) => format!("-{symbol} {magnitude}"),
        None => format!("{symbol} {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_inputs() {
        let ok = |s: &str, c: i64| assert_eq!(parse_cents(s), Ok(c), "{s:?}");
        ok("12", 1200);
        ok("12,5", 1250);
        ok("12,50", 1250);
        ok("12.50", 1250);
        ok("0,99", 99);
        ok(",5", 50);
        ok("12,", 1200);
        ok("1.234,56", 123456);
        ok("1,234.56", 123456);
        ok("1.234.567", 123456700);
        ok("1.234.567,8", 123456780);
        ok(" $ 12,50 ", 1250);
        ok("+3", 300);
        ok("0", 0);
        ok("0.10", 10);
        ok("0,01", 1);
    }

    #[test]
    fn rejects_bad_inputs() {
        let bad = |s: &str| assert!(parse_cents(s).is_err(), "{s:?} should fail");
        bad("");
        bad("   ");
        bad("-1");
        bad("12,505");
        bad("1.234");
        bad("1,234");
        bad("0,125");
        bad("abc");
        bad("1e3");
        bad("1.2.3");
        bad("12,50.3");
        bad("1.23,4.5");
        bad("01.234");
        bad(",");
        bad("99999999999999999999");
        // The API's bound: 10¹² cents = 10.000.000.000,00.
        assert_eq!(parse_cents("10.000.000.000"), Ok(crate::limits::MONEY_MAX));
        bad("10.000.000.000,01");
        assert_eq!(parse_cents(""), Err(MoneyError::Empty));
    }

    #[test]
    fn formats() {
        assert_eq!(format_plain(1250, Lang::Es), "12,50");
        assert_eq!(format_plain(1250, Lang::En), "12.50");
        assert_eq!(format_plain(5, Lang::Es), "0,05");
        assert_eq!(format_display(123456789, Lang::Es), "$ 1.234.567,89");
        assert_eq!(format_display(123456789, Lang::En), "$ 1,234,567.89");
        assert_eq!(format_display(100, Lang::Es), "$ 1,00");
        assert_eq!(format_display(-250, Lang::Es), "-$ 2,50");
    }

    #[test]
    fn currencies_without_or_with_three_decimals() {
        assert_eq!(parse_minor("1.500", 0), Ok(1500), "Chilean pesos: the dot groups");
        assert_eq!(parse_minor("1500", 0), Ok(1500));
        assert_eq!(parse_minor("12,5", 0), Err(MoneyError::Invalid));
        assert_eq!(parse_minor("1.250", 3), Ok(1250), "Kuwaiti dinars: three decimals");
        assert_eq!(parse_minor("1,5", 3), Ok(1500));
        assert_eq!(parse_minor("1,2345", 3), Err(MoneyError::Invalid));
        assert_eq!(digits_of(1_234_567, 0, (',', Some('.'))), "1.234.567");
        assert_eq!(digits_of(1250, 3, (',', Some('.'))), "1,250");
        assert_eq!(digits_of(-5, 2, ('.', None)), "-0.05");
        assert_eq!(display(-150_000, "$", 0, (',', '.')), "-$ 150.000", "Chilean pesos");
        assert_eq!(display(1_250, "KD", 3, ('.', ',')), "KD 1.250", "Kuwaiti dinars");
        assert_eq!(display(i64::MIN, "$", 2, (',', '.')), "-$ 92.233.720.368.547.758,08", "the server's limit");
        for (digits, amount) in [(0, 1_500), (3, 1_250), (2, 99)] {
            let (es, en) = ((',', '.'), ('.', ','));
            assert_eq!(parse_minor(&display(amount, "$", digits, es), digits), Ok(amount));
            assert_eq!(parse_minor(&display(amount, "$", digits, en), digits), Ok(amount));
        }
    }

    #[test]
    fn round_trips() {
        for c in [0, 1, 10, 99, 100, 1250, 123456, 999_999_999] {
            for lang in [Lang::Es, Lang::En] {
                assert_eq!(parse_cents(&format_plain(c, lang)), Ok(c));
                assert_eq!(parse_cents(&format_display(c, lang)), Ok(c));
            }
        }
    }
}
