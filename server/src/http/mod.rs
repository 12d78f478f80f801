//! The HTTP application: state, router, the middleware every request passes, and serving.

pub mod error;
pub mod extract;
pub(crate) mod middleware;
mod test_routes;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{extract::FromRef, Router};
use leptos::config::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tower_http::{catch_panic::CatchPanicLayer, trace::TraceLayer};
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer};

use crate::{
    audit,
    auth::{self, session_store::DbSessionStore, LoginLimiter},
    catalog,
    config::ServeConfig,
    db::Db,
    health, idempotency, openapi, users,
};

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<ServeConfig>,
    pub login_limiter: Arc<LoginLimiter>,
    pub leptos_options: LeptosOptions,
    /// This server's name in the audit log.
    pub node: Arc<str>,
    /// Backups, their schedule, and the gate that holds requests back during a restore.
    pub backups: Arc<crate::backup::Backups>,
    /// Role, emergency mode, shipping and reconciliation (issue #6).
    pub ha: Arc<crate::ha::Ha>,
    pub alerts: crate::alerts::Alerts,
    /// PostgreSQL failover to a mirror, when MIRROR_DATABASE_URL is set.
    pub failover: Option<Arc<crate::ha::failover::Failover>>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// LAN mode's CA and certificate (`--tls-lan`), for the "Connect a phone" page; set by `Application::build`.
    pub lan: Arc<std::sync::OnceLock<Arc<crate::tls::lan::Lan>>>,
}

/// The finished router, for /api/sync/push to run each operation through the whole stack. It rides
/// in a request extension added outside the router itself, so the router does not own itself
/// (which would keep every pool of every app alive).
#[derive(Clone)]
pub struct FullRouter(pub Router);

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

pub const SESSION_COOKIE: &str = "mostrador_session";

/// The host a request was sent to, port included: the `Host` header (HTTP/1.1), or `:authority`,
/// which HTTP/2 (https with ALPN h2) carries instead and which lands in the URI.
pub fn request_host<'a>(headers: &'a axum::http::HeaderMap, uri: &'a axum::http::Uri) -> Option<&'a str> {
    headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).or_else(|| uri.authority().map(|a| a.as_str()))
}

/// Every route and layer; used by `serve` and by the tests.
pub fn router(state: AppState) -> Router {
    let sessions = SessionManagerLayer::new(DbSessionStore::new(state.db.clone()))
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(state.config.secure_cookies())
        .with_expiry(Expiry::OnInactivity(tower_sessions::cookie::time::Duration::days(30)));

    let api = api_router(&state)
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::check_origin))
        .layer(sessions);
    let leptos_options = state.leptos_options.clone();
    let routes = generate_route_list(app::App);
    let pages = Router::new()
        .leptos_routes(&state, routes, {
            let options = leptos_options.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(app::shell));

    let timeout = state.config.request_timeout();
    let body_limit = state.config.body_limit;
    let full = pages
        .merge(crate::pwa::router(&state))
        .merge(crate::metrics::router())
        .merge(crate::tls::routes::router())
        // Pages and static files (the fallback too, hence `layer`) have the time limit as well.
        .layer(axum::middleware::from_fn(move |req, next| middleware::timeout(timeout, req, next)))
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::layer))
        .layer(crate::pwa::BuildStamp::new(&state))
        .with_state(state.clone())
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(move |req, next| middleware::limit_body(body_limit, req, next)))
        .layer(axum::middleware::from_fn(middleware::json_for_bare_errors))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(TraceLayer::new_for_http());
    let https = state.config.tls.enabled();
    full.clone()
        .layer(axum::Extension(FullRouter(full)))
        .layer(compression())
        .layer(axum::middleware::map_response(move |r| transport_headers(https, r)))
}

