//! HTTPS served by Mostrador itself (issue #17): a certificate and key from PEM files, swapped in while
//! serving when the files change, the TLS listener `axum::serve` runs on, and the plain-HTTP listener
//! that sends everything to https.
//!
//! Phones get a service worker, installation and offline mode only on a secure context, so a shop needs
//! https on its own network; nothing here falls back to plain HTTP when TLS was asked for.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use axum::{
    http::{header, HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
    Router,
};
use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
    ServerConfig,
};
use tokio::{net::TcpListener, sync::mpsc};
use tokio_rustls::{server::TlsStream, TlsAcceptor};

pub mod acme;
pub mod lan;
pub mod routes;

/// How long a client may take over its TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; further connections wait in the kernel's accept queue.
const MAX_HANDSHAKES: usize = 256;

/// What goes wrong with a certificate or a key, in words an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate {0}: cannot read it: {1}")]
    ReadCert(PathBuf, std::io::Error),
    #[error("TLS key {0}: cannot read it: {1}")]
    ReadKey(PathBuf, std::io::Error),
    #[error("TLS certificate {0}: no PEM certificate in it ({1})")]
    NoCert(PathBuf, String),
    #[error("TLS key {0}: no PEM private key in it ({1})")]
    NoKey(PathBuf, String),
    #[error("TLS key {key} does not match the certificate {cert} ({why})")]
    Mismatch { cert: PathBuf, key: PathBuf, why: String },
}

/// The crypto the server uses: ring, the provider reqwest already brings (no second one to build).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its key from PEM files, checked to belong together.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_pem = std::fs::read(cert).map_err(|e| TlsError::ReadCert(cert.into(), e))?;
    let key_pem = std::fs::read(key).map_err(|e| TlsError::ReadKey(key.into(), e))?;
    certified_key_from_pem(&cert_pem, &key_pem).map_err(|e| match e {
        PemError::Cert(why) => TlsError::NoCert(cert.into(), why),
        PemError::Key(why) => TlsError::NoKey(key.into(), why),
        PemError::Mismatch(why) => TlsError::Mismatch { cert: cert.into(), key: key.into(), why },
    })
}

pub enum PemError {
    Cert(String),
    Key(String),
    Mismatch(String),
}

/// A certificate chain and its key from PEM bytes (files, or made in memory by LAN mode and ACME).
pub fn certified_key_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<CertifiedKey>, PemError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemError::Cert(e.to_string()))?;
    if chain.is_empty() {
        return Err(PemError::Cert("the file has no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| PemError::Key(e.to_string()))?;
    let key = provider().key_provider.load_private_key(key).map_err(|e| PemError::Key(e.to_string()))?;
    let certified = CertifiedKey::new(chain, key);
    match certified.keys_match() {
        // A key type whose public half rustls cannot derive: nothing to compare.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(Arc::new(certified)),
        Err(e) => Err(PemError::Mismatch(e.to_string())),
    }
}

/// The certificate served to new connections; replaced while serving (file reload, ACME renewal).
#[derive(Debug)]
pub struct CertStore(RwLock<Arc<CertifiedKey>>);

impl CertStore {
    pub fn new(key: Arc<CertifiedKey>) -> Arc<CertStore> {
        Arc::new(CertStore(RwLock::new(key)))
    }
    pub fn set(&self, key: Arc<CertifiedKey>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = key;
    }
    pub fn get(&self) -> Arc<CertifiedKey> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// A server configuration (HTTP/2 and HTTP/1.1 by ALPN) that takes its certificate from `certs`.
pub fn server_config(certs: Arc<dyn ResolvesServerCert>) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A server configuration from certificate and key files (fixed: no reload), for other listeners.
pub fn server_config_from_files(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    Ok(server_config(CertStore::new(load_certified_key(cert, key)?)))
}

/// Certificate files served with reload: checked every `interval`; a changed pair that loads goes to
/// new connections, a broken one (say, the cert written before its key) is logged and the old pair kept.
pub struct WatchedFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub store: Arc<CertStore>,
}

impl WatchedFiles {
    pub fn load(cert: &Path, key: &Path) -> Result<WatchedFiles, TlsError> {
        Ok(WatchedFiles { cert: cert.into(), key: key.into(), store: CertStore::new(load_certified_key(cert, key)?) })
    }

    pub async fn watch(self, interval: Duration) {
        let stamp =
            |p: &Path| std::fs::metadata(p).ok().map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        let mut seen = (stamp(&self.cert), stamp(&self.key));
        let mut tick = tokio::time::interval(interval.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = (stamp(&self.cert), stamp(&self.key));
            if now == seen {
                continue;
            }
            match load_certified_key(&self.cert, &self.key) {
                Ok(key) => {
                    self.store.set(key);
                    seen = now;
                    tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded: new connections get it");
                }
                // Not marked seen: tried again at the next tick, and again after the next change.
                Err(e) => {
                    tracing::warn!(error = %e, "TLS certificate files changed but do not load: still serving the previous ones")
                }
            }
        }
    }
}

/// TCP connections after their TLS handshake. Handshakes run in their own tasks, so a slow or silent
/// client never holds up the others; `axum::serve` gets only finished ones.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<tokio::net::TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let tls = TlsAcceptor::from(config);
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok(permit) = permits.clone().acquire_owned().await else { return };
                let (stream, peer) = match tcp.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                };
                let (tls, tx) = (tls.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            drop(permit);
                            let _ = tx.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local, acceptor })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The acceptor task ended (it never does while the listener lives): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Where the served certificate comes from.
