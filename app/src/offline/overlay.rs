//! What a screen shows = the server's rows as last pulled + this device's outbox laid over them, in
//! queue order. Recomputed on every read, so a pull can never erase a pending change, and an item
//! leaves the outbox in the same IndexedDB transaction as the pulled data that includes it, so it is
//! never counted twice. Rows touched by an open item carry `"_pending": "<state>"`.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::outbox::{Action, ItemState, OutboxItem};

fn state_name(s: ItemState) -> &'static str {
    match s {
        ItemState::Pending => "pending",
        ItemState::Failed => "failed",
        ItemState::Conflict => "conflict",
        ItemState::Done => "done",
    }
}

fn id_of(row: &Value) -> String {
    row.get("id").and_then(Value::as_str).unwrap_or_default().to_string()
}

fn add_i64(row: &mut Value, field: &str, delta: i64) {
    if let Some(obj) = row.as_object_mut() {
        let now = obj.get(field).and_then(Value::as_i64).unwrap_or(0);
        obj.insert(field.into(), Value::from(now + delta));
    }
}

/// Cash a sale leaves in the drawer: cash taken minus change given.
pub fn sale_cash_cents(sale: &Value) -> i64 {
    let cash: i64 = sale
        .get("payments")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter(|p| p.get("method").and_then(Value::as_str) == Some("cash"))
                .filter_map(|p| p.get("amount_cents").and_then(Value::as_i64))
                .sum()
        })
        .unwrap_or(0);
    cash - sale.get("change_cents").and_then(Value::as_i64).unwrap_or(0)
}

