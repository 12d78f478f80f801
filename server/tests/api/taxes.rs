//! Tax rates, the tax mode and discounts: every figure below is worked out by hand in the comments,
//! with the rule the server documents (per line, half away from zero).

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{code, status_json, TestApp};

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, v) = status_json(app.post(path, &body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {v}");
    v
}

async fn rate(app: &TestApp, name: &str, bp: i64) -> String {
    let r = created(app, "/api/tax-rates", json!({"id": Uuid::new_v4(), "name": name, "rate_bp": bp})).await;
    r["id"].as_str().unwrap().to_owned()
}

/// A product with 1000 units in stock, taxed at `rate` (none: the shop's default).
async fn product(app: &TestApp, sku: &str, price: i64, rate: Option<&str>) -> String {
    let p = created(
        app,
        "/api/products",
        json!({"id": Uuid::new_v4(), "sku": sku, "name": sku, "price_cents": price, "cost_cents": 0, "tax_rate_id": rate}),
    )
    .await;
    let id = p["id"].as_str().unwrap().to_owned();
    created(
        app,
        "/api/inventory-movements",
        json!({"id": Uuid::new_v4(), "product_id": id, "delta": 1000, "reason": "purchase"}),
    )
    .await;
    id
}

async fn till(app: &TestApp) -> String {
    let id = Uuid::new_v4().to_string();
    created(app, "/api/cash-sessions", json!({"id": id, "register": "Caja 1", "opening_float_cents": 0})).await;
    id
}

/// Sets the tax settings over the current version.
async fn set_taxes(app: &TestApp, include: bool, default: Option<&str>, limit: i64) -> (StatusCode, Value) {
    let (_, current) = status_json(app.get("/api/settings").await).await;
    let body = json!({"version": current["version"], "prices_include_tax": include, "default_tax_rate_id": default,
                      "cashier_max_discount_bp": limit});
    status_json(app.client.put(app.url("/api/settings/taxes")).json(&body).send().await.unwrap()).await
}

/// A sale paid with a large amount of cash: whatever the server computes, the change tells the total.
fn sale(till: &str, lines: Value, extra: Value) -> Value {
    let mut s = json!({"id": Uuid::new_v4(), "cash_session_id": till, "lines": lines,
                       "payments": [{"method": "cash", "amount_cents": 1_000_000}]});
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

fn figures(s: &Value) -> (i64, i64, i64) {
    (s["net_cents"].as_i64().unwrap(), s["tax_cents"].as_i64().unwrap(), s["total_cents"].as_i64().unwrap())
}

pub async fn tax_is_per_line_half_up_in_both_modes(app: TestApp) {
    app.login_admin().await;
    let iva = rate(&app, "IVA", 2100).await;
    let reduced = rate(&app, "IVA reducido", 1050).await;
    let exempt = rate(&app, "Exento", 0).await;
    let (status, s) = set_taxes(&app, true, Some(&iva), 1000).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    assert_eq!((&s["prices_include_tax"], &s["default_tax_rate_id"]), (&json!(true), &json!(iva)));
    let t = till(&app).await;

    // (price, quantity, rate, prices include tax) → (net, tax, total), by hand.
    let p100 = product(&app, "P100", 100, Some(&iva)).await;
    let p50 = product(&app, "P50", 50, Some(&iva)).await;
    let p250 = product(&app, "P250", 250, Some(&iva)).await;
    let p6 = product(&app, "P6", 6, Some(&reduced)).await;
    let p5 = product(&app, "P5", 5, Some(&reduced)).await;
    let p333 = product(&app, "P333", 333, Some(&iva)).await;
    let p999 = product(&app, "P999", 999, Some(&exempt)).await;
    let plain = product(&app, "SIN-TASA", 100, None).await;
    type Case<'a> = (&'a str, i64, bool, (i64, i64, i64));
    let cases: &[Case] = &[
        // 1,00 with 21 % inside: 100 × 21/121 = 17,36 → 17.
        (&p100, 1, true, (83, 17, 100)),
        // 0,06 with 10,5 % inside: 6 × 1050/11050 = 0,570 → 1; 0,05: 0,475 → 0.
        (&p6, 1, true, (5, 1, 6)),
        (&p5, 1, true, (5, 0, 5)),
        // 3 × 3,33 = 9,99 with 21 % inside: 173,38 → 173.
        (&p333, 3, true, (826, 173, 999)),
        // Exempt: no tax.
        (&p999, 1, true, (999, 0, 999)),
        // No rate of its own: the default, 21 %.
        (&plain, 1, true, (83, 17, 100)),
        // Tax added: 0,50 + 21 % = 10,5 → 11 (half-even would say 10); 2,50: 52,5 → 53.
        (&p50, 1, false, (50, 11, 61)),
        (&p250, 1, false, (250, 53, 303)),
        (&plain, 1, false, (100, 21, 121)),
    ];
    for &(product, qty, include, want) in cases {
        set_taxes(&app, include, Some(&iva), 1000).await;
        let (status, s) = status_json(
            app.post("/api/sales", &sale(&t, json!([{"product_id": product, "quantity": qty}]), json!({}))).await,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{s}");
        assert_eq!(figures(&s), want, "{product} × {qty}, include {include}: {s}");
        assert_eq!(figures(&s["lines"][0]), want);
        assert_eq!(s["prices_include_tax"], include);
    }

    // Per line, not on the total: the two lines of 0,50 + 21 % are 11 + 11 = 22 (21 on their sum).
    set_taxes(&app, false, Some(&iva), 1000).await;
    let two = json!([{"product_id": p50, "quantity": 1}, {"product_id": p6, "quantity": 1}, {"product_id": p50, "quantity": 1}]);
    let (_, s) = status_json(app.post("/api/sales", &sale(&t, two, json!({}))).await).await;
    // 0,06 + 10,5 % = 0,63 → 1.
    assert_eq!(figures(&s), (106, 23, 129), "{s}");
    assert_eq!(
        s["taxes"],
        json!([{"name": "IVA", "rate_bp": 2100, "net_cents": 100, "tax_cents": 22},
               {"name": "IVA reducido", "rate_bp": 1050, "net_cents": 6, "tax_cents": 1}])
    );
    assert_eq!(s["change_cents"], 1_000_000 - 129);

    // A later change of the rate never rewrites a sale already made.
    let before = s.clone();
    let (_, r) = status_json(app.get(&format!("/api/tax-rates/{iva}")).await).await;
    let (status, _) = status_json(
        app.patch(&format!("/api/tax-rates/{iva}"), &json!({"version": r["version"], "rate_bp": 2700})).await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, again) = status_json(app.get(&format!("/api/sales/{}", s["id"].as_str().unwrap())).await).await;
    assert_eq!(again, before);
    let (_, s) =
        status_json(app.post("/api/sales", &sale(&t, json!([{"product_id": p100, "quantity": 1}]), json!({}))).await)
            .await;
    assert_eq!((figures(&s), &s["lines"][0]["tax_rate_bp"]), ((100, 27, 127), &json!(2700)));
    // An inactive rate is not applied: its products fall back to the default (now 27 %), and with no
    // default they are untaxed.
    let (_, r) = status_json(app.get(&format!("/api/tax-rates/{reduced}")).await).await;
    app.patch(&format!("/api/tax-rates/{reduced}"), &json!({"version": r["version"], "active": false})).await;
    let (_, s) =
        status_json(app.post("/api/sales", &sale(&t, json!([{"product_id": p6, "quantity": 100}]), json!({}))).await)
            .await;
    assert_eq!(figures(&s), (600, 162, 762), "600 + 27 % = 162: {s}");
    set_taxes(&app, false, None, 1000).await;
    let (_, s) =
        status_json(app.post("/api/sales", &sale(&t, json!([{"product_id": p6, "quantity": 100}]), json!({}))).await)
            .await;
    assert_eq!((figures(&s), &s["taxes"]), ((600, 0, 600), &json!([])));
}

pub async fn discounts_are_exact_and_a_cashier_has_a_limit(app: TestApp) {
    app.login_admin().await;
    let iva = rate(&app, "IVA", 2100).await;
    let exempt = rate(&app, "Exento", 0).await;
    set_taxes(&app, true, Some(&iva), 1000).await;
    let four = product(&app, "CUATRO", 400, Some(&iva)).await;
    let five = product(&app, "CINCO", 500, Some(&exempt)).await;
    let one = product(&app, "UNO", 100, None).await;
    let t = till(&app).await;

    // 3 × 4,00 with 10 % off (1,20) = 10,80; 5,00 with 0,50 off = 4,50. The ticket's 1,53 is shared
    // 10,80 : 4,50 → 1,08 + 0,45; charged 9,72 (tax inside: 168,69 → 169) and 4,05.
    let lines = json!([
        {"product_id": four, "quantity": 3, "discount": {"percent_bp": 1000}},
        {"product_id": five, "quantity": 1, "discount": {"amount_cents": 50}},
    ]);
    let extra = json!({"discount": {"amount_cents": 153}, "discount_reason": "cliente habitual"});
    let (status, s) = status_json(app.post("/api/sales", &sale(&t, lines.clone(), extra.clone())).await).await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    assert_eq!((&s["subtotal_cents"], &s["discount_cents"]), (&json!(1700), &json!(323)));
    assert_eq!(figures(&s), (1208, 169, 1377));
    assert_eq!((&s["discount"], &s["discount_reason"]), (&json!({"amount_cents": 153}), &json!("cliente habitual")));
    let l = &s["lines"][0];
    assert_eq!(
        (&l["discount_cents"], &l["ticket_discount_cents"], &l["net_cents"], &l["tax_cents"]),
        (&json!(120), &json!(108), &json!(803), &json!(169))
    );
    assert_eq!(s["lines"][1]["total_cents"], 405);
    assert_eq!(s["change_cents"], 1_000_000 - 1377);

    // A cashier: that sale's discounts are 19 % of it, above the 10 % limit: refused, nothing stored.
    let cashier = app.client_for_new_user("caja", "cashier").await;
    let post = |body: Value| {
        let c = cashier.clone();
        let url = app.url("/api/sales");
        async move { status_json(c.post(url).json(&body).send().await.unwrap()).await }
    };
    let (_, before) = status_json(app.get(&format!("/api/products/{four}")).await).await;
    let refused = sale(&t, lines, extra);
    let (status, err) = post(refused.clone()).await;
    assert_eq!((status, code(&err)), (StatusCode::FORBIDDEN, "discount_above_limit"), "{err}");
    let (_, after) = status_json(app.get(&format!("/api/products/{four}")).await).await;
    assert_eq!(after["stock"], before["stock"]);
    let (status, _) = status_json(app.get(&format!("/api/sales/{}", refused["id"].as_str().unwrap())).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Within it: 10 × 1,00 with 10 % off one line, exactly the limit.
    let within = sale(
        &t,
        json!([{"product_id": one, "quantity": 10, "discount": {"percent_bp": 1000}}]),
        json!({"discount_reason": "promo"}),
    );
    let (status, s) = post(within).await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    assert_eq!((&s["discount_cents"], &s["total_cents"]), (&json!(100), &json!(900)));
    // 1 cent more on the ticket is over it.
    let over = sale(
        &t,
        json!([{"product_id": one, "quantity": 10, "discount": {"percent_bp": 1000}}]),
        json!({"discount": {"amount_cents": 1}, "discount_reason": "promo"}),
    );
    let (status, err) = post(over).await;
    assert_eq!((status, code(&err)), (StatusCode::FORBIDDEN, "discount_above_limit"), "{err}");
    // The admin raises the limit: now the cashier may.
    set_taxes(&app, true, Some(&iva), 2000).await;
    let (status, _) = post(refused).await;
    assert_eq!(status, StatusCode::CREATED);

    // Bad discounts are 422 under their field and change nothing.
    let bad: &[(Value, Value, &str)] = &[
        (json!([{"product_id": one, "quantity": 1, "discount": {"percent_bp": 1000}}]), json!({}), "discount_reason"),
        (
            json!([{"product_id": one, "quantity": 1, "discount": {"percent_bp": 10001}}]),
            json!({"discount_reason": "x"}),
            "lines",
        ),
        (
            json!([{"product_id": one, "quantity": 1, "discount": {"amount_cents": 101}}]),
            json!({"discount_reason": "x"}),
            "lines",
        ),
        (
            json!([{"product_id": one, "quantity": 1, "discount": {"percent_bp": 10, "amount_cents": 1}}]),
            json!({"discount_reason": "x"}),
            "lines",
        ),
        (json!([{"product_id": one, "quantity": 1, "discount": 10}]), json!({"discount_reason": "x"}), "lines"),
        (
            json!([{"product_id": one, "quantity": 1}]),
            json!({"discount": {"amount_cents": 101}, "discount_reason": "x"}),
            "discount",
        ),
        (
            json!([{"product_id": one, "quantity": 1}]),
            json!({"discount": {"amount_cents": 0}, "discount_reason": "x"}),
            "discount",
        ),
        (
            json!([{"product_id": one, "quantity": 1}]),
            json!({"discount": {"percent_bp": 100}, "discount_reason": "y".repeat(201)}),
            "discount_reason",
        ),
    ];
    let (_, before) = status_json(app.get(&format!("/api/products/{one}")).await).await;
    for (lines, extra, field) in bad {
        let (status, err) = status_json(app.post("/api/sales", &sale(&t, lines.clone(), extra.clone())).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{lines} {extra}: {err}");
        assert!(err["error"]["details"]["fields"].get(*field).is_some(), "{field}: {err}");
    }
    let (_, after) = status_json(app.get(&format!("/api/products/{one}")).await).await;
    assert_eq!(after["stock"], before["stock"]);
}

pub async fn tax_settings_and_rates_are_an_admins_and_reach_devices(app: TestApp) {
    app.login_admin().await;
    let (_, settings) = status_json(app.get("/api/settings").await).await;
    // Out of the box: prices include tax, no default rate, a cashier may give up to 10 %.
    assert_eq!(
        (&settings["prices_include_tax"], &settings["default_tax_rate_id"], &settings["cashier_max_discount_bp"]),
        (&json!(true), &Value::Null, &json!(1000))
    );
    let (_, pulled) = status_json(app.get("/api/sync/pull").await).await;
    let cursor = pulled["cursor"].as_str().unwrap().to_owned();
    let iva = rate(&app, "IVA", 2100).await;
    for (body, field) in [
        (json!({"id": Uuid::new_v4(), "name": "Mucho", "rate_bp": 10_001}), "rate_bp"),
        (json!({"id": Uuid::new_v4(), "name": "", "rate_bp": 100}), "name"),
        (json!({"id": Uuid::new_v4(), "name": "Sin tasa"}), "rate_bp"),
    ] {
        let (status, err) = status_json(app.post("/api/tax-rates", &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert!(err["error"]["details"]["fields"].get(field).is_some(), "{err}");
    }
    let (status, err) = set_taxes(&app, true, Some(&Uuid::new_v4().to_string()), 1000).await;
    assert_eq!(
        (status, &err["error"]["details"]["fields"]["default_tax_rate_id"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("no such tax rate"))
    );
    let (status, _) = set_taxes(&app, true, None, 10_001).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, s) = set_taxes(&app, false, Some(&iva), 500).await;
    assert_eq!(status, StatusCode::OK);
    // A stale version is a conflict with the current settings.
    let stale = json!({"version": settings["version"], "prices_include_tax": true, "default_tax_rate_id": null, "cashier_max_discount_bp": 0});
    let (status, err) =
        status_json(app.client.put(app.url("/api/settings/taxes")).json(&stale).send().await.unwrap()).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "version_conflict"));
    assert_eq!(err["error"]["details"]["current"]["cashier_max_discount_bp"], 500);

    // A cashier reads them and the rates, through the same pull as the catalog; may change neither.
    let cashier = app.client_for_new_user("caja", "cashier").await;
    let (_, read) = status_json(cashier.get(app.url("/api/settings")).send().await.unwrap()).await;
    assert_eq!(
        (&read["prices_include_tax"], &read["default_tax_rate_id"], &read["version"]),
        (&json!(false), &json!(iva), &s["version"])
    );
    let (_, page) =
        status_json(cashier.get(app.url(&format!("/api/sync/pull?since={cursor}"))).send().await.unwrap()).await;
    assert_eq!(page["tax_rates"][0]["id"], iva, "{page}");
    assert_eq!(page["tax_rates"][0]["rate_bp"], 2100);
    let body = json!({"version": read["version"], "prices_include_tax": true, "default_tax_rate_id": null, "cashier_max_discount_bp": 10_000});
    let (status, _) = status_json(cashier.put(app.url("/api/settings/taxes")).json(&body).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = cashier
        .post(app.url("/api/tax-rates"))
        .json(&json!({"id": Uuid::new_v4(), "name": "X", "rate_bp": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
