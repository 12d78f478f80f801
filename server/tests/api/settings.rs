//! The shop's settings: read by everyone signed in, changed by an admin with its version.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{code, status_json, TestApp};

fn update(version: &Value, name: &str) -> Value {
    json!({"version": version, "name": name, "address": "Av. Siempreviva 742", "tax_id": "20-12345678-9",
           "phone": "+54 11 5555-0000", "receipt_header": "¡Bienvenidos!", "receipt_footer": "Cambios dentro de los 30 días",
           "currency": "ARS", "locale": "es-AR", "time_zone": "America/Argentina/Buenos_Aires"})
}

/// Saves `changes` over the current settings; the answer's status and body.
async fn change(app: &TestApp, changes: Value) -> (StatusCode, Value) {
    let (_, current) = status_json(app.get("/api/settings").await).await;
    let mut body = update(&current["version"], current["name"].as_str().unwrap());
    for (k, v) in changes.as_object().unwrap() {
        body[k] = v.clone();
    }
    status_json(app.client.put(app.url("/api/settings")).json(&body).send().await.unwrap()).await
}

pub async fn settings_start_with_the_product_name_and_an_admin_changes_them(app: TestApp) {
    app.login_admin().await;
    let (status, first) = status_json(app.get("/api/settings").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["name"], "Mostrador");
    assert_eq!(first["receipt_footer"], "");
    // Until an admin chooses: dollars and cents, each reader's language, the server's --timezone.
    assert_eq!(
        (&first["currency"], &first["currency_symbol"], &first["minor_units"], &first["locale"]),
        (&json!("USD"), &json!("$"), &json!(2), &json!(""))
    );
    assert_eq!(first["time_zone"], "UTC");
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
    assert_eq!(
        (&saved["currency"], &saved["currency_symbol"], &saved["minor_units"]),
        (&json!("ARS"), &json!("$"), &json!(2))
    );
    assert_eq!((&saved["locale"], &saved["time_zone"]), (&json!("es-AR"), &json!("America/Argentina/Buenos_Aires")));
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
    bad["currency"] = json!("PES");
    bad["locale"] = json!("castellano");
    bad["time_zone"] = json!("America/Atlantis");
    let (status, body) = status_json(app.client.put(app.url("/api/settings")).json(&bad).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields = &body["error"]["details"]["fields"];
    assert_eq!(fields["name"], "is required");
    assert_eq!(fields["receipt_footer"], "must be at most 500 characters");
    assert_eq!(fields["phone"], "must be one line without control characters");
    assert_eq!(fields["currency"], "must be an ISO 4217 currency code such as ARS or EUR");
    assert_eq!(fields["locale"], "must be a language tag such as es-AR, or empty");
    assert_eq!(fields["time_zone"], "must be an IANA time zone such as America/Argentina/Buenos_Aires");
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

pub async fn the_currency_sets_the_minor_unit_until_amounts_exist(app: TestApp) {
    app.login_admin().await;
    // An empty shop may count in Chilean pesos (no decimals) or Kuwaiti dinars (three).
    let (status, clp) = change(&app, json!({"currency": "clp"})).await;
    assert_eq!(status, StatusCode::OK, "{clp}");
    assert_eq!((&clp["currency"], &clp["minor_units"]), (&json!("CLP"), &json!(0)));
    let (_, kwd) = change(&app, json!({"currency": "KWD"})).await;
    assert_eq!(kwd["minor_units"], 3);
    let (_, ars) = change(&app, json!({"currency": "ARS"})).await;
    assert_eq!(ars["minor_units"], 2);
    // Once a price is stored, a currency with other decimals would change what it is worth...
    app.create_product("YERBA", 2500).await;
    let (status, body) = change(&app, json!({"currency": "CLP"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "currency_in_use");
    let (_, now) = status_json(app.get("/api/settings").await).await;
    assert_eq!(now["currency"], "ARS", "nothing changed");
    // ...but one with the same decimals only renames it (a shop that chose the wrong peso).
    let (status, usd) = change(&app, json!({"currency": "UYU"})).await;
    assert_eq!((status, &usd["currency"], &usd["minor_units"]), (StatusCode::OK, &json!("UYU"), &json!(2)));
}

/// A zone whose date differs from UTC's right now: 14 hours ahead after 10:00 UTC, 12 behind before
/// 12:00 UTC (one of the two always holds).
fn zone_on_another_day() -> (&'static str, chrono::NaiveDate) {
    use chrono::Timelike;
    let now = chrono::Utc::now();
    let (zone, offset) = if now.hour() >= 11 {
        ("Pacific/Kiritimati", chrono::Duration::hours(14))
    } else {
        ("Etc/GMT+12", chrono::Duration::hours(-12))
    };
    (zone, (now + offset).date_naive())
}

pub async fn the_shops_days_follow_its_time_zone(app: TestApp) {
    app.login_admin().await;
    let (zone, local_day) = zone_on_another_day();
    let utc_day = chrono::Utc::now().date_naive();
    assert_ne!(local_day, utc_day);
    let (status, body) = change(&app, json!({"time_zone": zone})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let product = app.create_product("MATE", 1500).await;
    let stock = json!({"id": uuid::Uuid::new_v4(), "product_id": product["id"], "delta": 5, "reason": "purchase"});
    assert_eq!(app.post("/api/inventory-movements", &stock).await.status(), StatusCode::CREATED);
    let session = uuid::Uuid::new_v4();
    let r =
        app.post("/api/cash-sessions", &json!({"id": session, "register": "caja-1", "opening_float_cents": 0})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let sale = json!({"id": uuid::Uuid::new_v4(), "cash_session_id": session,
        "lines": [{"product_id": product["id"], "quantity": 2}], "payments": [{"method": "cash", "amount_cents": 3000}]});
    let (status, body) = status_json(app.post("/api/sales", &sale).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The sale is on the shop's today, not on UTC's, in every list that filters by day...
    let app = &app;
    let count = |path: String| async move {
        let (status, page) = status_json(app.get(&path).await).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        page["total"].as_i64().unwrap()
    };
    for (list, day, expected) in
        [("sales", local_day, 1), ("sales", utc_day, 0), ("cash-sessions", local_day, 1), ("cash-sessions", utc_day, 0)]
    {
        assert_eq!(count(format!("/api/{list}?from={day}&to={day}")).await, expected, "{list} on {day}");
    }
    // ...on the dashboard...
    let (_, dash) = status_json(app.get("/api/dashboard").await).await;
    assert_eq!(dash["today"], local_day.to_string());
    assert_eq!((&dash["today_count"], &dash["today_total_cents"]), (&json!(1), &json!(3000)));
    let days = dash["per_day"].as_array().unwrap();
    assert_eq!(days.last().unwrap()["date"], local_day.to_string());
    assert_eq!(days.iter().map(|d| d["count"].as_i64().unwrap()).sum::<i64>(), 1);
    // ...and in exports, whose times are the shop's clock.
    let csv = |day: chrono::NaiveDate| async move {
        let r = app.get(&format!("/api/export/sales?from={day}&to={day}")).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.unwrap()
    };
    let on_local = csv(local_day).await;
    assert_eq!(on_local.lines().count(), 2, "{on_local}");
    assert!(on_local.lines().nth(1).unwrap().contains(&local_day.to_string()), "{on_local}");
    assert!(on_local.contains(",30.00,"), "money in units: {on_local}");
    assert_eq!(csv(utc_day).await.lines().count(), 1);
}

/// A real 1×1 PNG.
const PIXEL_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

pub async fn a_logo_is_checked_by_its_bytes_and_travels_with_the_settings(app: TestApp) {
    use base64::{engine::general_purpose::STANDARD, Engine};
    app.login_admin().await;
    let (_, first) = status_json(app.get("/api/settings").await).await;
    assert_eq!(first["logo"], "");
    let put = |version: &Value, image: Value| {
        app.client.put(app.url("/api/settings/logo")).json(&json!({"version": version, "image": image})).send()
    };
    let pixel = format!("data:image/png;base64,{PIXEL_PNG}");
    let (status, saved) = status_json(put(&first["version"], json!(pixel)).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["logo"], pixel);
    assert_eq!(saved["version"], first["version"].as_i64().unwrap() + 1);
    let cashier = app.client_for_new_user("caja", "cashier").await;
    let (_, read) = status_json(cashier.get(app.url("/api/settings")).send().await.unwrap()).await;
    assert_eq!(read["logo"], pixel, "devices get it with the settings");

    // Refused, each with its reason, and nothing changes.
    let mut heavy = STANDARD.decode(PIXEL_PNG).unwrap();
    heavy.resize(70 * 1024, 0);
    for (image, reason) in [
        (format!("data:image/png;base64,{}", STANDARD.encode(b"hola")), "must be a PNG, JPEG or WebP image"),
        (
            format!("data:image/svg+xml;base64,{}", STANDARD.encode(b"<svg onload=alert(1)/>")),
            "must be a PNG, JPEG or WebP image",
        ),
        ("https://example.com/logo.png".into(), "must be a data URL of an image (data:image/png;base64,…)"),
    ] {
        let (status, body) = status_json(put(&saved["version"], json!(image)).await.unwrap()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["details"]["fields"]["image"], reason);
    }
    // These tests run with a 64 KiB body limit: a heavy logo's base64 does not even get in.
    let heavy_url = format!("data:image/png;base64,{}", STANDARD.encode(&heavy));
    let (status, body) = status_json(put(&saved["version"], json!(heavy_url)).await.unwrap()).await;
    assert_eq!((status, code(&body)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
    let (status, body) = status_json(put(&first["version"], Value::Null).await.unwrap()).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "version_conflict"), "a stale version");
    let r = cashier.put(app.url("/api/settings/logo")).json(&json!({"version": saved["version"], "image": null}));
    assert_eq!(r.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let (_, now) = status_json(app.get("/api/settings").await).await;
    assert_eq!(now, saved);

    // A device that has this version is answered 304 (each sync asks; the logo is not sent again).
    let etag = app.get("/api/settings").await.headers()["etag"].to_str().unwrap().to_owned();
    let r = app.client.get(app.url("/api/settings")).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()["etag"], etag.as_str());
    assert!(r.text().await.unwrap().is_empty());
    let r = app.client.get(app.url("/api/settings")).header("If-None-Match", "\"1\"").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Removed: receipts print no logo, and the old ETag no longer matches.
    let (status, removed) = status_json(put(&saved["version"], Value::Null).await.unwrap()).await;
    assert_eq!((status, &removed["logo"]), (StatusCode::OK, &json!("")));
    let r = app.client.get(app.url("/api/settings")).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // With the default body limit (1 MiB): a 60 KB logo is taken, a 70 KB one refused by its size.
    let url = match app.engine {
        crate::helpers::Engine::Sqlite => None,
        crate::helpers::Engine::Postgres => Some(crate::helpers::CLUSTER.get().unwrap().create_database().await),
    };
    let roomy = crate::helpers::spawn_app_with(app.engine, url, |c| c.body_limit = 1024 * 1024).await;
    roomy.login_admin().await;
    let (_, base) = status_json(roomy.get("/api/settings").await).await;
    let put = |version: &Value, image: &str| {
        roomy.client.put(roomy.url("/api/settings/logo")).json(&json!({"version": version, "image": image})).send()
    };
    let (status, body) = status_json(put(&base["version"], &heavy_url).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"]["fields"]["image"], "must be at most 64 KB");
    let mut largest = STANDARD.decode(PIXEL_PNG).unwrap();
    largest.resize(60 * 1024, 0);
    let largest_url = format!("data:image/png;base64,{}", STANDARD.encode(&largest));
    let (status, body) = status_json(put(&base["version"], &largest_url).await.unwrap()).await;
    assert_eq!((status, &body["logo"]), (StatusCode::OK, &json!(largest_url)));
}
