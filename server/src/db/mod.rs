//! One pool for both engines. sqlx's `Any` driver lets every query exist once: SQL is written in the
//! common subset of SQLite and PostgreSQL (`$1` placeholders, TEXT ids and timestamps, BIGINT, BOOLEAN).

use std::{path::Path, str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
    AnyPool, Connection, Executor,
};

use crate::config::DatabaseConfig;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// Which database the pool points at: the configured one, or (PostgreSQL, after a failover) the mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Primary,
    Mirror,
}

impl Which {
    pub fn as_str(self) -> &'static str {
        match self {
            Which::Primary => "primary",
            Which::Mirror => "mirror",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Db {
    /// Swapped as a whole by a database failover (ha::failover); every query takes the current one.
    active: Arc<std::sync::RwLock<(AnyPool, Which)>>,
    pub engine: Engine,
    /// SQLite has one writer at a time; queueing writers here, before they take a pooled connection,
    /// keeps waiting writers from holding every connection. SQLite's own lock still decides.
    pub sqlite_writers: Arc<tokio::sync::Semaphore>,
}

#[derive(Debug, thiserror::Error)]
pub enum DbInitError {
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("DATABASE_URL must start with postgres:// or postgresql://")]
    UnsupportedUrl,
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Connects (SQLite under `data_dir` unless `database_url` says PostgreSQL) and runs the migrations.
    pub async fn connect(config: &DatabaseConfig) -> Result<Db, DbInitError> {
        sqlx::any::install_default_drivers();
        let (url, engine) = match &config.database_url {
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                (url.clone(), Engine::Postgres)
            }
            Some(_) => return Err(DbInitError::UnsupportedUrl),
            None => {
                std::fs::create_dir_all(&config.data_dir)
                    .map_err(|e| DbInitError::DataDir(config.data_dir.display().to_string(), e))?;
                (sqlite_url(&sqlite_file(&config.data_dir)), Engine::Sqlite)
            }
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let mut pool_options =
            AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5)).max_connections(match engine {
                Engine::Sqlite => 8,
                Engine::Postgres => 16,
            });
        if engine == Engine::Sqlite {
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers go on while one writer writes; busy_timeout makes a writer wait
                    // for the lock instead of failing at once; foreign keys are off by default in SQLite.
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                    )
                    .await?;
                    Ok(())
                })
            });
        }
        if engine == Engine::Postgres {
            // A fenced (read-only) primary or a standby PostgreSQL must not take this server's writes.
            // One probe first, so that starting on one says why (the pool would only time out).
            let mut probe = tokio::time::timeout(Duration::from_secs(5), sqlx::AnyConnection::connect_with(&options))
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)??;
            reject_read_only(&mut probe).await?;
            let _ = probe.close().await;
            pool_options =
                pool_options.after_connect(|conn, _meta| Box::pin(async move { reject_read_only(conn).await }));
        }
        let pool = pool_options.connect_with(options).await?;
        let db = Db::from_pool(pool, engine);
        db.migrate().await?;
        Ok(db)
    }

    pub fn from_pool(pool: AnyPool, engine: Engine) -> Db {
        Db {
            active: Arc::new(std::sync::RwLock::new((pool, Which::Primary))),
            engine,
            sqlite_writers: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// The pool in use now (cheap: a pool is a handle).
    pub fn pool(&self) -> AnyPool {
        self.active.read().expect("not poisoned").0.clone()
    }

    pub fn which(&self) -> Which {
        self.active.read().expect("not poisoned").1
    }

    /// Points every later query at `pool`; returns the previous one (the caller closes it).
    pub fn swap(&self, pool: AnyPool, which: Which) -> AnyPool {
        let mut active = self.active.write().expect("not poisoned");
        std::mem::replace(&mut *active, (pool, which)).0
    }

    /// The same database handle with another pool (a replay into the primary while the mirror serves).
    pub fn with_pool(&self, pool: AnyPool, which: Which) -> Db {
        Db {
            active: Arc::new(std::sync::RwLock::new((pool, which))),
            engine: self.engine,
            sqlite_writers: self.sqlite_writers.clone(),
        }
    }

    async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self.engine {
            Engine::Sqlite => SQLITE_MIGRATIONS.run(&self.pool()).await,
            Engine::Postgres => POSTGRES_MIGRATIONS.run(&self.pool()).await,
        }
    }

    /// `SELECT 1` within `timeout`: what /health asks.
    pub async fn ping(&self, timeout: Duration) -> bool {
        matches!(tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(&self.pool())).await, Ok(Ok(_)))
    }
}

