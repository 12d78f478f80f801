//! The sync API: a pushed queue answers each operation as its own call would, and the pull cursor
//! never skips a change.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{status_json, TestApp};

fn op(method: &str, path: &str, body: Value) -> Value {
    json!({"idempotency_key": Uuid::new_v4().to_string(), "method": method, "path": path, "body": body})
}

pub async fn push_answers_each_operation_like_its_single_call(app: TestApp) {
    app.login_admin().await;
    let p = app.create_product("STALE", 100).await;
    let pid = p["id"].as_str().unwrap();
    app.patch(&format!("/api/products/{pid}"), &json!({"version": 1, "price_cents": 120})).await;
    let customer_id = Uuid::new_v4().to_string();
    let good = op("POST", "/api/customers", json!({"id": customer_id, "name": "Ana"}));
    let ops = json!([
        good.clone(),
        op("POST", "/api/products", json!({"sku": "", "name": "x", "price_cents": 1, "cost_cents": 0})),
        op("PATCH", &format!("/api/products/{pid}"), json!({"version": 1, "name": "mine"})),
        good.clone(),
        op("POST", "/api/sync/push", json!({"ops": []})),
        {"idempotency_key": "nope", "method": "POST", "path": "/api/customers", "body": {"name": "B"}},
        op("GET", "/api/customers", Value::Null),
        op("POST", "/api/categories", json!({"name": "Bebidas"})),
    ]);
    let (status, res) = status_json(app.post("/api/sync/push", &json!({"ops": ops})).await).await;
    assert_eq!(status, StatusCode::OK);
    let results = res["results"].as_array().unwrap();
    let statuses: Vec<u64> = results.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [201, 422, 409, 201, 400, 400, 400, 201]);
    assert_eq!(results[0]["body"]["id"], customer_id.as_str());
    assert_eq!(results[0]["replayed"], false);
    assert_eq!(results[1]["body"]["error"]["details"]["fields"]["sku"], "must not be empty");
    assert_eq!(results[2]["body"]["error"]["code"], "version_conflict");
    assert_eq!(results[2]["body"]["error"]["details"]["current"]["price_cents"], 120);
    assert_eq!(results[3]["replayed"], true, "the same operation twice in a queue applies once");
    assert_eq!(results[3]["body"], results[0]["body"]);
    assert_eq!(results[0]["idempotency_key"], good["idempotency_key"]);

    // The phone never heard back and pushes the whole queue again: nothing is applied twice.
    let (_, again) = status_json(app.post("/api/sync/push", &json!({"ops": ops})).await).await;
    let again = again["results"].as_array().unwrap();
    let statuses: Vec<u64> = again.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [201, 422, 409, 201, 400, 400, 400, 201]);
    for i in [0, 2, 3, 7] {
        assert_eq!(again[i]["replayed"], true, "op {i}");
    }
    let (_, customers) = status_json(app.get("/api/customers").await).await;
    assert_eq!(customers["total"], 1);
    let (_, categories) = status_json(app.get("/api/categories").await).await;
    assert_eq!(categories["total"], 1);
}

