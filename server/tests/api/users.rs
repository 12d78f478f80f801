//! Account management by admins, and the `user create` command.

use std::{io::Write, process::Stdio};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{code, new_client, status_json, TestApp};

pub async fn admin_creates_and_lists_users(app: TestApp) {
    app.login_admin().await;
    let (status, user) = status_json(
        app.post("/api/users", &json!({"username": "Lucia", "password": "password-123", "role": "cashier"})).await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(user["username"], "lucia");
    assert_eq!(user["role"], "cashier");
    assert_eq!(user["active"], true);
    let (_, list) = status_json(app.get("/api/users").await).await;
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "lucia"]);
    // The new user can sign in.
    let client = new_client();
    assert_eq!(app.login_with(&client, "lucia", "password-123").await.status(), StatusCode::OK);
}

pub async fn duplicate_username_is_409(app: TestApp) {
    app.login_admin().await;
    let body = json!({"username": "pedro", "password": "password-123", "role": "cashier"});
    assert_eq!(app.post("/api/users", &body).await.status(), StatusCode::CREATED);
    let (status, err) = status_json(
        app.post("/api/users", &json!({"username": "PEDRO", "password": "password-123", "role": "admin"})).await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&err), "duplicate_username");
}

pub async fn weak_password_and_bad_username_are_422(app: TestApp) {
    app.login_admin().await;
    let (status, err) =
        status_json(app.post("/api/users", &json!({"username": "a b", "password": "short", "role": "cashier"})).await)
            .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&err), "validation_failed");
    assert!(err["error"]["details"]["fields"]["username"].is_string());
    assert!(err["error"]["details"]["fields"]["password"].is_string());
    let (status, _) = status_json(
        app.post("/api/users", &json!({"username": "ana", "password": "password-123", "role": "owner"})).await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown role");
    let (_, list) = status_json(app.get("/api/users").await).await;
    assert_eq!(list["total"], 1);
}

pub async fn deactivated_user_is_signed_out(app: TestApp) {
    app.login_admin().await;
    let cashier = app.client_for_new_user("marta", "cashier").await;
    assert_eq!(cashier.get(app.url("/api/auth/me")).send().await.unwrap().status(), StatusCode::OK);
    let (_, list) = status_json(app.get("/api/users").await).await;
    let id = list["items"].as_array().unwrap().iter().find(|u| u["username"] == "marta").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, user) = status_json(app.patch(&format!("/api/users/{id}"), &json!({"active": false})).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["active"], false);
    assert_eq!(cashier.get(app.url("/api/auth/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login_with(&new_client(), "marta", "password-123").await.status(), StatusCode::UNAUTHORIZED);
}

pub async fn password_change_works(app: TestApp) {
    app.login_admin().await;
    app.client_for_new_user("jose", "cashier").await;
    let (_, list) = status_json(app.get("/api/users").await).await;
    let id = list["items"].as_array().unwrap().iter().find(|u| u["username"] == "jose").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = status_json(app.patch(&format!("/api/users/{id}"), &json!({"password": "x"})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, user) = status_json(
        app.patch(&format!("/api/users/{id}"), &json!({"password": "new-password-9", "role": "admin"})).await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["role"], "admin");
    assert_eq!(app.login_with(&new_client(), "jose", "password-123").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login_with(&new_client(), "jose", "new-password-9").await.status(), StatusCode::OK);
}

pub async fn last_admin_cannot_be_removed(app: TestApp) {
    app.login_admin().await;
    let (_, me) = status_json(app.get("/api/auth/me").await).await;
    let id = me["id"].as_str().unwrap();
    for change in [json!({"active": false}), json!({"role": "cashier"})] {
        let (status, err) = status_json(app.patch(&format!("/api/users/{id}"), &change).await).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(code(&err), "last_admin");
    }
    assert_eq!(app.get("/api/users").await.status(), StatusCode::OK, "still an admin");
}

/// Two admins demoting each other at the same moment: one wins, the other gets 409 `last_admin`
/// (or 403, having lost its rights first); there is always an active admin afterwards. Raced 25
/// times, the winner promoting the other back each round.
pub async fn admins_demoting_each_other_leave_an_admin(app: TestApp) {
    app.login_admin().await;
    let ana = app.client_for_new_user("ana", "admin").await;
    let (_, admin) = status_json(app.get("/api/auth/me").await).await;
    let (_, me) = status_json(ana.get(app.url("/api/auth/me")).send().await.unwrap()).await;
    let ids = [admin["id"].as_str().unwrap().to_owned(), me["id"].as_str().unwrap().to_owned()];
    let clients = [app.client.clone(), ana];
    let demote = |by: usize| {
        let (client, target) = (clients[by].clone(), app.url(&format!("/api/users/{}", ids[1 - by])));
        async move { client.patch(target).json(&json!({"role": "cashier"})).send().await.unwrap().status() }
    };
    for round in 0..25 {
        let (a, b) = tokio::join!(demote(0), demote(1));
        let admins: Vec<bool> = {
            let rows = sqlx::query_scalar::<_, String>("SELECT role FROM users WHERE active = TRUE ORDER BY username")
                .fetch_all(&app.db.pool())
                .await
                .unwrap();
            rows.iter().map(|r| r == "admin").collect()
        };
        assert!(admins.contains(&true), "round {round}: no admin left ({a}, {b})");
        assert!([a, b].contains(&StatusCode::OK), "round {round}: one demotion wins ({a}, {b})");
        // The winner promotes the loser back for the next round.
        let winner = if a == StatusCode::OK { 0 } else { 1 };
        let r = clients[winner]
            .patch(app.url(&format!("/api/users/{}", ids[1 - winner])))
            .json(&json!({"role": "admin"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "round {round}");
    }
}

/// `mostrador user create` reads the password from stdin when it is not a terminal.
pub async fn cli_creates_a_user_from_stdin() {
    let data = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mostrador"))
        .args(["user", "create", "--username", "Duena", "--role", "admin", "--data-dir"])
        .arg(data.path())
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a-strong-password\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("created duena (admin)"));

    let config = mostrador::config::DatabaseConfig { data_dir: data.path().to_owned(), database_url: None };
    let db = mostrador::db::Db::connect(&config).await.unwrap();
    let record = mostrador::users::repo::find_by_username(&db, "duena").await.unwrap().unwrap();
    assert!(mostrador::users::domain::verify_password("a-strong-password".into(), record.password_hash).await);

    // A too-short password is refused and nothing is created.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mostrador"))
        .args(["user", "create", "--username", "otro", "--role", "cashier", "--data-dir"])
        .arg(data.path())
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(mostrador::users::repo::find_by_username(&db, "otro").await.unwrap().is_none());
}
