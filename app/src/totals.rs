//! How a sale's figures are computed, the same on a phone offline and on the server: discounts per line
//! and per ticket, line tax in both tax modes. Integers in the currency's minor unit only.
//!
//! Order: a line's gross (unit price × quantity) less its own discount; the ticket's discount is then
//! shared across the lines by what each still costs (`allocate`), so each line's tax is computed on
//! what was really charged for it. Without tax in the prices, discounts come off the net and tax is
//! added last.
//!
//! Rounding: per line, half away from zero ("half-up" as shops and tax offices mean it: 0,5 cents is
//! 1 cent, and a refund's -0,5 is -1, so a refund mirrors its sale exactly). It is the rule the tax
//! authorities of the countries this is made for print on their invoices (AFIP/ARCA, SAT, AEAT);
//! half-even is a banking convention no receipt reader expects. Per line, because each line is printed
//! with its own tax and the sale's tax per rate is the sum of what is printed.

use uuid::Uuid;

use crate::model::{SaleLine, TaxRate};
use crate::wire::Discount;

/// A line's amount split into net and tax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTax {
    pub net: i64,
    pub tax: i64,
    /// What the customer pays for the line: net + tax.
    pub gross: i64,
}

/// Basis points in one whole: 2100 bp = 21 %.
pub const BP: i64 = 10_000;

/// `n / d` rounded half away from zero (d > 0).
fn div_round(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    if 2 * r.abs() >= d {
        q + n.signum()
    } else {
        q
    }
}

/// The tax of a line whose `amount` (after its discounts) is taxed at `rate_bp`. With prices that
/// include tax the amount is what the customer pays and the tax is taken out of it; without, the
/// tax is added on top. The tax always has the sign of the amount.
pub fn line_tax(amount: i64, rate_bp: i64, prices_include_tax: bool) -> LineTax {
    let (a, r) = (i128::from(amount), i128::from(rate_bp));
    if prices_include_tax {
        let tax = div_round(a * r, i128::from(BP) + r) as i64;
        LineTax { net: amount - tax, tax, gross: amount }
    } else {
        let tax = div_round(a * r, i128::from(BP)) as i64;
        LineTax { net: amount, tax, gross: amount + tax }
    }
}

/// Shares `total` across `weights` in proportion, exactly: the shares add up to `total` (largest
/// remainder; ties to the earlier line). For a ticket discount spread over its lines, so each line's
/// tax is computed on what was really charged for it.
pub fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let t = i128::from(total);
    let mut shares: Vec<i128> = weights.iter().map(|w| t * i128::from(*w) / sum).collect();
    let mut rest = t - shares.iter().sum::<i128>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // Largest remainder first; the remainder's sign follows `total`.
    order.sort_by_key(|&i| std::cmp::Reverse((t * i128::from(weights[i]) % sum).abs()));
    for i in order {
        if rest == 0 {
            break;
        }
        shares[i] += rest.signum();
        rest -= rest.signum();
    }
    shares.into_iter().map(|s| s as i64).collect()
}

/// What a discount takes off `base`: its percentage (rounded like tax) or its amount.
pub fn discount_of(base: i64, d: Discount) -> i64 {
    match d {
        Discount::PercentBp(bp) => div_round(i128::from(base) * i128::from(bp), i128::from(BP)) as i64,
        Discount::AmountCents(a) => a,
    }
}

/// A line as sold: unit price × quantity, its own discount, and the rate it is taxed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineIn {
    pub gross: i64,
    pub discount: Option<Discount>,
    pub rate_bp: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineOut {
    pub discount: i64,
    pub ticket_discount: i64,
    pub net: i64,
    pub tax: i64,
    /// What the customer pays for the line.
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    pub lines: Vec<LineOut>,
    /// Gross before discounts, every discount, and what is paid: `net + tax = total`.
    pub subtotal: i64,
    pub discount: i64,
    pub net: i64,
    pub tax: i64,
    pub total: i64,
}

