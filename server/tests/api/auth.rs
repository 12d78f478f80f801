//! Sign-in, sessions, roles and cross-site protection.

use reqwest::{header, StatusCode};
use serde_json::json;

use crate::helpers::{code, new_client, spawn_binary, status_json, Process, TestApp, ADMIN_PASSWORD};

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
    let r = app
        .client
        .post(app.url("/api/products"))
        .header(header::ORIGIN, &app.address)
        .json(&product)
        .send()
        .await
        .unwrap();
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

/// DNS rebinding: a page at http://evil.example whose name now points at this server sends
/// `Host: evil.example` and `Origin: http://evil.example`. Equal, but a host *name* is not proof:
/// refused unless it is the public URL. An IP-literal or `localhost` Host equal to the Origin (the
/// app opened by address, as a phone on the shop's Wi-Fi does) passes.
pub async fn rebinding_host_origin_is_refused(app: TestApp) {
    app.login_admin().await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let post = |host: String, origin: String, sku: &'static str| {
        let r = app
            .client
            .post(app.url("/api/products"))
            .header(header::HOST, host)
            .header(header::ORIGIN, origin)
            .json(&json!({"sku": sku, "name": "X", "price_cents": 1, "cost_cents": 0}));
        async move { r.send().await.unwrap() }
    };
    for host in [format!("evil.example:{port}"), "evil.example".to_owned(), format!("EVIL.example:{port}")] {
        let (status, body) = status_json(post(host.clone(), format!("http://{host}"), "R-0").await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{host}: {body}");
        assert_eq!(code(&body), "cross_origin_request");
    }
    let (_, list) = status_json(app.get("/api/products").await).await;
    assert_eq!(list["total"], 0, "the refused writes changed nothing");
    for (host, sku) in [
        (format!("localhost:{port}"), "R-1"),
        (format!("127.0.0.1:{port}"), "R-2"),
        ("192.168.1.20:3000".to_owned(), "R-3"),
        (format!("[::1]:{port}"), "R-4"),
    ] {
        let r = post(host.clone(), format!("http://{host}"), sku).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{host}");
    }
}

