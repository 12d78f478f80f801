//! Certificates from an ACME CA (Let's Encrypt by default): obtained at the first start, kept in
//! `DATA_DIR/acme/`, renewed while serving when fewer than 30 days of validity remain, with an alert
//! when a renewal fails (the old certificate goes on being served until it expires).
//!
//! The CA checks that we own the names with the HTTP-01 challenge: it fetches
//! `http://NAME/.well-known/acme-challenge/TOKEN` on port 80, which the plain-HTTP listener answers
//! from [`Challenges`] (and redirects everything else to https).

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::Duration,
};

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use rustls::sign::CertifiedKey;

use super::{certified_key_from_pem, CertStore, PemError};
use crate::{alerts::AlertKind, config::TlsConfig};

/// Renew when fewer than this many days of validity remain.
pub const RENEW_BEFORE_DAYS: i64 = 30;
/// The longest a whole issuance may take (account, order, validation, certificate).
const ISSUE_TIMEOUT: Duration = Duration::from_secs(180);

/// Tokens of the HTTP-01 challenges in progress and their key authorizations.
#[derive(Clone, Default)]
pub struct Challenges(Arc<RwLock<HashMap<String, String>>>);

impl Challenges {
    pub fn answer(&self, token: &str) -> Option<String> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).get(token).cloned()
    }
    fn set(&self, token: String, key_authorization: String) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).insert(token, key_authorization);
    }
    fn remove(&self, token: &str) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).remove(token);
    }
}

/// Gets certificates for the configured names.
pub struct Issuer {
    domains: Vec<String>,
    email: Option<String>,
    directory: String,
    /// A CA to trust for the ACME server's own https (tests); none: the system's roots.
    ca: Option<PathBuf>,
    dir: PathBuf,
    challenges: Challenges,
}

/// The certificate being served and what renews it.
pub struct Acme {
    issuer: Issuer,
    check: Duration,
    pub store: Arc<CertStore>,
}

impl Acme {
    /// The stored certificate when it covers the names, else a new one now: an ACME server that does
    /// not answer stops the start with its reason.
    pub async fn start(config: &TlsConfig, data_dir: &Path, challenges: Challenges) -> Result<Acme, String> {
        let dir = data_dir.join("acme");
        private_dir(&dir).map_err(|e| format!("ACME: cannot create {}: {e}", dir.display()))?;
        let issuer = Issuer {
            domains: config.acme_domains.clone(),
            email: config.acme_email.clone(),
            directory: config.acme_directory.clone(),
            ca: config.acme_ca.clone(),
            dir,
            challenges,
        };
        let key = match issuer.stored() {
            Some(key) => {
                tracing::info!(domains = ?issuer.domains, "serving the stored ACME certificate");
                key
            }
            None => {
                tracing::info!(domains = ?issuer.domains, directory = %issuer.directory, "getting a certificate from the ACME server");
                issuer.issue().await?
            }
        };
        Ok(Acme {
            issuer,
            check: Duration::from_secs(config.acme_check_interval_secs.max(1)),
            store: CertStore::new(key),
        })
    }

    /// Checks every interval; renews when due; raises an alert when a renewal fails.
    pub async fn run(self, alerts: crate::alerts::Alerts) {
        let mut tick = tokio::time::interval(self.check);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let current = self.store.get();
            let Some(left) = days_left(&current) else { continue };
            if left >= RENEW_BEFORE_DAYS && covers(&current, &self.issuer.domains) {
                continue;
            }
            match self.issuer.issue().await {
                Ok(key) => {
                    self.store.set(key);
                    tracing::info!(domains = ?self.issuer.domains, "ACME certificate renewed: new connections get it");
                }
                Err(e) => {
                    let names = self.issuer.domains.join(", ");
                    let message = format!("the certificate for {names} could not be renewed ({left} days left): {e}");
                    alerts.raise(AlertKind::CertificateRenewalFailed, message, None).await;
                }
            }
        }
    }
}