/// A discount that takes off more than there is to discount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotalsError {
    /// The line (1-based) whose own discount is larger than its price × quantity.
    Line(usize),
    /// The ticket's discount is larger than what the lines cost after their own discounts.
    Ticket,
}

/// A sale's figures from its lines, its ticket discount and the tax mode.
pub fn compute(lines: &[LineIn], ticket: Option<Discount>, prices_include_tax: bool) -> Result<Totals, TotalsError> {
    let mut after = Vec::with_capacity(lines.len());
    let mut own = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let d = l.discount.map_or(0, |d| discount_of(l.gross, d));
        if d > l.gross {
            return Err(TotalsError::Line(i + 1));
        }
        own.push(d);
        after.push(l.gross - d);
    }
    let rest: i64 = after.iter().sum();
    let ticket = ticket.map_or(0, |d| discount_of(rest, d));
    if ticket > rest {
        return Err(TotalsError::Ticket);
    }
    let shares = allocate(ticket, &after);
    let out: Vec<LineOut> = lines
        .iter()
        .zip(own)
        .zip(after.iter().zip(&shares))
        .map(|((l, discount), (after, share))| {
            let t = line_tax(after - share, l.rate_bp, prices_include_tax);
            LineOut { discount, ticket_discount: *share, net: t.net, tax: t.tax, total: t.gross }
        })
        .collect();
    Ok(Totals {
        subtotal: lines.iter().map(|l| l.gross).sum(),
        discount: out.iter().map(|l| l.discount + l.ticket_discount).sum(),
        net: out.iter().map(|l| l.net).sum(),
        tax: out.iter().map(|l| l.tax).sum(),
        total: out.iter().map(|l| l.total).sum(),
        lines: out,
    })
}

/// The first discount above a cashier's limit (`limit_bp` of what it discounts), described; on any
/// line (its own discount against its price × quantity) or on the whole ticket (every discount
/// against the subtotal). None when all are within it.
pub fn above_limit(lines: &[LineIn], totals: &Totals, limit_bp: i64) -> Option<String> {
    let over =
        |discount: i64, base: i64| i128::from(discount) * i128::from(BP) > i128::from(base) * i128::from(limit_bp);
    let pct = |bp: i64| format!("{}.{:02} %", bp / 100, bp % 100);
    for (i, (l, o)) in lines.iter().zip(&totals.lines).enumerate() {
        if over(o.discount, l.gross) {
            return Some(format!(
                "line {}: a discount of {} of {} is more than {} a cashier may give",
                i + 1,
                o.discount,
                l.gross,
                pct(limit_bp)
            ));
        }
    }
    over(totals.discount, totals.subtotal).then(|| {
        format!(
            "the ticket's discounts ({} of {}) are more than {} a cashier may give",
            totals.discount,
            totals.subtotal,
            pct(limit_bp)
        )
    })
}

/// What refunding `quantity` more units of a line of `sold` units, of which `already` were refunded,
/// gives back of `amount` (its total, or its tax): the difference of the cumulative shares, each
/// rounded like tax, so refunding every unit, in any number of refunds, gives back exactly `amount`.
pub fn refund_share(amount: i64, sold: i64, already: i64, quantity: i64) -> i64 {
    let upto = |q: i64| div_round(i128::from(amount) * i128::from(q), i128::from(sold.max(1))) as i64;
    upto(already + quantity) - upto(already)
}

/// The rate a product is taxed at: its own while that exists and is active, else the shop's default
/// (when it exists and is active), else none (untaxed). The same on the server and a phone offline.
pub fn rate_for(own: Option<Uuid>, default: Option<Uuid>, rates: &[TaxRate]) -> Option<&TaxRate> {
    let usable = |id: Uuid| rates.iter().find(|r| r.id == id && r.active && r.deleted_at.is_none());
    own.and_then(usable).or_else(|| default.and_then(usable))
}

