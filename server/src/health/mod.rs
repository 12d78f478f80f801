//! `GET /health` for load balancers and monitors, `GET /api/status` for people.

use std::time::Duration;

use app::model::{Health, Status, StatusCounts};
use axum::{extract::State, http::StatusCode, routing::get, Json, Router};

use tower_sessions::Session;

use crate::{
    auth::{self, CurrentUser},
    catalog,
    http::{error::ApiError, AppState},
    users,
};

/// `/api/status`, a shop route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/status", get(status))
}

/// `/health` and `/livez`: never held back by a restore or a standby's guard.
pub fn probes() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/livez", get(livez))
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Liveness for a supervisor: the process answers. It does not look at the database, so a dead
/// database does not make systemd (or Kubernetes) restart the server in a loop. It says nothing
/// else: the version is in /health for signed-in users and in /api/status.
#[utoipa::path(get, path = "/livez", tag = "operations", responses((status = 200)))]
pub async fn livez() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "alive"}))
}

/// Readiness: 200 `{"status":"healthy"}` when the database in use answers `SELECT 1` within 2 s,
/// else 503 `{"status":"unhealthy"}`: all an orchestrator needs. A signed-in user also gets the
/// role, the mode (the emergency banner reads it), which database is in use (`primary`/`mirror`,
/// `unreachable`) and the version. Anyone gets `"mode":"emergency"` while a standby takes writes:
/// the cashier at the sign-in page must see the red banner before signing in.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(state): State<AppState>, session: Session) -> (StatusCode, Json<Health>) {
    let up = state.db.ping(Duration::from_secs(2)).await;
    let status = if up { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut health = Health {
        status: if up { "healthy" } else { "unhealthy" }.into(),
        database: None,
        role: None,
        mode: None,
        version: None,
    };
    // The session lives in the database: with the database down nobody is signed in.
    if up && auth::signed_in(&state, &session).await {
        health.database = Some(state.db.which().as_str().into());
        health.role = Some(state.ha.role().as_str().into());
        health.mode = Some(state.ha.mode().as_str().into());
        health.version = Some(VERSION.into());
    } else if matches!(state.ha.mode(), crate::ha::Mode::Emergency) {
        health.mode = Some("emergency".into());
    }
    (status, Json(health))
}

/// Version, engine, role and row counts (signed-in users).
#[utoipa::path(get, path = "/api/status", tag = "operations", responses((status = 200, body = Status)))]
pub async fn status(_: CurrentUser, State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    let db = &state.db;
    Ok(Json(Status {
        version: VERSION.into(),
        engine: db.engine.as_str().into(),
        role: state.ha.role().as_str().into(),
        counts: StatusCounts {
            users: users::repo::count(db).await?,
            categories: catalog::count_live(db, "categories").await?,
            products: catalog::count_live(db, "products").await?,
            customers: catalog::count_live(db, "customers").await?,
        },
    }))
}
