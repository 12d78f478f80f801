//! Sign-in, sessions, roles and cross-site protection.

use reqwest::{header, StatusCode};
use serde_json::json;

use crate::helpers::{code, new_client, status_json, TestApp, ADMIN_PASSWORD};

pub async fn requests_without_session_are_401(app: TestApp) {
    for path in ["/api/auth/me", "/api/products", "/api/users", "/api/categories"] {
        let (status, body) = status_json(app.get(path).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(code(&body), "unauthenticated");
    }
    let (status, _) = status_json(app.post("/api/products", &json!({"sku": "A"})).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

pub async fn login_me_logout(app: TestApp) {
    let (status, user) = status_json(app.login_with(&app.client, "ADMIN", ADMIN_PASSWORD).await).await;
    assert_eq!(status, StatusCode::OK, "usernames are case-insensitive");
    assert_eq!(user["username"], "admin");
    assert_eq!(user["role"], "admin");
    assert!(user.get("password_hash").is_none());

    let (status, me) = status_json(app.get("/api/auth/me").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], user["id"]);

    assert_eq!(app.post("/api/auth/logout", &json!({})).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/auth/me").await.status(), StatusCode::UNAUTHORIZED);
}

pub async fn wrong_password_is_401_and_does_not_say_which_part(app: TestApp) {
    let (s1, b1) = status_json(app.login_with(&app.client, "admin", "nope-nope").await).await;
    let (s2, b2) = status_json(app.login_with(&app.client, "nobody", "nope-nope").await).await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!(s2, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&b1), "invalid_credentials");
    assert_eq!(b1, b2, "same answer for a wrong password and an unknown user");
}

pub async fn repeated_bad_logins_are_429_with_retry_after(app: TestApp) {
    let mut last = None;
    for _ in 0..5 {
        let r = app.login_with(&app.client, "admin", "wrong-password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    for _ in 0..2 {
        last = Some(app.login_with(&app.client, "admin", "wrong-password").await);
    }
    let r = last.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let (_, body) = status_json(r).await;
    assert_eq!(code(&body), "too_many_attempts");
    // Even the right password waits: the budget is per username.
    let r = app.login_with(&app.client, "admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

pub async fn cashier_is_403_on_admin_routes(app: TestApp) {
    app.login_admin().await;
    let cashier = app.client_for_new_user("caja1", "cashier").await;
    let r = cashier.get(app.url("/api/users")).send().await.unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "forbidden");
    let r = cashier
        .post(app.url("/api/users"))
        .json(&json!({"username": "intruder", "password": "password-123", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A cashier does use the catalog.
    assert_eq!(cashier.get(app.url("/api/products")).send().await.unwrap().status(), StatusCode::OK);
}

pub async fn cross_site_writes_are_refused(app: TestApp) {
    app.login_admin().await;
    let product = json!({"sku": "X-1", "name": "X", "price_cents": 1, "cost_cents": 0});
    let r = app
        .client
        .post(app.url("/api/products"))
        .header(header::ORIGIN, "https://evil.example")
        .json(&product)
        .send()
        .await
        .unwrap();
    let (status, body) = status_json(r).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "cross_origin_request");
    let r = app
        .client
        .post(app.url("/api/products"))
        .header("sec-fetch-site", "cross-site")
        .json(&product)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The app's own origin passes, and so does a client with no Origin at all.
    let r = app.client.post(app.url("/api/products")).header(header::ORIGIN, &app.address).json(&product).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, list) = status_json(app.get("/api/products").await).await;
    assert_eq!(list["total"], 1, "the refused requests wrote nothing");
    let product2 = json!({"sku": "X-2", "name": "X", "price_cents": 1, "cost_cents": 0});
    assert_eq!(app.post("/api/products", &product2).await.status(), StatusCode::CREATED);
}

pub async fn session_cookie_is_http_only_and_strict(app: TestApp) {
    let r = app.login_with(&new_client(), "admin", ADMIN_PASSWORD).await;
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("mostrador_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http in tests: no Secure flag ({cookie})");
}

/// Behind TLS (public URL https://…) the cookie is Secure, and the public origin may write.
pub async fn behind_tls_the_cookie_is_secure() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Engine::Sqlite, None, |c| {
        c.public_url = Some("https://caja.example".into())
    })
    .await;
    let r = app.login_with(&new_client(), "admin", ADMIN_PASSWORD).await;
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
    let r = new_client()
        .post(app.url("/api/auth/login"))
        .header(header::ORIGIN, "https://caja.example")
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the configured public origin is accepted");
}
