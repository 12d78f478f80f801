//! `GET /metrics` in the Prometheus/OpenMetrics text format: requests and latency by route,
//! idempotent replays, push operations, the newest backup's age, the node's role and mode, and
//! which database is in use. Request figures are counted by a layer around every route; the
//! rest is read when Prometheus scrapes.
//!
//! Label values are bounded: a method outside the standard ones and a request that matched no route
//! are both counted as `other`, so junk requests cannot grow the registry (or a scrape) without end.
//! With `MOSTRADOR_METRICS_TOKEN` set a scrape needs that bearer token.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use prometheus_client::{
    encoding::text::encode,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};

use crate::http::AppState;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    replays: Counter,
    push_ops: Family<Labels, Counter>,
    backup_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    backup_count: Gauge,
    database: Family<Labels, Gauge>,
    role: Family<Labels, Gauge>,
    emergency: Gauge,
    login_limiter_keys: Family<Labels, Gauge>,
    pub failovers: Counter,
    pub failbacks: Counter,
    /// What the local backup directory held at the last look (count, newest creation time).
    backups_seen: Mutex<Option<(Instant, usize, Option<String>)>>,
}

/// How long a look at the backup directory is reused: scrapes come every few seconds.
const BACKUPS_CACHE: Duration = Duration::from_secs(30);

fn latency_histogram() -> Histogram {
    // 1 ms … 8 s
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("mostrador");
        let requests = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let replays = Counter::default();
        let push_ops = Family::<Labels, Counter>::default();
        let backup_age = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let backup_count = Gauge::default();
        let database = Family::<Labels, Gauge>::default();
        let role = Family::<Labels, Gauge>::default();
        let emergency = Gauge::default();
        let login_limiter_keys = Family::<Labels, Gauge>::default();
        let failovers = Counter::default();
        let failbacks = Counter::default();
        registry.register("http_requests", "HTTP requests by method, route and status", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by method and route",
            latency.clone(),
        );
        registry.register(
            "idempotent_replays",
            "Writes answered with a stored response (Idempotent-Replayed)",
            replays.clone(),
        );
        registry.register(
            "push_operations",
            "Operations received through /api/sync/push, by status class",
            push_ops.clone(),
        );
        registry.register(
            "backup_newest_age_seconds",
            "Age of the newest local backup (-1 when there is none)",
            backup_age.clone(),
        );
        registry.register("backups", "Backups kept in the local backup directory", backup_count.clone());
        registry.register("database_active", "1 for the database in use (primary or mirror)", database.clone());
        registry.register("node_role", "1 for this node's role", role.clone());
        registry.register("emergency_mode", "1 when this standby takes writes in emergency mode", emergency.clone());
        registry.register(
            "login_limiter_keys",
            "Client addresses and usernames the login limiter remembers",
            login_limiter_keys.clone(),
        );
        registry.register("database_failovers", "Failovers to the mirror database", failovers.clone());
        registry.register("database_failbacks", "Failbacks to the primary database", failbacks.clone());
        Metrics {
            registry,
            requests,
            latency,
            replays,
            push_ops,
            backup_age,
            backup_count,
            database,
            role,
            emergency,
            login_limiter_keys,
            failovers,
            failbacks,
            backups_seen: Mutex::new(None),
        }
    }
}

impl Metrics {
    pub fn push_operation(&self, status: u16) {
        let class = format!("{}xx", status / 100);
        self.push_ops.get_or_create(&vec![("status".into(), class)]).inc();
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

/// A method label: the standard methods by name, anything else `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts every request by its route pattern (`/api/products/{id}`, not the concrete path, so the
/// number of series stays small); requests that matched no route are `other`.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "other".to_owned(), |m| m.as_str().to_owned());
    let method = method_label(req.method()).to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let m = &state.metrics;
    m.latency
        .get_or_create(&vec![("method".into(), method.clone()), ("route".into(), route.clone())])
        .observe(started.elapsed().as_secs_f64());
    m.requests
        .get_or_create(&vec![
            ("method".into(), method),
            ("route".into(), route),
            ("status".into(), response.status().as_u16().to_string()),
        ])
        .inc();
    if response.headers().contains_key("idempotent-replayed") {
        m.replays.inc();
    }
    response
}

/// Whether the request carries the configured bearer token (always, when none is configured). The
/// digests are compared, so the time taken says nothing about how much of the token matched.
fn authorized(state: &AppState, headers: &HeaderMap) -> bool {
    use sha2::{Digest, Sha256};
    let Some(token) = state.config.ops.metrics_token.as_deref().filter(|t| !t.is_empty()) else { return true };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    Sha256::digest(given.trim().as_bytes()) == Sha256::digest(token.as_bytes())
}

impl Metrics {
    /// Count and newest creation time of the local backups, looked at most every 30 s. Only the local
    /// metadata files: a scrape never lists or reads the S3 bucket.
    fn backups(&self, dir: &std::path::Path) -> Option<(usize, Option<String>)> {
        let mut seen = self.backups_seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, count, newest)) = seen.as_ref() {
            if at.elapsed() < BACKUPS_CACHE {
                return Some((*count, newest.clone()));
            }
        }
        let list = crate::backup::Metadata::list(dir).ok()?;
        let fresh = (list.len(), list.first().map(|b| b.created_at.clone()));
        *seen = Some((Instant::now(), fresh.0, fresh.1.clone()));
        Some(fresh)
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text"),
              (status = 401, description = "MOSTRADOR_METRICS_TOKEN is set and the request does not carry it", body = app::model::ErrorEnvelope)))]
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !authorized(&state, &headers) {
        let mut r = crate::http::error::ApiError::Unauthenticated.into_response();
        r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        return r;
    }
    let m = &state.metrics;
    if let Some((count, newest)) = m.backups(&state.backups.dir) {
        m.backup_count.set(count as i64);
        let age = newest
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_milliseconds() as f64 / 1000.0)
            .unwrap_or(-1.0);
        m.backup_age.set(age);
    }
    let (clients, usernames) = state.login_limiter.remembered();
    for (which, n) in [("client", clients), ("username", usernames)] {
        m.login_limiter_keys.get_or_create(&vec![("limiter".into(), which.into())]).set(n as i64);
    }
    let which = state.db.which().as_str();
    for db in ["primary", "mirror"] {
        m.database.get_or_create(&vec![("database".into(), db.into())]).set(i64::from(db == which));
    }
    let role = state.ha.role().as_str();
    for r in ["primary", "standby"] {
        m.role.get_or_create(&vec![("role".into(), r.into())]).set(i64::from(r == role));
    }
    m.emergency.set(i64::from(state.ha.mode() == crate::ha::Mode::Emergency));
    let mut body = String::new();
    if encode(&mut body, &m.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}
