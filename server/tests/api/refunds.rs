//! Refunds and voids: what comes back (units, stock, cash, tax) worked out by hand, the limits that
//! keep a sale from being refunded twice (also by two devices at once), and when a void is allowed.

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{code, status_json, TestApp};

async fn created(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, v) = status_json(app.post(path, &body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {v}");
    v
}

async fn product(app: &TestApp, sku: &str, price: i64) -> String {
    let p =
        created(app, "/api/products", json!({"sku": sku, "name": sku, "price_cents": price, "cost_cents": 0})).await;
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
    created(app, "/api/cash-sessions", json!({"id": id, "register": format!("Caja {id}"), "opening_float_cents": 0}))
        .await;
    id
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, v) = status_json(app.get(path).await).await;
    assert_eq!(status, StatusCode::OK, "{path}: {v}");
    v
}

async fn stock(app: &TestApp, product: &str) -> i64 {
    get(app, &format!("/api/products/{product}")).await["stock"].as_i64().unwrap()
}

async fn expected(app: &TestApp, till: &str) -> i64 {
    get(app, &format!("/api/cash-sessions/{till}")).await["expected_cents"].as_i64().unwrap()
}

fn refund(sale: &Value, till: &str, method: &str, lines: Value) -> Value {
    json!({"id": Uuid::new_v4(), "sale_id": sale["id"], "cash_session_id": till, "method": method,
           "reason": "no le quedaba", "lines": lines})
}

pub async fn a_refund_takes_back_units_at_the_figures_they_were_sold_at(app: TestApp) {
    app.login_admin().await;
    let iva = created(&app, "/api/tax-rates", json!({"id": Uuid::new_v4(), "name": "IVA", "rate_bp": 2100})).await;
    let (_, s) = status_json(app.get("/api/settings").await).await;
    let body = json!({"version": s["version"], "prices_include_tax": true, "default_tax_rate_id": iva["id"], "cashier_max_discount_bp": 1000});
    assert_eq!(
        app.client.put(app.url("/api/settings/taxes")).json(&body).send().await.unwrap().status(),
        StatusCode::OK
    );
    let p = product(&app, "TRES", 333).await;
    let t = till(&app).await;
    // 3 × 3,33 = 9,99 with 21 % inside: tax 173,38 → 1,73.
    let sale = created(
        &app,
        "/api/sales",
        json!({"id": Uuid::new_v4(), "cash_session_id": t,
        "lines": [{"product_id": p, "quantity": 3}], "payments": [{"method": "cash", "amount_cents": 999}]}),
    )
    .await;
    assert_eq!((&sale["total_cents"], &sale["tax_cents"]), (&json!(999), &json!(173)));
    assert_eq!((stock(&app, &p).await, expected(&app, &t).await), (997, 999));

    // One unit back in cash: a third of 9,99 is 3,33, of 1,73 is 0,5767 → 0,58.
    let one = refund(&sale, &t, "cash", json!([{"line_no": 1, "quantity": 1}]));
    let r = created(&app, "/api/refunds", one.clone()).await;
    assert_eq!((&r["total_cents"], &r["tax_cents"], &r["net_cents"]), (&json!(333), &json!(58), &json!(275)));
    assert_eq!(r["taxes"], json!([{"name": "IVA", "rate_bp": 2100, "net_cents": 275, "tax_cents": 58}]));
    assert_eq!((&r["lines"][0]["sale_line_no"], &r["lines"][0]["damaged"]), (&json!(1), &json!(false)));
    assert_eq!((stock(&app, &p).await, expected(&app, &t).await), (998, 666));
    // The same refund again is answered, not applied twice.
    let again = app.post("/api/refunds", &one).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!((stock(&app, &p).await, expected(&app, &t).await), (998, 666));

    // The other two by card, damaged: what is left exactly (6,66 and 1,15), no stock back, no cash out.
    let rest = created(
        &app,
        "/api/refunds",
        refund(&sale, &t, "card", json!([{"line_no": 1, "quantity": 2, "damaged": true}])),
    )
    .await;
    assert_eq!((&rest["total_cents"], &rest["tax_cents"]), (&json!(666), &json!(115)));
    assert_eq!((stock(&app, &p).await, expected(&app, &t).await), (998, 666));
    let s = get(&app, &format!("/api/sales/{}", sale["id"].as_str().unwrap())).await;
    assert_eq!((&s["refunded_cents"], &s["lines"][0]["refunded_quantity"]), (&json!(999), &json!(3)));
    let list = get(&app, "/api/refunds").await;
    assert_eq!(list["total"], 2);

    // Nothing is left to give back.
    let (status, err) =
        status_json(app.post("/api/refunds", &refund(&sale, &t, "cash", json!([{"line_no": 1, "quantity": 1}]))).await)
            .await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "refund_exceeds_sold"), "{err}");
    assert_eq!(err["error"]["details"], json!({"line_no": 1, "sold": 3, "refunded": 3, "requested": 1}));

    // Bad refunds are refused under their field and change nothing.
    let sale2 = created(
        &app,
        "/api/sales",
        json!({"id": Uuid::new_v4(), "cash_session_id": t,
        "lines": [{"product_id": p, "quantity": 1}], "payments": [{"method": "card", "amount_cents": 333}]}),
    )
    .await;
    let cases = [
        (json!({"reason": ""}), "reason"),
        (json!({"method": "gold"}), "method"),
        (json!({"lines": []}), "lines"),
        (json!({"lines": [{"line_no": 0, "quantity": 1}]}), "lines"),
        (json!({"lines": [{"line_no": 1, "quantity": 0}]}), "lines"),
        (json!({"lines": [{"line_no": 2, "quantity": 1}]}), "lines"),
        (json!({"sale_id": Uuid::new_v4()}), "sale_id"),
    ];
    for (change, field) in cases {
        let mut body = refund(&sale2, &t, "cash", json!([{"line_no": 1, "quantity": 1}]));
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, err) = status_json(app.post("/api/refunds", &body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{change}: {err}");
        assert!(err["error"]["details"]["fields"].get(field).is_some(), "{field}: {err}");
    }
    assert_eq!((stock(&app, &p).await, expected(&app, &t).await), (997, 666));

    // A refund is paid from an open till: a closed one is 409.
    let r = app.post(&format!("/api/cash-sessions/{t}/close"), &json!({"counted_cents": 666})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (status, err) = status_json(
        app.post("/api/refunds", &refund(&sale2, &t, "cash", json!([{"line_no": 1, "quantity": 1}]))).await,
    )
    .await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "cash_session_closed"));
    let t2 = till(&app).await;
    created(&app, "/api/refunds", refund(&sale2, &t2, "cash", json!([{"line_no": 1, "quantity": 1}]))).await;
    assert_eq!(expected(&app, &t2).await, -333);
}

