//! Command line and environment, parsed once into typed structs.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "mostrador", version, about = "Mostrador: offline-first point of sale server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `mostrador` with no subcommand serves, with these options.
    #[command(flatten)]
    pub serve: ServeConfig,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve(ServeConfig),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Back up, verify, restore and prune (works while the server runs or is stopped).
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Replay a standby's emergency-mode writes into this (primary) database, in order, through the
    /// idempotent write path; running it twice changes nothing.
    Reconcile {
        /// The standby's base URL.
        #[arg(long)]
        from: String,
        /// The same settings as `serve` (database, HA secret…); nothing is served.
        #[command(flatten)]
        serve: ServeConfig,
    },
    /// PostgreSQL failover mirror set-up.
    #[command(subcommand)]
    Mirror(MirrorCommand),
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a backup now (trigger `manual`), copy it off-site when S3 is configured, then prune.
    Create {
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        backup: BackupConfig,
    },
    /// List the backups (local and remote).
    List {
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        backup: BackupConfig,
    },
    /// Verify one backup (checksum, restore into a scratch database, integrity, row counts).
    Verify {
        id: String,
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        backup: BackupConfig,
    },
    /// Restore one backup into the database (a `pre-restore` safety backup is taken first).
    Restore {
        id: String,
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        backup: BackupConfig,
    },
    /// Delete backups beyond the newest `--backup-keep` (never the newest verified one).
    Prune {
        #[command(flatten)]
        db: DatabaseConfig,
        #[command(flatten)]
        backup: BackupConfig,
    },
}

/// `mostrador mirror …`: PostgreSQL logical replication to the failover mirror.
#[derive(Debug, Subcommand)]
pub enum MirrorCommand {
    /// Migrate the mirror, publish the primary's tables and subscribe the mirror to them.
    Init {
        #[command(flatten)]
        db: DatabaseConfig,
        /// The mirror's URL.
        #[arg(long, env = "MIRROR_DATABASE_URL", hide_env_values = true)]
        mirror_database_url: String,
        /// How the mirror's PostgreSQL reaches the primary (default: DATABASE_URL).
        #[arg(long)]
        publisher_url: Option<String>,
    },
}

