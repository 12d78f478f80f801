//! The versioned catalog: CRUD, optimistic concurrency, validation, search.

use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{code, status_json, TestApp};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

pub async fn product_crud(app: TestApp) {
    app.login_admin().await;
    let (status, cat) = status_json(app.post("/api/categories", &json!({"name": "Bebidas"})).await).await;
    assert_eq!(status, StatusCode::CREATED);
    let r = app
        .post(
            "/api/products",
            &json!({"sku": "COCA-500", "name": "Coca-Cola 500 ml", "price_cents": 1250,
            "cost_cents": 800, "category_id": cat["id"], "barcode": "7790895000997"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()[header::ETAG], "\"1\"");
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["version"], 1);
    assert_eq!(p["stock"], 0);
    assert_eq!(p["active"], true);
    assert!(p["created_at"].as_str().unwrap().ends_with('Z'));

    let r = app.get(&format!("/api/products/{}", id(&p))).await;
    assert_eq!(r.headers()[header::ETAG], "\"1\"");
    let (_, got) = status_json(r).await;
    assert_eq!(got, p);

    let (status, updated) =
        status_json(app.patch(&format!("/api/products/{}", id(&p)), &json!({"version": 1, "price_cents": 1300})).await)
            .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["price_cents"], 1300);
    assert_eq!(updated["name"], "Coca-Cola 500 ml", "unsent fields keep their value");

    let (status, deleted) = status_json(app.delete(&format!("/api/products/{}?version=2", id(&p))).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["version"], 3);
    assert!(deleted["deleted_at"].is_string());
    assert_eq!(app.get(&format!("/api/products/{}", id(&p))).await.status(), StatusCode::NOT_FOUND);
    let (_, list) = status_json(app.get("/api/products").await).await;
    assert_eq!(list["total"], 0);
    // The tombstone stays in the table for sync.
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM products WHERE deleted_at IS NOT NULL")
        .fetch_one(&app.db.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
    // Deleting again answers with the tombstone.
    assert_eq!(app.delete(&format!("/api/products/{}?version=3", id(&p))).await.status(), StatusCode::OK);
}

pub async fn client_chosen_id_and_duplicate_id(app: TestApp) {
    app.login_admin().await;
    let my_id = uuid::Uuid::new_v4().to_string();
    let body = json!({"id": my_id, "name": "Ana Pérez", "phone": "+54 11 5555-0000"});
    let (status, c) = status_json(app.post("/api/customers", &body).await).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(c["id"], my_id);
    // The same create again (a retry whose key expired) is answered with the row, not applied twice.
    let r = app.post("/api/customers", &body).await;
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let (status, again) = status_json(r).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again, c);
    let (status, err) = status_json(app.post("/api/customers", &json!({"id": my_id, "name": "Otra"})).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&err), "duplicate_id");
    assert_eq!(err["error"]["details"]["current"]["name"], "Ana Pérez");
    let (status, err) = status_json(app.post("/api/customers", &json!({"id": "not-a-uuid", "name": "X"})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["error"]["details"]["fields"]["id"].is_string());
}

pub async fn stale_patch_is_409_with_current_row(app: TestApp) {
    app.login_admin().await;
    let p = app.create_product("PAN-1", 500).await;
    let path = format!("/api/products/{}", id(&p));
    // Two people load version 1; the first saves.
    assert_eq!(app.patch(&path, &json!({"version": 1, "price_cents": 600})).await.status(), StatusCode::OK);
    // The second one's edit is stale: 409 with what is there now, and nothing changes.
    let (status, err) = status_json(app.patch(&path, &json!({"version": 1, "name": "Pan casero"})).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&err), "version_conflict");
    let details = &err["error"]["details"];
    assert_eq!(details["current"]["version"], 2);
    assert_eq!(details["current"]["price_cents"], 600);
    assert_eq!(details["your_version"], 1);
    assert_eq!(details["conflicting_fields"], json!([]), "the name was not changed by the other side");
    // Both sides changed the price, to different values: that field conflicts.
    let (_, err) =
        status_json(app.patch(&path, &json!({"version": 1, "price_cents": 700, "name": "Pan casero"})).await).await;
    assert_eq!(err["error"]["details"]["conflicting_fields"], json!(["price_cents"]));
    // Same new value on both sides is no conflict.
    let (_, err) = status_json(app.patch(&path, &json!({"version": 1, "price_cents": 600})).await).await;
    assert_eq!(err["error"]["details"]["conflicting_fields"], json!([]));
    let (_, now) = status_json(app.get(&path).await).await;
    assert_eq!(now["name"], "Producto PAN-1");
    assert_eq!(now["version"], 2);
    // Stale delete is refused too.
    let (status, err) = status_json(app.delete(&format!("{path}?version=1")).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&err), "version_conflict");
}

