//! Holds API requests back while a restore replaces the live rows: new requests get 503 `restoring`
//! (with Retry-After), the ones already in flight finish first. It also serves the HA work: any
//! operation that must see no request in flight can close it.

use std::{
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::Duration,
};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tokio::sync::Notify;

use crate::http::{error::ApiError, AppState};

#[derive(Default)]
pub struct Gate {
    closed: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

/// One request inside the gate.
pub struct Pass<'a>(&'a Gate);

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// The gate held closed; reopens when dropped (also on error or panic).
pub struct Closed<'a>(&'a Gate);

impl Drop for Closed<'_> {
    fn drop(&mut self) {
        self.0.closed.store(false, Ordering::SeqCst);
    }
}

/// How long a restore waits for requests in flight before giving up (they are bounded by the
/// request timeout anyway).
const DRAIN_MAX: Duration = Duration::from_secs(60);

impl Gate {
    /// Lets a request in unless the gate is closed. The count goes up before the flag is read, so a
    /// closing gate either sees this request or the request sees the gate closed.
    pub fn enter(&self) -> Option<Pass<'_>> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let pass = Pass(self);
        if self.closed.load(Ordering::SeqCst) {
            return None; // `pass` drops: the count goes back down
        }
        Some(pass)
    }

    /// Closes the gate without waiting and without a guard, for as long as another process asks
    /// (a failover follower while the decider fails back); [`Gate::release`] opens it again.
    pub fn hold(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub fn release(&self) {
        self.closed.store(false, Ordering::SeqCst);
    }

    /// Waits (at most `limit`) until no request is inside.
    pub async fn wait_idle(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            let notified = self.idle.notified();
            if self.in_flight.load(Ordering::SeqCst) == 0 || tokio::time::timeout_at(deadline, notified).await.is_err()
            {
                return;
            }
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Closes the gate and waits until no request is in flight.
    pub async fn close(&self) -> Result<Closed<'_>, ApiError> {
        self.closed.store(true, Ordering::SeqCst);
        let closed = Closed(self);
        let deadline = tokio::time::Instant::now() + DRAIN_MAX;
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            let notified = self.idle.notified();
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(ApiError::Unavailable {
                    code: "restore_busy",
                    message: "requests still running after 60 s; the restore was not started, try again".into(),
                });
            }
        }
        Ok(closed)
    }
}

/// Requests wait for nothing: they are let in or told to retry. On every API group but the backup
/// routes (the restore runs under them, and a list or download touches no rows) and the HA peer
/// routes (a shipped backup's restore runs under its own request): see `http::api_router`.
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // In-process replays pass: a failback runs them while the gate holds everything else back.
    if req.extensions().get::<crate::ha::reconcile::Replaying>().is_some() {
        return next.run(req).await;
    }
    let gate = &state.backups.gate;
    match gate.enter() {
        Some(_pass) => next.run(req).await,
        None => ApiError::Unavailable {
            code: "restoring",
            message: "a backup is being restored; try again in a few seconds".into(),
        }
        .into_response(),
    }
}
