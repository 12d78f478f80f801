//! The owner's dashboard summary: its figures are the sales, tills and stock the test made.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{code, status_json, TestApp};

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, v) = status_json(app.post(path, &body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {v}");
    v
}

pub async fn summary_matches_the_sales_made(app: TestApp) {
    app.login_admin().await;
    // Empty shop: zeros, 30 days, nothing listed.
    let (status, empty) = status_json(app.get("/api/dashboard").await).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty["today_count"], 0);
    assert_eq!(empty["today_average_cents"], 0);
    assert_eq!(empty["per_day"].as_array().unwrap().len(), 30);
    assert_eq!(empty["per_day"][29]["date"], empty["today"]);
    assert_eq!(empty["top_products"], json!([]));

    let session = Uuid::new_v4();
    created(&app, "/api/cash-sessions", json!({"id": session, "register": "caja-1", "opening_float_cents": 5_000}))
        .await;
    let water = app.create_product("AGUA", 800).await;
    let bread = app.create_product("PAN", 250).await;
    for (p, n) in [(&water, 20), (&bread, 4)] {
        created(
            &app,
            "/api/inventory-movements",
            json!({"id": Uuid::new_v4(), "product_id": p["id"], "delta": n, "reason": "purchase"}),
        )
        .await;
    }
    // Bread warns at 3 units or fewer; water at 2.
    for (p, threshold) in [(&bread, 3), (&water, 2)] {
        let path = format!("/api/products/{}", p["id"].as_str().unwrap());
        let (_, current) = status_json(app.get(&path).await).await;
        let (status, v) = status_json(
            app.patch(&path, &json!({"version": current["version"], "low_stock_threshold": threshold})).await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    // 2 water + 1 bread = 1850, paid 2000 cash (150 change); 3 water = 2400 by card.
    created(
        &app,
        "/api/sales",
        json!({"id": Uuid::new_v4(), "cash_session_id": session,
        "lines": [{"product_id": water["id"], "quantity": 2}, {"product_id": bread["id"], "quantity": 1}],
        "payments": [{"method": "cash", "amount_cents": 2000}]}),
    )
    .await;
    created(
        &app,
        "/api/sales",
        json!({"id": Uuid::new_v4(), "cash_session_id": session,
        "lines": [{"product_id": water["id"], "quantity": 3}],
        "payments": [{"method": "card", "amount_cents": 2400}]}),
    )
    .await;

    let (_, d) = status_json(app.get("/api/dashboard").await).await;
    assert_eq!(d["today_total_cents"], 4250);
    assert_eq!(d["today_count"], 2);
    assert_eq!(d["today_average_cents"], 2125);
    assert_eq!(
        d["today_by_method"],
        json!([{"method": "card", "amount_cents": 2400}, {"method": "cash", "amount_cents": 1850}])
    );
    assert_eq!(d["per_day"][29], json!({"date": d["today"], "total_cents": 4250, "count": 2}));
    assert_eq!(d["per_day"][28]["count"], 0);
    assert_eq!(d["top_products"][0]["name"], "Producto AGUA");
    assert_eq!(d["top_products"][0]["quantity"], 5);
    assert_eq!(d["top_products"][0]["total_cents"], 4000);
    assert_eq!(d["top_products"][1]["quantity"], 1);
    // Float 5000 + cash 2000 − change 150.
    assert_eq!(
        d["open_sessions"],
        json!([{"id": session, "register": "caja-1", "opened_by": "admin",
        "opened_at": d["open_sessions"][0]["opened_at"], "expected_cents": 6850}])
    );
    // Bread has 3 left (≤ 3): listed; water has 15 (> 2): not.
    let low = d["low_stock"].as_array().unwrap();
    assert_eq!(low.len(), 1, "{low:?}");
    assert_eq!(low[0]["sku"], "PAN");
    assert_eq!(low[0]["stock"], 3);
    assert_eq!(low[0]["low_stock_threshold"], 3);
    assert!(d["generated_at"].as_str().unwrap().ends_with('Z'));
}

pub async fn late_offline_operations_are_listed_once(app: TestApp) {
    app.login_admin().await;
    let session = Uuid::new_v4();
    let product = app.create_product("LATE", 100).await;
    let op = |key: &Uuid, path: &str, body: Value, queued_at: &str| json!({"idempotency_key": key, "method": "POST", "path": path, "body": body, "queued_at": queued_at});
    let (late_key, fresh_key, movement_key) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let now = time::OffsetDateTime::now_utc();
    let stamp = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).unwrap();
    let ops = json!([
        // Recorded on the phone two hours ago, pushed now: late.
        op(
            &late_key,
            "/api/cash-sessions",
            json!({"id": session, "register": "caja-9", "opening_float_cents": 0}),
            &stamp(now - time::Duration::hours(2))
        ),
        // Recorded a moment ago: not late.
        op(
            &fresh_key,
            "/api/inventory-movements",
            json!({"id": Uuid::new_v4(), "product_id": product["id"], "delta": 5, "reason": "purchase"}),
            &stamp(now)
        ),
        // Late but rejected (no such product): not listed, it changed nothing.
        op(
            &movement_key,
            "/api/inventory-movements",
            json!({"id": Uuid::new_v4(), "product_id": Uuid::new_v4(), "delta": 5, "reason": "purchase"}),
            &stamp(now - time::Duration::hours(3))
        ),
    ]);
    let (status, res) = status_json(app.post("/api/sync/push", &json!({"ops": ops})).await).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["results"][0]["status"], 201);
    assert_eq!(res["results"][1]["status"], 201);
    assert!(res["results"][2]["status"].as_u64().unwrap() >= 400);
    // The phone pushes the same queue again (it never heard back): still listed once.
    status_json(app.post("/api/sync/push", &json!({"ops": ops})).await).await;

    let (_, d) = status_json(app.get("/api/dashboard").await).await;
    let late = d["late"].as_array().unwrap();
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0]["idempotency_key"], late_key.to_string());
    assert_eq!(late[0]["path"], "/api/cash-sessions");
    assert_eq!(late[0]["username"], "admin");
    let minutes = late[0]["minutes_late"].as_i64().unwrap();
    assert!((119..=121).contains(&minutes), "{minutes}");
}

pub async fn dashboard_is_for_admins(app: TestApp) {
    let (status, body) = status_json(app.get("/api/dashboard").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    app.login_admin().await;
    let cashier = app.client_for_new_user("cajera", "cashier").await;
    let r = cashier.get(app.url("/api/dashboard")).send().await.unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "forbidden");
}
