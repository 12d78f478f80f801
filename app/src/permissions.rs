//! Who may do what (issue #12, point 7): the one table of the shop's actions and the roles allowed
//! each. The server enforces it (`mostrador::permissions::require` in the handlers, and the
//! `AdminUser` extractor for the admin-only areas); the app reads the same table to hide what a role
//! cannot do. The README's permission table is checked against [`TABLE`] by a unit test.

use crate::model::Role;

/// A thing someone does in the shop. Some depend on the request's body (an inventory movement's
/// reason, an expense with or without a till, a sale line with its own price).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A sale at the catalog's prices, or converting a quote into one.
    Sell,
    OpenTill,
    CloseTill,
    /// Cash in or out of an open till.
    CashMovement,
    /// An expense paid from an open till (`cash_session_id` given).
    TillExpense,
    CreateCustomer,
    /// An inventory movement with reason `purchase`.
    ReceiveStock,
    /// A sale line that carries its own `unit_price_cents` (a price override).
    OverridePrice,
    /// A refund of a sale's lines, or the void of a sale while its till is open.
    Refund,
    /// A discount above the shop's limit for cashiers (`cashier_max_discount_bp`).
    DiscountAboveLimit,
    /// Creating or editing a product: its price, cost, codes and name. A barcode or name moved to
    /// another product changes what a scan charges, so this is the same as changing a price.
    EditProducts,
    EditCategories,
    EditTaxRates,
    /// Quotes carry their own line prices (a converted quote is sold at them).
    EditQuotes,
    EditCustomers,
    /// Deleting a product, category, customer or quote.
    DeleteRecords,
    /// Inventory movements with reason `adjustment`, `waste` or `return`.
    AdjustStock,
    /// An expense outside a till (no `cash_session_id`).
    OtherExpense,
    ManageUsers,
    /// The shop's name, address, tax id and receipt texts.
    ShopSettings,
    Backups,
    /// The dashboard, the audit log and the alerts.
    Reports,
    Exports,
    /// High availability: status, emergency mode, shipping, reconciliation; the phone set-up (https
    /// addresses, the shop's CA).
    System,
}

/// Every action, with the requests it covers and whether a cashier may do it (an admin may do all).
pub const TABLE: &[(Action, &str, bool)] = &[
    (Action::Sell, "`POST /api/sales` (catalog prices), `POST /api/quotes/{id}/convert`", true),
    (Action::OpenTill, "`POST /api/cash-sessions`", true),
    (Action::CloseTill, "`POST /api/cash-sessions/{id}/close`", true),
    (Action::CashMovement, "`POST /api/cash-movements` (open till)", true),
    (Action::TillExpense, "`POST /api/expenses` with `cash_session_id` (open till)", true),
    (Action::CreateCustomer, "`POST /api/customers`", true),
    (Action::ReceiveStock, "`POST /api/inventory-movements` reason `purchase`", true),
    (Action::OverridePrice, "`POST /api/sales` with a line's own `unit_price_cents`", false),
    (Action::Refund, "`POST /api/refunds`, `POST /api/sales/{id}/void`", true),
    (Action::DiscountAboveLimit, "`POST /api/sales` with discounts above `cashier_max_discount_bp`", false),
    (Action::EditProducts, "`POST /api/products`, `PATCH /api/products/{id}` (price, cost, codes, name)", false),
    (Action::EditCategories, "`POST /api/categories`, `PATCH /api/categories/{id}`", false),
    (Action::EditTaxRates, "`POST /api/tax-rates`, `PATCH /api/tax-rates/{id}`", false),
    (Action::EditQuotes, "`POST /api/quotes`, `PATCH /api/quotes/{id}`", false),
    (Action::EditCustomers, "`PATCH /api/customers/{id}`", false),
    (Action::DeleteRecords, "`DELETE /api/{products,categories,customers,quotes,tax-rates}/{id}`", false),
    (Action::AdjustStock, "`POST /api/inventory-movements` reason `adjustment`, `waste` or `return`", false),
    (Action::OtherExpense, "`POST /api/expenses` without a till", false),
    (Action::ManageUsers, "`/api/users*`", false),
    (Action::ShopSettings, "`PUT /api/settings`, `PUT /api/settings/logo`, `PUT /api/settings/taxes`", false),
    (Action::Backups, "`/api/backups*`", false),
    (Action::Reports, "`GET /api/dashboard`, `GET /api/audit`, `GET /api/alerts`", false),
    (Action::Exports, "`GET /api/export/{entity}`", false),
    (Action::System, "`/api/ha/*` (but the peer routes, which take the shared secret), `GET /api/tls/phone`", false),
];

/// True when `role` may do `action`.
pub fn allowed(role: Role, action: Action) -> bool {
    match role {
        Role::Admin => true,
        Role::Cashier => TABLE.iter().any(|(a, _, cashier)| *a == action && *cashier),
    }
}

/// The action of a catalog write: `table` is the entity's table (`products`…), `method` the HTTP
/// method (`POST` creates, `PATCH` edits, `DELETE` deletes).
pub fn catalog_write(table: &str, method: &str) -> Action {
    match (table, method) {
        (_, "DELETE") => Action::DeleteRecords,
        ("customers", "POST") => Action::CreateCustomer,
        ("customers", _) => Action::EditCustomers,
        ("categories", _) => Action::EditCategories,
        ("tax_rates", _) => Action::EditTaxRates,
        ("quotes", _) => Action::EditQuotes,
        _ => Action::EditProducts,
    }
}

/// The action of an inventory movement, by its reason.
pub fn inventory_movement(reason: crate::wire::StockReason) -> Action {
    if reason == crate::wire::StockReason::Purchase {
        Action::ReceiveStock
    } else {
        Action::AdjustStock
    }
}

/// The README's table, as the unit test expects it.
pub fn markdown_table() -> String {
    let mut out = String::from("| Action | Requests | Cashier | Admin |\n|---|---|---|---|\n");
    for (action, requests, cashier) in TABLE {
        out.push_str(&format!("| {action:?} | {requests} | {} | yes |\n", if *cashier { "yes" } else { "no" }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_may_do_everything_and_cashiers_only_the_counter_work() {
        for (action, _, cashier) in TABLE {
            assert!(allowed(Role::Admin, *action));
            assert_eq!(allowed(Role::Cashier, *action), *cashier, "{action:?}");
        }
        assert!(allowed(Role::Cashier, Action::Sell));
        assert!(!allowed(Role::Cashier, Action::EditProducts));
        assert!(!allowed(Role::Cashier, Action::AdjustStock));
    }

    #[test]
    fn every_action_is_in_the_table_once() {
        let mut seen = std::collections::HashSet::new();
        for (action, _, _) in TABLE {
            assert!(seen.insert(*action), "{action:?} twice");
        }
        assert_eq!(seen.len(), 24);
    }

    /// The README shows exactly this table (between its permission-table markers).
    #[test]
    fn the_readme_table_is_the_code_table() {
        let readme = include_str!("../../README.md");
        let start = readme.find("<!-- permissions:start -->\n").expect("README permission table start marker") + 27;
        let end = readme.find("<!-- permissions:end -->").expect("README permission table end marker");
        assert_eq!(
            &readme[start..end],
            markdown_table(),
            "update the README's permission table from permissions::markdown_table()"
        );
    }
}
