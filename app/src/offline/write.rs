//! Typed writes: each body of `crate::wire` knows where it is sent, which row it makes or changes
//! and what must reach the server before it, so a page builds a value and the outbox item follows.

use serde_json::Value;
use uuid::Uuid;

use super::outbox::{Action, ItemState, OutboxItem};
use super::sync::now_iso;
use crate::wire::{CloseTill, NewCashMovement, NewExpense, NewRefund, NewSale, NewStockMovement, OpenTill, VoidSale};

pub trait OutboxWrite {
    /// The local table of the row it makes or changes (`sales`, `cash_sessions`, …).
    fn table(&self) -> &str;
    fn path(&self) -> String;
    /// The row it makes or changes.
    fn entity_id(&self) -> Uuid;
    fn body(&self) -> Option<Value>;
    fn method(&self) -> &'static str {
        "POST"
    }
    fn action(&self) -> Action {
        Action::Create
    }
    /// Rows that must exist on the server first (its till, its products, its customer).
    fn depends_on(&self) -> Vec<Uuid> {
        Vec::new()
    }
}

impl OutboxItem {
    /// A new pending item of `user` for `write`, with a fresh idempotency key.
    pub fn new(user: Uuid, write: &impl OutboxWrite) -> OutboxItem {
        OutboxItem {
            seq: None,
            key: Uuid::new_v4(),
            user_id: user,
            method: write.method().into(),
            path: write.path(),
            body: write.body(),
            table: write.table().into(),
            action: write.action(),
            entity_id: write.entity_id(),
            depends_on: write.depends_on(),
            base: None,
            preview: None,
            label: String::new(),
            created_at: now_iso(),
            state: ItemState::Pending,
            attempts: 0,
            last_attempt_at: None,
            error: None,
        }
    }
}

fn json(body: &impl serde::Serialize) -> Option<Value> {
    serde_json::to_value(body).ok()
}

impl OutboxWrite for NewSale {
    fn table(&self) -> &str {
        "sales"
    }
    fn path(&self) -> String {
        "/api/sales".into()
    }
    fn entity_id(&self) -> Uuid {
        self.id
    }
    fn body(&self) -> Option<Value> {
        json(self)
    }
    fn depends_on(&self) -> Vec<Uuid> {
        let mut needs = vec![self.cash_session_id];
        needs.extend(self.lines.iter().map(|l| l.product_id));
        needs.extend(self.customer_id);
        needs
    }
}

impl OutboxWrite for NewRefund {
    fn table(&self) -> &str {
        "refunds"
    }
    fn path(&self) -> String {
        "/api/refunds".into()
    }
    fn entity_id(&self) -> Uuid {
        self.id
    }
    fn body(&self) -> Option<Value> {
        json(self)
    }
    fn depends_on(&self) -> Vec<Uuid> {
        vec![self.sale_id, self.cash_session_id]
    }
}

/// Voiding the sale `sale` (a mistake, while its till is open).
pub struct VoidOf {
    pub sale: Uuid,
    pub body: VoidSale,
}

impl OutboxWrite for VoidOf {
    fn table(&self) -> &str {
        "sales"
    }
    fn path(&self) -> String {
        format!("/api/sales/{}/void", self.sale)
    }
    fn entity_id(&self) -> Uuid {
        self.sale
    }
    fn body(&self) -> Option<Value> {
        json(&self.body)
    }
    fn action(&self) -> Action {
        Action::Void
    }
    fn depends_on(&self) -> Vec<Uuid> {
        vec![self.sale]
    }
}

impl OutboxWrite for OpenTill {
    fn table(&self) -> &str {
        "cash_sessions"
    }
    fn path(&self) -> String {
        "/api/cash-sessions".into()
    }
    fn entity_id(&self) -> Uuid {
        self.id
    }
    fn body(&self) -> Option<Value> {
        json(self)
    }
}

/// Closing the till `till` with the cash counted.
pub struct CloseTillOf {
    pub till: Uuid,
    pub body: CloseTill,
}

impl OutboxWrite for CloseTillOf {
    fn table(&self) -> &str {
        "cash_sessions"
    }
    fn path(&self) -> String {
        format!("/api/cash-sessions/{}/close", self.till)
    }
    fn entity_id(&self) -> Uuid {
        self.till
    }
    fn body(&self) -> Option<Value> {
        json(&self.body)
    }
    fn action(&self) -> Action {
        Action::Close
    }
    fn depends_on(&self) -> Vec<Uuid> {
        vec![self.till]
    }
}

