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
