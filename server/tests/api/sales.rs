//! Cash sessions, sales, stock, movements and expenses.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{code, status_json, TestApp};

async fn open_session(app: &TestApp, register: &str, float: i64) -> String {
    let id = Uuid::new_v4().to_string();
    let (status, s) = status_json(
        app.post("/api/cash-sessions", &json!({"id": id, "register": register, "opening_float_cents": float})).await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    id
}

/// A product with `stock` units, bought in through an inventory movement.
async fn stocked_product(app: &TestApp, sku: &str, price: i64, stock: i64) -> String {
    let p = app.create_product(sku, price).await;
    let id = p["id"].as_str().unwrap().to_owned();
    let (status, _) = status_json(
        app.post(
            "/api/inventory-movements",
            &json!({"id": Uuid::new_v4(), "product_id": id, "delta": stock, "reason": "purchase"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    id
}

async fn stock(app: &TestApp, product: &str) -> i64 {
    let (_, p) = status_json(app.get(&format!("/api/products/{product}")).await).await;
    p["stock"].as_i64().unwrap()
}

fn sale(session: &str, product: &str, qty: i64, payments: Value) -> Value {
    json!({"id": Uuid::new_v4(), "cash_session_id": session, "lines": [{"product_id": product, "quantity": qty}], "payments": payments})
}

pub async fn cash_session_lifecycle(app: TestApp) {
    app.login_admin().await;
    let session = open_session(&app, "caja-1", 10_000).await;
    let (status, err) = status_json(
        app.post("/api/cash-sessions", &json!({"id": Uuid::new_v4(), "register": "caja-1", "opening_float_cents": 0}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&err), "cash_session_already_open");
    assert_eq!(err["error"]["details"]["open_session_id"], session.as_str());
    open_session(&app, "caja-2", 0).await;

    let product = stocked_product(&app, "AGUA", 800, 10).await;
    let (status, _) = status_json(
        app.post("/api/sales", &sale(&session, &product, 2, json!([{"method": "cash", "amount_cents": 2000}]))).await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    app.post("/api/cash-movements", &json!({"id": Uuid::new_v4(), "cash_session_id": session, "kind": "out", "amount_cents": 500, "reason": "cambio al banco"})).await;
    app.post("/api/expenses", &json!({"id": Uuid::new_v4(), "spent_on": "2026-11-22", "category": "limpieza", "amount_cents": 300, "description": "lavandina", "cash_session_id": session})).await;
    let (_, expenses) = status_json(app.get("/api/expenses?from=2026-11-22&to=2026-11-22").await).await;
    assert_eq!(expenses["total"], 1, "listed by the day it was spent");
    assert_eq!(expenses["items"][0]["description"], "lavandina");
    let (_, none) = status_json(app.get("/api/expenses?from=2026-11-23").await).await;
    assert_eq!(none["total"], 0);
    let (_, moves) = status_json(app.get("/api/cash-movements").await).await;
    assert_eq!(moves["items"][0]["kind"], "out");
    let (_, old) = status_json(app.get("/api/cash-movements?to=2000-01-01").await).await;
    assert_eq!(old["total"], 0);
    let (_, stock_moves) = status_json(app.get("/api/inventory-movements").await).await;
    assert_eq!(stock_moves["items"][0]["delta"], 10);
    // 10000 float + 2000 cash − 400 change − 500 out − 300 expense
    let (_, open) = status_json(app.get(&format!("/api/cash-sessions/{session}")).await).await;
    assert_eq!(open["expected_cents"], 10_800);

    let close = format!("/api/cash-sessions/{session}/close");
    let (status, closed) = status_json(app.post(&close, &json!({"counted_cents": 10_700})).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(closed["expected_cents"], 10_800);
    assert_eq!(closed["difference_cents"], -100);
    assert!(closed["closed_at"].is_string());
    // Closing again answers with the state and changes nothing.
    let (status, again) = status_json(app.post(&close, &json!({"counted_cents": 99})).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, closed);
    // The register can open again; the closed session takes no more cash movements...
    open_session(&app, "caja-1", 0).await;
    let movement =
        json!({"id": Uuid::new_v4(), "cash_session_id": session, "kind": "in", "amount_cents": 100, "reason": "x"});
    let (status, err) = status_json(app.post("/api/cash-movements", &movement).await).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "cash_session_closed"));
    // ...but a sale made offline into it before the phone heard of the close is never lost: accepted,
    // marked, and listed on the closed till beside its counted figures (which stay as counted).
    let late = sale(&session, &product, 1, json!([{"method": "cash", "amount_cents": 1000}]));
    let (status, recorded) = status_json(app.post("/api/sales", &late).await).await;
    assert_eq!(status, StatusCode::CREATED, "{recorded}");
    assert_eq!((&recorded["after_close"], &recorded["change_cents"]), (&json!(true), &json!(200)));
    assert_eq!(stock(&app, &product).await, 7);
    let (_, till) = status_json(app.get(&format!("/api/cash-sessions/{session}")).await).await;
    assert_eq!((&till["late_sales"], &till["late_cash_cents"]), (&json!(1), &json!(800)));
    assert_eq!((&till["expected_cents"], &till["difference_cents"]), (&json!(10_800), &json!(-100)));
    let (_, listed) = status_json(app.get(&format!("/api/sales/{}", late["id"].as_str().unwrap())).await).await;
    assert_eq!(listed["after_close"], true, "{listed}");
    // The owner is told.
    let late_alerts = || async {
        let (_, all) = status_json(app.get("/api/alerts").await).await;
        all.as_array().unwrap().iter().filter(|a| a["kind"] == "late_sale_after_close").cloned().collect::<Vec<_>>()
    };
    let mut alerts = Vec::new();
    for _ in 0..50 {
        alerts = late_alerts().await;
        if !alerts.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["details"]["sale_id"], recorded["id"]);
    // Sent again, as a phone that did not hear the answer does (the same body, by id; then with an
    // Idempotency-Key twice): the same sale, not a second one, and no second alert.
    let (status, again) = status_json(app.post("/api/sales", &late).await).await;
    assert_eq!((status, &again["id"]), (StatusCode::CREATED, &recorded["id"]));
    let key = Uuid::new_v4().to_string();
    for _ in 0..2 {
        let r =
            app.client.post(app.url("/api/sales")).header("Idempotency-Key", &key).json(&late).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers()["idempotent-replayed"], "true");
    }
    assert_eq!(stock(&app, &product).await, 7);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(late_alerts().await.len(), 1, "told once");
    let (_, open_list) = status_json(app.get("/api/cash-sessions?status=open").await).await;
    assert_eq!(open_list["total"], 2);
    // A sale into an open till is not late.
    let (_, on_time) = status_json(
        app.post(
            "/api/sales",
            &sale(&other_session(&app).await, &product, 1, json!([{"method": "card", "amount_cents": 800}])),
        )
        .await,
    )
    .await;
    assert_eq!(on_time["after_close"], false);
}

/// The open session of caja-2 (opened earlier in the test).
async fn other_session(app: &TestApp) -> String {
    let (_, open) = status_json(app.get("/api/cash-sessions?status=open").await).await;
    let items = open["items"].as_array().unwrap();
    items.iter().find(|s| s["register"] == "caja-2").unwrap()["id"].as_str().unwrap().to_owned()
}

pub async fn sale_takes_stock_and_gives_change(app: TestApp) {
    app.login_admin().await;
    let session = open_session(&app, "caja", 0).await;
    let coca = stocked_product(&app, "COCA", 1250, 10).await;
    let pan = stocked_product(&app, "PAN", 300, 5).await;
    let body = json!({"id": Uuid::new_v4(), "cash_session_id": session, "lines": [
        {"product_id": coca, "quantity": 3}, {"product_id": pan, "quantity": 2, "unit_price_cents": 250}, {"product_id": coca, "quantity": 1}],
        "payments": [{"method": "card", "amount_cents": 3000}, {"method": "cash", "amount_cents": 3000}]});
    let (status, s) = status_json(app.post("/api/sales", &body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    assert_eq!(s["total_cents"], 4 * 1250 + 2 * 250);
    assert_eq!(s["paid_cents"], 6000);
    assert_eq!(s["change_cents"], 500);
    assert_eq!(s["lines"][1]["unit_price_cents"], 250);
    assert_eq!(s["lines"][0]["unit_price_cents"], 1250, "the product's price when none is sent");
    assert_eq!(stock(&app, &coca).await, 6);
    assert_eq!(stock(&app, &pan).await, 3);
    let (_, listed) = status_json(app.get("/api/sales").await).await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["payments"].as_array().unwrap().len(), 2);
    let (_, none) = status_json(app.get("/api/sales?from=2000-01-01&to=2000-01-31").await).await;
    assert_eq!(none["total"], 0);
    let (status, _) = status_json(app.get("/api/sales?from=yesterday").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

pub async fn sale_rules_are_422_and_change_nothing(app: TestApp) {
    app.login_admin().await;
    let session = open_session(&app, "caja", 0).await;
    let p = stocked_product(&app, "X", 1000, 5).await;
    for (payments, why) in [
        (json!([{"method": "cash", "amount_cents": 500}]), "short"),
        (json!([{"method": "card", "amount_cents": 1500}]), "card overpaid"),
        (json!([{"method": "bitcoin", "amount_cents": 1000}]), "method"),
        (json!([]), "no payment"),
    ] {
        let (status, err) = status_json(app.post("/api/sales", &sale(&session, &p, 1, payments)).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {err}");
        assert!(err["error"]["details"]["fields"]["payments"].is_string(), "{why}");
    }
    let (status, _) = status_json(
        app.post("/api/sales", &sale(&session, &p, 0, json!([{"method": "cash", "amount_cents": 1}]))).await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = status_json(
        app.post(
            "/api/sales",
            &sale(&session, &Uuid::new_v4().to_string(), 1, json!([{"method": "cash", "amount_cents": 1}])),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stock(&app, &p).await, 5);
    let (_, listed) = status_json(app.get("/api/sales").await).await;
    assert_eq!(listed["total"], 0);
}

pub async fn insufficient_stock_is_409_naming_the_product(app: TestApp) {
    app.login_admin().await;
    let session = open_session(&app, "caja", 0).await;
    let ok = stocked_product(&app, "OK", 100, 10).await;
    let scarce = stocked_product(&app, "SCARCE", 100, 1).await;
    let body = json!({"id": Uuid::new_v4(), "cash_session_id": session,
        "lines": [{"product_id": ok, "quantity": 2}, {"product_id": scarce, "quantity": 3}],
        "payments": [{"method": "cash", "amount_cents": 500}]});
    let (status, err) = status_json(app.post("/api/sales", &body).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&err), "insufficient_stock");
    assert_eq!(err["error"]["details"]["product_id"], scarce.as_str());
    assert_eq!(err["error"]["details"]["available"], 1);
    assert_eq!(err["error"]["details"]["requested"], 3);
    assert_eq!(stock(&app, &ok).await, 10, "the other line's stock is untouched");
    let (status, _) = status_json(
        app.post(
            "/api/inventory-movements",
            &json!({"id": Uuid::new_v4(), "product_id": scarce, "delta": -2, "reason": "waste"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

pub async fn two_sales_race_for_the_last_unit(app: TestApp) {
    app.login_admin().await;
    let session = open_session(&app, "caja", 0).await;
    let last = stocked_product(&app, "LAST", 100, 1).await;
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let rb = app.client.post(app.url("/api/sales")).json(&sale(
            &session,
            &last,
            1,
            json!([{"method": "cash", "amount_cents": 100}]),
        ));
        tasks.push(tokio::spawn(async move { rb.send().await.unwrap().status() }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    assert_eq!(stock(&app, &last).await, 0);
}

/// Fifty copies of one keyed sale at once: one sale, one stock decrement.
pub async fn concurrent_keyed_sale_applies_once(app: TestApp) {
    app.login_admin().await;
    let session = open_session(&app, "caja", 0).await;
    let p = stocked_product(&app, "P", 100, 100).await;
    let body = sale(&session, &p, 2, json!([{"method": "cash", "amount_cents": 200}]));
    let key = Uuid::new_v4().to_string();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let rb = app.client.post(app.url("/api/sales")).header("Idempotency-Key", &key).json(&body);
        tasks.push(tokio::spawn(async move { rb.send().await.unwrap().status() }));
    }
    for t in tasks {
        let s = t.await.unwrap();
        assert!(s == StatusCode::CREATED || s == StatusCode::CONFLICT, "{s}");
    }
    assert_eq!(stock(&app, &p).await, 98);
    let (_, listed) = status_json(app.get("/api/sales").await).await;
    assert_eq!(listed["total"], 1);
}

/// A sale retried by id alone (its key long expired) is recognised and not applied twice.
pub async fn sale_is_idempotent_by_its_id(app: TestApp) {
    app.login_admin().await;
    let session = open_session(&app, "caja", 0).await;
    let p = stocked_product(&app, "P", 100, 10).await;
    let body = sale(&session, &p, 1, json!([{"method": "cash", "amount_cents": 100}]));
    let (status, first) = status_json(app.post("/api/sales", &body).await).await;
    assert_eq!(status, StatusCode::CREATED);
    let r = app.post("/api/sales", &body).await;
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let (status, again) = status_json(r).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again, first);
    assert_eq!(stock(&app, &p).await, 9);
    let mut other = body.clone();
    other["lines"][0]["quantity"] = json!(2);
    other["payments"][0]["amount_cents"] = json!(200);
    let (status, err) = status_json(app.post("/api/sales", &other).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&err), "duplicate_id");
    assert_eq!(stock(&app, &p).await, 9);
}

pub async fn pull_carries_stock_and_cash_sessions(app: TestApp) {
    app.login_admin().await;
    let session = open_session(&app, "caja", 1000).await;
    let p = stocked_product(&app, "P", 100, 10).await;
    let (_, start) = status_json(app.get("/api/sync/pull").await).await;
    let cursor = start["cursor"].as_str().unwrap().to_owned();
    app.post("/api/sales", &sale(&session, &p, 4, json!([{"method": "cash", "amount_cents": 400}]))).await;
    let (_, page) = status_json(app.get(&format!("/api/sync/pull?since={cursor}")).await).await;
    assert_eq!(page["products"][0]["stock"], 6);
    assert_eq!(page["cash_sessions"][0]["id"], session.as_str());
    assert_eq!(page["cash_sessions"][0]["expected_cents"], 1400);
}

pub async fn quote_is_edited_then_converted_once(app: TestApp) {
    app.login_admin().await;
    let session = open_session(&app, "caja", 0).await;
    let p = stocked_product(&app, "Q", 500, 10).await;
    let (_, customer) = status_json(app.post("/api/customers", &json!({"name": "Obra Sur"})).await).await;
    let (status, q) = status_json(
        app.post(
            "/api/quotes",
            &json!({"customer_id": customer["id"], "lines": [{"product_id": p, "quantity": 3, "unit_price_cents": 450}],
            "notes": "entrega viernes", "valid_until": "2026-12-31"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{q}");
    let path = format!("/api/quotes/{}", q["id"].as_str().unwrap());
    let (status, err) = status_json(app.patch(&path, &json!({"version": 1, "status": "converted"})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["details"]["fields"]["status"], "is read-only");
    let (status, q2) = status_json(
        app.patch(&path, &json!({"version": 1, "lines": [{"product_id": p, "quantity": 4, "unit_price_cents": 450}]}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(q2["version"], 2);
    let (status, bad) =
        status_json(app.patch(&path, &json!({"version": 2, "lines": [{"product_id": p, "quantity": 0}]})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

    // Into a closed till: refused (a late sale is only what a phone recorded offline before it heard of
    // the close), and the quote stays open.
    let closed = open_session(&app, "caja-cerrada", 0).await;
    let r = app.post(&format!("/api/cash-sessions/{closed}/close"), &json!({"counted_cents": 0})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let into_closed = json!({"sale_id": Uuid::new_v4(), "cash_session_id": closed, "payments": [{"method": "transfer", "amount_cents": 1800}]});
    let (status, err) = status_json(app.post(&format!("{path}/convert"), &into_closed).await).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "cash_session_closed"), "{err}");
    let (_, still) = status_json(app.get(&path).await).await;
    assert_eq!(still["status"], "open");

    let sale_id = Uuid::new_v4();
    let convert = json!({"sale_id": sale_id, "cash_session_id": session, "payments": [{"method": "transfer", "amount_cents": 1800}]});
    let (status, s) = status_json(app.post(&format!("{path}/convert"), &convert).await).await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    assert_eq!(s["total_cents"], 1800);
    assert_eq!(s["customer_id"], customer["id"]);
    assert_eq!(stock(&app, &p).await, 6);
    let (_, q3) = status_json(app.get(&path).await).await;
    assert_eq!(q3["status"], "converted");
    assert_eq!(q3["sale_id"], sale_id.to_string());
    // A retry answers with the same sale; another conversion is refused.
    let (status, again) = status_json(app.post(&format!("{path}/convert"), &convert).await).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again["id"], s["id"]);
    let mut other = convert.clone();
    other["sale_id"] = json!(Uuid::new_v4());
    let (status, err) = status_json(app.post(&format!("{path}/convert"), &other).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&err), "quote_already_converted");
    assert_eq!(stock(&app, &p).await, 6);
    let (_, page) = status_json(app.get("/api/sync/pull").await).await;
    assert_eq!(page["quotes"][0]["status"], "converted");
}
