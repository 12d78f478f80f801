//! `GET /health` for load balancers and monitors, `GET /api/status` for people.

use std::time::Duration;

use app::model::{Health, Status, StatusCounts};
use axum::{extract::State, http::StatusCode, routing::get, Json, Router};

use crate::{auth::CurrentUser, catalog, http::{error::ApiError, AppState}, users};

pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/livez", get(livez)).route("/api/status", get(status))
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Liveness for a supervisor: the process answers. It does not look at the database, so a dead
/// database does not make systemd (or Kubernetes) restart the server in a loop.
#[utoipa::path(get, path = "/livez", tag = "operations", responses((status = 200)))]
pub async fn livez() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "alive", "version": VERSION}))
}

/// Readiness: 200 when the database in use answers `SELECT 1` within 2 s, else 503
/// `"database":"unreachable"`; with role, mode and which database (`primary`/`mirror`) is in use.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let up = state.db.ping(Duration::from_secs(2)).await;
    let health = Health {
        status: if up { "healthy" } else { "unhealthy" }.into(),
        database: if up { state.db.which().as_str() } else { "unreachable" }.into(),
        role: state.ha.role().as_str().into(),
        mode: state.ha.mode().as_str().into(),
        version: VERSION.into(),
    };
    (if up { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(health))
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