/// The API by route class. Where a route is added decides the layers it gets, outermost first:
///
/// | group | restore gate | standby guard | write transaction + Idempotency-Key | time limit |
/// | --- | --- | --- | --- | --- |
/// | shop (catalog, sales, cash, stock, users, reports…) | yes | yes | yes | yes |
/// | sync (push runs each operation through the whole stack, shop layers included) | yes | yes | no | yes |
/// | auth (no user yet) | yes | no | no | yes |
/// | HA admin (status, emergency toggle) | yes | no | no | yes |
/// | HA long (ship now, reconcile now) | yes | no | no | no |
/// | HA peer (the other node; a shipment restores under its own request) | no | no | no | valve and log only |
/// | backups (own keys and audit; a restore closes the gate itself) | no | no | no | no |
/// | probes (`/health`, `/livez`) | no | no | no | yes |
///
/// A new shop route goes into its module's `router()`, merged in `shop` below: it gets every layer.
pub fn api_router(state: &AppState) -> Router<AppState> {
    let mut shop = Router::new()
        .merge(users::router())
        .merge(catalog::router())
        .merge(audit::router())
        .merge(crate::cash::router())
        .merge(crate::sales::router())
        .merge(crate::refunds::router())
        .merge(crate::registers::router())
        .merge(crate::inventory::router())
        .merge(health::router())
        .merge(openapi::router())
        .merge(crate::export::router())
        .merge(crate::alerts::router())
        .merge(crate::dashboard::router())
        .merge(crate::settings::router())
        .merge(crate::tls::routes::api_router());
    if state.config.test_routes {
        shop = shop.merge(test_routes::router());
    }
    let s = state;
    let shop = time_limit(restore_gate(standby_guard(write_transaction(shop, s), s), s), s);
    let sync = time_limit(restore_gate(standby_guard(crate::sync::router(), s), s), s);
    let auth = time_limit(restore_gate(auth::router(), s), s);
    let ha_admin = time_limit(restore_gate(crate::ha::routes::router(), s), s);
    let ha_long = restore_gate(crate::ha::routes::long_router(), s);
    let ha_peer = time_limit(crate::ha::peer::router(), s).merge(crate::ha::peer::long_router());
    Router::new()
        .merge(shop)
        .merge(sync)
        .merge(auth)
        .merge(ha_admin)
        .merge(ha_long)
        .merge(ha_peer)
        .merge(crate::backup::router())
        .merge(time_limit(health::probes(), s))
        .route("/api/{*rest}", axum::routing::any(middleware::api_not_found))
}

// One function per route class layer (see `api_router`). `route_layer`: a request that matches no
// route of the group is not held, guarded or timed by it.

/// Writes run in one database transaction with the Idempotency-Key stored beside them.
fn write_transaction(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    routes.route_layer(axum::middleware::from_fn_with_state(state.clone(), idempotency::middleware))
}

/// A standby outside emergency mode refuses writes (503 `standby_read_only`).
fn standby_guard(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    routes.route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::ha::guard))
}

/// While a backup is being restored, requests are told to retry (503 `restoring`).
fn restore_gate(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    routes.route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::backup::gate::middleware))
}

/// 503 `timeout` past `MOSTRADOR_REQUEST_TIMEOUT`.
fn time_limit(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    let limit = state.config.request_timeout();
    routes.route_layer(axum::middleware::from_fn(move |req, next| middleware::timeout(limit, req, next)))
}

/// Answers above 1 KiB (JSON, pages, scripts) compressed on the fly for clients that accept it. Static
/// files with a precompressed copy (`crate::pwa::precompress`) are sent as they are; what is
/// compressed already (backups, spreadsheets, images) is left alone.
fn compression() -> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::{
        predicate::{NotForContentType, Predicate, SizeAbove},
        CompressionLayer, CompressionLevel, DefaultPredicate,
    };
    let predicate = DefaultPredicate::new()
        .and(SizeAbove::new(1024))
        .and(NotForContentType::const_new("application/zstd"))
        .and(NotForContentType::const_new("application/vnd.openxmlformats"))
        .and(NotForContentType::const_new("application/octet-stream"));
    // Brotli's default (quality 11) is for files compressed once; 5 is fast enough per request.
    CompressionLayer::new().quality(CompressionLevel::Precise(5)).compress_when(predicate)
}