/// `rows` of `table` with every outbox item applied.
pub fn overlay(table: &str, rows: Vec<Value>, items: &[OutboxItem]) -> Vec<Value> {
    let mut rows = rows;
    let mut index: HashMap<String, usize> = rows.iter().enumerate().map(|(i, r)| (id_of(r), i)).collect();
    let mut removed: Vec<bool> = vec![false; rows.len()];
    // Rows a failed create never made: a void or refund of one of them waits (424) and has no effect.
    let never_made: Vec<uuid::Uuid> = items
        .iter()
        .filter(|i| i.action == Action::Create && i.state == ItemState::Failed)
        .map(|i| i.entity_id)
        .collect();

    for item in items {
        let id = item.entity_id.to_string();
        let mark = |row: &mut Value| {
            if item.is_open() {
                if let Some(o) = row.as_object_mut() {
                    o.insert("_pending".into(), json!(state_name(item.state)));
                }
            }
        };
        if item.table == table {
            match item.action {
                Action::Create => match index.get(&id) {
                    Some(&i) => {
                        if !item.is_open() {
                            continue;
                        }
                        mark(&mut rows[i]);
                    }
                    None => {
                        let Some(mut row) = item.preview.clone() else { continue };
                        mark(&mut row);
                        index.insert(id, rows.len());
                        rows.push(row);
                        removed.push(false);
                    }
                },
                Action::Update => {
                    if let (Some(&i), Some(Value::Object(changes))) = (index.get(&id), item.body.as_ref()) {
                        if let Some(row) = rows[i].as_object_mut() {
                            for (k, v) in changes {
                                if k != "version" {
                                    row.insert(k.clone(), v.clone());
                                }
                            }
                        }
                        mark(&mut rows[i]);
                    }
                }
                Action::Delete => {
                    if let Some(&i) = index.get(&id) {
                        removed[i] = true;
                    }
                }
                // The sale as the void leaves it; its stock and cash are undone below.
                Action::Void => {
                    if let Some(&i) = index.get(&id) {
                        let reason = item.body.as_ref().and_then(|b| b.get("reason")).cloned().unwrap_or(Value::Null);
                        if let Some(o) = rows[i].as_object_mut() {
                            if o.get("voided_at").map(Value::is_null).unwrap_or(true) {
                                o.insert("voided_at".into(), json!(item.created_at));
                                o.insert("void_reason".into(), reason);
                            }
                        }
                        mark(&mut rows[i]);
                    }
                }
                Action::Close => {
                    if let Some(&i) = index.get(&id) {
                        let counted = item
                            .body
                            .as_ref()
                            .and_then(|b| b.get("counted_cents"))
                            .and_then(Value::as_i64)
                            .unwrap_or(0);
                        let row = &mut rows[i];
                        let expected = row.get("expected_cents").and_then(Value::as_i64).unwrap_or(0);
                        if row.get("closed_at").map(Value::is_null).unwrap_or(true) {
                            if let Some(o) = row.as_object_mut() {
                                o.insert("closed_at".into(), json!(item.created_at));
                                o.insert("counted_cents".into(), json!(counted));
                                o.insert("difference_cents".into(), json!(counted - expected));
                            }
                        }
                        mark(row);
                    }
                }
            }
        }
        // Effects on other tables, as the server computes them. A confirmed (done) item's effect is
        // applied until its pull arrives, because pulled rows are the only thing that includes it.
        if item.state == ItemState::Failed || item.depends_on.iter().any(|d| never_made.contains(d)) {
            continue;
        }
        if item.action == Action::Void {
            // The preview is the sale voided: its units come back, its cash leaves the drawer.
            let Some(sale) = item.preview.as_ref() else { continue };
            match table {
                "products" => {
                    for line in sale.get("lines").and_then(Value::as_array).into_iter().flatten() {
                        let pid = line.get("product_id").and_then(Value::as_str).unwrap_or_default();
                        if let Some(&i) = index.get(pid) {
                            add_i64(&mut rows[i], "stock", line.get("quantity").and_then(Value::as_i64).unwrap_or(0));
                        }
                    }
                }
                "cash_sessions" => {
                    let sid = sale.get("cash_session_id").and_then(Value::as_str).unwrap_or_default();
                    if let Some(&i) = index.get(sid) {
                        add_i64(&mut rows[i], "expected_cents", -sale_cash_cents(sale));
                    }
                }
                _ => {}
            }
            continue;
        }
        if item.action != Action::Create {
            continue;
        }
        let body = item.body.clone().unwrap_or(Value::Null);
        match (item.table.as_str(), table) {
            ("sales", "products") => {
                for line in body.get("lines").and_then(Value::as_array).into_iter().flatten() {
                    let pid = line.get("product_id").and_then(Value::as_str).unwrap_or_default();
                    let qty = line.get("quantity").and_then(Value::as_i64).unwrap_or(0);
                    if let Some(&i) = index.get(pid) {
                        add_i64(&mut rows[i], "stock", -qty);
                    }
                }
            }
            ("inventory_movements", "products") => {
                let pid = body.get("product_id").and_then(Value::as_str).unwrap_or_default();
                if let Some(&i) = index.get(pid) {
                    add_i64(&mut rows[i], "stock", body.get("delta").and_then(Value::as_i64).unwrap_or(0));
                }
            }
            ("sales", "cash_sessions") => {
                let sid = body.get("cash_session_id").and_then(Value::as_str).unwrap_or_default();
                let cash = item.preview.as_ref().map(sale_cash_cents).unwrap_or(0);
                if let Some(&i) = index.get(sid) {
                    add_i64(&mut rows[i], "expected_cents", cash);
                }
            }
            // A refund (its preview carries the lines as computed): units back unless damaged, cash
            // out of its till, and the quantities taken back off the sale.
            ("refunds", "products") => {
                for line in
                    item.preview.as_ref().and_then(|p| p.get("lines")).and_then(Value::as_array).into_iter().flatten()
                {
                    let pid = line.get("product_id").and_then(Value::as_str).unwrap_or_default();
                    if line.get("damaged").and_then(Value::as_bool) == Some(true) {
                        continue;
                    }
                    if let Some(&i) = index.get(pid) {
                        add_i64(&mut rows[i], "stock", line.get("quantity").and_then(Value::as_i64).unwrap_or(0));
                    }
                }
            }
            ("refunds", "cash_sessions") if body.get("method").and_then(Value::as_str) == Some("cash") => {
                let sid = body.get("cash_session_id").and_then(Value::as_str).unwrap_or_default();
                let total =
                    item.preview.as_ref().and_then(|p| p.get("total_cents")).and_then(Value::as_i64).unwrap_or(0);
                if let Some(&i) = index.get(sid) {
                    add_i64(&mut rows[i], "expected_cents", -total);
                }
            }
            ("refunds", "sales") => {
                let sid = body.get("sale_id").and_then(Value::as_str).unwrap_or_default();
                let Some(&i) = index.get(sid) else { continue };
                let preview = item.preview.clone().unwrap_or(Value::Null);
                add_i64(
                    &mut rows[i],
                    "refunded_cents",
                    preview.get("total_cents").and_then(Value::as_i64).unwrap_or(0),
                );
                for line in preview.get("lines").and_then(Value::as_array).into_iter().flatten() {
                    let n = line.get("sale_line_no").and_then(Value::as_i64).unwrap_or(0);
                    let q = line.get("quantity").and_then(Value::as_i64).unwrap_or(0);
                    let sold = rows[i]
                        .get_mut("lines")
                        .and_then(Value::as_array_mut)
                        .and_then(|ls| ls.get_mut((n - 1).max(0) as usize));
                    if let Some(sold) = sold {
                        add_i64(sold, "refunded_quantity", q);
                    }
                }
            }
            ("cash_movements", "cash_sessions") => {
                let sid = body.get("cash_session_id").and_then(Value::as_str).unwrap_or_default();
                let amount = body.get("amount_cents").and_then(Value::as_i64).unwrap_or(0);
                let sign = if body.get("kind").and_then(Value::as_str) == Some("out") { -1 } else { 1 };
                if let Some(&i) = index.get(sid) {
                    add_i64(&mut rows[i], "expected_cents", sign * amount);
                }
            }
            ("expenses", "cash_sessions") => {
                if let Some(sid) = body.get("cash_session_id").and_then(Value::as_str) {
                    let amount = body.get("amount_cents").and_then(Value::as_i64).unwrap_or(0);
                    if let Some(&i) = index.get(sid) {
                        add_i64(&mut rows[i], "expected_cents", -amount);
                    }
                }
            }
            _ => {}
        }
    }
    rows.into_iter()
        .zip(removed)
        .filter(|(r, gone)| !gone && r.get("deleted_at").map(Value::is_null).unwrap_or(true))
        .map(|(r, _)| r)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn item(
        table: &str,
        action: Action,
        entity: Uuid,
        body: Value,
        preview: Option<Value>,
        state: ItemState,
    ) -> OutboxItem {
        OutboxItem {
            seq: None,
            key: Uuid::new_v4(),
            user_id: Uuid::nil(),
            method: "POST".into(),
            path: String::new(),
            body: Some(body),
            table: table.into(),
            action,
            entity_id: entity,
            depends_on: vec![],
            base: None,
            preview,
            label: String::new(),
            created_at: "2026-11-23T10:00:00.000Z".into(),
            state,
            attempts: 0,
            last_attempt_at: None,
            error: None,
        }
    }

    #[test]
    fn pending_sale_lowers_stock_and_raises_expected_cash_until_it_is_pulled() {
        let (p, s, sale_id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let products = vec![json!({"id": p.to_string(), "name": "Yerba", "stock": 10})];
        let sessions = vec![json!({"id": s.to_string(), "expected_cents": 1000, "closed_at": null})];
        let body = json!({"id": sale_id, "cash_session_id": s, "lines": [{"product_id": p, "quantity": 3}],
            "payments": [{"method": "cash", "amount_cents": 2000}]});
        let preview = json!({"id": sale_id, "total_cents": 1500, "change_cents": 500,
            "payments": [{"method": "cash", "amount_cents": 2000}]});
        let sale = item("sales", Action::Create, sale_id, body, Some(preview), ItemState::Pending);
        let shown = overlay("products", products.clone(), std::slice::from_ref(&sale));
        assert_eq!(shown[0]["stock"], 7);
        let shown = overlay("cash_sessions", sessions, std::slice::from_ref(&sale));
        assert_eq!(shown[0]["expected_cents"], 2500);
        let shown = overlay("sales", vec![], std::slice::from_ref(&sale));
        assert_eq!(shown[0]["_pending"], "pending");
        // Refused by the server: the stock was never taken.
        let mut failed = sale.clone();
        failed.state = ItemState::Failed;
        assert_eq!(overlay("products", products, &[failed])[0]["stock"], 10);
    }

    #[test]
    fn a_refund_and_a_void_give_back_stock_and_cash_until_they_are_pulled() {
        let (p, s, sale_id, refund_id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let products = vec![json!({"id": p.to_string(), "stock": 10})];
        let sessions = vec![json!({"id": s.to_string(), "expected_cents": 5000, "closed_at": null})];
        let sale = json!({"id": sale_id.to_string(), "cash_session_id": s, "total_cents": 1500, "change_cents": 500,
            "lines": [{"product_id": p, "quantity": 2, "refunded_quantity": 0}, {"product_id": p, "quantity": 1, "refunded_quantity": 0}],
            "payments": [{"method": "cash", "amount_cents": 2000}], "refunded_cents": 0});
        // A unit of each line back in cash, the second damaged: one unit to stock, 10,00 out of the drawer.
        let body = json!({"id": refund_id, "sale_id": sale_id, "cash_session_id": s, "method": "cash"});
        let preview = json!({"total_cents": 1000, "lines": [
            {"sale_line_no": 1, "product_id": p, "quantity": 1, "damaged": false},
            {"sale_line_no": 2, "product_id": p, "quantity": 1, "damaged": true}]});
        let mut refund = item("refunds", Action::Create, refund_id, body, Some(preview), ItemState::Pending);
        refund.depends_on = vec![sale_id, s];
        let one = std::slice::from_ref(&refund);
        assert_eq!(overlay("products", products.clone(), one)[0]["stock"], 11);
        assert_eq!(overlay("cash_sessions", sessions.clone(), one)[0]["expected_cents"], 4000);
        let shown = overlay("sales", vec![sale.clone()], one);
        assert_eq!(
            (
                &shown[0]["refunded_cents"],
                &shown[0]["lines"][0]["refunded_quantity"],
                &shown[0]["lines"][1]["refunded_quantity"]
            ),
            (&json!(1000), &json!(1), &json!(1))
        );
        // Its sale was refused by the server: the refund waits and changes nothing.
        let failed_sale = item("sales", Action::Create, sale_id, json!({}), None, ItemState::Failed);
        assert_eq!(overlay("products", products.clone(), &[failed_sale, refund.clone()])[0]["stock"], 10);
        // A void: the sale's three units back, its cash (15,00) out, the sale marked.
        let void =
            item("sales", Action::Void, sale_id, json!({"reason": "error"}), Some(sale.clone()), ItemState::Pending);
        let one = std::slice::from_ref(&void);
        assert_eq!(overlay("products", products, one)[0]["stock"], 13);
        assert_eq!(overlay("cash_sessions", sessions, one)[0]["expected_cents"], 3500);
        let shown = overlay("sales", vec![sale], one);
        assert_eq!((&shown[0]["void_reason"], &shown[0]["_pending"]), (&json!("error"), &json!("pending")));
        assert!(shown[0]["voided_at"].is_string());
    }

    #[test]
    fn edits_merge_over_pulled_rows_and_deletes_hide_them() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let rows = vec![
            json!({"id": a.to_string(), "name": "A", "version": 3}),
            json!({"id": b.to_string(), "name": "B", "version": 1}),
            json!({"id": c.to_string(), "name": "C", "version": 1, "deleted_at": "2026-11-01T00:00:00Z"}),
        ];
        let edit = item("customers", Action::Update, a, json!({"version": 2, "name": "A2"}), None, ItemState::Conflict);
        let delete = item("customers", Action::Delete, b, Value::Null, None, ItemState::Pending);
        let shown = overlay("customers", rows, &[edit, delete]);
        assert_eq!(shown.len(), 1, "deleted locally and tombstoned rows are gone");
        assert_eq!(shown[0]["name"], "A2");
        assert_eq!(shown[0]["version"], 3, "the row keeps the server's version");
        assert_eq!(shown[0]["_pending"], "conflict");
    }

    #[test]
    fn a_confirmed_create_whose_row_arrived_is_not_marked() {
        let id = Uuid::new_v4();
        let rows = vec![json!({"id": id.to_string(), "name": "Ana"})];
        let create = item(
            "customers",
            Action::Create,
            id,
            json!({}),
            Some(json!({"id": id.to_string(), "name": "Ana"})),
            ItemState::Done,
        );
        let shown = overlay("customers", rows, &[create]);
        assert_eq!(shown.len(), 1);
        assert!(shown[0].get("_pending").is_none());
    }
}
