//! LAN mode (`--tls-lan`): a shop with no domain gets https anyway. On the first start the server
//! makes its own certificate authority (kept in `DATA_DIR/lan-ca/`, the key mode 600, never served)
//! and a server certificate for the machine's host name, `HOST.local`, `localhost` and every address
//! it listens on; phones trust the CA once (the "Connect a phone" page shows how) and then get a secure
//! context: service worker, installation, offline mode.
//!
//! The server certificate is issued again when the addresses change (a new DHCP lease) or when fewer
//! than 30 days of its validity remain; the CA stays, so phones need not trust anything new.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

use super::{
    acme::{private_dir, write_private},
    certified_key_from_pem, CertStore,
};

/// How often the addresses are looked at again.
const CHECK_EVERY: Duration = Duration::from_secs(60);
/// Server certificates last 397 days, the longest browsers accept from any CA.
const SERVER_DAYS: i64 = 397;
const CA_YEARS: i64 = 20;

/// The shop's own CA and the server certificate it signed.
pub struct Lan {
    ca: LanCa,
    pub store: Arc<CertStore>,
}

struct LanCa {
    dir: PathBuf,
    ca_pem: String,
    ca_key: KeyPair,
    addr: SocketAddr,
    host: String,
    /// `--tls-name`: names the operator gave (local DNS), checked to be plain host names.
    extra: Vec<String>,
}

/// What the "Connect a phone" page shows (shared with the app, which reads it).
pub use app::model::{CaInfo, PhoneSetup};

impl Lan {
    /// Loads or makes the CA, then the server certificate for today's names.
    pub fn start(data_dir: &Path, addr: SocketAddr, host: &str, extra: &[String]) -> Result<Lan, String> {
        let extra = extra_names(extra)?;
        let dir = data_dir.join("lan-ca");
        private_dir(&dir).map_err(|e| format!("LAN mode: cannot create {}: {e}", dir.display()))?;
        let (ca_pem, ca_key) = load_or_make_ca(&dir, host)?;
        let ca = LanCa { dir, ca_pem, ca_key, addr, host: host.to_owned(), extra };
        let key = match ca.stored() {
            Some(key) => key,
            None => ca.issue()?,
        };
        Ok(Lan { ca, store: CertStore::new(key) })
    }

    /// Re-issues the server certificate when the names change or it nears its end.
    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            let current = self.store.get();
            if fresh(&current, &self.ca.names()) {
                continue;
            }
            match self.ca.issue() {
                Ok(key) => {
                    self.store.set(key);
                    tracing::info!(names = ?self.ca.names(), "LAN certificate issued again for the current addresses");
                }
                Err(e) => tracing::error!(error = %e, "cannot issue the LAN certificate again"),
            }
        }
    }

    /// The CA certificate in DER, for phones to install.
    pub fn ca_der(&self) -> Vec<u8> {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        CertificateDer::from_pem_slice(self.ca.ca_pem.as_bytes()).map(|c| c.to_vec()).unwrap_or_default()
    }

    /// The https addresses a phone can open: the names given with `--tls-name` first (the operator
    /// chose them, and they survive a new DHCP lease), then the LAN addresses, then the host names.
    pub fn phone_urls(&self) -> Vec<String> {
        let port = self.ca.addr.port();
        let names = self.ca.names();
        let (given, found): (Vec<String>, Vec<String>) = names.into_iter().partition(|n| self.ca.extra.contains(n));
        given
            .into_iter()
            .chain(found)
            .filter(|n| n != "localhost" && !n.starts_with("127.") && n != "::1")
            .map(|n| if n.contains(':') { format!("https://[{n}]:{port}/") } else { format!("https://{n}:{port}/") })
            .collect()
    }

    pub fn phone_setup(&self) -> PhoneSetup {
        let mut setup = setup("lan", self.phone_urls());
        setup.ca = Some(CaInfo {
            sha256: fingerprint(&self.ca_der()),
            download: CA_DOWNLOAD.to_owned(),
            name: format!("Mostrador {} local CA", self.ca.host),
        });
        setup
    }
}

impl LanCa {
    /// The names the server certificate must carry today: LAN addresses first, then host names.
    pub fn names(&self) -> Vec<String> {
        let mut ips: Vec<IpAddr> =
            if self.addr.ip().is_unspecified() { interface_addresses() } else { vec![self.addr.ip()] };
        ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
        ips.sort_by_key(|ip| (ip.is_loopback(), ip.is_ipv6(), *ip));
        ips.dedup();
        let mut names: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
        names.extend(self.extra.iter().cloned());
        names.push(self.host.clone());
        if !self.host.ends_with(".local") {
            names.push(format!("{}.local", self.host));
        }
        names.push("localhost".into());
        // Not `dedup`: a `--tls-name` may repeat the host name anywhere in the list.
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        names
    }

