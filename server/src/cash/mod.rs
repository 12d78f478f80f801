//! The cash register: sessions (open with a float, close with the counted cash), cash in/out, and
//! expenses.

pub(crate) mod expenses;
pub(crate) mod movements;
pub(crate) mod report;
pub(crate) mod sessions;

use axum::{
    routing::{get, post},
    Router,
};

use crate::http::AppState;

pub use sessions::{closed_at, ensure_open, load as load_session};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/cash-sessions", get(sessions::list).post(sessions::open))
        .route("/api/cash-sessions/{id}", get(sessions::get_one))
        .route("/api/cash-sessions/{id}/close", post(sessions::close))
        .route("/api/cash-sessions/{id}/report", get(report::get_report))
        .route("/api/cash-movements", get(movements::list).post(movements::create))
        .route("/api/expenses", get(expenses::list).post(expenses::create))
}
