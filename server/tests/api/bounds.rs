//! Money and quantities have bounds (issue #12, point 1): out-of-range values are 422 naming the
//! field and change nothing, the database refuses them too (CHECK constraints), and nothing a
//! cashier can send makes a later read fail.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{code, status_json, TestApp};

/// Far beyond every documented bound (10¹² cents, 10⁶ units), and near i64::MAX.
const HUGE: i64 = i64::MAX;

async fn post_as(app: &TestApp, client: &Client, path: &str, body: &Value) -> (StatusCode, Value) {
    status_json(client.post(app.url(path)).json(body).send().await.unwrap()).await
}

/// Every read a till, a phone and the owner depend on; each must answer 200.
async fn every_read_answers(app: &TestApp, session: &str) -> Vec<String> {
    let mut failed = Vec::new();
    let mut paths = vec![
        format!("/api/cash-sessions/{session}"),
        "/api/cash-sessions".to_owned(),
        "/api/cash-sessions?status=open".to_owned(),
        "/api/sync/pull".to_owned(),
        "/api/dashboard".to_owned(),
        "/api/sales".to_owned(),
        "/api/products".to_owned(),
        "/api/cash-movements".to_owned(),
        "/api/expenses".to_owned(),
        "/api/inventory-movements".to_owned(),
    ];
    for entity in ["sales", "sale_lines", "products", "customers", "expenses", "cash_movements", "inventory_movements"]
    {
        paths.push(format!("/api/export/{entity}?format=csv"));
        paths.push(format!("/api/export/{entity}?format=xlsx"));
    }
    for path in paths {
        let r = app.get(&path).await;
        let status = r.status();
        // A streamed CSV that breaks mid-way has status 200 and a failed body: read it all.
        let body = r.bytes().await;
        if status != StatusCode::OK || body.is_err() {
            failed.push(format!(
                "{path}: {status} {:?}",
                body.map(|b| String::from_utf8_lossy(&b).chars().take(200).collect::<String>())
            ));
        }
    }
    let (status, backup) = status_json(app.client.post(app.url("/api/backups")).send().await.unwrap()).await;
    if status != StatusCode::CREATED {
        failed.push(format!("POST /api/backups: {status} {backup}"));
    } else {
        let id = backup["id"].as_str().unwrap();
        let (status, report) = status_json(app.post(&format!("/api/backups/{id}/verify"), &json!({})).await).await;
        if status != StatusCode::OK || report["ok"] != true {
            failed.push(format!("verify: {status} {report}"));
        }
    }
    failed
}

