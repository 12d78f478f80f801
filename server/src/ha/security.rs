//! The HA link's own defences (issue #12, point 2): a shared secret strong enough not to be guessed,
//! https to the peer (with its certificate pinned if wanted; plain http only with an explicit
//! "insecure, test only" setting), and failed peer authentications rate limited and alerted.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{config::HaConfig, http::error::ApiError};

/// The secret's minimum: what 32 random bytes look like written down (`openssl rand -base64 32` is
/// 44 characters, `openssl rand -hex 32` 64 hex digits), roughly checked: long enough for its
/// alphabet, and not a few characters repeated.
pub fn check_secret(secret: &str) -> Result<(), String> {
    let hex = secret.chars().all(|c| c.is_ascii_hexdigit());
    let long_enough = if hex { secret.len() >= 64 } else { secret.chars().count() >= 43 };
    let distinct = secret.chars().collect::<HashSet<_>>().len();
    if long_enough && distinct >= 10 {
        Ok(())
    } else {
        Err("MOSTRADOR_HA_SECRET is too weak: use at least 32 random bytes, such as the output of \
             `openssl rand -base64 32` (43 or more characters) or `openssl rand -hex 32` (64 hex digits)"
            .into())
    }
}

/// A peer URL must be https, or plain http with `MOSTRADOR_HA_INSECURE_HTTP=true`.
pub fn check_peer_url(what: &str, url: &str, insecure_http: bool) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{what} {url:?} is not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if insecure_http => Ok(()),
        "http" => Err(format!(
            "{what} {url} is plain http: the HA link carries the whole database and the shared secret. \
             Use https (MOSTRADOR_HA_PEER_CERT pins the peer's certificate), or set \
             MOSTRADOR_HA_INSECURE_HTTP=true (insecure, for tests only)"
        )),
        other => Err(format!("{what} {url}: scheme {other} is not supported; use https")),
    }
}

/// The same check as an API error (shipping and reconciliation check again before they connect).
pub fn peer_url(config: &HaConfig, what: &str, url: &str) -> Result<(), ApiError> {
    check_peer_url(what, url, config.ha_insecure_http)
        .map_err(|message| ApiError::conflict("insecure_peer_url", message))
}

/// Everything `serve` (and `reconcile`) checks before starting.
pub fn check_config(config: &HaConfig) -> Result<(), String> {
    if let Some(secret) = config.ha_secret.as_deref().filter(|s| !s.is_empty()) {
        check_secret(secret)?;
    }
    if let Some(url) = &config.standby_url {
        check_peer_url("MOSTRADOR_STANDBY_URL", url, config.ha_insecure_http)?;
    }
    peer_client(config)?;
    if config.ha_insecure_http {
        tracing::warn!("MOSTRADOR_HA_INSECURE_HTTP=true: plain-http peers are allowed (insecure, for tests only)");
    }
    Ok(())
}

/// The HA link's HTTP client. With `MOSTRADOR_HA_PEER_CERT`, the certificates in that file are the
/// only ones trusted (the peer's own self-signed certificate, or the CA that signed it).
pub fn peer_client(config: &HaConfig) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
    if let Some(path) = &config.ha_peer_cert {
        let pem = std::fs::read(path).map_err(|e| format!("MOSTRADOR_HA_PEER_CERT {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("MOSTRADOR_HA_PEER_CERT {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("MOSTRADOR_HA_PEER_CERT {}: no PEM certificate in it", path.display()));
        }
        builder = builder.tls_built_in_root_certs(false);
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| format!("the HA client: {e}"))
}

/// Failed peer authentications per client address: after `MAX_FAILURES` in `WINDOW`, every peer
/// request from that address is 429 until the window ends (the right secret too, or the answer
/// would tell a guesser when it guessed right). Memory is bounded by `MAX_TRACKED` addresses.
#[derive(Default)]
pub struct PeerFailures {
    by_address: Mutex<HashMap<IpAddr, (Instant, u32)>>,
    last_alert: Mutex<Option<Instant>>,
}

pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(60);
const MAX_TRACKED: usize = 4096;

impl PeerFailures {
    /// How long `ip` must wait, when it is blocked.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        let map = self.by_address.lock().expect("not poisoned");
        match map.get(&ip) {
            Some((since, n)) if *n >= MAX_FAILURES && since.elapsed() < WINDOW => Some(WINDOW - since.elapsed()),
            _ => None,
        }
    }

    /// Counts a failure; returns the failures of `ip` in the current window.
    pub fn record(&self, ip: IpAddr) -> u32 {
        let mut map = self.by_address.lock().expect("not poisoned");
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            map.retain(|_, (since, _)| since.elapsed() < WINDOW);
            if map.len() >= MAX_TRACKED {
                // Still full of live windows: forget one rather than grow.
                if let Some(k) = map.keys().next().copied() {
                    map.remove(&k);
                }
            }
        }
        let entry = map.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
        entry.1
    }

    /// True at most once a window (alerts go to people: one per burst is enough).
    pub fn should_alert(&self) -> bool {
        let mut last = self.last_alert.lock().expect("not poisoned");
        if last.is_some_and(|t| t.elapsed() < WINDOW) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_secrets_are_refused_and_random_ones_accepted() {
        for weak in ["", "a-shared-secret-for-tests", &"a".repeat(100), &"ab".repeat(40), &"0123abcd".repeat(7)] {
            assert!(check_secret(weak).is_err(), "{weak}");
        }
        // `openssl rand -base64 32`, `openssl rand -hex 32`.
        for strong in [
            "q3ZJ0v5m1c6QeXW1JxU0yq0o8c1Wn3b8V1cB7kq3p0E=",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ] {
            assert!(check_secret(strong).is_ok(), "{strong}");
        }
    }

    #[test]
    fn plain_http_peers_need_the_insecure_setting() {
        assert!(check_peer_url("x", "https://standby:3000", false).is_ok());
        let e = check_peer_url("MOSTRADOR_STANDBY_URL", "http://standby:3000", false).unwrap_err();
        assert!(e.contains("MOSTRADOR_HA_INSECURE_HTTP"), "{e}");
        assert!(check_peer_url("x", "http://standby:3000", true).is_ok());
        assert!(check_peer_url("x", "ftp://standby", true).is_err());
        assert!(check_peer_url("x", "standby:3000", true).is_err());
    }

    #[test]
    fn failures_block_an_address_for_the_window_only() {
        let f = PeerFailures::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..MAX_FAILURES {
            assert!(f.blocked(a).is_none());
            f.record(a);
        }
        assert!(f.blocked(a).is_some());
        assert!(f.blocked(b).is_none());
        assert!(f.should_alert());
        assert!(!f.should_alert());
    }
}
