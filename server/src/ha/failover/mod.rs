//! Database failover with PostgreSQL: `DATABASE_URL` (the primary) plus `MIRROR_DATABASE_URL` (a
//! database that subscribes to the primary's publication; `mostrador mirror init` sets it up).
//!
//! Every `HEALTH_CHECK_INTERVAL` seconds a fresh connection to the primary must answer `SELECT 1`
//! within `HEALTH_CHECK_TIMEOUT`. After `HEALTH_CHECK_MAX_RETRIES` failures in a row, with
//! `AUTO_FAILOVER_ENABLED`, the server fails over — guarded against the known failure modes:
//! - one decider: the instance holding a PostgreSQL advisory lock on the mirror (the lease) decides;
//!   the others follow the decision it records in the mirror's `node_state`;
//! - lag: the mirror's lag is measured at every healthy check; a failover is refused (and alerted)
//!   when the last measurement is over `FAILOVER_MAX_LAG_BYTES` or older than `FAILOVER_MAX_LAG_AGE`;
//! - fencing: the old primary is made read-only (`default_transaction_read_only`) whenever it can
//!   be reached while the mirror serves, and the pool refuses connections to read-only nodes;
//! - the mirror stops applying the primary's changes (its subscription is disabled) and its
//!   sequences are moved past the replicated rows before it takes writes;
//! - no flapping: failing back needs `FAILBACK_HEALTHY_CHECKS` healthy checks in a row.
//!
//! Failing back replays every write made on the mirror since the failover into the primary through
//! the same operation replay as reconciliation (requests held back by the gate meanwhile), then
//! switches the pool back. The mirror has diverged by then: it is marked `needs_resync` and is no
//! failover target until `mostrador mirror init` seeds it again.
//!
//! This file holds the state every step shares and the loop that runs one step per phase. Beside
//! it: `probe` (fresh connections of the failover's own: is a database there, how far the mirror
//! lags, fencing the old primary), `takeover` (from the primary to the mirror), `failed_over`
//! (while the mirror serves: who decides, and how the others follow) and `failback` (the replay
//! back into the primary).

mod failback;
mod failed_over;
mod probe;
mod takeover;

use std::{
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::model::FailoverStatus;
use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    postgres::PgConnection,
    AnyPool,
};

use crate::{
    config::FailoverConfig,
    db::{self, Db, Which},
    http::AppState,
};
use failed_over::check_while_failed_over;
use takeover::{check_primary, switch_to_mirror};

/// The advisory lock key of the failover lease ("MOSTRADR" in ASCII).
const LEASE_KEY: i64 = 0x4d4f_5354_5241_4452;
pub const STATE_KEY: &str = "failover";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Normal,
    FailedOver,
    /// Failed back; the mirror holds writes of its own and must be seeded again.
    NeedsResync,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Normal => "normal",
            Phase::FailedOver => "failed_over",
            Phase::NeedsResync => "needs_resync",
        }
    }
}

struct Inner {
    phase: Phase,
    failed_checks: u32,
    healthy_checks: u32,
    /// Bytes of WAL the mirror was behind, and when that was measured.
    last_lag: Option<(i64, Instant)>,
    since: Option<String>,
    message: Option<String>,
    /// The mirror's highest audit id when it took over: later entries are the writes to replay.
    audit_mark: i64,
    fenced: bool,
    /// This instance (the decider) is failing back.
    failing_back: bool,
    /// This instance (a follower) holds its requests for the decider's failback.
    holding: bool,
}

pub struct Failover {
    pub config: FailoverConfig,
    primary_url: String,
    mirror_url: String,
    mirror_pool: AnyPool,
    /// The mirror as a `Db` (the same pool), for its node_state record and its audit log.
    mirror: Db,
    inner: Mutex<Inner>,
    /// Held while this instance is the one that decided a failover.
    lease: tokio::sync::Mutex<Option<PgConnection>>,
}

fn pool_options() -> AnyPoolOptions {
    AnyPoolOptions::new()
        .acquire_timeout(Duration::from_secs(5))
        .max_connections(16)
        .after_connect(|conn, _| Box::pin(async move { db::reject_read_only(conn).await }))
}