    fn stored(&self) -> Option<Arc<CertifiedKey>> {
        let key = super::load_certified_key(&self.dir.join("server.pem"), &self.dir.join("server-key.pem")).ok()?;
        fresh(&key, &self.names()).then_some(key)
    }

    fn issue(&self) -> Result<Arc<CertifiedKey>, String> {
        let issuer = Issuer::from_ca_cert_pem(&self.ca_pem, &self.ca_key).map_err(|e| format!("LAN CA: {e}"))?;
        let mut params = CertificateParams::new(self.names()).map_err(|e| format!("LAN certificate names: {e}"))?;
        params.distinguished_name.push(DnType::CommonName, self.host.clone());
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(SERVER_DAYS);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let cert = params.signed_by(&key, &issuer).map_err(|e| format!("LAN certificate: {e}"))?;
        let chain = format!("{}{}", cert.pem(), self.ca_pem);
        let key_pem = key.serialize_pem();
        write_private(&self.dir.join("server-key.pem"), key_pem.as_bytes()).map_err(|e| e.to_string())?;
        write_private(&self.dir.join("server.pem"), chain.as_bytes()).map_err(|e| e.to_string())?;
        certified_key_from_pem(chain.as_bytes(), key_pem.as_bytes())
            .map_err(|_| "the LAN certificate does not load".to_owned())
    }
}

/// The setup of `mode` with its URLs and the first one as a QR code.
pub fn setup(mode: &str, urls: Vec<String>) -> PhoneSetup {
    PhoneSetup { mode: mode.to_owned(), qr_svg: urls.first().map(|u| qr_svg(u)).unwrap_or_default(), urls, ca: None }
}

/// This machine's host name (what `NAME.local` is built from).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that and NUL-terminates
    // when it fits.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let name = ok
        .then(|| std::ffi::CStr::from_bytes_until_nul(&buf).ok().and_then(|c| c.to_str().ok()).map(str::to_owned))
        .flatten()
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    name.unwrap_or_else(|| "mostrador".to_owned()).to_ascii_lowercase()
}

/// `--tls-name` values, lower-cased: host names (letters, digits, `-`, dots) or IP addresses.
fn extra_names(given: &[String]) -> Result<Vec<String>, String> {
    given
        .iter()
        .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .map(|n| {
            let label_ok = |l: &str| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            };
            if n.parse::<IpAddr>().is_ok() || (n.len() <= 253 && n.split('.').all(label_ok)) {
                Ok(n)
            } else {
                Err(format!("--tls-name {n:?} is not a host name (letters, digits, '-' and dots) or an IP address"))
            }
        })
        .collect()
}

/// The public path of the CA certificate (on https, and on the plain-HTTP listener).
pub const CA_DOWNLOAD: &str = "/mostrador-ca.crt";

fn load_or_make_ca(dir: &Path, host: &str) -> Result<(String, KeyPair), String> {
    let (cert_path, key_path) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    if let (Ok(cert), Ok(key)) = (std::fs::read_to_string(&cert_path), std::fs::read_to_string(&key_path)) {
        let key = KeyPair::from_pem(&key).map_err(|e| format!("LAN CA key {}: {e}", key_path.display()))?;
        return Ok((cert, key));
    }
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name.push(DnType::CommonName, format!("Mostrador {host} local CA"));
    params.distinguished_name.push(DnType::OrganizationName, "Mostrador");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365 * CA_YEARS);
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| format!("LAN CA: {e}"))?;
    // The key first: a CA certificate without its key would be useless.
    write_private(&key_path, key.serialize_pem().as_bytes())
        .map_err(|e| format!("LAN CA key {}: {e}", key_path.display()))?;
    write_private(&cert_path, cert.pem().as_bytes()).map_err(|e| format!("LAN CA {}: {e}", cert_path.display()))?;
    tracing::info!(ca = %cert_path.display(), "made the shop's own certificate authority (LAN mode)");
    Ok((cert.pem(), key))
}

/// Valid for 30 more days and naming exactly `names`.
fn fresh(key: &CertifiedKey, names: &[String]) -> bool {
    let mut want: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    want.sort();
    let mut have = super::acme::certificate_names(key);
    have.sort();
    super::acme::days_left(key).is_some_and(|d| d >= super::acme::RENEW_BEFORE_DAYS) && have == want
}

/// Every address of this machine's interfaces but loopback and link-local ones.
fn interface_addresses() -> Vec<IpAddr> {
    if_addrs::get_if_addrs()
        .map(|all| {
            all.into_iter()
                .map(|i| i.ip())
                .filter(|ip| match ip {
                    IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local(),
                    IpAddr::V6(v6) => !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `AB:CD:…`, the way phones and browsers show certificate fingerprints.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// A QR code as an SVG image, made here (no outside service).
pub fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).quiet_zone(true).build(),
        Err(_) => String::new(),
    }
}