/// The attack from the review: a cashier's two oversized cash movements (one of them sent through
/// /api/sync/push, as a phone would) and an oversized float used to make the till, the feed, the
/// dashboard, the exports and the backups fail for good. Now they are refused, and every read answers.
pub async fn oversized_cash_cannot_break_any_read(app: TestApp) {
    app.login_admin().await;
    let cashier = app.client_for_new_user("cajera", "cashier").await;
    let session = Uuid::new_v4().to_string();
    let (status, s) = post_as(
        &app,
        &cashier,
        "/api/cash-sessions",
        &json!({"id": session, "register": "caja", "opening_float_cents": 1000}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let big_float = Uuid::new_v4().to_string();
    let attempts = [
        post_as(&app, &cashier, "/api/cash-movements", &json!({"id": Uuid::new_v4(), "cash_session_id": session, "kind": "in", "amount_cents": HUGE, "reason": "x"})).await,
        post_as(&app, &cashier, "/api/sync/push", &json!({"ops": [{"idempotency_key": Uuid::new_v4(), "method": "POST", "path": "/api/cash-movements",
            "body": {"id": Uuid::new_v4(), "cash_session_id": session, "kind": "in", "amount_cents": HUGE, "reason": "y"}}]})).await,
        post_as(&app, &cashier, "/api/expenses", &json!({"id": Uuid::new_v4(), "spent_on": "2026-11-30", "category": "x", "amount_cents": HUGE, "description": "", "cash_session_id": session})).await,
        post_as(&app, &cashier, "/api/cash-sessions", &json!({"id": big_float, "register": "caja-2", "opening_float_cents": HUGE})).await,
    ];
    let failed = every_read_answers(&app, &session).await;
    assert!(failed.is_empty(), "reads that failed after the attack: {failed:#?}");
    // …because every one of those writes was refused, naming the field.
    let (status, body) = &attempts[0];
    assert_eq!((*status, code(body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
    assert!(body["error"]["details"]["fields"]["amount_cents"].is_string(), "{body}");
    let pushed = &attempts[1].1["results"][0];
    assert_eq!(pushed["status"], 422, "{pushed}");
    assert!(pushed["body"]["error"]["details"]["fields"]["amount_cents"].is_string(), "{pushed}");
    assert!(attempts[2].1["error"]["details"]["fields"]["amount_cents"].is_string(), "{}", attempts[2].1);
    assert!(attempts[3].1["error"]["details"]["fields"]["opening_float_cents"].is_string(), "{}", attempts[3].1);
    let (_, till) = status_json(app.get(&format!("/api/cash-sessions/{session}")).await).await;
    assert_eq!(till["expected_cents"], 1000, "nothing was applied");
    let (status, closed) =
        post_as(&app, &cashier, &format!("/api/cash-sessions/{session}/close"), &json!({"counted_cents": 1000})).await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["difference_cents"], 0);
}

fn field<'a>(body: &'a Value, name: &str) -> &'a Value {
    &body["error"]["details"]["fields"][name]
}

/// 422 `validation_failed` naming `name` (and, when given, a message containing `says`).
#[track_caller]
fn refused(answer: &(StatusCode, Value), name: &str, says: &str) {
    let (status, body) = answer;
    assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {body}");
    assert_eq!(code(body), "validation_failed", "{body}");
    let message = field(body, name).as_str().unwrap_or_else(|| panic!("no message for {name}: {body}"));
    assert!(message.contains(says), "{name}: {message:?} should say {says:?}");
}

async fn send(app: &TestApp, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let request = match method {
        "PATCH" => app.client.patch(app.url(path)),
        _ => app.client.post(app.url(path)),
    };
    status_json(request.json(&body).send().await.unwrap()).await
}

const MAX: i64 = 1_000_000_000_000;

/// Each write route with each kind of bad number (too big, below the minimum, a float, beyond i64):
/// 422 naming the field, directly and through /api/sync/push, and nothing changes. The bounds
/// themselves are accepted.
pub async fn out_of_range_values_are_422_per_field_and_change_nothing(app: TestApp) {
    app.login_admin().await;
    let session = Uuid::new_v4().to_string();
    let (status, _) = send(
        &app,
        "POST",
        "/api/cash-sessions",
        json!({"id": session, "register": "caja", "opening_float_cents": MAX}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "the float's bound is accepted");
    let product = app.create_product("AGUA", 800).await;
    let pid = product["id"].as_str().unwrap().to_owned();
    let (status, _) = send(
        &app,
        "POST",
        "/api/inventory-movements",
        json!({"id": Uuid::new_v4(), "product_id": pid, "delta": 1_000_000_000, "reason": "purchase"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "the movement's bound is accepted");

    let money = "must be a whole number of cents from 0 to 1000000000000";
    let positive = "must be a whole number of cents from 1 to 1000000000000";
    let product_body = |extra: Value| {
        let mut p = json!({"sku": "X", "name": "x", "price_cents": 1, "cost_cents": 1});
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        p
    };
    for bad in [json!(MAX + 1), json!(-1), json!(12.5), json!(1e30), json!("100")] {
        refused(
            &send(&app, "POST", "/api/products", product_body(json!({"price_cents": bad}))).await,
            "price_cents",
            money,
        );
        refused(
            &send(&app, "POST", "/api/products", product_body(json!({"cost_cents": bad}))).await,
            "cost_cents",
            money,
        );
    }
    refused(
        &send(&app, "POST", "/api/products", product_body(json!({"low_stock_threshold": MAX + 1}))).await,
        "low_stock_threshold",
        "units from 0",
    );
    refused(
        &send(
            &app,
            "PATCH",
            &format!("/api/products/{pid}"),
            json!({"version": product["version"], "price_cents": HUGE}),
        )
        .await,
        "price_cents",
        money,
    );

    let sale = |lines: Value, payments: Value| json!({"id": Uuid::new_v4(), "cash_session_id": session, "lines": lines, "payments": payments});
    let cash = |amount: Value| json!([{"method": "cash", "amount_cents": amount}]);
    for qty in [json!(1_000_001), json!(0), json!(1e20), json!(2.5)] {
        refused(
            &send(&app, "POST", "/api/sales", sale(json!([{"product_id": pid, "quantity": qty}]), cash(json!(800))))
                .await,
            "lines",
            "quantity must be a whole number of units from 1 to 1000000",
        );
    }
    refused(
        &send(
            &app,
            "POST",
            "/api/sales",
            sale(json!([{"product_id": pid, "quantity": 1, "unit_price_cents": MAX + 1}]), cash(json!(800))),
        )
        .await,
        "lines",
        "unit_price_cents",
    );
    for amount in [json!(MAX + 1), json!(0), json!(HUGE), json!(1e300)] {
        refused(
            &send(&app, "POST", "/api/sales", sale(json!([{"product_id": pid, "quantity": 1}]), cash(amount))).await,
            "payments",
            positive,
        );
    }
    // Each number in range, their product or sum not.
    refused(
        &send(
            &app,
            "POST",
            "/api/sales",
            sale(json!([{"product_id": pid, "quantity": 2, "unit_price_cents": MAX}]), cash(json!(MAX))),
        )
        .await,
        "lines",
        "line's total",
    );
    refused(
        &send(&app, "POST", "/api/sales", sale(json!([{"product_id": pid, "quantity": 1, "unit_price_cents": MAX}, {"product_id": pid, "quantity": 1, "unit_price_cents": MAX}]), cash(json!(MAX)))).await,
        "lines",
        "the sale's total",
    );
    refused(
        &send(
            &app,
            "POST",
            "/api/sales",
            sale(
                json!([{"product_id": pid, "quantity": 1}]),
                json!([{"method": "card", "amount_cents": MAX}, {"method": "cash", "amount_cents": MAX}]),
            ),
        )
        .await,
        "payments",
        "the payments' sum",
    );
    let quote = json!({"lines": [{"product_id": pid, "quantity": 1_000_001}]});
    refused(&send(&app, "POST", "/api/quotes", quote).await, "lines", "quantity from 1 to 1000000");

    for bad in [json!(MAX + 1), json!(-1), json!(0.5)] {
        refused(
            &send(
                &app,
                "POST",
                "/api/cash-sessions",
                json!({"id": Uuid::new_v4(), "register": "otra", "opening_float_cents": bad}),
            )
            .await,
            "opening_float_cents",
            money,
        );
        refused(
            &send(&app, "POST", &format!("/api/cash-sessions/{session}/close"), json!({"counted_cents": bad})).await,
            "counted_cents",
            money,
        );
    }
    for bad in [json!(MAX + 1), json!(0), json!(HUGE), json!(1e300)] {
        refused(&send(&app, "POST", "/api/cash-movements", json!({"id": Uuid::new_v4(), "cash_session_id": session, "kind": "out", "amount_cents": bad, "reason": "x"})).await, "amount_cents", positive);
        refused(&send(&app, "POST", "/api/expenses", json!({"id": Uuid::new_v4(), "spent_on": "2026-11-30", "category": "x", "amount_cents": bad, "description": "", "cash_session_id": session})).await, "amount_cents", positive);
    }
    for bad in [json!(1_000_000_001), json!(-1_000_000_001), json!(i64::MIN), json!(1.5)] {
        refused(
            &send(
                &app,
                "POST",
                "/api/inventory-movements",
                json!({"id": Uuid::new_v4(), "product_id": pid, "delta": bad, "reason": "adjustment"}),
            )
            .await,
            "delta",
            "units from -1000000000 to 1000000000",
        );
    }
    refused(
        &send(
            &app,
            "POST",
            "/api/inventory-movements",
            json!({"id": Uuid::new_v4(), "product_id": pid, "delta": 0, "reason": "adjustment"}),
        )
        .await,
        "delta",
        "must not be 0",
    );
    // A stock that would leave its range (set near the bound directly: a thousand purchases otherwise).
    sqlx::query("UPDATE products SET stock = $1 WHERE id = $2")
        .bind(MAX - 1)
        .bind(&pid)
        .execute(&app.db.pool())
        .await
        .unwrap();
    refused(
        &send(
            &app,
            "POST",
            "/api/inventory-movements",
            json!({"id": Uuid::new_v4(), "product_id": pid, "delta": 2, "reason": "purchase"}),
        )
        .await,
        "delta",
        "would take the stock",
    );

    // Through /api/sync/push, each operation answers what its own call would.
    let ops = json!({"ops": [
        {"idempotency_key": Uuid::new_v4(), "method": "POST", "path": "/api/products", "body": product_body(json!({"price_cents": HUGE}))},
        {"idempotency_key": Uuid::new_v4(), "method": "POST", "path": "/api/sales", "body": sale(json!([{"product_id": pid, "quantity": 1e20}]), cash(json!(800)))},
        {"idempotency_key": Uuid::new_v4(), "method": "POST", "path": format!("/api/cash-sessions/{session}/close"), "body": {"counted_cents": -5}},
        {"idempotency_key": Uuid::new_v4(), "method": "POST", "path": "/api/inventory-movements", "body": {"id": Uuid::new_v4(), "product_id": pid, "delta": HUGE, "reason": "purchase"}},
    ]});
    let (status, pushed) = send(&app, "POST", "/api/sync/push", ops).await;
    assert_eq!(status, StatusCode::OK);
    for (result, name) in
        pushed["results"].as_array().unwrap().iter().zip(["price_cents", "lines", "counted_cents", "delta"])
    {
        assert_eq!(result["status"], 422, "{result}");
        assert!(field(&result["body"], name).is_string(), "{name}: {result}");
    }

    // Nothing changed: one product with its stock, no sale, no money moved, the till still open.
    let (_, products) = status_json(app.get("/api/products").await).await;
    assert_eq!(products["total"], 1);
    assert_eq!(products["items"][0]["stock"], MAX - 1);
    assert_eq!(products["items"][0]["price_cents"], 800);
    for list in ["/api/sales", "/api/cash-movements", "/api/expenses", "/api/quotes"] {
        let (_, page) = status_json(app.get(list).await).await;
        assert_eq!(page["total"], 0, "{list}");
    }
    let (_, till) = status_json(app.get(&format!("/api/cash-sessions/{session}")).await).await;
    assert_eq!((till["expected_cents"].as_i64(), till["closed_at"].is_null()), (Some(MAX), true));
    let (_, moves) = status_json(app.get("/api/inventory-movements").await).await;
    assert_eq!(moves["total"], 1);
}

/// The bounds are also the database's: a row written around the API (a bug, a script, a restored
/// file) that breaks one is refused by a CHECK constraint on both engines.
pub async fn database_refuses_out_of_range_rows(app: TestApp) {
    app.login_admin().await;
    let session = Uuid::new_v4().to_string();
    send(&app, "POST", "/api/cash-sessions", json!({"id": session, "register": "caja", "opening_float_cents": 0}))
        .await;
    let pid = app.create_product("AGUA", 800).await["id"].as_str().unwrap().to_owned();
    let (status, _) = send(
        &app,
        "POST",
        "/api/inventory-movements",
        json!({"id": Uuid::new_v4(), "product_id": pid, "delta": 5, "reason": "purchase"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let sale = Uuid::new_v4().to_string();
    let (status, _) = send(&app, "POST", "/api/sales", json!({"id": sale, "cash_session_id": session, "lines": [{"product_id": pid, "quantity": 1}], "payments": [{"method": "cash", "amount_cents": 800}]})).await;
    assert_eq!(status, StatusCode::CREATED);
    send(
        &app,
        "POST",
        "/api/cash-movements",
        json!({"id": Uuid::new_v4(), "cash_session_id": session, "kind": "in", "amount_cents": 1, "reason": "x"}),
    )
    .await;
    send(
        &app,
        "POST",
        "/api/expenses",
        json!({"id": Uuid::new_v4(), "spent_on": "2026-11-30", "category": "x", "amount_cents": 1, "description": ""}),
    )
    .await;

    let cases: &[(&str, &str, i64)] = &[
        ("products", "price_cents", MAX + 1),
        ("products", "cost_cents", -1),
        ("products", "stock", MAX + 1),
        ("products", "low_stock_threshold", -1),
        ("cash_sessions", "opening_float_cents", MAX + 1),
        ("cash_sessions", "counted_cents", -1),
        ("sales", "total_cents", MAX + 1),
        ("sales", "paid_cents", HUGE),
        ("sales", "change_cents", MAX + 1),
        ("sale_lines", "quantity", 1_000_001),
        ("sale_lines", "unit_price_cents", MAX + 1),
        ("sale_lines", "total_cents", -1),
        ("sale_payments", "amount_cents", MAX + 1),
        ("cash_movements", "amount_cents", HUGE),
        ("expenses", "amount_cents", MAX + 1),
        ("inventory_movements", "delta", 1_000_000_001),
        ("inventory_movements", "delta", 0),
    ];
    let pool = app.db.pool();
    for (table, column, value) in cases {
        let err = sqlx::query(&format!("UPDATE {table} SET {column} = $1"))
            .bind(*value)
            .execute(&pool)
            .await
            .expect_err(&format!("{table}.{column} = {value} must be refused"));
        let db = err.as_database_error().unwrap_or_else(|| panic!("{table}.{column}: {err}"));
        assert!(db.is_check_violation(), "{table}.{column}: {err}");
        let constraint = db.constraint().map(str::to_owned).unwrap_or_else(|| db.message().to_owned());
        assert!(constraint.contains(&format!("{column}_range")), "{table}.{column}: {constraint}");
    }
    // …and at the bounds they are accepted.
    for (table, column, value) in [
        ("products", "price_cents", MAX),
        ("cash_movements", "amount_cents", MAX),
        ("inventory_movements", "delta", -1_000_000_000),
    ] {
        sqlx::query(&format!("UPDATE {table} SET {column} = $1")).bind(value).execute(&pool).await.unwrap();
    }
}

/// A database that an earlier version filled with out-of-range rows (the attack, before the fix)
/// still migrates: those values are clamped to their bounds, and every read, a backup and its
/// verification work.
pub async fn old_out_of_range_rows_are_clamped_by_the_migration(engine: crate::helpers::Engine) {
    use crate::helpers::{spawn_app_with, Engine, CLUSTER};
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let (url, db_engine) = match engine {
        Engine::Sqlite => {
            (format!("sqlite://{}?mode=rwc", dir.path().join("mostrador.db").display()), mostrador::db::Engine::Sqlite)
        }
        Engine::Postgres => (CLUSTER.get().expect("cluster").create_database().await, mostrador::db::Engine::Postgres),
    };
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let before = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            mostrador::db::migrator(db_engine).iter().filter(|m| m.version < 20261130000001).cloned().collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    before.run(&mut conn).await.unwrap();
    let now = mostrador::db::now();
    let statements = [
        "INSERT INTO products (id, sku, name, price_cents, cost_cents, stock, low_stock_threshold, created_at, updated_at) \
         VALUES ('11111111-1111-1111-1111-111111111111', 'P', 'Producto', 9223372036854775807, 5, 9223372036854775000, 9223372036854775807, $1, $1)",
        "INSERT INTO cash_sessions (id, register, opening_float_cents, opened_by, opened_at, request_hash, version, updated_at) \
         VALUES ('22222222-2222-2222-2222-222222222222', 'caja', 9223372036854775807, 'cajera', $1, 'h', 1, $1)",
        "INSERT INTO cash_movements (id, cash_session_id, kind, amount_cents, reason, created_by, created_at, request_hash) \
         VALUES ('33333333-3333-3333-3333-333333333331', '22222222-2222-2222-2222-222222222222', 'in', 9223372036854775807, 'x', 'cajera', $1, 'h')",
        "INSERT INTO cash_movements (id, cash_session_id, kind, amount_cents, reason, created_by, created_at, request_hash) \
         VALUES ('33333333-3333-3333-3333-333333333332', '22222222-2222-2222-2222-222222222222', 'in', 9223372036854775807, 'x', 'cajera', $1, 'h')",
        "INSERT INTO expenses (id, spent_on, category, amount_cents, description, cash_session_id, created_by, created_at, request_hash) \
         VALUES ('44444444-4444-4444-4444-444444444444', '2026-11-30', 'x', 9223372036854775807, '', '22222222-2222-2222-2222-222222222222', 'cajera', $1, 'h')",
        "INSERT INTO inventory_movements (id, product_id, delta, reason, created_by, created_at, request_hash) \
         VALUES ('55555555-5555-5555-5555-555555555555', '11111111-1111-1111-1111-111111111111', -9223372036854775807, 'waste', 'admin', $1, 'h')",
        "INSERT INTO sales (id, cash_session_id, total_cents, paid_cents, change_cents, created_by, created_at, request_hash) \
         VALUES ('66666666-6666-6666-6666-666666666666', '22222222-2222-2222-2222-222222222222', 5000000000000000, 5000000000000000, 0, 'cajera', $1, 'h')",
        "INSERT INTO sale_lines (sale_id, line_no, product_id, quantity, unit_price_cents, total_cents) \
         VALUES ('66666666-6666-6666-6666-666666666666', 1, '11111111-1111-1111-1111-111111111111', 1, 5000000000000000, 5000000000000000)",
        "INSERT INTO sale_payments (sale_id, line_no, method, amount_cents) \
         VALUES ('66666666-6666-6666-6666-666666666666', 1, 'cash', 5000000000000000)",
    ];
    for statement in statements {
        sqlx::query(statement).bind(&now).execute(&mut conn).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    conn.close().await.unwrap();

    // The server migrates it on start.
    let database_url = (engine == Engine::Postgres).then(|| url.clone());
    let data_dir = dir.path().to_owned();
    let app = spawn_app_with(engine, database_url, |c| c.db.data_dir = data_dir).await;
    app.login_admin().await;
    let failed = every_read_answers(&app, "22222222-2222-2222-2222-222222222222").await;
    assert!(failed.is_empty(), "reads that failed after the migration: {failed:#?}");
    let (_, p) = status_json(app.get("/api/products/11111111-1111-1111-1111-111111111111").await).await;
    assert_eq!(
        (p["price_cents"].as_i64(), p["stock"].as_i64(), p["low_stock_threshold"].as_i64()),
        (Some(MAX), Some(MAX), Some(MAX))
    );
    let (_, moves) = status_json(app.get("/api/cash-movements").await).await;
    assert!(moves["items"].as_array().unwrap().iter().all(|m| m["amount_cents"] == MAX), "{moves}");
    // Float 10¹² + cash 10¹² + 2 × 10¹² in − 10¹² expense.
    let (_, till) = status_json(app.get("/api/cash-sessions/22222222-2222-2222-2222-222222222222").await).await;
    assert_eq!(till["expected_cents"], 3 * MAX, "{till}");
    let (_, stock) = status_json(app.get("/api/inventory-movements").await).await;
    assert_eq!(stock["items"][0]["delta"], -1_000_000_000);
}