impl Failover {
    /// `None` unless the database is PostgreSQL and a mirror is configured.
    pub async fn new(config: FailoverConfig, db: &Db, primary_url: Option<&str>) -> Option<Arc<Failover>> {
        let mirror_url = config.mirror_database_url.clone()?;
        let primary_url = primary_url?.to_owned();
        if db.engine != db::Engine::Postgres {
            tracing::warn!("MIRROR_DATABASE_URL is set but the database is SQLite: no database failover");
            return None;
        }
        let options = AnyConnectOptions::from_str(&mirror_url).ok()?;
        let mirror_pool = pool_options().connect_lazy_with(options);
        let failover = Arc::new(Failover {
            config,
            primary_url,
            mirror_url,
            mirror: db.with_pool(mirror_pool.clone(), Which::Mirror),
            mirror_pool,
            inner: Mutex::new(Inner {
                phase: Phase::Normal,
                failed_checks: 0,
                healthy_checks: 0,
                last_lag: None,
                since: None,
                message: None,
                audit_mark: 0,
                fenced: false,
                failing_back: false,
                holding: false,
            }),
            lease: tokio::sync::Mutex::new(None),
        });
        Some(failover)
    }

    pub fn status(&self) -> FailoverStatus {
        let inner = self.inner.lock().expect("not poisoned");
        FailoverStatus {
            auto_failover_enabled: self.config.auto_failover_enabled,
            state: inner.phase.as_str().into(),
            failed_checks: inner.failed_checks,
            last_lag_bytes: inner.last_lag.map(|(b, _)| b),
            since: inner.since.clone(),
            message: inner.message.clone(),
        }
    }

    /// The decision record every instance reads on the mirror (`node_state` key `failover`).
    async fn record(&self) -> Result<Option<serde_json::Value>, sqlx::Error> {
        super::node_state::get(&self.mirror, STATE_KEY).await
    }

    async fn set_record(&self, record: &serde_json::Value) -> Result<(), sqlx::Error> {
        super::node_state::put(&self.mirror, STATE_KEY, record).await
    }

    pub fn phase(&self) -> Phase {
        self.inner.lock().expect("not poisoned").phase
    }

    fn set_message(&self, message: impl Into<String>) {
        self.inner.lock().expect("not poisoned").message = Some(message.into());
    }
}

/// Runs forever (spawned by `serve` when a mirror is configured).
pub async fn run(state: AppState, failover: Arc<Failover>) {
    // Boxed as `dyn Send` one by one: sqlx's executor lifetimes otherwise defeat the compiler's
    // proof that the whole loop is Send.
    type Step<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;
    let first: Step<'_> = Box::pin(restore_decision(&state, &failover));
    first.await;
    let mut tick = tokio::time::interval(failover.config.interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let step: Step<'_> = match failover.phase() {
            Phase::Normal => Box::pin(check_primary(&state, &failover)),
            Phase::FailedOver => Box::pin(check_while_failed_over(&state, &failover)),
            Phase::NeedsResync => Box::pin(async {}),
        };
        step.await;
    }
}

/// At start-up: if the mirror records that it took over (this instance restarted meanwhile, or
/// another instance decided), serve from it.
async fn restore_decision(state: &AppState, f: &Arc<Failover>) {
    if let Ok(Some(v)) = f.record().await {
        if v["active"] == "mirror" {
            let mark = v["audit_mark"].as_i64().unwrap_or(0);
            switch_to_mirror(state, f, mark, v["at"].as_str().unwrap_or("").to_owned());
            tracing::warn!("the mirror database took over earlier: serving from it");
        }
    }
}

/// At start-up, when the primary database cannot be reached: if the mirror records that it took
/// over (this server restarted while failed over), serve from the mirror; otherwise `None`.
pub async fn connect_after_failover(config: &crate::config::ServeConfig) -> Option<Db> {
    let mirror_url = config.failover.mirror_database_url.clone()?;
    let mirror = crate::config::DatabaseConfig { data_dir: config.db.data_dir.clone(), database_url: Some(mirror_url) };
    let db = Db::connect(&mirror).await.ok()?;
    let record = super::node_state::get(&db, STATE_KEY).await.ok()??;
    (record["active"] == "mirror").then(|| db.with_pool(db.pool(), Which::Mirror))
}
