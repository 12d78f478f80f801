//! Exports: the right rows for a local-day range, formula escaping, streamed CSV and XLSX.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::{
    backup::{sale, shop},
    helpers::{code, status_json, TestApp},
};

async fn csv(app: &TestApp, path: &str) -> (String, Vec<Vec<String>>) {
    let r = app.get(path).await;
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_owned();
    let text = r.text().await.unwrap();
    let text = text.strip_prefix('\u{feff}').expect("UTF-8 BOM first");
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect();
    (disposition, rows)
}

pub async fn expenses_csv_has_the_rows_of_the_local_days_asked_for(app: TestApp) {
    app.login_admin().await;
    for (day, description, cents) in [
        ("2026-01-09", "antes", 100),
        ("2026-01-10", "=HYPERLINK(\"http://x\")", 1250),
        ("2026-01-31", "@SUM(A1)", 5),
        ("2026-02-01", "después", 700),
    ] {
        let r = app
            .post("/api/expenses", &json!({"id": Uuid::new_v4(), "spent_on": day, "category": "-luz", "amount_cents": cents, "description": description}))
            .await;
        assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
    }
    let (disposition, rows) = csv(&app, "/api/export/expenses?from=2026-01-10&to=2026-01-31&format=csv").await;
    assert_eq!(disposition, "attachment; filename=\"mostrador-expenses-2026-01-10_2026-01-31.csv\"");
    assert_eq!(rows[0][..4], ["id", "spent_on", "category", "amount"]);
    let body: Vec<(&str, &str, &str, &str)> =
        rows[1..].iter().map(|r| (r[1].as_str(), r[2].as_str(), r[3].as_str(), r[4].as_str())).collect();
    assert_eq!(
        body,
        [("2026-01-10", "'-luz", "12.50", "'=HYPERLINK(\"http://x\")"), ("2026-01-31", "'-luz", "0.05", "'@SUM(A1)"),]
    );
    // Without a range: all four.
    let (_, rows) = csv(&app, "/api/export/expenses").await;
    assert_eq!(rows.len(), 5);
}

pub async fn sales_and_lines_export_in_csv_and_xlsx(app: TestApp) {
    app.login_admin().await;
    let (session, product) = shop(&app).await;
    for q in [1, 2] {
        assert_eq!(app.post("/api/sales", &sale(&session, &product, q)).await.status(), StatusCode::CREATED);
    }
    let today = &mostrador::db::now()[..10];
    let (_, rows) = csv(&app, &format!("/api/export/sales?from={today}&to={today}")).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    let col = |name: &str| rows[0].iter().position(|h| h == name).unwrap_or_else(|| panic!("{name}: {:?}", rows[0]));
    let mut totals: Vec<(&str, &str, &str)> =
        rows[1..].iter().map(|r| (r[col("total")].as_str(), r[col("net")].as_str(), r[col("tax")].as_str())).collect();
    totals.sort();
    // Untaxed sales: all of the total is net.
    assert_eq!(totals, [("2.50", "2.50", "0.00"), ("5.00", "5.00", "0.00")]);
    let (_, lines) = csv(&app, &format!("/api/export/sale_lines?from={today}&to={today}")).await;
    assert_eq!(lines.len(), 3);
    // Another day has none of them.
    let (_, rows) = csv(&app, "/api/export/sales?from=2020-01-01&to=2020-01-31").await;
    assert_eq!(rows.len(), 1, "only the header");
    for entity in ["products", "customers", "cash_movements", "inventory_movements", "refunds"] {
        let (_, rows) = csv(&app, &format!("/api/export/{entity}")).await;
        assert!(!rows.is_empty(), "{entity}");
    }
    let (_, movements) = csv(&app, "/api/export/inventory_movements").await;
    assert_eq!(movements[1][5], "1000", "numbers are not escaped: {movements:?}");

    let r = app.get(&format!("/api/export/sales?from={today}&to={today}&format=xlsx")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"].to_str().unwrap().ends_with(".xlsx\""));
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK", "an xlsx is a zip file");
}

pub async fn bad_export_requests_are_clear_errors(app: TestApp) {
    app.login_admin().await;
    let (status, body) = status_json(app.get("/api/export/users").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    for (path, field) in [
        ("/api/export/sales?format=pdf", "format"),
        ("/api/export/sales?from=2026-13-01", "from"),
        ("/api/export/sales?from=2026-02-01&to=2026-01-01", "to"),
        ("/api/export/sales?to=yesterday", "to"),
    ] {
        let (status, body) = status_json(app.get(path).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(code(&body), "validation_failed");
        assert!(body["error"]["details"]["fields"][field].is_string(), "{path}: {body}");
    }
    let cashier = app.client_for_new_user("cajero", "cashier").await;
    let r = cashier.get(app.url("/api/export/sales")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// Days are the shop's days: a sale belongs to the local date, which can differ from the UTC date.
pub async fn export_days_follow_the_shop_time_zone(app: TestApp) {
    let url = match app.engine {
        crate::helpers::Engine::Sqlite => None,
        crate::helpers::Engine::Postgres => Some(crate::helpers::CLUSTER.get().unwrap().create_database().await),
    };
    // UTC+14: the local date is "tomorrow" for most of the UTC day.
    let app =
        crate::helpers::spawn_app_with(app.engine, url, |c| c.backup.timezone = Some("Pacific/Kiritimati".into()))
            .await;
    app.login_admin().await;
    let (session, product) = shop(&app).await;
    let r = app.post("/api/sales", &sale(&session, &product, 1)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: serde_json::Value = r.json().await.unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(created["created_at"].as_str().unwrap()).unwrap();
    let tz: chrono_tz::Tz = "Pacific/Kiritimati".parse().unwrap();
    let local = at.with_timezone(&tz);
    let day = local.format("%Y-%m-%d").to_string();
    let (_, rows) = csv(&app, &format!("/api/export/sales?from={day}&to={day}")).await;
    assert_eq!(rows.len(), 2, "the sale is in its local day {day}: {rows:?}");
    assert_eq!(rows[1][1], local.format("%Y-%m-%d %H:%M:%S").to_string(), "times are local");
    let before = (local.date_naive() - chrono::Duration::days(1)).to_string();
    let (_, rows) = csv(&app, &format!("/api/export/sales?from={before}&to={before}")).await;
    assert_eq!(rows.len(), 1, "not in the local day before");
}
