//! One database transaction per write request, and `Idempotency-Key` on top of it.
//!
//! Every POST/PATCH/DELETE under /api (but sign-in and sign-out) runs in one transaction that this
//! layer opens and the handler writes through ([`WriteTx`]). With a key, the same transaction claims
//! the key and stores the response, and the response leaves only after the commit: a crash can never
//! leave an effect without its stored response, or a stored response without its effect.
//! A repeat of the same request replays the stored response (`Idempotent-Replayed: true`) before
//! anything else is looked at, so a retried PATCH whose answer was lost replays its 200 instead of
//! meeting its own new version as a 409.

pub mod by_id;
pub mod key;
mod store;

use std::{
    ops::{Deref, DerefMut},
    sync::Arc,
    time::Duration,
};

use axum::{
    body::Body,
    extract::{FromRequestParts, Request, State},
    http::{header, request::Parts, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::Value;
use sqlx::{Any, AnyConnection, Transaction};
use tokio::sync::{Mutex, MutexGuard};

pub use key::IdempotencyKey;
use store::{Claim, StoredResponse};

use crate::{
    audit,
    auth::CurrentUser,
    db::{now, timestamp_after, Db, Engine},
    http::{error::ApiError, AppState},
};

/// The request's transaction, for handlers: `let mut conn = tx.lock().await;` then `&mut *conn`.
/// Handlers also say which syncable rows they changed, for the change feed.
#[derive(Clone)]
pub struct WriteTx {
    tx: Arc<Mutex<Option<Transaction<'static, Any>>>>,
    changes: Arc<std::sync::Mutex<Vec<(&'static str, String)>>>,
    after_commit: Arc<std::sync::Mutex<Vec<AfterCommit>>>,
}

/// Work that must happen only once the request's writes are committed (an alert about them).
type AfterCommit = Box<dyn FnOnce() + Send>;

pub struct TxGuard<'a>(MutexGuard<'a, Option<Transaction<'static, Any>>>);

impl WriteTx {
    pub async fn lock(&self) -> TxGuard<'_> {
        TxGuard(self.tx.lock().await)
    }

    /// Records that `entity` row `id` changed; published to /api/sync/pull when the request commits.
    pub fn changed(&self, entity: &'static str, id: impl ToString) {
        self.changes.lock().expect("not poisoned").push((entity, id.to_string()));
    }

    /// Runs `then` once the request commits (never when it rolls back, nor on a replay).
    pub fn after_commit(&self, then: impl FnOnce() + Send + 'static) {
        self.after_commit.lock().expect("not poisoned").push(Box::new(then));
    }
}

impl Deref for TxGuard<'_> {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        self.0.as_ref().expect("the write transaction is open while the handler runs")
    }
}

impl DerefMut for TxGuard<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.0.as_mut().expect("the write transaction is open while the handler runs")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WriteTx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<WriteTx>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("write handler reached without its transaction".into()))
    }
}