pub async fn if_match_precondition(app: TestApp) {
    app.login_admin().await;
    let p = app.create_product("LECHE", 900).await;
    let url = app.url(&format!("/api/products/{}", id(&p)));
    let r = app
        .client
        .patch(&url)
        .header(header::IF_MATCH, "\"7\"")
        .json(&json!({"price_cents": 950}))
        .send()
        .await
        .unwrap();
    let (status, err) = status_json(r).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(code(&err), "precondition_failed");
    assert_eq!(err["error"]["details"]["current"]["version"], 1);
    let r = app
        .client
        .patch(&url)
        .header(header::IF_MATCH, "\"1\"")
        .json(&json!({"price_cents": 950}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::ETAG], "\"2\"");
    let r = app.client.delete(&url).header(header::IF_MATCH, "\"1\"").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let r = app.client.delete(&url).header(header::IF_MATCH, "\"2\"").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

pub async fn patch_without_version_is_428(app: TestApp) {
    app.login_admin().await;
    let p = app.create_product("AZUCAR", 700).await;
    let path = format!("/api/products/{}", id(&p));
    let (status, err) = status_json(app.patch(&path, &json!({"price_cents": 1})).await).await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(code(&err), "precondition_required");
    let (status, _) = status_json(app.delete(&path).await).await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED);
    let (_, now) = status_json(app.get(&path).await).await;
    assert_eq!(now["price_cents"], 700);
}

pub async fn duplicate_sku_is_409(app: TestApp) {
    app.login_admin().await;
    app.create_product("YERBA-1K", 3000).await;
    let (status, err) = status_json(
        app.post("/api/products", &json!({"sku": "YERBA-1K", "name": "Otra", "price_cents": 1, "cost_cents": 0})).await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&err), "duplicate_sku");
    // Renaming another product onto a taken sku is the same conflict.
    let other = app.create_product("YERBA-500", 1600).await;
    let (status, err) = status_json(
        app.patch(&format!("/api/products/{}", id(&other)), &json!({"version": 1, "sku": "YERBA-1K"})).await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&err), "duplicate_sku");
}