/// Backups, off-site copies and exports (issue #5).
#[derive(Debug, Clone, Args)]
pub struct BackupConfig {
    /// Where backups are kept (default: DATA_DIR/backups).
    #[arg(long, env = "MOSTRADOR_BACKUP_DIR")]
    pub backup_dir: Option<PathBuf>,
    /// When scheduled backups run: a cron expression in the shop's time zone, or `off`.
    #[arg(long, env = "MOSTRADOR_BACKUP_SCHEDULE", default_value = "0 2 * * *")]
    pub backup_schedule: String,
    /// How many backups to keep (the newest verified one is always kept too).
    #[arg(long, env = "MOSTRADOR_BACKUP_KEEP", default_value_t = 30)]
    pub backup_keep: usize,
    /// When the newest backup is verified by restoring it into a scratch database (cron, or `off`).
    #[arg(long, env = "MOSTRADOR_BACKUP_VERIFY_SCHEDULE", default_value = "0 3 * * 0")]
    pub backup_verify_schedule: String,
    /// Largest backup file accepted by POST /api/backups/upload, in bytes.
    #[arg(long, env = "MOSTRADOR_BACKUP_UPLOAD_LIMIT", default_value_t = 8 * 1024 * 1024 * 1024)]
    pub backup_upload_limit: u64,
    /// Largest decompressed size of a backup that is checked or restored, in bytes (a zstd bomb is
    /// refused with 422 `backup_too_large`); default: 4 × the live database's size, at least 1 GiB.
    #[arg(long, env = "MOSTRADOR_BACKUP_MAX_RESTORE_BYTES")]
    pub backup_max_restore_bytes: Option<u64>,
    /// Seconds each check of a backup (schema inspection, integrity check, loading into the scratch
    /// database, migration, row counts) may take before it is stopped.
    #[arg(long, env = "MOSTRADOR_BACKUP_CHECK_TIMEOUT", default_value_t = 1800)]
    pub backup_check_timeout_secs: u64,
    /// Seconds an upload, shipment or export may go without moving a byte before it is cut off.
    #[arg(long, env = "MOSTRADOR_STALL_TIMEOUT", default_value_t = 60)]
    pub stall_timeout_secs: u64,
    /// Directory with pg_dump/pg_restore (default: the newest /usr/lib/postgresql/*/bin, else PATH).
    #[arg(long, env = "MOSTRADOR_PG_BIN_DIR")]
    pub pg_bin_dir: Option<PathBuf>,
    /// S3-compatible bucket for off-site copies (unset: local only). Credentials come from
    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
    #[arg(long, env = "MOSTRADOR_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// Key prefix inside the bucket.
    #[arg(long, env = "MOSTRADOR_S3_PREFIX", default_value = "mostrador")]
    pub s3_prefix: String,
    /// Endpoint of a non-AWS S3 service (e.g. http://127.0.0.1:9000).
    #[arg(long, env = "MOSTRADOR_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "MOSTRADOR_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Encrypt off-site copies with this passphrase (age, scrypt) before they leave the machine;
    /// the same passphrase decrypts them on fetch-back. Local copies stay unencrypted.
    #[arg(long, env = "MOSTRADOR_BACKUP_PASSPHRASE", hide_env_values = true)]
    pub backup_passphrase: Option<String>,
    /// The shop's time zone (IANA name such as America/Argentina/Buenos_Aires) for schedules and
    /// export days; default: TZ, else UTC.
    #[arg(long, env = "MOSTRADOR_TIMEZONE")]
    pub timezone: Option<String>,
}

impl BackupConfig {
    pub fn check_timeout(&self) -> Duration {
        Duration::from_secs(self.backup_check_timeout_secs.max(1))
    }
    pub fn stall_timeout(&self) -> Duration {
        Duration::from_secs(self.stall_timeout_secs.max(1))
    }
    /// Defaults, as if no flag or variable were given (tests and embedding).
    pub fn defaults() -> BackupConfig {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            b: BackupConfig,
        }
        Only::parse_from(["mostrador"]).b
    }
}

/// A node's role (issue #6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NodeRole {
    /// Takes writes, runs scheduled backups and ships them to the standby.
    Primary,
    /// Serves reads; refuses writes (503 standby_read_only) unless emergency mode is on; runs no jobs.
    Standby,
}

impl NodeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Primary => "primary",
            NodeRole::Standby => "standby",
        }
    }
}

/// Primary and standby: roles, emergency mode, backup shipping.
#[derive(Debug, Clone, Args)]
pub struct HaConfig {
    /// `primary` or `standby`.
    #[arg(long, env = "MOSTRADOR_ROLE", value_enum, default_value = "primary")]
    pub role: NodeRole,
    /// Standby only: take writes now (each tagged `mode=emergency` in the audit log). Also an admin
    /// toggle on the Sistema page; this variable forces it on.
    #[arg(long, env = "MOSTRADOR_EMERGENCY_MODE", default_value_t = false)]
    pub emergency_mode: bool,
    /// Primary: the standby's base URL (http://standby:3000); backups are shipped there.
    #[arg(long, env = "MOSTRADOR_STANDBY_URL")]
    pub standby_url: Option<String>,
    /// Shared secret between primary and standby (sent as a Bearer token on /api/ha/peer/*).
    #[arg(long, env = "MOSTRADOR_HA_SECRET", hide_env_values = true)]
    pub ha_secret: Option<String>,
    /// Primary: seconds between shipments of the newest verified backup to the standby.
    #[arg(long, env = "MOSTRADOR_SHIP_INTERVAL", default_value_t = 4 * 3600)]
    pub ship_interval_secs: u64,
    /// Allow plain-http peer URLs (the standby's, reconciliation's `--from`). INSECURE, for tests
    /// only: the link carries the whole database and the shared secret.
    #[arg(long, env = "MOSTRADOR_HA_INSECURE_HTTP", default_value_t = false)]
    pub ha_insecure_http: bool,
    /// PEM file with the peer's certificate (or its CA): the only roots trusted on the HA link.
    #[arg(long, env = "MOSTRADOR_HA_PEER_CERT")]
    pub ha_peer_cert: Option<PathBuf>,
}

