//! Logs through tracing: to stderr, and to a daily-rotated file under the data dir.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter};

/// Installs the global subscriber. Keep the guard alive: dropping it flushes and stops file logging.
pub fn init(log_dir: Option<&Path>) -> Option<WorkerGuard> {
    let filter =
        EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,sqlx=warn"));
    let stderr = fmt::layer().with_writer(std::io::stderr);
    let (file, guard) = match log_dir {
        Some(dir) => match std::fs::create_dir_all(dir) {
            Ok(()) => {
                let appender = tracing_appender::rolling::daily(dir, "mostrador.log");
                let (writer, guard) = tracing_appender::non_blocking(appender);
                (Some(fmt::layer().with_ansi(false).with_writer(writer)), Some(guard))
            }
            Err(e) => {
                eprintln!("cannot create log directory {}: {e}; logging to stderr only", dir.display());
                (None, None)
            }
        },
        None => (None, None),
    };
    // try_init: tests start several apps in one process; only the first installs the subscriber.
    let _ = tracing_subscriber::registry().with(filter).with(stderr).with(file).try_init();
    guard
}