pub async fn validation_errors_are_422_per_field(app: TestApp) {
    app.login_admin().await;
    let (status, err) = status_json(
        app.post(
            "/api/products",
            &json!({"sku": "", "name": "  ", "price_cents": -5, "cost_cents": 1.5, "colour": "red"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&err), "validation_failed");
    let fields = &err["error"]["details"]["fields"];
    assert_eq!(fields["sku"], "must not be empty");
    assert_eq!(fields["name"], "must not be empty");
    assert_eq!(fields["price_cents"], "must be a whole number of cents from 0 to 1000000000000");
    assert_eq!(fields["cost_cents"], "must be a whole number of cents from 0 to 1000000000000");
    assert!(fields["body"].as_str().unwrap().contains("colour"));
    let p = app.create_product("OK-1", 100).await;
    let (status, err) =
        status_json(app.patch(&format!("/api/products/{}", id(&p)), &json!({"version": 1, "name": ""})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["details"]["fields"]["name"], "must not be empty");
    let (_, list) = status_json(app.get("/api/products").await).await;
    assert_eq!(list["total"], 1, "nothing else was written");
    let (status, err) =
        status_json(app.post("/api/customers", &json!({"name": "X", "email": "no-at-sign"})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["error"]["details"]["fields"]["email"].is_string());
}

pub async fn stock_is_read_only(app: TestApp) {
    app.login_admin().await;
    let (status, err) = status_json(
        app.post("/api/products", &json!({"sku": "S", "name": "S", "price_cents": 1, "cost_cents": 0, "stock": 50}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["details"]["fields"]["stock"], "is read-only");
    let p = app.create_product("S", 1).await;
    let (status, _) =
        status_json(app.patch(&format!("/api/products/{}", id(&p)), &json!({"version": 1, "stock": 50})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

pub async fn unknown_category_is_422(app: TestApp) {
    app.login_admin().await;
    let (status, err) = status_json(
        app.post(
            "/api/products",
            &json!({"sku": "Z", "name": "Z", "price_cents": 1, "cost_cents": 0,
            "category_id": uuid::Uuid::new_v4()}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["error"]["details"]["fields"]["category_id"].is_string());
}

pub async fn search_and_pagination(app: TestApp) {
    app.login_admin().await;
    for (sku, name) in
        [("A-1", "Arroz largo fino"), ("A-2", "Arroz integral"), ("F-1", "Fideos 100%_x"), ("G-1", "Galletitas")]
    {
        let r =
            app.post("/api/products", &json!({"sku": sku, "name": name, "price_cents": 100, "cost_cents": 50})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let (_, page) = status_json(app.get("/api/products?q=ARROZ").await).await;
    assert_eq!(page["total"], 2);
    let (_, page) = status_json(app.get("/api/products?q=f-1").await).await;
    assert_eq!(page["items"][0]["sku"], "F-1", "search by sku");
    let (_, page) = status_json(app.get("/api/products?q=100%25_").await).await;
    assert_eq!(page["total"], 1, "% and _ are literal in searches");
    let (_, page) = status_json(app.get("/api/products?limit=2&offset=1").await).await;
    assert_eq!(page["total"], 4);
    assert_eq!(page["limit"], 2);
    let names: Vec<&str> = page["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Arroz largo fino", "Fideos 100%_x"], "sorted by name");
    let (_, none) = status_json(app.get("/api/products?from=2000-01-01&to=2000-12-31").await).await;
    assert_eq!(none["total"], 0, "created within the dates");
    let (_, all) = status_json(app.get("/api/products?from=2000-01-01").await).await;
    assert_eq!(all["total"], 4);
    let (status, err) = status_json(app.get("/api/products?limit=abc").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["error"]["details"]["fields"]["limit"].is_string());
}

pub async fn deleted_sku_can_be_reused(app: TestApp) {
    app.login_admin().await;
    let p = app.create_product("REUSE", 1).await;
    assert_eq!(app.delete(&format!("/api/products/{}?version=1", id(&p))).await.status(), StatusCode::OK);
    app.create_product("REUSE", 2).await;
}

pub async fn categories_and_customers_crud(app: TestApp) {
    app.login_admin().await;
    for (entity, body, field, new_value) in [
        (
            "categories",
            json!({"name": "Limpieza", "description": "Artículos de limpieza"}),
            "name",
            json!("Limpieza y hogar"),
        ),
        (
            "customers",
            json!({"name": "Kiosco Sur", "tax_id": "20-12345678-9", "email": "sur@example.com"}),
            "phone",
            json!("+54 9 11 1234"),
        ),
    ] {
        let (status, row) = status_json(app.post(&format!("/api/{entity}"), &body).await).await;
        assert_eq!(status, StatusCode::CREATED, "{entity}");
        let path = format!("/api/{entity}/{}", id(&row));
        let (status, updated) = status_json(app.patch(&path, &json!({"version": 1, field: new_value})).await).await;
        assert_eq!(status, StatusCode::OK, "{entity}");
        assert_eq!(updated[field], new_value);
        let (_, list) = status_json(app.get(&format!("/api/{entity}?q=SUR")).await).await;
        assert_eq!(list["total"], if entity == "customers" { 1 } else { 0 });
        let (status, _) = status_json(app.delete(&format!("{path}?version=2")).await).await;
        assert_eq!(status, StatusCode::OK);
        let (_, list) = status_json(app.get(&format!("/api/{entity}")).await).await;
        assert_eq!(list["total"], 0);
    }
}

/// Ten clients PATCH the same version at once: exactly one wins, the rest get 409.
pub async fn concurrent_patches_one_wins(app: TestApp) {
    app.login_admin().await;
    let p = app.create_product("RACE", 100).await;
    let url = app.url(&format!("/api/products/{}", id(&p)));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let client = app.client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            client.patch(&url).json(&json!({"version": 1, "price_cents": 200 + i})).send().await.unwrap().status()
        }));
    }
    let mut ok = 0;
    let mut conflict = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::CONFLICT => conflict += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, conflict), (1, 9));
    let (_, now) = status_json(app.get(&format!("/api/products/{}", id(&p))).await).await;
    assert_eq!(now["version"], 2);
}
