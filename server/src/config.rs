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
    /// Node role: `primary` or `standby` (reported by /health; the standby behaviour comes with HA).
    #[arg(long, env = "MOSTRADOR_ROLE", default_value = "primary")]
    pub role: String,
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
        self.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }
}