pub async fn two_devices_refunding_the_same_lines_at_once_one_gets_409(app: TestApp) {
    app.login_admin().await;
    let p = product(&app, "DOS", 500).await;
    let t = till(&app).await;
    for round in 0..5 {
        let sale = created(
            &app,
            "/api/sales",
            json!({"id": Uuid::new_v4(), "cash_session_id": t,
            "lines": [{"product_id": p, "quantity": 2}], "payments": [{"method": "cash", "amount_cents": 1000}]}),
        )
        .await;
        let before = (stock(&app, &p).await, expected(&app, &t).await);
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let rb = app.client.post(app.url("/api/refunds")).json(&refund(
                &sale,
                &t,
                "cash",
                json!([{"line_no": 1, "quantity": 2}]),
            ));
            tasks.push(tokio::spawn(async move { rb.send().await.unwrap() }));
        }
        let mut answers = Vec::new();
        for task in tasks {
            let (status, body) = status_json(task.await.unwrap()).await;
            answers.push((status, if status.is_success() { String::new() } else { code(&body).to_owned() }));
        }
        answers.sort();
        assert_eq!(
            answers,
            [(StatusCode::CREATED, String::new()), (StatusCode::CONFLICT, "refund_exceeds_sold".into())],
            "round {round}"
        );
        assert_eq!((stock(&app, &p).await, expected(&app, &t).await), (before.0 + 2, before.1 - 1000), "round {round}");
    }
}

