//! Routes that exist only when `MOSTRADOR_TEST_ROUTES` is set, for the black-box tests: a panicking
//! handler (is it contained?), a slow one (the time limit), and a plain shop write added the way any
//! new shop route is (does it get every layer of its group, with no list to edit?).

use std::time::Duration;

use axum::{
    body::Body,
    extract::{Query, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::AppState;
use crate::auth::CurrentUser;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/test/panic", get(panic_now).post(panic_now))
        .route("/api/test/sleep", get(sleep))
        .route("/api/test/write", post(write))
        .route("/api/test/close-gate", post(close_gate))
}

#[derive(Deserialize)]
struct Secs {
    secs: Option<u64>,
}

async fn panic_now() -> Body {
    panic!("deliberate test panic")
}

/// Two seconds, or `?secs=N`.
async fn sleep(Query(q): Query<Secs>) -> &'static str {
    tokio::time::sleep(Duration::from_secs(q.secs.unwrap_or(2))).await;
    "done"
}

/// A new id each time it runs (after `?secs=N` of work): a replayed answer has the first id.
async fn write(_: CurrentUser, Query(q): Query<Secs>) -> (StatusCode, Json<Value>) {
    tokio::time::sleep(Duration::from_secs(q.secs.unwrap_or(0))).await;
    (StatusCode::CREATED, Json(json!({ "id": uuid::Uuid::new_v4() })))
}

/// Closes the restore gate for `?secs=N` (default 2), as a restore does.
async fn close_gate(_: CurrentUser, State(state): State<AppState>, Query(q): Query<Secs>) -> StatusCode {
    let secs = q.secs.unwrap_or(2);
    tokio::spawn(async move {
        if let Ok(_closed) = state.backups.gate.close().await {
            tokio::time::sleep(Duration::from_secs(secs)).await;
        }
    });
    StatusCode::ACCEPTED
}