/// PostgreSQL database failover to a logical-replication mirror (`MIRROR_DATABASE_URL`).
#[derive(Debug, Clone, Args)]
pub struct FailoverConfig {
    /// `postgres://…` of the mirror: a database that subscribes to the primary's publication.
    #[arg(long, env = "MIRROR_DATABASE_URL", hide_env_values = true)]
    pub mirror_database_url: Option<String>,
    /// Seconds between checks of the database in use.
    #[arg(long, env = "HEALTH_CHECK_INTERVAL", default_value_t = 30)]
    pub health_check_interval: u64,
    /// Seconds a check may take before it counts as failed.
    #[arg(long, env = "HEALTH_CHECK_TIMEOUT", default_value_t = 5)]
    pub health_check_timeout: u64,
    /// Failed checks in a row before failing over.
    #[arg(long, env = "HEALTH_CHECK_MAX_RETRIES", default_value_t = 3)]
    pub health_check_max_retries: u32,
    /// Switch to the mirror by itself after the failed checks (otherwise: alert only).
    #[arg(long, env = "AUTO_FAILOVER_ENABLED", default_value_t = false)]
    pub auto_failover_enabled: bool,
    /// Refuse a failover when the mirror was last seen further behind than this (bytes of WAL).
    #[arg(long, env = "FAILOVER_MAX_LAG_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub failover_max_lag_bytes: u64,
    /// Refuse a failover when the last lag measurement is older than this many seconds.
    #[arg(long, env = "FAILOVER_MAX_LAG_AGE", default_value_t = 120)]
    pub failover_max_lag_age_secs: u64,
    /// Healthy checks of the old primary in a row before failing back (a flapping primary never gets there).
    #[arg(long, env = "FAILBACK_HEALTHY_CHECKS", default_value_t = 10)]
    pub failback_healthy_checks: u32,
}

impl FailoverConfig {
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.health_check_interval.max(1))
    }
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.health_check_timeout.max(1))
    }
}

/// Where alerts go besides the log and the Sistema page. Both optional.
#[derive(Debug, Clone, Args)]
pub struct AlertConfig {
    /// POSTs each alert as JSON to this URL.
    #[arg(long, env = "MOSTRADOR_ALERT_WEBHOOK_URL")]
    pub alert_webhook_url: Option<String>,
    /// Telegram bot token (Bot API sendMessage; send-only).
    #[arg(long, env = "MOSTRADOR_TELEGRAM_BOT_TOKEN", hide_env_values = true)]
    pub telegram_bot_token: Option<String>,
    /// Telegram chat id that receives the alerts.
    #[arg(long, env = "MOSTRADOR_TELEGRAM_CHAT_ID")]
    pub telegram_chat_id: Option<String>,
    /// Base URL of the Bot API (tests point it at a local receiver).
    #[arg(long, env = "MOSTRADOR_TELEGRAM_API_URL", default_value = "https://api.telegram.org")]
    pub telegram_api_url: String,
}