impl OutboxWrite for NewCashMovement {
    fn table(&self) -> &str {
        "cash_movements"
    }
    fn path(&self) -> String {
        "/api/cash-movements".into()
    }
    fn entity_id(&self) -> Uuid {
        self.id
    }
    fn body(&self) -> Option<Value> {
        json(self)
    }
    fn depends_on(&self) -> Vec<Uuid> {
        vec![self.cash_session_id]
    }
}

impl OutboxWrite for NewExpense {
    fn table(&self) -> &str {
        "expenses"
    }
    fn path(&self) -> String {
        "/api/expenses".into()
    }
    fn entity_id(&self) -> Uuid {
        self.id
    }
    fn body(&self) -> Option<Value> {
        json(self)
    }
    fn depends_on(&self) -> Vec<Uuid> {
        self.cash_session_id.into_iter().collect()
    }
}

impl OutboxWrite for NewStockMovement {
    fn table(&self) -> &str {
        "inventory_movements"
    }
    fn path(&self) -> String {
        "/api/inventory-movements".into()
    }
    fn entity_id(&self) -> Uuid {
        self.id
    }
    fn body(&self) -> Option<Value> {
        json(self)
    }
    fn depends_on(&self) -> Vec<Uuid> {
        vec![self.product_id]
    }
}

/// A catalog row (product, customer, category, quote) made, edited or deleted through its generic
/// form: the fields are the entity's, the version the one the person saw.
pub struct CatalogWrite<'a> {
    pub table: &'a str,
    pub action: Action,
    pub id: Uuid,
    /// The version an edit or delete is based on (a create ignores it).
    pub version: i64,
    pub fields: Option<serde_json::Map<String, Value>>,
}

impl OutboxWrite for CatalogWrite<'_> {
    fn table(&self) -> &str {
        self.table
    }
    fn path(&self) -> String {
        let (table, id) = (crate::wire::segment(self.table), self.id);
        match self.action {
            Action::Create => format!("/api/{table}"),
            Action::Delete => format!("/api/{table}/{id}?version={}", self.version),
            _ => format!("/api/{table}/{id}"),
        }
    }
    fn entity_id(&self) -> Uuid {
        self.id
    }
    fn body(&self) -> Option<Value> {
        let mut fields = self.fields.clone()?;
        match self.action {
            Action::Create => fields.insert("id".into(), Value::from(self.id.to_string())),
            _ => fields.insert("version".into(), Value::from(self.version)),
        };
        Some(Value::Object(fields))
    }
    fn method(&self) -> &'static str {
        match self.action {
            Action::Create => "POST",
            Action::Delete => "DELETE",
            _ => "PATCH",
        }
    }
    fn action(&self) -> Action {
        self.action
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Payment;
    use crate::wire::{NewLine, PaymentMethod};

    #[test]
    fn a_sale_waits_for_its_till_its_products_and_its_customer() {
        let (till, product, customer) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let sale = NewSale {
            id: Uuid::new_v4(),
            cash_session_id: till,
            customer_id: Some(customer),
            lines: vec![NewLine { product_id: product, quantity: 2, unit_price_cents: None, discount: None }],
            payments: vec![Payment { method: PaymentMethod::Cash, amount_cents: 500 }],
            discount: None,
            discount_reason: String::new(),
            receipt_no: None,
        };
        let item = OutboxItem::new(Uuid::nil(), &sale);
        assert_eq!((item.method.as_str(), item.path.as_str(), item.table.as_str()), ("POST", "/api/sales", "sales"));
        assert_eq!(item.depends_on, vec![till, product, customer]);
        assert_eq!(item.entity_id, sale.id);
        assert_eq!(item.body.unwrap()["payments"][0]["method"], "cash");
    }

    #[test]
    fn catalog_writes_go_where_the_api_expects_them() {
        let id = Uuid::new_v4();
        let fields = serde_json::Map::from_iter([("name".to_string(), Value::from("Té"))]);
        let write = |action, fields| CatalogWrite { table: "products", action, id, version: 3, fields };
        let create = OutboxItem::new(Uuid::nil(), &write(Action::Create, Some(fields.clone())));
        assert_eq!((create.method.as_str(), create.path.as_str()), ("POST", "/api/products"));
        assert_eq!(create.body.unwrap()["id"], id.to_string());
        let edit = OutboxItem::new(Uuid::nil(), &write(Action::Update, Some(fields)));
        assert_eq!((edit.method.as_str(), edit.path), ("PATCH", format!("/api/products/{id}")));
        assert_eq!(edit.body.unwrap()["version"], 3);
        let delete = OutboxItem::new(Uuid::nil(), &write(Action::Delete, None));
        assert_eq!((delete.method.as_str(), delete.path), ("DELETE", format!("/api/products/{id}?version=3")));
        assert_eq!(delete.body, None);
    }
}