/// `Vary: Accept-Encoding` on every encoded answer (ServeDir's precompressed files lack it, and a cache
/// must not give brotli to a client that did not ask for it); HSTS on every https answer.
async fn transport_headers(https: bool, mut response: axum::response::Response) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let headers = response.headers_mut();
    let varies = headers
        .get_all(header::VARY)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.to_ascii_lowercase().contains("accept-encoding")));
    if headers.contains_key(header::CONTENT_ENCODING) && !varies {
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    response
}

/// Everything a request needs; built once (by `serve`, and by commands that run requests in-process,
/// such as `mostrador reconcile`).
pub async fn state(config: ServeConfig, db: Db, site_addr: SocketAddr) -> std::io::Result<AppState> {
    let leptos_options = LeptosOptions::builder()
        .output_name("mostrador")
        .site_root(config.site_root.clone())
        .site_pkg_dir("pkg")
        .site_addr(site_addr)
        .build();
    let node: Arc<str> = config.node().into();
    let alerts = crate::alerts::Alerts::new(db.clone(), node.to_string(), config.alerts.clone());
    let backups =
        crate::backup::Backups::new(db.clone(), &config.db, config.backup.clone(), node.to_string(), alerts.clone())
            .await
            .map_err(std::io::Error::other)?;
    let ha = crate::ha::Ha::new(config.ha.clone(), db.clone(), alerts.clone(), node.to_string()).await;
    let failover =
        crate::ha::failover::Failover::new(config.failover.clone(), &db, config.db.database_url.as_deref()).await;
    let login_limiter = Arc::new(LoginLimiter::with_capacity(config.ops.login_limiter_keys));
    Ok(AppState {
        backups,
        ha,
        alerts,
        failover,
        metrics: Arc::new(crate::metrics::Metrics::default()),
        lan: Default::default(),
        node,
        db,
        config: Arc::new(config),
        login_limiter,
        leptos_options,
    })
}

/// A bound, ready-to-serve application (port 0 in tests).
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    /// With TLS on: where the certificate comes from.
    tls: Option<crate::tls::Certificates>,
    /// With TLS on: the plain-HTTP listener (redirects, ACME challenges), running already.
    redirect: Option<crate::tls::RedirectServer>,
}