/// Defaults, as if no flag or variable were given (tests and embedding).
macro_rules! defaults_of {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn defaults() -> $t {
                #[derive(Parser)]
                struct Only {
                    #[command(flatten)]
                    inner: $t,
                }
                Only::parse_from(["mostrador"]).inner
            }
        }
    )*};
}
/// HTTPS served by the server itself (issue #17). Phones get offline mode and installation only on
/// https (or localhost), so a shop needs one of these or a TLS proxy in front.
#[derive(Debug, Clone, Args)]
pub struct TlsConfig {
    /// PEM certificate chain to serve HTTPS with (and only HTTPS); reloaded when the file changes.
    #[arg(long, env = "MOSTRADOR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "MOSTRADOR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A shop with no domain: serve https with a certificate from the shop's own certificate authority,
    /// made on the first start (phones trust it once: admin page "Connect a phone").
    #[arg(long, env = "MOSTRADOR_TLS_LAN", default_value_t = false, conflicts_with_all = ["tls_cert", "tls_key", "acme_domains"])]
    pub tls_lan: bool,
    /// LAN mode: another name the server certificate carries besides the host name, `HOST.local` and
    /// the addresses (a name the shop's router or local DNS gives this machine, say `caja.lan`); it is
    /// then the address the "Connect a phone" QR code opens. Repeat the flag or separate with commas.
    #[arg(long = "tls-name", env = "MOSTRADOR_TLS_NAMES", value_delimiter = ',', requires = "tls_lan")]
    pub tls_names: Vec<String>,
    /// Get the certificate from an ACME CA (Let's Encrypt) for this name, and renew it; repeat the flag
    /// (or separate with commas) for more names. Needs --http-redirect-addr reachable on port 80.
    #[arg(long = "acme-domain", env = "MOSTRADOR_ACME_DOMAINS", value_delimiter = ',', conflicts_with_all = ["tls_cert", "tls_key"])]
    pub acme_domains: Vec<String>,
    /// Contact address given to the ACME CA (expiry warnings).
    #[arg(long, env = "MOSTRADOR_ACME_EMAIL")]
    pub acme_email: Option<String>,
    /// The ACME directory URL (Let's Encrypt's staging one for trials:
    /// https://acme-staging-v02.api.letsencrypt.org/directory).
    #[arg(long, env = "MOSTRADOR_ACME_DIRECTORY", default_value = "https://acme-v02.api.letsencrypt.org/directory")]
    pub acme_directory: String,
    /// PEM of a CA to trust for the ACME server's own https (a test ACME server); default: the system's.
    #[arg(long, env = "MOSTRADOR_ACME_CA", hide = true)]
    pub acme_ca: Option<PathBuf>,
    /// Seconds between checks whether the ACME certificate is due for renewal.
    #[arg(long, env = "MOSTRADOR_ACME_CHECK_INTERVAL", default_value_t = 6 * 3600, hide = true)]
    pub acme_check_interval_secs: u64,
    /// With TLS on: a plain-HTTP listener (e.g. 0.0.0.0:80) that redirects everything to https,
    /// answers the ACME HTTP-01 challenges and, in LAN mode, gives out the CA certificate.
    #[arg(long, env = "MOSTRADOR_HTTP_REDIRECT_ADDR")]
    pub http_redirect_addr: Option<SocketAddr>,
    /// Seconds between checks of the certificate files for a change.
    #[arg(long, env = "MOSTRADOR_TLS_RELOAD_INTERVAL", default_value_t = 5, hide = true)]
    pub tls_reload_interval_secs: u64,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.tls_cert.is_some() || !self.acme_domains.is_empty() || self.tls_lan
    }
}

defaults_of!(HaConfig, FailoverConfig, AlertConfig, TlsConfig, OpsConfig);

/// Who may read the operational endpoints, which peers may speak for a client, how long a stop
/// waits (issue #12).
#[derive(Debug, Clone, Args)]
pub struct OpsConfig {
    /// When set, `GET /metrics` needs `Authorization: Bearer <token>` (401 otherwise).
    #[arg(long, env = "MOSTRADOR_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Reverse proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For / Forwarded name the
    /// client; from any other peer those headers are ignored.
    #[arg(long, env = "MOSTRADOR_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Seconds a stop (SIGTERM, Ctrl-C) waits for requests in flight before the server exits anyway.
    #[arg(long, env = "MOSTRADOR_SHUTDOWN_TIMEOUT", default_value_t = 20)]
    pub shutdown_timeout_secs: u64,
    /// Most client addresses, and most usernames, the login limiter remembers at once; past it,
    /// new ones share one budget until idle ones are forgotten.
    #[arg(long, env = "MOSTRADOR_LOGIN_LIMITER_KEYS", default_value_t = 10_000)]
    pub login_limiter_keys: usize,
}