/// A line about to be sold: what the product costs, its discount and its tax (name and rate).
#[derive(Debug, Clone, PartialEq)]
pub struct Priced {
    pub product_id: Uuid,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub discount: Option<Discount>,
    pub tax: Option<(String, i64)>,
}

/// The lines of a sale as it is kept (with their discounts, net and tax) and its figures.
pub fn sale_lines(
    priced: &[Priced],
    ticket: Option<Discount>,
    prices_include_tax: bool,
) -> Result<(Vec<SaleLine>, Totals), TotalsError> {
    let ins: Vec<LineIn> = priced
        .iter()
        .map(|p| LineIn {
            gross: p.unit_price_cents * p.quantity,
            discount: p.discount,
            rate_bp: p.tax.as_ref().map_or(0, |t| t.1),
        })
        .collect();
    let totals = compute(&ins, ticket, prices_include_tax)?;
    let lines = priced
        .iter()
        .zip(&totals.lines)
        .map(|(p, o)| SaleLine {
            product_id: p.product_id,
            quantity: p.quantity,
            unit_price_cents: p.unit_price_cents,
            total_cents: o.total,
            discount: p.discount,
            discount_cents: o.discount,
            ticket_discount_cents: o.ticket_discount,
            tax_name: p.tax.as_ref().map(|t| t.0.clone()).unwrap_or_default(),
            tax_rate_bp: p.tax.as_ref().map_or(0, |t| t.1),
            net_cents: o.net,
            tax_cents: o.tax,
            refunded_quantity: 0,
        })
        .collect();
    Ok((lines, totals))
}