impl Application {
    pub async fn build(config: ServeConfig, db: Db) -> std::io::Result<Application> {
        // Certificate files are read before anything listens: a bad one stops the start, never a
        // fallback to plain HTTP.
        let files = match (&config.tls.tls_cert, &config.tls.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::WatchedFiles::load(cert, key).map_err(std::io::Error::other)?),
            (None, None) => None,
            _ => return Err(std::io::Error::other("--tls-cert and --tls-key go together")),
        };
        let acme = !config.tls.acme_domains.is_empty();
        let plain = match config.tls.http_redirect_addr {
            Some(_) if !config.tls.enabled() => {
                return Err(std::io::Error::other(
                    "--http-redirect-addr needs TLS (--tls-cert and --tls-key, --acme-domain or --tls-lan)",
                ))
            }
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|e| std::io::Error::new(e.kind(), format!("--http-redirect-addr {addr}: {e}")))?,
            ),
            None if acme => {
                return Err(std::io::Error::other(
                    "--acme-domain needs --http-redirect-addr (port 80, where the ACME CA checks the names)",
                ))
            }
            None => None,
        };
        let listener = TcpListener::bind(config.addr).await?;
        crate::pwa::precompress_site(std::path::Path::new(&config.site_root));
        let state = state(config, db, listener.local_addr()?).await?;
        let lan = match state.config.tls.tls_lan {
            true => {
                let lan = crate::tls::lan::Lan::start(
                    &state.config.db.data_dir,
                    listener.local_addr()?,
                    &crate::tls::lan::host_name(),
                    &state.config.tls.tls_names,
                )
                .map_err(std::io::Error::other)?;
                let lan = Arc::new(lan);
                let _ = state.lan.set(lan.clone());
                Some(lan)
            }
            false => None,
        };
        let challenges = crate::tls::acme::Challenges::default();
        let https_port = listener.local_addr()?.port();
        // Serving already: the ACME CA validates the names through it before there is a certificate.
        let ca = lan.as_ref().map(|l| l.ca_der());
        let redirect = plain.map(|plain| crate::tls::RedirectServer::start(plain, https_port, challenges.clone(), ca));
        let tls = match (files, lan) {
            (Some(files), _) => Some(crate::tls::Certificates::Files(files)),
            (None, Some(lan)) => Some(crate::tls::Certificates::Lan(lan)),
            (None, None) if acme => {
                let acme = crate::tls::acme::Acme::start(&state.config.tls, &state.config.db.data_dir, challenges)
                    .await
                    .map_err(std::io::Error::other)?;
                Some(crate::tls::Certificates::Acme(acme))
            }
            (None, None) => None,
        };
        Ok(Application { router: router(state.clone()), listener, state, tls, redirect })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    /// The address to open, `https://…` when TLS is on.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr())
    }

    /// LAN mode: the https addresses phones open (what the "Connect a phone" QR code shows).
    pub fn phone_urls(&self) -> Vec<String> {
        self.state.lan.get().map(|lan| lan.phone_urls()).unwrap_or_default()
    }

    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect.as_ref().map(|r| r.addr)
    }

    /// Serves until `shutdown` resolves; requests in flight are finished first.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        crate::ha::crashes::on_start(&self.state).await;
        let state = self.state.clone();
        let housekeeping = tokio::spawn(async move {
            let store = DbSessionStore::new(state.db.clone());
            let mut tick = tokio::time::interval(Duration::from_secs(600));
            loop {
                tick.tick().await;
                state.login_limiter.forget_idle();
                if let Err(e) = store.delete_expired().await {
                    tracing::warn!(error = %e, "could not delete expired sessions");
                }
            }
        });
        let reaper = tokio::spawn(idempotency::reaper(self.state.db.clone(), Duration::from_secs(3600)));
        let backup_schedule =
            tokio::spawn(crate::backup::schedule::run(self.state.backups.clone(), self.state.ha.clone()));
        let ha = &self.state.ha;
        let shipping = (ha.role() == crate::config::NodeRole::Primary && ha.config.standby_url.is_some())
            .then(|| tokio::spawn(crate::ha::shipping::run(self.state.clone())));
        let failover =
            self.state.failover.clone().map(|f| tokio::spawn(crate::ha::failover::run(self.state.clone(), f)));
        let app = self.router.into_make_service_with_connect_info::<SocketAddr>();
        // Requests in flight get until the deadline after a stop; then the server exits anyway.
        let (shutdown, deadline) = middleware::shutdown_deadline(shutdown, self.state.config.ops.shutdown_timeout());
        let serving = async {
            match self.tls {
                None => axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await,
                Some(certs) => {
                    let config = crate::tls::server_config(certs.store());
                    let renewals = tokio::spawn(certs.run(&self.state));
                    // `tap_io` is what gives a custom listener's peer address to ConnectInfo (the login limiter).
                    let listener =
                        axum::serve::ListenerExt::tap_io(crate::tls::TlsListener::new(self.listener, config)?, |_| {});
                    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
                    renewals.abort();
                    served
                }
            }
        };
        let result = tokio::select! {
            r = serving => r,
            () = deadline => Ok(()),
        };
        if let Some(redirect) = self.redirect {
            redirect.stop().await;
        }
        housekeeping.abort();
        reaper.abort();
        backup_schedule.abort();
        for task in [shipping, failover].into_iter().flatten() {
            task.abort();
        }
        if result.is_ok() {
            crate::ha::crashes::on_clean_shutdown(&self.state).await;
        }
        result
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