/// An open write transaction, and on SQLite the turn of the one writer it holds until it ends.
pub struct WriteTransaction {
    pub tx: Transaction<'static, Any>,
    _writer: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Opens a write transaction. SQLite: writers queue on the process's writer gate before taking a pooled
/// connection (so waiting writers cannot hold every connection), then BEGIN IMMEDIATE takes the write
/// lock up front, so a writer never fails on a lock upgrade. PostgreSQL: a lock wait longer than 5 s (a
/// concurrent request with the same key still running) fails with 55P03 → 409 in progress.
pub async fn begin(db: &Db) -> Result<WriteTransaction, ApiError> {
    // Nothing has happened yet when BEGIN fails, so a passing failure (a connection refused or
    // reset, SQLite busy) is safe to retry: 3 more tries, 100/200/400 ms apart.
    let mut pause = Duration::from_millis(100);
    for _ in 0..3 {
        match begin_once(db).await {
            Err(e) if is_transient(&e) => {
                tracing::warn!(error = %e, "starting a write transaction failed; retrying");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => return other,
        }
    }
    begin_once(db).await
}

/// Errors that say "try again shortly", not "this request is wrong".
fn is_transient(e: &ApiError) -> bool {
    matches!(e, ApiError::Busy | ApiError::DatabaseUnavailable)
}

async fn begin_once(db: &Db) -> Result<WriteTransaction, ApiError> {
    let writer = match db.engine {
        Engine::Sqlite => Some(db.sqlite_writers.clone().acquire_owned().await.expect("never closed")),
        Engine::Postgres => None,
    };
    let mut tx = match db.engine {
        Engine::Sqlite => db.pool().begin_with("BEGIN IMMEDIATE").await,
        Engine::Postgres => db.pool().begin().await,
    }
    .map_err(busy_or)?;
    if db.engine == Engine::Postgres {
        sqlx::query("SET LOCAL lock_timeout = '5s'").execute(&mut *tx).await?;
    }
    Ok(WriteTransaction { tx, _writer: writer })
}

/// SQLite's "database is locked" after busy_timeout means "try again", not "broken".
pub fn busy_or(e: sqlx::Error) -> ApiError {
    match &e {
        sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("5") | Some("517")) => ApiError::Busy,
        _ => e.into(),
    }
}

/// Outcomes of a run that are the request's answer and so are stored with the key: successes and
/// business rejections (404, 409, 422…). Refusals that say "this request never ran" (bad request,
/// auth, too large, rate limited) are not: the client fixes them and retries with the same key.
fn is_stored_outcome(status: StatusCode) -> bool {
    status.is_success()
        || (status.is_client_error() && !matches!(status.as_u16(), 400 | 401 | 403 | 405 | 408 | 413 | 415 | 428 | 429))
}

pub(crate) fn is_write(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
}

/// The shop routes' write layer (`http::api_router` puts it on that group only). Sign-in/out have no
/// user yet; a push runs each of its operations through this layer itself; backups and the HA routes
/// (a restore replaces the database this transaction would be open on) keep their own keys and audit.
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !is_write(req.method()) {
        return next.run(req).await;
    }
    match run(state, req, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn run(state: AppState, req: Request, next: Next) -> Result<Response, Response> {
    let key = IdempotencyKey::from_headers(req.headers())
        .map_err(|m| ApiError::InvalidIdempotencyKey(m.into()).into_response())?;
    let (mut parts, body) = req.into_parts();
    // Keys belong to a user; without one the request is refused here, before anything is stored.
    let CurrentUser(user) =
        CurrentUser::from_request_parts(&mut parts, &state).await.map_err(IntoResponse::into_response)?;
    let bytes = axum::body::to_bytes(body, state.config.body_limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge.into_response())?;
    let json: Option<Value> = if bytes.is_empty() {
        None
    } else {
        Some(serde_json::from_slice(&bytes).map_err(|e| ApiError::MalformedJson(e.to_string()).into_response())?)
    };
    let path_and_query = parts.uri.path_and_query().map_or(parts.uri.path(), |p| p.as_str()).to_owned();
    let if_match = parts.headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned);

    let WriteTransaction { mut tx, _writer } = begin(&state.db).await.map_err(IntoResponse::into_response)?;
    let started_at = now();
    if let Some(IdempotencyKey(k)) = key {
        let hash = key::fingerprint(&parts.method, &path_and_query, json.as_ref(), if_match.as_deref());
        let expires = timestamp_after(state.config.idempotency_retention());
        let claim = store::claim(&mut tx, user.id, k, &hash, &started_at, &expires)
            .await
            .map_err(|e| busy_or(e).into_response())?;
        match claim {
            Claim::Claimed => {}
            Claim::Replay(stored) => return Ok(stored.replay()),
            Claim::Mismatch => return Err(ApiError::IdempotencyKeyReused.into_response()),
            Claim::InProgress => return Err(ApiError::IdempotencyKeyInProgress.into_response()),
        }
        // A business rejection rolls back to here, keeping the claim, and stores its answer.
        sqlx::query("SAVEPOINT handler").execute(&mut *tx).await.map_err(|e| ApiError::from(e).into_response())?;
    }

    let shared =
        WriteTx { tx: Arc::new(Mutex::new(Some(tx))), changes: Default::default(), after_commit: Default::default() };
    parts.extensions.insert(shared.clone());
    let response = next.run(Request::from_parts(parts.clone(), Body::from(bytes))).await;
    let mut tx = shared
        .tx
        .lock()
        .await
        .take()
        .ok_or_else(|| ApiError::Internal("write transaction taken twice".into()).into_response())?;

    let (mut head, body) = response.into_parts();
    let status = head.status;
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::Internal(format!("response body: {e}")).into_response())?;
    let commit_error = |e: sqlx::Error| busy_or(e).into_response();

    let stored = key.is_some() && is_stored_outcome(status);
    if status.is_success() {
        let entry = audit::Entry::for_request(&parts, &user, key, json.as_ref(), status, &body, &state);
        audit::record(&mut tx, &entry).await.map_err(commit_error)?;
        let changes = std::mem::take(&mut *shared.changes.lock().expect("not poisoned"));
        // Last before the commit: the feed's row lock is held for as short a time as possible.
        crate::changelog::publish(&mut tx, &changes).await.map_err(commit_error)?;
    } else if stored {
        sqlx::query("ROLLBACK TO SAVEPOINT handler").execute(&mut *tx).await.map_err(commit_error)?;
    }
    if stored {
        let IdempotencyKey(k) = key.expect("stored implies a key");
        store::complete(&mut tx, user.id, k, &StoredResponse::from_parts(status, &head.headers, &body))
            .await
            .map_err(commit_error)?;
    }
    if status.is_success() || stored {
        tx.commit().await.map_err(commit_error)?;
        if status.is_success() {
            for then in std::mem::take(&mut *shared.after_commit.lock().expect("not poisoned")) {
                then();
            }
        }
    } else {
        // 5xx, auth, malformed…: nothing of this request stays; a retry runs it again.
        let _ = tx.rollback().await;
    }
    head.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(head, Body::from(body)))
}

/// Deletes every expired key now, in batches of 1000; returns how many.
pub async fn reap_expired(db: &Db) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let n = store::reap(&db.pool(), &now(), 1000).await?;
        total += n;
        if n < 1000 {
            return Ok(total);
        }
    }
}

/// Deletes expired keys in batches of 1000, every `every`, forever (spawned at start-up).
pub async fn reaper(db: Db, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match reap_expired(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "reaped expired idempotency keys"),
            Err(e) => tracing::warn!(error = %e, "idempotency reaper"),
        }
    }
}