pub async fn push_needs_a_session_and_limits_batches(app: TestApp) {
    let (status, _) = status_json(app.post("/api/sync/push", &json!({"ops": []})).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.login_admin().await;
    let ops: Vec<Value> = (0..501).map(|_| op("POST", "/api/customers", json!({"name": "x"}))).collect();
    let (status, _) = status_json(app.post("/api/sync/push", &json!({"ops": ops})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// A shared phone: operations recorded by one user and pushed under another's session (someone signed
/// in between the phone's own check and the push) are refused with 409 `session_user_mismatch` and
/// change nothing; their dependents are not run; the author's own session sends them afterwards.
pub async fn push_refuses_operations_recorded_by_another_user(app: TestApp) {
    app.login_admin().await;
    let (_, me) = status_json(app.get("/api/auth/me").await).await;
    let admin_id = me["id"].as_str().unwrap().to_owned();
    let cashier = app.client_for_new_user("cajera", "cashier").await;
    let customer_id = Uuid::new_v4().to_string();
    let mut create = op("POST", "/api/customers", json!({"id": customer_id, "name": "Ana"}));
    create["user_id"] = json!(admin_id);
    let mut rename = op("PATCH", &format!("/api/customers/{customer_id}"), json!({"version": 1, "name": "Ana M."}));
    rename["user_id"] = json!(admin_id);
    rename["depends_on"] = json!([create["idempotency_key"]]);
    let ops = json!({"ops": [create.clone(), rename.clone()]});

    let r = cashier.post(app.url("/api/sync/push")).json(&ops).send().await.unwrap();
    let (status, res) = status_json(r).await;
    assert_eq!(status, StatusCode::OK);
    let results = res["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], 409, "{res}");
    assert_eq!(results[0]["body"]["error"]["code"], "session_user_mismatch");
    assert_eq!(results[0]["body"]["error"]["details"]["user_id"], admin_id.as_str());
    assert_eq!(results[1]["status"], 424, "its dependent is not run: {res}");
    let (_, customers) = status_json(app.get("/api/customers").await).await;
    assert_eq!(customers["total"], 0, "nothing was stored under the cashier's session");

    // The author's session sends the same operations, with the same keys: applied once, as theirs.
    let (status, res) = status_json(app.post("/api/sync/push", &ops).await).await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<u64> = res["results"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [201, 200], "{res}");
    let (_, customer) = status_json(app.get(&format!("/api/customers/{customer_id}")).await).await;
    assert_eq!(customer["name"], "Ana M.");
    // An operation that names its own author, or none (older phones), runs as before.
    let mut own = op("POST", "/api/categories", json!({"name": "Bebidas"}));
    own["user_id"] = json!(admin_id);
    let plain = op("POST", "/api/categories", json!({"name": "Almacén"}));
    let (_, res) = status_json(app.post("/api/sync/push", &json!({"ops": [own, plain]})).await).await;
    let statuses: Vec<u64> = res["results"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [201, 201], "{res}");
}

pub async fn pull_returns_changes_and_tombstones(app: TestApp) {
    app.login_admin().await;
    let (status, first) = status_json(app.get("/api/sync/pull").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["cursor"], "0");
    let a = app.create_product("A", 1).await;
    let b = app.create_product("B", 1).await;
    let (_, cat) = status_json(app.post("/api/categories", &json!({"name": "C"})).await).await;
    let (_, page) = status_json(app.get("/api/sync/pull?since=0").await).await;
    assert_eq!(page["products"].as_array().unwrap().len(), 2);
    assert_eq!(page["categories"][0]["id"], cat["id"]);
    assert_eq!(page["has_more"], false);
    let cursor = page["cursor"].as_str().unwrap().to_owned();

    app.patch(&format!("/api/products/{}", a["id"].as_str().unwrap()), &json!({"version": 1, "price_cents": 5})).await;
    app.delete(&format!("/api/products/{}?version=1", b["id"].as_str().unwrap())).await;
    let (_, page) = status_json(app.get(&format!("/api/sync/pull?since={cursor}")).await).await;
    let products = page["products"].as_array().unwrap();
    assert_eq!(products.len(), 2);
    let deleted = products.iter().find(|p| p["id"] == b["id"]).unwrap();
    assert!(deleted["deleted_at"].is_string(), "tombstone");
    let changed = products.iter().find(|p| p["id"] == a["id"]).unwrap();
    assert_eq!(changed["price_cents"], 5);
    assert_eq!(page["categories"].as_array().unwrap().len(), 0);

    let end = page["cursor"].as_str().unwrap();
    let (_, empty) = status_json(app.get(&format!("/api/sync/pull?since={end}")).await).await;
    assert_eq!(empty["cursor"], end);
    assert_eq!(empty["products"].as_array().unwrap().len(), 0);

    // Pages end on whole transactions and say when more is waiting.
    let (_, page1) = status_json(app.get("/api/sync/pull?since=0&limit=2").await).await;
    assert_eq!(page1["has_more"], true);
    let (status, _) = status_json(app.get("/api/sync/pull?since=abc").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Writers commit out of order while a reader follows the cursor: the reader sees every row.
pub async fn pull_under_concurrent_writers_misses_nothing(app: TestApp) {
    app.login_admin().await;
    const WRITERS: usize = 6;
    const EACH: usize = 15;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let client = app.client.clone();
        let url = app.url("/api/customers");
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..EACH {
                let r = client.post(&url).json(&json!({"name": format!("w{w}-{i}")})).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                let v: Value = r.json().await.unwrap();
                ids.push(v["id"].as_str().unwrap().to_owned());
            }
            ids
        }));
    }
    let reader = {
        let client = app.client.clone();
        let base = app.url("/api/sync/pull");
        tokio::spawn(async move {
            let mut seen = HashSet::new();
            let mut cursor = "0".to_owned();
            let mut pulls = 0;
            while seen.len() < WRITERS * EACH && pulls < 2000 {
                let v: Value =
                    client.get(format!("{base}?since={cursor}&limit=7")).send().await.unwrap().json().await.unwrap();
                for c in v["customers"].as_array().unwrap() {
                    seen.insert(c["id"].as_str().unwrap().to_owned());
                }
                cursor = v["cursor"].as_str().unwrap().to_owned();
                pulls += 1;
            }
            (seen, pulls)
        })
    };
    let mut written = HashSet::new();
    for w in writers {
        written.extend(w.await.unwrap());
    }
    let (seen, pulls) = reader.await.unwrap();
    assert!(pulls > 1, "the reader pulled while writers wrote");
    assert_eq!(seen, written, "every committed row reached the reader by following the cursor");
}

/// A customer created offline and its sale travel in one batch; if the customer is refused, the sale is
/// not run (424) and nothing is stored under its key, so it goes through once the customer is fixed.
pub async fn push_skips_operations_whose_dependency_failed(app: TestApp) {
    app.login_admin().await;
    let p = app.create_product("DEP", 100).await;
    app.post(
        "/api/inventory-movements",
        &json!({"id": Uuid::new_v4(), "product_id": p["id"], "delta": 5, "reason": "purchase"}),
    )
    .await;
    let (_, session) = status_json(
        app.post("/api/cash-sessions", &json!({"id": Uuid::new_v4(), "register": "A", "opening_float_cents": 0})).await,
    )
    .await;
    let customer_id = Uuid::new_v4().to_string();
    let bad_customer = op("POST", "/api/customers", json!({"id": customer_id, "name": ""}));
    let sale_id = Uuid::new_v4().to_string();
    let mut sale = op(
        "POST",
        "/api/sales",
        json!({"id": sale_id, "cash_session_id": session["id"],
        "customer_id": customer_id, "lines": [{"product_id": p["id"], "quantity": 1}],
        "payments": [{"method": "cash", "amount_cents": 100}]}),
    );
    sale["depends_on"] = json!([bad_customer["idempotency_key"]]);
    let unrelated = op("POST", "/api/categories", json!({"name": "Otra"}));
    let (status, res) =
        status_json(app.post("/api/sync/push", &json!({"ops": [bad_customer, sale, unrelated]})).await).await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<u64> = res["results"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [422, 424, 201], "{res}");
    assert_eq!(res["results"][1]["body"]["error"]["code"], "dependency_failed");
    let (_, sales) = status_json(app.get("/api/sales").await).await;
    assert_eq!(sales["total"], 0, "the dependant did not run");

    // Fixed customer (edited item: a new key), the same sale op again: it now runs, once.
    let good_customer = op("POST", "/api/customers", json!({"id": customer_id, "name": "Ana"}));
    sale["depends_on"] = json!([good_customer["idempotency_key"]]);
    let (_, res) = status_json(app.post("/api/sync/push", &json!({"ops": [good_customer, sale.clone()]})).await).await;
    let statuses: Vec<u64> = res["results"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [201, 201], "{res}");
    assert_eq!(res["results"][1]["replayed"], false);
    let (_, sales) = status_json(app.get("/api/sales").await).await;
    assert_eq!(sales["total"], 1);
}
