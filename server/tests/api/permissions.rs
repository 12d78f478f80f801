//! Who may do what (README "Who may do what"): a cashier does the counter's work and gets 403
//! `forbidden` on everything that needs an admin, which then changes nothing.

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{code, status_json, TestApp};

async fn send(client: &Client, app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut r = client.request(method, app.url(path)).header("idempotency-key", Uuid::new_v4().to_string());
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub async fn cashier_does_counter_work_and_nothing_that_needs_an_admin(app: TestApp) {
    app.login_admin().await;
    let product = app.create_product("YERBA", 1000).await;
    let pid = product["id"].as_str().unwrap().to_owned();
    let admin = app.client.clone();
    let ok = |(s, b): (StatusCode, Value)| assert!(s.is_success(), "{s} {b}");
    ok(send(
        &admin,
        &app,
        Method::POST,
        "/api/inventory-movements",
        Some(json!({"id": Uuid::new_v4(), "product_id": pid, "delta": 10, "reason": "purchase"})),
    )
    .await);
    let (_, category) = send(&admin, &app, Method::POST, "/api/categories", Some(json!({"name": "Almacén"}))).await;
    let (_, customer) = send(&admin, &app, Method::POST, "/api/customers", Some(json!({"name": "Doña Rosa"}))).await;
    let (_, quote) = send(
        &admin,
        &app,
        Method::POST,
        "/api/quotes",
        Some(json!({"lines": [{"product_id": pid, "quantity": 1, "unit_price_cents": 900}]})),
    )
    .await;
    let (cat, cust, q) =
        (category["id"].as_str().unwrap(), customer["id"].as_str().unwrap(), quote["id"].as_str().unwrap());

    let cashier = app.client_for_new_user("cajera", "cashier").await;
    // The counter's work.
    let session = Uuid::new_v4();
    let allowed: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/api/cash-sessions".into(),
            Some(json!({"id": session, "register": "caja", "opening_float_cents": 1000})),
        ),
        (Method::POST, "/api/customers".into(), Some(json!({"name": "Don Pedro"}))),
        (
            Method::POST,
            "/api/inventory-movements".into(),
            Some(json!({"id": Uuid::new_v4(), "product_id": pid, "delta": 5, "reason": "purchase"})),
        ),
        (
            Method::POST,
            "/api/sales".into(),
            Some(json!({"id": Uuid::new_v4(), "cash_session_id": session,
            "lines": [{"product_id": pid, "quantity": 2}], "payments": [{"method": "cash", "amount_cents": 2000}]})),
        ),
        (
            Method::POST,
            format!("/api/quotes/{q}/convert"),
            Some(
                json!({"sale_id": Uuid::new_v4(), "cash_session_id": session, "payments": [{"method": "card", "amount_cents": 900}]}),
            ),
        ),
        (
            Method::POST,
            "/api/cash-movements".into(),
            Some(
                json!({"id": Uuid::new_v4(), "cash_session_id": session, "kind": "out", "amount_cents": 100, "reason": "cambio"}),
            ),
        ),
        (
            Method::POST,
            "/api/expenses".into(),
            Some(
                json!({"id": Uuid::new_v4(), "spent_on": "2026-11-22", "category": "limpieza", "amount_cents": 300, "cash_session_id": session}),
            ),
        ),
    ];
    for (method, path, body) in allowed {
        let (s, b) = send(&cashier, &app, method.clone(), &path, body).await;
        assert!(s.is_success(), "a cashier may {method} {path}: {s} {b}");
    }

    // What needs an admin: 403 forbidden, each.
    let admin_only: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/api/products".into(),
            Some(json!({"sku": "NUEVO", "name": "Nuevo", "price_cents": 1, "cost_cents": 0})),
        ),
        (Method::PATCH, format!("/api/products/{pid}"), Some(json!({"version": 1, "price_cents": 1}))),
        (Method::PATCH, format!("/api/products/{pid}"), Some(json!({"version": 1, "cost_cents": 5000}))),
        (Method::PATCH, format!("/api/products/{pid}"), Some(json!({"version": 1, "name": "Yerba barata"}))),
        (Method::DELETE, format!("/api/products/{pid}?version=1"), None),
        (Method::POST, "/api/categories".into(), Some(json!({"name": "Bebidas"}))),
        (Method::PATCH, format!("/api/categories/{cat}"), Some(json!({"version": 1, "name": "Otra"}))),
        (Method::DELETE, format!("/api/categories/{cat}?version=1"), None),
        (
            Method::POST,
            "/api/quotes".into(),
            Some(json!({"lines": [{"product_id": pid, "quantity": 1, "unit_price_cents": 1}]})),
        ),
        (Method::PATCH, format!("/api/customers/{cust}"), Some(json!({"version": 1, "name": "Otra"}))),
        (Method::DELETE, format!("/api/customers/{cust}?version=1"), None),
        (
            Method::POST,
            "/api/inventory-movements".into(),
            Some(json!({"id": Uuid::new_v4(), "product_id": pid, "delta": -3, "reason": "adjustment"})),
        ),
        (
            Method::POST,
            "/api/inventory-movements".into(),
            Some(json!({"id": Uuid::new_v4(), "product_id": pid, "delta": -3, "reason": "waste"})),
        ),
        (
            Method::POST,
            "/api/inventory-movements".into(),
            Some(json!({"id": Uuid::new_v4(), "product_id": pid, "delta": 3, "reason": "return"})),
        ),
        (
            Method::POST,
            "/api/sales".into(),
            Some(json!({"id": Uuid::new_v4(), "cash_session_id": session,
            "lines": [{"product_id": pid, "quantity": 1, "unit_price_cents": 1}], "payments": [{"method": "cash", "amount_cents": 1}]})),
        ),
        (
            Method::POST,
            "/api/expenses".into(),
            Some(json!({"id": Uuid::new_v4(), "spent_on": "2026-11-22", "category": "luz", "amount_cents": 300})),
        ),
        (Method::GET, "/api/users".into(), None),
        (
            Method::POST,
            "/api/users".into(),
            Some(json!({"username": "intruso", "password": "password-123", "role": "admin"})),
        ),
        (Method::GET, "/api/backups".into(), None),
        (Method::POST, "/api/backups".into(), None),
        (Method::GET, "/api/dashboard".into(), None),
        (Method::GET, "/api/audit".into(), None),
        (Method::GET, "/api/alerts".into(), None),
        (Method::GET, "/api/export/sales".into(), None),
        (Method::GET, "/api/ha/status".into(), None),
    ];
    for (method, path, body) in admin_only {
        let (s, b) = send(&cashier, &app, method.clone(), &path, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "a cashier may not {method} {path}: {b}");
        assert_eq!(code(&b), "forbidden", "{method} {path}");
    }
    // Through the sync push too (it runs each operation as its own call).
    let (s, pushed) = send(&cashier, &app, Method::POST, "/api/sync/push", Some(json!({"ops": [
        {"idempotency_key": Uuid::new_v4(), "method": "PATCH", "path": format!("/api/products/{pid}"), "body": {"version": 1, "price_cents": 1}}]}))).await;
    assert_eq!(s, StatusCode::OK, "{pushed}");
    assert_eq!(pushed["results"][0]["status"], 403, "{pushed}");

    // Nothing of it took effect: price, cost, name, stock (10 + 5 received − 2 − 1 sold), rows.
    let (_, p) = status_json(app.get(&format!("/api/products/{pid}")).await).await;
    assert_eq!(
        (
            p["price_cents"].as_i64(),
            p["cost_cents"].as_i64(),
            p["name"].as_str(),
            p["stock"].as_i64(),
            p["version"].as_i64()
        ),
        (Some(1000), Some(0), Some("Producto YERBA"), Some(12), Some(1)),
        "{p}"
    );
    let (_, cats) = status_json(app.get("/api/categories").await).await;
    assert_eq!(cats["total"], 1);
    let (_, quotes) = status_json(app.get("/api/quotes").await).await;
    assert_eq!(quotes["total"], 1);
    let (_, users) = status_json(app.get("/api/users").await).await;
    assert!(!users.to_string().contains("intruso"));
    let (_, expenses) = status_json(app.get("/api/expenses?from=2026-11-22&to=2026-11-22").await).await;
    assert_eq!(expenses["total"], 1, "only the till's expense: {expenses}");
    // Closing the till is the cashier's too.
    let (s, closed) = send(
        &cashier,
        &app,
        Method::POST,
        &format!("/api/cash-sessions/{session}/close"),
        Some(json!({"counted_cents": 3600})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{closed}");
}