impl Issuer {
    fn cert_path(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }
    fn key_path(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    fn stored(&self) -> Option<Arc<CertifiedKey>> {
        let key = super::load_certified_key(&self.cert_path(), &self.key_path()).ok()?;
        (covers(&key, &self.domains) && days_left(&key).is_some_and(|d| d > 0)).then_some(key)
    }

    async fn issue(&self) -> Result<Arc<CertifiedKey>, String> {
        let (chain, key) = tokio::time::timeout(ISSUE_TIMEOUT, self.order()).await.map_err(|_| {
            format!("the ACME server {} took longer than {} s", self.directory, ISSUE_TIMEOUT.as_secs())
        })??;
        let certified = certified_key_from_pem(chain.as_bytes(), key.as_bytes()).map_err(|e| match e {
            PemError::Cert(w) | PemError::Key(w) | PemError::Mismatch(w) => {
                format!("the ACME server sent an unusable certificate: {w}")
            }
        })?;
        write_private(&self.key_path(), key.as_bytes())
            .map_err(|e| format!("cannot keep the key in {}: {e}", self.dir.display()))?;
        write_private(&self.cert_path(), chain.as_bytes())
            .map_err(|e| format!("cannot keep the certificate in {}: {e}", self.dir.display()))?;
        Ok(certified)
    }

    /// One order, start to end: (certificate chain PEM, private key PEM).
    async fn order(&self) -> Result<(String, String), String> {
        let directory = &self.directory;
        let account = self.account().await.map_err(|e| format!("ACME server {directory}: {e}"))?;
        let ids: Vec<Identifier> = self.domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
        let mut order =
            account.new_order(&NewOrder::new(&ids)).await.map_err(|e| format!("ACME order refused: {e}"))?;
        let mut tokens = Vec::new();
        let result = async {
            let mut authorizations = order.authorizations();
            while let Some(authorization) = authorizations.next().await {
                let mut authorization = authorization.map_err(|e| e.to_string())?;
                match authorization.status {
                    AuthorizationStatus::Valid => continue,
                    AuthorizationStatus::Pending => {}
                    other => return Err(format!("authorization is {other:?}")),
                }
                let mut challenge = authorization
                    .challenge(ChallengeType::Http01)
                    .ok_or("the ACME server offers no HTTP-01 challenge")?;
                self.challenges.set(challenge.token.clone(), challenge.key_authorization().as_str().to_owned());
                tokens.push(challenge.token.clone());
                challenge.set_ready().await.map_err(|e| e.to_string())?;
            }
            let retries = RetryPolicy::new().timeout(Duration::from_secs(90));
            match order.poll_ready(&retries).await.map_err(|e| e.to_string())? {
                OrderStatus::Ready => {}
                other => {
                    return Err(format!(
                        "the names were not validated (order {other:?}); is port 80 of {} reachable?",
                        self.domains.join(", ")
                    ))
                }
            }
            let key = order.finalize().await.map_err(|e| e.to_string())?;
            let chain = order.poll_certificate(&retries).await.map_err(|e| e.to_string())?;
            Ok((chain, key))
        }
        .await;
        for token in tokens {
            self.challenges.remove(&token);
        }
        result.map_err(|e| format!("ACME order for {}: {e}", self.domains.join(", ")))
    }

    /// The account kept in `acme/account.json` for this directory, or a new one.
    async fn account(&self) -> Result<Account, instant_acme::Error> {
        let path = self.dir.join("account.json");
        let builder = || match &self.ca {
            Some(ca) => Account::builder_with_root(ca),
            None => Account::builder(),
        };
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Stored {
            directory: String,
            credentials: AccountCredentials,
        }
        if let Some(stored) = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Stored>(&b).ok()) {
            if stored.directory == self.directory {
                return builder()?.from_credentials(stored.credentials).await;
            }
        }
        let contact = self.email.as_ref().map(|e| format!("mailto:{e}"));
        let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
        let new = NewAccount { contact: &contact, terms_of_service_agreed: true, only_return_existing: false };
        let (account, credentials) = builder()?.create(&new, self.directory.clone(), None).await?;
        let stored = Stored { directory: self.directory.clone(), credentials };
        if let Err(e) = write_private(&path, &serde_json::to_vec(&stored).expect("serialisable")) {
            tracing::warn!(error = %e, "cannot keep the ACME account: a new one is made next time");
        }
        Ok(account)
    }
}

/// Days until the certificate expires (negative once expired); `None` if it cannot be read.
pub fn days_left(key: &CertifiedKey) -> Option<i64> {
    let der = key.end_entity_cert().ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    Some((cert.validity().not_after.timestamp() - now).div_euclid(86_400))
}

/// Whether the certificate names every domain.
fn covers(key: &CertifiedKey, domains: &[String]) -> bool {
    let names = certificate_names(key);
    domains.iter().all(|d| names.contains(&d.to_ascii_lowercase()))
}

/// The DNS names and IP addresses of the certificate's subjectAltName, lower case.
pub fn certificate_names(key: &CertifiedKey) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Some(der) = key.end_entity_cert().ok() else { return Vec::new() };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else { return Vec::new() };
    let Ok(Some(san)) = cert.subject_alternative_name() else { return Vec::new() };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(*b).ok()?).to_string()),
                16 => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(*b).ok()?).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// A directory only the server's user can enter.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes a file only the server's user can read (mode 600), whole or not at all.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