pub async fn a_void_undoes_a_sale_only_while_its_till_is_open(app: TestApp) {
    app.login_admin().await;
    let p = product(&app, "ANULAR", 250).await;
    let t = till(&app).await;
    let cashier = app.client_for_new_user("caja", "cashier").await;
    let sale = |qty: i64| {
        json!({"id": Uuid::new_v4(), "cash_session_id": t,
        "lines": [{"product_id": p, "quantity": qty}], "payments": [{"method": "cash", "amount_cents": 1000}]})
    };
    let keep = created(&app, "/api/sales", sale(1)).await;
    let mistake = created(&app, "/api/sales", sale(2)).await;
    assert_eq!((stock(&app, &p).await, expected(&app, &t).await), (997, 750));
    let dash = get(&app, "/api/dashboard").await;
    assert_eq!(dash["today_count"], 2);

    let path = format!("/api/sales/{}/void", mistake["id"].as_str().unwrap());
    let (status, err) =
        status_json(cashier.post(app.url(&path)).json(&json!({"reason": " "})).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    // A cashier voids it: the stock and the cash are as if it never happened, and it counts nowhere.
    let (status, v) =
        status_json(cashier.post(app.url(&path)).json(&json!({"reason": "cobrada dos veces"})).send().await.unwrap())
            .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!((&v["voided_by"], &v["void_reason"]), (&json!("caja"), &json!("cobrada dos veces")));
    assert!(v["voided_at"].is_string());
    assert_eq!((stock(&app, &p).await, expected(&app, &t).await), (999, 250));
    let dash = get(&app, "/api/dashboard").await;
    assert_eq!((&dash["today_count"], &dash["today_total_cents"]), (&json!(1), &json!(250)));
    // Again: answered as it is, nothing more happens.
    let (status, again) = status_json(app.post(&path, &json!({"reason": "otra vez"})).await).await;
    assert_eq!((status, &again["void_reason"]), (StatusCode::OK, &json!("cobrada dos veces")));
    assert_eq!(stock(&app, &p).await, 999);
    // A voided sale has nothing to refund.
    let (status, err) = status_json(
        app.post("/api/refunds", &refund(&mistake, &t, "cash", json!([{"line_no": 1, "quantity": 1}]))).await,
    )
    .await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "sale_voided"));
    // A sale with a refund cannot be voided; after the till closes, only a refund is possible.
    let partly = created(&app, "/api/sales", sale(2)).await;
    created(&app, "/api/refunds", refund(&partly, &t, "cash", json!([{"line_no": 1, "quantity": 1}]))).await;
    let (status, err) = status_json(
        app.post(&format!("/api/sales/{}/void", partly["id"].as_str().unwrap()), &json!({"reason": "x"})).await,
    )
    .await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "sale_refunded"));
    // A product deleted since the sale does not block its void (its stock record stays right).
    let gone = product(&app, "BORRADO", 100).await;
    let sold = created(
        &app,
        "/api/sales",
        json!({"id": Uuid::new_v4(), "cash_session_id": t,
        "lines": [{"product_id": gone, "quantity": 1}], "payments": [{"method": "card", "amount_cents": 100}]}),
    )
    .await;
    let (_, g) = status_json(app.get(&format!("/api/products/{gone}")).await).await;
    assert_eq!(app.delete(&format!("/api/products/{gone}?version={}", g["version"])).await.status(), StatusCode::OK);
    let (status, v) = status_json(
        app.post(&format!("/api/sales/{}/void", sold["id"].as_str().unwrap()), &json!({"reason": "x"})).await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let counted = expected(&app, &t).await;
    assert_eq!(
        app.post(&format!("/api/cash-sessions/{t}/close"), &json!({"counted_cents": counted})).await.status(),
        StatusCode::OK
    );
    let (status, err) = status_json(
        app.post(&format!("/api/sales/{}/void", keep["id"].as_str().unwrap()), &json!({"reason": "x"})).await,
    )
    .await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "cash_session_closed"));
    let (status, _) =
        status_json(app.post(&format!("/api/sales/{}/void", Uuid::new_v4()), &json!({"reason": "x"})).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

pub async fn the_till_report_adds_up_what_happened_in_it(app: TestApp) {
    app.login_admin().await;
    let iva = created(&app, "/api/tax-rates", json!({"id": Uuid::new_v4(), "name": "IVA", "rate_bp": 2100})).await;
    let exempt = created(&app, "/api/tax-rates", json!({"id": Uuid::new_v4(), "name": "Exento", "rate_bp": 0})).await;
    let (_, s) = status_json(app.get("/api/settings").await).await;
    let body = json!({"version": s["version"], "prices_include_tax": true, "default_tax_rate_id": iva["id"], "cashier_max_discount_bp": 1000});
    assert_eq!(
        app.client.put(app.url("/api/settings/taxes")).json(&body).send().await.unwrap().status(),
        StatusCode::OK
    );
    let a = product(&app, "A", 1000).await;
    let b = product(&app, "B", 500).await;
    let (_, pb) = status_json(app.get(&format!("/api/products/{b}")).await).await;
    app.patch(&format!("/api/products/{b}"), &json!({"version": pb["version"], "tax_rate_id": exempt["id"]})).await;
    let t = Uuid::new_v4().to_string();
    created(&app, "/api/cash-sessions", json!({"id": t, "register": "Caja Z", "opening_float_cents": 5000})).await;
    let sale = |lines: Value, method: &str, paid: i64, extra: Value| {
        let mut s = json!({"id": Uuid::new_v4(), "cash_session_id": t, "lines": lines, "payments": [{"method": method, "amount_cents": paid}]});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        s
    };
    // 2 × 10,00 in cash (30,00 given, 10,00 change): IVA inside 2000 × 21/121 = 347,1 → 3,47.
    let s1 =
        created(&app, "/api/sales", sale(json!([{"product_id": a, "quantity": 2}]), "cash", 3000, json!({}))).await;
    // 5,00 exempt by card.
    created(&app, "/api/sales", sale(json!([{"product_id": b, "quantity": 1}]), "card", 500, json!({}))).await;
    // 10,00 with 10 % off by transfer: 9,00, IVA 156,19 → 1,56.
    created(
        &app,
        "/api/sales",
        sale(
            json!([{"product_id": a, "quantity": 1, "discount": {"percent_bp": 1000}}]),
            "transfer",
            900,
            json!({"discount_reason": "cliente"}),
        ),
    )
    .await;
    // 10,00 in cash, voided.
    let s4 =
        created(&app, "/api/sales", sale(json!([{"product_id": b, "quantity": 2}]), "cash", 1000, json!({}))).await;
    let r = app.post(&format!("/api/sales/{}/void", s4["id"].as_str().unwrap()), &json!({"reason": "error"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // One unit of the first sale back in cash: 10,00, IVA 347/2 = 173,5 → 1,74.
    let r1 = created(&app, "/api/refunds", refund(&s1, &t, "cash", json!([{"line_no": 1, "quantity": 1}]))).await;
    assert_eq!((&r1["total_cents"], &r1["tax_cents"]), (&json!(1000), &json!(174)));
    created(
        &app,
        "/api/cash-movements",
        json!({"id": Uuid::new_v4(), "cash_session_id": t, "kind": "in", "amount_cents": 700, "reason": "cambio"}),
    )
    .await;
    created(
        &app,
        "/api/cash-movements",
        json!({"id": Uuid::new_v4(), "cash_session_id": t, "kind": "out", "amount_cents": 200, "reason": "banco"}),
    )
    .await;
    created(
        &app,
        "/api/expenses",
        json!({"id": Uuid::new_v4(), "spent_on": &mostrador::db::now()[..10], "category": "limpieza",
        "amount_cents": 300, "cash_session_id": t}),
    )
    .await;

    let x = get(&app, &format!("/api/cash-sessions/{t}/report")).await;
    assert_eq!(x["kind"], "x");
    assert_eq!(
        (&x["sales_count"], &x["sales_total_cents"], &x["discounts_cents"]),
        (&json!(3), &json!(3400), &json!(100))
    );
    assert_eq!(
        x["by_method"],
        json!([{"method": "card", "amount_cents": 500}, {"method": "cash", "amount_cents": 2000}, {"method": "transfer", "amount_cents": 900}])
    );
    assert_eq!((&x["voided_count"], &x["voided_total_cents"]), (&json!(1), &json!(1000)));
    assert_eq!((&x["refunds_count"], &x["refunds_total_cents"]), (&json!(1), &json!(1000)));
    assert_eq!(x["refunds_by_method"], json!([{"method": "cash", "amount_cents": 1000}]));
    // IVA: net 1653 + 744 − 826, tax 347 + 156 − 174; exempt: 5,00. Net + tax = sales − refunds.
    assert_eq!(
        x["taxes"],
        json!([{"name": "IVA", "rate_bp": 2100, "net_cents": 1571, "tax_cents": 329},
               {"name": "Exento", "rate_bp": 0, "net_cents": 500, "tax_cents": 0}])
    );
    assert_eq!((&x["net_cents"], &x["tax_cents"]), (&json!(2071), &json!(329)));
    assert_eq!(
        (&x["cash_in_cents"], &x["cash_out_cents"], &x["expenses_cents"]),
        (&json!(700), &json!(200), &json!(300))
    );
    // The drawer: 50,00 + 20,00 cash sales − 10,00 refunded + 7,00 − 2,00 − 3,00.
    assert_eq!(x["session"]["expected_cents"], 6200);
    // The same figures from the records' own lists.
    let sales = get(&app, "/api/sales?limit=200").await;
    let counted: i64 = sales["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["cash_session_id"] == json!(t) && s["voided_at"].is_null())
        .map(|s| s["total_cents"].as_i64().unwrap() - s["tax_cents"].as_i64().unwrap())
        .sum();
    let refunds = get(&app, "/api/refunds").await;
    let refunded_net: i64 = refunds["items"].as_array().unwrap().iter().map(|r| r["net_cents"].as_i64().unwrap()).sum();
    assert_eq!(counted - refunded_net, 2071);

    // Closed with 1,00 missing: the Z report, and a sale that arrives after is an amendment.
    assert_eq!(
        app.post(&format!("/api/cash-sessions/{t}/close"), &json!({"counted_cents": 6100})).await.status(),
        StatusCode::OK
    );
    created(&app, "/api/sales", sale(json!([{"product_id": a, "quantity": 1}]), "cash", 1000, json!({}))).await;
    let z = get(&app, &format!("/api/cash-sessions/{t}/report")).await;
    assert_eq!(z["kind"], "z");
    assert_eq!((&z["session"]["difference_cents"], &z["session"]["closed_by"]), (&json!(-100), &json!("admin")));
    assert_eq!((&z["late_sales"], &z["late_total_cents"]), (&json!(1), &json!(1000)));
    for same in ["sales_count", "sales_total_cents", "by_method", "taxes", "refunds_total_cents", "net_cents"] {
        assert_eq!(z[same], x[same], "{same}");
    }
    let (status, _) = status_json(app.get(&format!("/api/cash-sessions/{}/report", Uuid::new_v4())).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

pub async fn receipt_numbers_from_two_registers_never_collide(app: TestApp) {
    app.login_admin().await;
    let p = product(&app, "NUM", 100).await;
    let t = till(&app).await;
    let register = |device: Uuid| json!({"device_id": device, "name": "Mostrador"});
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let (status, ra) = status_json(app.post("/api/registers", &register(a)).await).await;
    assert_eq!((status, &ra["code"], &ra["last_seq"]), (StatusCode::CREATED, &json!("C1"), &json!(0)), "{ra}");
    let rb = created(&app, "/api/registers", register(b)).await;
    assert_eq!(rb["code"], "C2");
    // The same device asking again keeps its code.
    let (status, again) = status_json(app.post("/api/registers", &register(a)).await).await;
    assert_eq!((status, &again["code"]), (StatusCode::OK, &json!("C1")));

    // Each device numbered its sales offline; they arrive interleaved.
    let sale = |no: &str| {
        json!({"id": Uuid::new_v4(), "cash_session_id": t, "receipt_no": no,
        "lines": [{"product_id": p, "quantity": 1}], "payments": [{"method": "cash", "amount_cents": 100}]})
    };
    let mut made = Vec::new();
    for no in ["C1-000001", "C2-000001", "C2-000002", "C1-000002", "C1-000003", "C2-000003"] {
        let s = created(&app, "/api/sales", sale(no)).await;
        assert_eq!(s["receipt_no"], no);
        made.push(s);
    }
    let r = created(
        &app,
        "/api/refunds",
        json!({"id": Uuid::new_v4(), "sale_id": made[0]["id"], "cash_session_id": t,
        "method": "cash", "reason": "x", "receipt_no": "C1-000004", "lines": [{"line_no": 1, "quantity": 1}]}),
    )
    .await;
    assert_eq!(r["receipt_no"], "C1-000004");
    // A number already given is refused, whatever document asks for it, and nothing is stored.
    let before = stock(&app, &p).await;
    let (status, err) = status_json(app.post("/api/sales", &sale("C1-000004")).await).await;
    assert_eq!((status, code(&err)), (StatusCode::CONFLICT, "receipt_number_taken"), "{err}");
    assert_eq!(stock(&app, &p).await, before);
    for (bad, why) in [("C9-000001", "no register"), ("C1-1", "like C1-000123"), ("C01-000005", "like C1-000123")] {
        let (status, err) = status_json(app.post("/api/sales", &sale(bad)).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {err}");
        assert!(err["error"]["details"]["fields"]["receipt_no"].as_str().unwrap().contains(why), "{err}");
    }
    // Gapless per register, and each register's last number is known to the server.
    let sales = get(&app, "/api/sales?limit=200").await;
    let mut numbers: Vec<String> =
        sales["items"].as_array().unwrap().iter().map(|s| s["receipt_no"].as_str().unwrap().to_owned()).collect();
    numbers.sort();
    assert_eq!(numbers, ["C1-000001", "C1-000002", "C1-000003", "C2-000001", "C2-000002", "C2-000003"]);
    let registers = get(&app, "/api/registers").await;
    assert_eq!(
        registers.as_array().unwrap().iter().map(|r| (r["code"].clone(), r["last_seq"].clone())).collect::<Vec<_>>(),
        [(json!("C1"), json!(4)), (json!("C2"), json!(3))]
    );
    let report = get(&app, &format!("/api/cash-sessions/{t}/report")).await;
    assert_eq!((&report["first_receipt_no"], &report["last_receipt_no"]), (&json!("C1-000001"), &json!("C1-000004")));
}