impl OpsConfig {
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }
}

/// `10.0.0.1` or `10.0.0.0/8` (a bare address is a /32 or /128).
fn parse_net(raw: &str) -> Result<ipnet::IpNet, String> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{raw:?} is not an IP address or CIDR"))
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is asked for on a terminal, or read from stdin's first line.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, default_value = "cashier")]
        role: String,
        #[command(flatten)]
        db: DatabaseConfig,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// Directory for the SQLite database, logs and (later) backups.
    #[arg(long, env = "MOSTRADOR_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; unset means SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    #[arg(long, env = "MOSTRADOR_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub db: DatabaseConfig,
    #[command(flatten)]
    pub backup: BackupConfig,
    /// The URL users reach the app at (behind a TLS proxy: https://…). Decides the cookie's Secure flag
    /// and is an accepted Origin for writes besides the request's own host.
    #[arg(long, env = "MOSTRADOR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Password for the `admin` user created at start-up when no user exists yet.
    #[arg(long, env = "MOSTRADOR_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Where the built site (pkg/, icons) is; cargo-leptos builds it into target/site.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
    /// Largest request body accepted, in bytes (413 above it).
    #[arg(long, env = "MOSTRADOR_BODY_LIMIT", default_value_t = 1024 * 1024)]
    pub body_limit: usize,
    /// Seconds a request may take before it is answered 503 `timeout`.
    #[arg(long, env = "MOSTRADOR_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout_secs: u64,
    #[command(flatten)]
    pub ha: HaConfig,
    #[command(flatten)]
    pub failover: FailoverConfig,
    #[command(flatten)]
    pub alerts: AlertConfig,
    #[command(flatten)]
    pub tls: TlsConfig,
    #[command(flatten)]
    pub ops: OpsConfig,
    /// Let sales and movements take stock below zero (the count is fixed later) instead of refusing
    /// them with 409 insufficient_stock.
    #[arg(long, env = "MOSTRADOR_ALLOW_NEGATIVE_STOCK", default_value_t = false)]
    pub allow_negative_stock: bool,
    /// Days an Idempotency-Key and its stored response are kept (offline phones can be away for weeks).
    #[arg(long, env = "MOSTRADOR_IDEMPOTENCY_RETENTION_DAYS", default_value_t = 30)]
    pub idempotency_retention_days: u64,
    /// This server's name in the audit log (defaults to the host name).
    #[arg(long, env = "MOSTRADOR_NODE_NAME")]
    pub node_name: Option<String>,
    /// Write logs only to stderr, not to the daily file under the data dir.
    #[arg(long, env = "MOSTRADOR_NO_LOG_FILE", default_value_t = false)]
    pub no_log_file: bool,
    /// Test hook: mount `GET /api/test/panic`, a handler that panics. Never set in production.
    #[arg(long, env = "MOSTRADOR_TEST_ROUTES", default_value_t = false, hide = true)]
    pub test_routes: bool,
}

impl ServeConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
    pub fn idempotency_retention(&self) -> Duration {
        Duration::from_secs(self.idempotency_retention_days * 24 * 3600)
    }
    pub fn node(&self) -> String {
        self.node_name.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "mostrador".into())
        })
    }
    pub fn secure_cookies(&self) -> bool {
        self.tls.enabled() || self.https_public_url().is_some()
    }

    /// MOSTRADOR_PUBLIC_URL when it is an https address (a TLS proxy in front, or the shop's name).
    pub fn https_public_url(&self) -> Option<&str> {
        self.public_url.as_deref().filter(|u| u.starts_with("https://"))
    }
}
