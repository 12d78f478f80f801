//! Idempotency-Key semantics (IETF draft + Stripe) and the audit log, through real HTTP.

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{code, spawn_app_with, status_json, Engine, TestApp};

fn keyed(rb: RequestBuilder, key: &str) -> RequestBuilder {
    rb.header("Idempotency-Key", key)
}

async fn count(app: &TestApp, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&app.db.pool()).await.unwrap()
}

pub async fn repeat_replays_stored_response(app: TestApp) {
    app.login_admin().await;
    let key = Uuid::new_v4().to_string();
    let body = json!({"sku": "K-1", "name": "Kilo", "price_cents": 100, "cost_cents": 50});
    let first = keyed(app.client.post(app.url("/api/products")), &key).json(&body).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_etag = first.headers()["etag"].clone();
    let first: Value = first.json().await.unwrap();

    let again = keyed(app.client.post(app.url("/api/products")), &key).json(&body).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["etag"], first_etag);
    assert_eq!(again.headers()["content-type"], "application/json");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first, "the same body, not a new product");
    assert_eq!(count(&app, "products").await, 1);
    assert_eq!(count(&app, "audit_log").await, 1, "one effect, one audit entry");
}

pub async fn reordered_json_is_the_same_request(app: TestApp) {
    app.login_admin().await;
    let key = Uuid::new_v4().to_string();
    let r = keyed(app.client.post(app.url("/api/customers")), &key)
        .header("content-type", "application/json")
        .body(r#"{"name":"Ana","phone":"123"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = keyed(app.client.post(app.url("/api/customers")), &key)
        .header("content-type", "application/json")
        .body(r#"{ "phone" : "123", "name" : "Ana" }"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(count(&app, "customers").await, 1);
}

pub async fn same_key_other_request_is_422(app: TestApp) {
    app.login_admin().await;
    let key = Uuid::new_v4().to_string();
    let r = keyed(app.client.post(app.url("/api/customers")), &key).json(&json!({"name": "Ana"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r =
        keyed(app.client.post(app.url("/api/customers")), &key).json(&json!({"name": "Beto"})).send().await.unwrap();
    let (status, err) = status_json(r).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&err), "idempotency_key_reused");
    let r =
        keyed(app.client.post(app.url("/api/categories")), &key).json(&json!({"name": "Ana"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "another path is another request");
    assert_eq!(count(&app, "customers").await, 1);
    assert_eq!(count(&app, "categories").await, 0);
}

pub async fn keys_are_scoped_to_the_user(app: TestApp) {
    app.login_admin().await;
    let cashier = app.client_for_new_user("caja", "cashier").await;
    let key = Uuid::new_v4().to_string();
    let body = json!({"name": "Cliente de mostrador"});
    let a = keyed(app.client.post(app.url("/api/customers")), &key).json(&body).send().await.unwrap();
    let b = keyed(cashier.post(app.url("/api/customers")), &key).json(&body).send().await.unwrap();
    assert_eq!(a.status(), StatusCode::CREATED);
    assert_eq!(b.status(), StatusCode::CREATED);
    assert!(b.headers().get("idempotent-replayed").is_none(), "another user's key is another key");
    assert_eq!(count(&app, "customers").await, 2);
}

pub async fn retried_patch_replays_200_not_409(app: TestApp) {
    app.login_admin().await;
    let p = app.create_product("RETRY", 100).await;
    let url = app.url(&format!("/api/products/{}", p["id"].as_str().unwrap()));
    let key = Uuid::new_v4().to_string();
    let body = json!({"version": 1, "price_cents": 150});
    let first = keyed(app.client.patch(&url), &key).json(&body).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    // The answer was "lost"; the phone sends the same PATCH again, now stale by its own doing.
    let again = keyed(app.client.patch(&url), &key).json(&body).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["version"], 2);
    // Without the key, the same PATCH is what it is: stale.
    assert_eq!(app.client.patch(&url).json(&body).send().await.unwrap().status(), StatusCode::CONFLICT);
}

pub async fn business_rejection_is_stored_and_replayed(app: TestApp) {
    app.login_admin().await;
    let taken = app.create_product("TAKEN", 100).await;
    let key = Uuid::new_v4().to_string();
    let body = json!({"sku": "TAKEN", "name": "Otro", "price_cents": 1, "cost_cents": 0});
    let r = keyed(app.client.post(app.url("/api/products")), &key).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // The sku is freed, but the answer to *that* request stays what it was.
    let del = app.delete(&format!("/api/products/{}?version=1", taken["id"].as_str().unwrap())).await;
    assert_eq!(del.status(), StatusCode::OK);
    let r = keyed(app.client.post(app.url("/api/products")), &key).json(&body).send().await.unwrap();
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let (status, err) = status_json(r).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&err), "duplicate_sku");
}

pub async fn server_errors_and_refusals_are_not_stored(app: TestApp) {
    app.login_admin().await;
    let key = Uuid::new_v4().to_string();
    for _ in 0..2 {
        let r = keyed(app.client.post(app.url("/api/test/panic")), &key).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(r.headers().get("idempotent-replayed").is_none(), "a 500 runs again on retry");
    }
    // Malformed JSON is refused before anything runs: the key stays free for the corrected request.
    let key2 = Uuid::new_v4().to_string();
    let r = keyed(app.client.post(app.url("/api/customers")), &key2)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r =
        keyed(app.client.post(app.url("/api/customers")), &key2).json(&json!({"name": "Ana"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().get("idempotent-replayed").is_none());
    assert_eq!(count(&app, "idempotency_keys").await, 1);
}

pub async fn malformed_key_is_400(app: TestApp) {
    app.login_admin().await;
    let r =
        keyed(app.client.post(app.url("/api/customers")), "abc").json(&json!({"name": "Ana"})).send().await.unwrap();
    let (status, err) = status_json(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&err), "invalid_idempotency_key");
    assert_eq!(count(&app, "customers").await, 0);
}

/// 50 identical requests at once with one key: exactly one effect; every answer is the 201 (first
/// or replayed) or 409 in progress.
pub async fn fifty_concurrent_duplicates_make_one_row(app: TestApp) {
    app.login_admin().await;
    let key = Uuid::new_v4().to_string();
    let body = json!({"sku": "RUSH", "name": "Rush", "price_cents": 100, "cost_cents": 1});
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let rb = keyed(app.client.post(app.url("/api/products")), &key).json(&body);
        tasks.push(tokio::spawn(async move { rb.send().await.unwrap() }));
    }
    let mut created = 0;
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        match r.status() {
            StatusCode::CREATED => {
                created += 1;
                let v: Value = r.json().await.unwrap();
                ids.insert(v["id"].as_str().unwrap().to_owned());
            }
            StatusCode::CONFLICT => {
                let (_, err) = status_json(r).await;
                assert_eq!(code(&err), "idempotency_key_in_progress");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(created >= 1);
    assert_eq!(ids.len(), 1, "every 201 is the same product");
    assert_eq!(count(&app, "products").await, 1);
    assert_eq!(count(&app, "audit_log").await, 1);
}

pub async fn audit_log_records_writes(app: TestApp) {
    app.login_admin().await;
    let key = Uuid::new_v4().to_string();
    let r = keyed(app.client.post(app.url("/api/categories")), &key)
        .json(&json!({"name": "Almacén"}))
        .send()
        .await
        .unwrap();
    let cat: Value = r.json().await.unwrap();
    let id = cat["id"].as_str().unwrap();
    app.patch(&format!("/api/categories/{id}"), &json!({"version": 1, "name": "Almacén y bebidas"})).await;
    // A refused write leaves no trace.
    app.patch(&format!("/api/categories/{id}"), &json!({"version": 1, "name": "stale"})).await;
    let (status, log) = status_json(app.get("/api/audit").await).await;
    assert_eq!(status, StatusCode::OK);
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["action"], "update");
    assert_eq!(items[0]["request"]["name"], "Almacén y bebidas");
    assert_eq!(items[1]["action"], "create");
    assert_eq!(items[1]["entity"], "categories");
    assert_eq!(items[1]["entity_id"], id);
    assert_eq!(items[1]["idempotency_key"], key.as_str());
    assert_eq!(items[1]["username"], "admin");
    assert_eq!(items[1]["node"], "test-node");
    assert_eq!(items[1]["mode"], "normal");
    let cashier = app.client_for_new_user("cajera", "cashier").await;
    assert_eq!(cashier.get(app.url("/api/audit")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
}

/// After the retention period a key is free again, and the reaper deletes it.
pub async fn expired_keys_run_again_and_are_reaped() {
    let app = spawn_app_with(Engine::Sqlite, None, |c| c.idempotency_retention_days = 0).await;
    app.login_admin().await;
    let key = Uuid::new_v4().to_string();
    for _ in 0..2 {
        let r =
            keyed(app.client.post(app.url("/api/customers")), &key).json(&json!({"name": "Ana"})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert!(r.headers().get("idempotent-replayed").is_none());
    }
    assert_eq!(count(&app, "customers").await, 2);
    assert_eq!(mostrador::idempotency::reap_expired(&app.db).await.unwrap(), 1);
    assert_eq!(count(&app, "idempotency_keys").await, 0);
}

/// Two server instances on one PostgreSQL database (separate pools, nothing shared in memory): 40
/// copies of one keyed request spread over both still make exactly one row.
pub async fn two_instances_share_one_database() {
    let url = crate::helpers::CLUSTER.get().expect("cluster").create_database().await;
    let a = spawn_app_with(Engine::Postgres, Some(url.clone()), |_| {}).await;
    let b = crate::helpers::spawn_instance(&url).await;
    a.login_admin().await;
    let key = Uuid::new_v4().to_string();
    let body = json!({"sku": "TWO", "name": "Two", "price_cents": 1, "cost_cents": 0});
    let mut tasks = Vec::new();
    for i in 0..40 {
        let base = if i % 2 == 0 { &a.address } else { &b };
        // Same cookie jar: the session lives in the shared database, so either instance knows it.
        let rb = keyed(a.client.post(format!("{base}/api/products")), &key).json(&body);
        tasks.push(tokio::spawn(async move { rb.send().await.unwrap().status() }));
    }
    for t in tasks {
        let s = t.await.unwrap();
        assert!(s == StatusCode::CREATED || s == StatusCode::CONFLICT, "{s}");
    }
    assert_eq!(count(&a, "products").await, 1);
    assert_eq!(count(&a, "audit_log").await, 1);
}
