//! The shop's settings: read by everyone signed in, changed by an admin with its version.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{code, status_json, TestApp};

fn update(version: &Value, name: &str) -> Value {
    json!({"version": version, "name": name, "address": "Av. Siempreviva 742", "tax_id": "20-12345678-9",
           "phone": "+54 11 5555-0000", "receipt_header": "¡Bienvenidos!", "receipt_footer": "Cambios dentro de los 30 días"})
}

pub async fn settings_start_with_the_product_name_and_an_admin_changes_them(app: TestApp) {
    app.login_admin().await;
    let (status, first) = status_json(app.get("/api/settings").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["name"], "Mostrador");
    assert_eq!(first["receipt_footer"], "");
    let r = app
        .client
        .put(app.url("/api/settings"))
        .json(&update(&first["version"], "  Almacén Don Pepe "))
        .send()
        .await
        .unwrap();
    let (status, saved) = status_json(r).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["name"], "Almacén Don Pepe", "trimmed");
    assert_eq!(saved["version"], first["version"].as_i64().unwrap() + 1);
    // A cashier reads them (receipts need them) but may not change them.
    let cashier = app.client_for_new_user("caja", "cashier").await;
    let (status, read) = status_json(cashier.get(app.url("/api/settings")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, saved);
    let r = cashier.put(app.url("/api/settings")).json(&update(&saved["version"], "Otra")).send().await.unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "forbidden");
    let (_, after) = status_json(app.get("/api/settings").await).await;
    assert_eq!(after, saved, "a refused change changes nothing");
}

pub async fn a_stale_settings_edit_is_a_conflict_with_the_current_values(app: TestApp) {
    app.login_admin().await;
    let (_, first) = status_json(app.get("/api/settings").await).await;
    let r =
        app.client.put(app.url("/api/settings")).json(&update(&first["version"], "Kiosco Ana")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A second admin screen, loaded before that save, sends its own name on the old version.
    let r =
        app.client.put(app.url("/api/settings")).json(&update(&first["version"], "Kiosco Beto")).send().await.unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&body), "version_conflict");
    assert_eq!(body["error"]["details"]["current"]["name"], "Kiosco Ana");
    assert_eq!(body["error"]["details"]["conflicting_fields"], json!(["name"]));
    let (_, now) = status_json(app.get("/api/settings").await).await;
    assert_eq!(now["name"], "Kiosco Ana");
    // Two admin screens saving on the same version at the same moment: one wins, the other is told.
    for round in 0..5 {
        let (_, base) = status_json(app.get("/api/settings").await).await;
        let put = |name: String| app.client.put(app.url("/api/settings")).json(&update(&base["version"], &name)).send();
        let (a, b) = tokio::join!(put(format!("A{round}")), put(format!("B{round}")));
        let mut statuses = [a.unwrap().status(), b.unwrap().status()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "round {round}");
        let (_, after) = status_json(app.get("/api/settings").await).await;
        assert_eq!(after["version"], base["version"].as_i64().unwrap() + 1, "exactly one save");
    }
}

pub async fn bad_settings_are_refused_field_by_field_and_change_nothing(app: TestApp) {
    app.login_admin().await;
    let (_, first) = status_json(app.get("/api/settings").await).await;
    let mut bad = update(&first["version"], " ");
    bad["receipt_footer"] = json!("x".repeat(501));
    bad["phone"] = json!("12\u{0}34");
    let (status, body) = status_json(app.client.put(app.url("/api/settings")).json(&bad).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = &body["error"]["details"]["fields"];
    assert_eq!(fields["name"], "is required");
    assert_eq!(fields["receipt_footer"], "must be at most 500 characters");
    assert_eq!(fields["phone"], "must be one line without control characters");
    // Without a version, or with a name that is not text: a clear 422 too.
    let (status, _) =
        status_json(app.client.put(app.url("/api/settings")).json(&json!({"name": "X"})).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = status_json(
        app.client.put(app.url("/api/settings")).json(&json!({"version": 1, "name": 7})).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, after) = status_json(app.get("/api/settings").await).await;
    assert_eq!(after, first);
    // Signed out: 401.
    let anonymous = crate::helpers::new_client();
    assert_eq!(anonymous.get(app.url("/api/settings")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
}