/// Refuses a PostgreSQL connection whose server only allows reading (a fenced old primary, a hot
/// standby): the pool then fails fast instead of handing out a connection every write would fail on.
pub async fn reject_read_only(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    use sqlx::Row;
    let row = sqlx::query("SELECT current_setting('transaction_read_only') AS ro, pg_is_in_recovery()::text AS rec")
        .fetch_one(&mut *conn)
        .await?;
    let ro: String = row.try_get("ro")?;
    let rec: String = row.try_get("rec")?;
    if ro == "on" || rec == "true" {
        return Err(sqlx::Error::Protocol(
            "the database only allows reading (fenced or a standby): connection refused".into(),
        ));
    }
    Ok(())
}

/// The migrations this binary carries for `engine`.
pub fn migrator(engine: Engine) -> &'static Migrator {
    match engine {
        Engine::Sqlite => &SQLITE_MIGRATIONS,
        Engine::Postgres => &POSTGRES_MIGRATIONS,
    }
}

/// The newest migration version this binary knows: the schema version a backup is compared with.
pub fn code_schema_version(engine: Engine) -> i64 {
    migrator(engine).iter().map(|m| m.version).max().unwrap_or(0)
}

/// The SQLite database file under the data directory.
pub fn sqlite_file(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("mostrador.db")
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// `now + after`, in the stored format.
pub fn timestamp_after(after: std::time::Duration) -> String {
    format_timestamp(time::OffsetDateTime::now_utc() + after)
}

/// `now - before`, in the stored format.
pub fn timestamp_before(before: std::time::Duration) -> String {
    format_timestamp(time::OffsetDateTime::now_utc() - before)
}

fn format_timestamp(at: time::OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.to_offset(time::UtcOffset::UTC).format(&format).expect("UTC timestamps always format")
}

/// Now, as stored: RFC 3339 UTC with milliseconds (`2026-11-22T02:00:00.000Z`), sortable as text.
pub fn now() -> String {
    format_timestamp(time::OffsetDateTime::now_utc())
}

/// True when the error is a unique-constraint violation (both engines).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Reads a boolean column: BOOLEAN on PostgreSQL, INTEGER 0/1 on SQLite (sqlx's Any driver cannot
/// decode SQLite's BOOLEAN affinity).
pub fn get_bool(row: &sqlx::any::AnyRow, column: &str) -> Result<bool, sqlx::Error> {
    use sqlx::Row;
    row.try_get::<bool, _>(column).or_else(|_| row.try_get::<i64, _>(column).map(|v| v != 0))
}

/// Parses a UUID kept as TEXT (both engines store ids as text); a bad one is a decode error.
pub fn parse_uuid(text: &str) -> Result<uuid::Uuid, sqlx::Error> {
    uuid::Uuid::parse_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// Reads a UUID column (TEXT on both engines).
pub fn get_uuid(row: &sqlx::any::AnyRow, column: &str) -> Result<uuid::Uuid, sqlx::Error> {
    use sqlx::Row;
    parse_uuid(&row.try_get::<String, _>(column)?)
}

/// Reads a nullable UUID column.
pub fn get_opt_uuid(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<uuid::Uuid>, sqlx::Error> {
    use sqlx::Row;
    row.try_get::<Option<String>, _>(column)?.as_deref().map(parse_uuid).transpose()
}

/// Reads a TEXT column holding one of a closed set (a payment method, a stock reason); anything
/// else is a decode error.
pub fn get_choice<T: app::wire::ClosedSet>(row: &sqlx::any::AnyRow, column: &str) -> Result<T, sqlx::Error> {
    use sqlx::Row;
    let text: String = row.try_get(column)?;
    T::parse(&text).ok_or_else(|| sqlx::Error::Decode(format!("{column}: unknown value {text:?}").into()))
}

/// The row of `table` with this id, read with `from_row` from `columns` (None when there is none).
pub async fn load_by_id<T>(
    conn: &mut sqlx::AnyConnection,
    table: &'static str,
    columns: &'static str,
    id: uuid::Uuid,
    from_row: impl Fn(&sqlx::any::AnyRow) -> Result<T, sqlx::Error>,
) -> Result<Option<T>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {columns} FROM {table} WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}