pub enum Certificates {
    /// `--tls-cert` and `--tls-key`, reloaded when they change.
    Files(WatchedFiles),
    /// `--acme-domain`: obtained and renewed from an ACME CA.
    Acme(acme::Acme),
    /// `--tls-lan`: signed by the shop's own CA.
    Lan(Arc<lan::Lan>),
}

impl Certificates {
    pub fn store(&self) -> Arc<CertStore> {
        match self {
            Certificates::Files(f) => f.store.clone(),
            Certificates::Acme(a) => a.store.clone(),
            Certificates::Lan(l) => l.store.clone(),
        }
    }

    /// Keeps the certificate current (file reloads, ACME renewals) until aborted.
    pub fn run(self, state: &crate::http::AppState) -> impl std::future::Future<Output = ()> + Send + 'static {
        let interval = Duration::from_secs(state.config.tls.tls_reload_interval_secs);
        let alerts = state.alerts.clone();
        async move {
            match self {
                Certificates::Files(f) => f.watch(interval).await,
                Certificates::Acme(a) => a.run(alerts).await,
                Certificates::Lan(l) => l.run().await,
            }
        }
    }
}

/// The plain-HTTP listener, serving from `start` until `stop`.
pub struct RedirectServer {
    pub addr: SocketAddr,
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RedirectServer {
    /// `ca`: LAN mode's CA certificate (DER), served at its download path over plain HTTP too.
    pub fn start(
        listener: TcpListener,
        https_port: u16,
        challenges: acme::Challenges,
        ca: Option<Vec<u8>>,
    ) -> RedirectServer {
        let addr = listener.local_addr().expect("bound listener has an address");
        let stop = tokio_util::sync::CancellationToken::new();
        let mut router = redirect_router(https_port, challenges);
        if let Some(der) = ca {
            router =
                router.route(lan::CA_DOWNLOAD, axum::routing::get(move || async move { routes::ca_response(der) }));
        }
        let serve = axum::serve(listener, router).with_graceful_shutdown(stop.clone().cancelled_owned());
        let task = tokio::spawn(async move {
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "the plain-HTTP listener stopped");
            }
        });
        RedirectServer { addr, stop, task }
    }

    /// Stops taking connections and finishes the answers in flight (a few seconds at most).
    pub async fn stop(mut self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
    }
}

impl Drop for RedirectServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The plain-HTTP listener's answers: the ACME CA's challenge requests, and for everything else a
/// permanent redirect (308 keeps the method) to the same host and path on https at `https_port`.
pub fn redirect_router(https_port: u16, challenges: acme::Challenges) -> Router {
    Router::new()
        .route(
            "/.well-known/acme-challenge/{token}",
            axum::routing::get(move |axum::extract::Path(token): axum::extract::Path<String>| async move {
                match challenges.answer(&token) {
                    Some(key_authorization) => {
                        ([(header::CONTENT_TYPE, "application/octet-stream")], key_authorization).into_response()
                    }
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }),
        )
        .fallback(move |headers: HeaderMap, uri: Uri| async move { redirect(https_port, &headers, &uri) })
}

fn redirect(https_port: u16, headers: &HeaderMap, uri: &Uri) -> Response {
    let Some(host) = crate::http::request_host(headers, uri).and_then(host_without_port) else {
        return (StatusCode::BAD_REQUEST, "Host header required\n").into_response();
    };
    let port = if https_port == 443 { String::new() } else { format!(":{https_port}") };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let location = format!("https://{host}{port}{path}");
    match header::HeaderValue::from_str(&location) {
        Ok(location) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "bad Host header\n").into_response(),
    }
}

/// `shop.example:80` → `shop.example`, `[::1]:80` → `[::1]`; refuses anything that is not a plain host.
pub fn host_without_port(host: &str) -> Option<&str> {
    let name = if host.starts_with('[') {
        &host[..=host.find(']')?]
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    let plain = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    plain.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_without_port_keeps_only_the_name() {
        assert_eq!(host_without_port("tienda.test:8080"), Some("tienda.test"));
        assert_eq!(host_without_port("tienda.test"), Some("tienda.test"));
        assert_eq!(host_without_port("[::1]:80"), Some("[::1]"));
        assert_eq!(host_without_port("192.168.1.20"), Some("192.168.1.20"));
        assert_eq!(host_without_port("evil.test/x"), None);
        assert_eq!(host_without_port("a@b"), None);
        assert_eq!(host_without_port(""), None);
    }
}
