//! Sync for offline devices: `POST /api/sync/push` runs a queue of writes, each exactly as its single
//! call would run; `GET /api/sync/pull?since=` returns what changed after a cursor that never skips.

pub mod feed;
mod push;

use axum::{
    routing::{get, post},
    Router,
};

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/sync/pull", get(feed::pull)).route("/api/sync/push", post(push::push))
}

pub(crate) use feed::__path_pull;
pub(crate) use push::__path_push;