/// A name is accepted when it is the configured public URL (MOSTRADOR_PUBLIC_URL).
pub async fn public_url_name_is_accepted() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Engine::Sqlite, None, |c| {
        c.public_url = Some("http://caja.local:3000/".into())
    })
    .await;
    app.login_admin().await;
    let r = app
        .client
        .post(app.url("/api/categories"))
        .header(header::HOST, "caja.local:3000")
        .header(header::ORIGIN, "http://caja.local:3000")
        .json(&json!({"name": "Bebidas"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// Sends a failed login with `username` to `p`; the status.
async fn bad_login(client: &reqwest::Client, p: &Process, username: &str, forwarded_for: Option<&str>) -> StatusCode {
    let mut r =
        client.post(p.url("/api/auth/login")).json(&json!({"username": username, "password": "wrong-password"}));
    if let Some(xff) = forwarded_for {
        r = r.header("x-forwarded-for", xff);
    }
    r.send().await.unwrap().status()
}

/// Behind a trusted proxy (MOSTRADOR_TRUSTED_PROXIES) each client named by X-Forwarded-For has its
/// own login budget, so one shop's proxy is not one client; from an untrusted peer the header is
/// ignored, so a client cannot invent addresses to escape its budget.
pub async fn forwarded_for_counts_only_from_trusted_proxies() {
    for trusted in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let envs: Vec<(&str, String)> =
            if trusted { vec![("MOSTRADOR_TRUSTED_PROXIES", "10.9.9.9, 127.0.0.0/8".into())] } else { vec![] };
        let p = spawn_binary(dir.path(), &envs).await;
        let client = new_client();
        // 20 attempts per client, then one every 3 s (distinct usernames: the per-username budget stays
        // out of it). Spend client 1's budget.
        let mut spent = false;
        for i in 0..40 {
            match bad_login(&client, &p, &format!("user{i}"), Some("203.0.113.1")).await {
                StatusCode::TOO_MANY_REQUESTS => {
                    assert!(i >= 20, "refused after {i} attempts");
                    spent = true;
                    break;
                }
                s => assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}"),
            }
        }
        assert!(spent, "client 1 ran out of attempts");
        let other = bad_login(&client, &p, "someone-else", Some("203.0.113.2")).await;
        if trusted {
            assert_eq!(other, StatusCode::UNAUTHORIZED, "another client behind the proxy has its own budget");
        } else {
            assert_eq!(other, StatusCode::TOO_MANY_REQUESTS, "an untrusted peer's X-Forwarded-For is ignored");
        }
    }
}

/// The login limiter remembers at most MOSTRADOR_LOGIN_LIMITER_KEYS usernames and addresses (seen in
/// /metrics): a flood of invented usernames shares one budget past the cap, while a user known before
/// the flood keeps theirs.
pub async fn login_limiter_memory_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let p = spawn_binary(
        dir.path(),
        &[("MOSTRADOR_LOGIN_LIMITER_KEYS", "8".into()), ("MOSTRADOR_TRUSTED_PROXIES", "127.0.0.1".into())],
    )
    .await;
    let client = new_client();
    assert_eq!(bad_login(&client, &p, "admin", Some("198.51.100.1")).await, StatusCode::UNAUTHORIZED);
    let mut refused = 0;
    for i in 0..40 {
        let xff = format!("203.0.113.{}", i % 4);
        if bad_login(&client, &p, &format!("flood{i}"), Some(&xff)).await == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(refused >= 20, "past the cap the newcomers share one budget: {refused} of 40 refused");
    let text = client.get(p.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for limiter in ["client", "username"] {
        let name = format!("mostrador_login_limiter_keys{{limiter=\"{limiter}\"}} ");
        let n: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix(&name))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .parse()
            .unwrap();
        assert!(n <= 9, "{limiter}: {n} keys, cap 8 (+1 shared overflow key)");
    }
    // The admin was known before the flood: their own budget still lets them in.
    let r = client
        .post(p.url("/api/auth/login"))
        .header("x-forwarded-for", "198.51.100.1")
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// VmRSS and VmHWM (peak) of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {status}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Margin allowed for the allocator and connection buffers while 20 logins run at once (measured:
/// +7.3 MiB on a debug build). Before the login bounds each 1 MB username was parsed, kept as a
/// limiter key and logged: 20 MB kept for minutes, more at the peak.
const MEMORY_MARGIN_KIB: u64 = 16 * 1024;

/// 20 concurrent logins with 1 MB usernames: each is refused (413, over the 8 KiB login body limit;
/// a shorter over-long name is 422) before it is parsed, hashed or remembered, and the server's
/// resident memory and its peak stay flat.
pub async fn huge_usernames_leave_memory_flat() {
    let dir = tempfile::tempdir().unwrap();
    let p = spawn_binary(dir.path(), &[]).await;
    let pid = p.child.id().unwrap();
    let client = reqwest::Client::new();
    // Warm up: a normal failed login, so argon2's and the pools' first allocations are behind us.
    assert_eq!(bad_login(&client, &p, "admin", None).await, StatusCode::UNAUTHORIZED);
    let (rss_before, hwm_before) = memory_kib(pid);
    let logins = (0..20).map(|i| {
        let (client, url) = (client.clone(), p.url("/api/auth/login"));
        async move {
            let username = format!("{i:02}{}", "x".repeat(1_000_000));
            let r = client
                .post(url)
                .json(&json!({"username": username, "password": "wrong-password"}))
                .send()
                .await
                .unwrap();
            r.status()
        }
    });
    let statuses = futures::future::join_all(logins).await;
    for s in &statuses {
        assert!([StatusCode::PAYLOAD_TOO_LARGE, StatusCode::UNPROCESSABLE_ENTITY].contains(s), "{statuses:?}");
    }
    let (status, body) = status_json(
        client
            .post(p.url("/api/auth/login"))
            .json(&json!({"username": "y".repeat(100), "password": "wrong-password"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{body}");
    let (rss_after, hwm_after) = memory_kib(pid);
    eprintln!("login memory: VmRSS {rss_before} → {rss_after} KiB, VmHWM {hwm_before} → {hwm_after} KiB");
    assert!(rss_after <= rss_before + MEMORY_MARGIN_KIB, "VmRSS {rss_before} → {rss_after} KiB");
    assert!(hwm_after <= hwm_before + MEMORY_MARGIN_KIB, "VmHWM {hwm_before} → {hwm_after} KiB");
    // The server still serves.
    assert_eq!(p.admin().await.get(p.url("/api/auth/me")).send().await.unwrap().status(), StatusCode::OK);
}

/// A failed login's log line carries the username Debug-escaped and bounded: a newline in it cannot
/// forge a second log line.
pub async fn failed_login_log_line_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let p = spawn_binary(dir.path(), &[("MOSTRADOR_NO_LOG_FILE", "false".into())]).await;
    let client = new_client();
    assert_eq!(
        bad_login(&client, &p, "eve\nFORGED login ok username=admin\u{1b}[2J", None).await,
        StatusCode::UNAUTHORIZED
    );
    let logs = dir.path().join("logs");
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_dir(&logs)
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
            .collect();
        if text.contains("failed login") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let line = text.lines().find(|l| l.contains("failed login")).unwrap_or_else(|| panic!("no failed login in {text}"));
    assert!(line.contains(r#"eve\nFORGED"#), "escaped: {line}");
    assert!(!text.lines().any(|l| l.starts_with("FORGED")), "a forged line: {text}");
    assert!(!text.contains('\u{1b}'), "raw escape sequence in the log");
    assert!(line.len() < 400, "bounded: {line}");
}