/// A discount as a cashier types it: "10%" or "12,5 %" is a percentage, anything else an amount of
/// the currency ("1,50"). Empty: none. Anything else is `invalid_discount`.
pub fn parse_discount(text: &str, digits: u8) -> Result<Option<Discount>, crate::i18n::Key> {
    const BAD: crate::i18n::Key = "invalid_discount";
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let d = match t.strip_suffix('%') {
        // A percentage is an amount with two decimals: "12,5" → 1250 basis points.
        Some(p) => Discount::PercentBp(crate::money::parse_minor(p.trim(), 2).map_err(|_| BAD)?),
        None => Discount::AmountCents(crate::money::parse_minor(t, digits).map_err(|_| BAD)?),
    };
    match d {
        Discount::PercentBp(bp) if !(1..=BP).contains(&bp) => Err(BAD),
        Discount::AmountCents(0) => Err(BAD),
        d => Ok(Some(d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (amount, rate in bp, prices include tax) → (net, tax, gross), each worked out by hand.
    type Case = (i64, i64, bool, (i64, i64, i64));
    const CASES: &[Case] = &[
        // 121,00 with 21 % inside: 21,00 of tax.
        (12_100, 2_100, true, (10_000, 2_100, 12_100)),
        // 1,00 with 21 % inside: 100 × 21/121 = 17,355… → 17.
        (100, 2_100, true, (83, 17, 100)),
        // 0,05 with 10,5 % inside: 5 × 1050/11050 = 0,475 → 0; 0,06: 0,570 → 1.
        (5, 1_050, true, (5, 0, 5)),
        (6, 1_050, true, (5, 1, 6)),
        // 0,50 + 21 %: 10,5 → 11 (half-even would say 10); 2,50 + 21 %: 52,5 → 53.
        (50, 2_100, false, (50, 11, 61)),
        (250, 2_100, false, (250, 53, 303)),
        // 1,00 + 27 % (Argentina's top rate): 27.
        (100, 2_700, false, (100, 27, 127)),
        // Exempt: no tax in either mode.
        (999, 0, true, (999, 0, 999)),
        (999, 0, false, (999, 0, 999)),
        // A refund mirrors its sale: -0,50 + 21 % is -10,5 → -11.
        (-50, 2_100, false, (-50, -11, -61)),
        (-100, 2_100, true, (-83, -17, -100)),
        // The largest sale total (10¹²) at 100 % does not overflow.
        (1_000_000_000_000, 10_000, false, (1_000_000_000_000, 1_000_000_000_000, 2_000_000_000_000)),
        (1_000_000_000_000, 10_000, true, (500_000_000_000, 500_000_000_000, 1_000_000_000_000)),
    ];

    #[test]
    fn line_tax_by_hand() {
        for &(amount, rate, inside, (net, tax, gross)) in CASES {
            assert_eq!(
                line_tax(amount, rate, inside),
                LineTax { net, tax, gross },
                "{amount} at {rate} bp, inside {inside}"
            );
        }
    }

    #[test]
    fn a_ticket_discount_is_shared_exactly() {
        // 1,00 off lines of 3,00, 3,00 and 4,00: 30 + 30 + 40.
        assert_eq!(allocate(100, &[300, 300, 400]), vec![30, 30, 40]);
        // 1,00 off three equal lines: 34 + 33 + 33 (the cent left over goes to the first).
        assert_eq!(allocate(100, &[500, 500, 500]), vec![34, 33, 33]);
        // 0,10 off 0,01 + 9,99: by their weights, 0 + 10.
        assert_eq!(allocate(10, &[1, 999]), vec![0, 10]);
        assert_eq!(allocate(-7, &[1, 1]), vec![-4, -3]);
        assert_eq!(allocate(5, &[0, 0]), vec![0, 0]);
        for (total, weights) in [(997, vec![13, 7, 1, 1000]), (1, vec![3, 3, 3]), (123_456, vec![1; 500])] {
            assert_eq!(allocate(total, &weights).iter().sum::<i64>(), total);
        }
    }

    fn line(gross: i64, discount: Option<Discount>, rate_bp: i64) -> LineIn {
        LineIn { gross, discount, rate_bp }
    }

    #[test]
    fn a_sale_with_line_and_ticket_discounts_by_hand() {
        use Discount::*;
        // Tax included. 3 × 4,00 at 21 % with 10 % off (1,20) = 10,80; 1 × 5,00 exempt with 0,50 off
        // = 4,50. Ticket: 1,53 off 15,30, shared 10,80 : 4,50 → 1,08 + 0,45. Charged 9,72 and 4,05.
        // Tax of 9,72 at 21 % inside: 972 × 2100/12100 = 168,69… → 169.
        let lines = [line(1200, Some(PercentBp(1000)), 2100), line(500, Some(AmountCents(50)), 0)];
        let t = compute(&lines, Some(AmountCents(153)), true).unwrap();
        assert_eq!(
            t.lines,
            vec![
                LineOut { discount: 120, ticket_discount: 108, net: 803, tax: 169, total: 972 },
                LineOut { discount: 50, ticket_discount: 45, net: 405, tax: 0, total: 405 },
            ]
        );
        assert_eq!((t.subtotal, t.discount, t.net, t.tax, t.total), (1700, 323, 1208, 169, 1377));
        // Tax added: the same discounts come off the net, then 21 % of 9,72 = 204,12 → 204.
        let t = compute(&lines, Some(AmountCents(153)), false).unwrap();
        assert_eq!(t.lines[0], LineOut { discount: 120, ticket_discount: 108, net: 972, tax: 204, total: 1176 });
        assert_eq!((t.subtotal, t.discount, t.net, t.tax, t.total), (1700, 323, 1377, 204, 1581));
        // A 12,5 % ticket discount on 0,99: 12,375 → 12.
        let t = compute(&[line(99, None, 0)], Some(PercentBp(1250)), true).unwrap();
        assert_eq!((t.discount, t.total), (12, 87));
        // 100 % off is allowed (a gift); more than the line or the rest is not.
        assert_eq!(compute(&[line(99, Some(PercentBp(10_000)), 2100)], None, false).unwrap().total, 0);
        assert_eq!(compute(&[line(99, Some(AmountCents(100)), 0)], None, true), Err(TotalsError::Line(1)));
        assert_eq!(
            compute(&[line(99, Some(AmountCents(50)), 0)], Some(AmountCents(50)), true),
            Err(TotalsError::Ticket)
        );
    }

    #[test]
    fn a_cashiers_limit_is_checked_per_line_and_per_ticket() {
        use Discount::*;
        let lines = [line(1000, Some(PercentBp(1000)), 0), line(9000, None, 0)];
        let t = compute(&lines, None, true).unwrap();
        assert_eq!(above_limit(&lines, &t, 1000), None);
        assert!(above_limit(&lines, &t, 999).unwrap().starts_with("line 1:"));
        // 1 % of the ticket is within 10 %; 1 000 of 10 000 exactly at the limit is too.
        let t = compute(&lines[1..], Some(AmountCents(900)), true).unwrap();
        assert_eq!(above_limit(&lines[1..], &t, 1000), None);
        let t = compute(&lines[1..], Some(AmountCents(901)), true).unwrap();
        assert!(above_limit(&lines[1..], &t, 1000).unwrap().starts_with("the ticket's"));
    }

    #[test]
    fn refunds_give_back_exactly_what_was_sold() {
        // A line of 3 units for 10,00 (tax 1,74): one unit is 3,33 (10/3 = 3,333 → 3,33), two are
        // 6,67 − 3,33 = 3,34, three 10,00 − 6,67 = 3,33: 3,33 + 3,34 + 3,33 = 10,00.
        assert_eq!(refund_share(1000, 3, 0, 1), 333);
        assert_eq!(refund_share(1000, 3, 1, 1), 334);
        assert_eq!(refund_share(1000, 3, 2, 1), 333);
        assert_eq!(refund_share(1000, 3, 0, 3), 1000);
        assert_eq!(refund_share(174, 3, 0, 1) + refund_share(174, 3, 1, 2), 174);
        // Half a cent rounds up: 1 unit of 2 for 0,05 is 0,025 → 0,03; the other 0,02.
        assert_eq!((refund_share(5, 2, 0, 1), refund_share(5, 2, 1, 1)), (3, 2));
    }

    #[test]
    fn a_discount_is_typed_as_a_percentage_or_an_amount() {
        use Discount::*;
        assert_eq!(parse_discount("10%", 2), Ok(Some(PercentBp(1000))));
        assert_eq!(parse_discount(" 12,5 % ", 2), Ok(Some(PercentBp(1250))));
        assert_eq!(parse_discount("1,50", 2), Ok(Some(AmountCents(150))));
        assert_eq!(parse_discount("150", 0), Ok(Some(AmountCents(150))));
        assert_eq!(parse_discount("", 2), Ok(None));
        assert_eq!(parse_discount("0%", 2), Err("invalid_discount"));
        assert_eq!(parse_discount("101%", 2), Err("invalid_discount"));
        assert_eq!(parse_discount("0", 2), Err("invalid_discount"));
        assert_eq!(parse_discount("diez", 2), Err("invalid_discount"));
    }

    #[test]
    fn a_products_rate_falls_back_to_the_default_then_to_none() {
        let rate = |n: u128, active: bool, deleted: bool| TaxRate {
            id: Uuid::from_u128(n),
            name: format!("r{n}"),
            rate_bp: 2100,
            active,
            version: 1,
            created_at: String::new(),
            updated_at: String::new(),
            deleted_at: deleted.then(String::new),
        };
        let rates = [rate(1, true, false), rate(2, false, false), rate(3, true, true)];
        let id = Uuid::from_u128;
        assert_eq!(rate_for(Some(id(1)), Some(id(1)), &rates).map(|r| r.id), Some(id(1)));
        assert_eq!(rate_for(Some(id(2)), Some(id(1)), &rates).map(|r| r.id), Some(id(1)));
        assert_eq!(rate_for(Some(id(3)), None, &rates), None);
        assert_eq!(rate_for(None, Some(id(2)), &rates), None);
        assert_eq!(rate_for(Some(id(9)), Some(id(1)), &rates).map(|r| r.id), Some(id(1)));
    }
}
