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

use std::{
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use app::model::FailoverStatus;
use futures::future::{BoxFuture, FutureExt};
use serde_json::json;
use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    postgres::PgConnection,
    AnyPool, Connection, Row,
};

use super::reconcile::{self, ReplayReport, Selection};
use crate::{
    alerts::AlertKind,
    config::FailoverConfig,
    db::{self, now, Db, Which},
    http::AppState,
};

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

    /// A fresh connection to `url` answers `SELECT 1` within the timeout (a pooled connection could
    /// hide a dead network path, or hang on one).
    fn reachable<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<PgConnection, String>> {
        async move {
            let attempt = async move {
                let mut conn = PgConnection::connect(url).await.map_err(|e| e.to_string())?;
                sqlx::query("SELECT 1").execute(&mut conn).await.map_err(|e| e.to_string())?;
                Ok::<_, String>(conn)
            };
            match tokio::time::timeout(self.config.timeout(), attempt).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} s", self.config.health_check_timeout)),
            }
        }
        .boxed()
    }

    /// Bytes of WAL the mirror's subscription is behind the primary (`None` without a subscription).
    fn measure_lag<'a>(&'a self, primary: &'a mut PgConnection) -> BoxFuture<'a, Result<Option<i64>, String>> {
        async move {
        let mut mirror = tokio::time::timeout(self.config.timeout(), PgConnection::connect(&self.mirror_url))
            .await
            .map_err(|_| "the mirror did not answer".to_owned())?
            .map_err(|e| e.to_string())?;
        let mirror_lsn: Option<String> = sqlx::query_scalar(
            "SELECT latest_end_lsn::text FROM pg_stat_subscription s JOIN pg_subscription p ON p.oid = s.subid \
             WHERE s.relid IS NULL AND p.subenabled AND p.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             ORDER BY latest_end_lsn DESC NULLS LAST LIMIT 1",
        )
        .fetch_optional(&mut mirror)
        .await
        .map_err(|e| e.to_string())?
        .flatten();
        let _ = mirror.close().await;
        let Some(lsn) = mirror_lsn else { return Ok(None) };
        let lag: i64 = sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint")
            .bind(lsn)
            .fetch_one(&mut *primary)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some(lag.max(0)))
        }
        .boxed()
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

async fn check_primary(state: &AppState, f: &Arc<Failover>) {
    match f.reachable(&f.primary_url).await {
        Ok(mut conn) => {
            let lag = f.measure_lag(&mut conn).await;
            let _ = conn.close().await;
            let mut inner = f.inner.lock().expect("not poisoned");
            inner.failed_checks = 0;
            match lag {
                Ok(Some(bytes)) => inner.last_lag = Some((bytes, Instant::now())),
                Ok(None) => {
                    inner.message = Some("the mirror has no active subscription: it is not a failover target".into())
                }
                Err(e) => inner.message = Some(format!("mirror lag unknown: {e}")),
            }
        }
        Err(e) => {
            let failed = {
                let mut inner = f.inner.lock().expect("not poisoned");
                inner.failed_checks += 1;
                inner.failed_checks
            };
            tracing::warn!(failed, error = %e, "primary database check failed");
            if failed < f.config.health_check_max_retries {
                return;
            }
            if failed == f.config.health_check_max_retries {
                let message = format!("The primary database is unreachable ({failed} checks failed): {e}");
                state.alerts.raise(AlertKind::DatabaseUnreachable, message, None).await;
            }
            if f.config.auto_failover_enabled {
                try_failover(state, f).await;
            }
        }
    }
}

/// Fails over if this instance gets the lease and the mirror is close enough; otherwise follows
/// the lease holder's recorded decision.
async fn try_failover(state: &AppState, f: &Arc<Failover>) {
    // 1. The lease.
    let mut lease = f.lease.lock().await;
    if lease.is_none() {
        match PgConnection::connect(&f.mirror_url).await {
            Ok(mut conn) => {
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(LEASE_KEY)
                    .fetch_one(&mut conn)
                    .await
                    .unwrap_or(false);
                if got {
                    *lease = Some(conn);
                } else {
                    drop(lease);
                    // Another instance decides: follow what it recorded.
                    if let Ok(Some(v)) = f.record().await {
                        if v["active"] == "mirror" {
                            switch_to_mirror(
                                state,
                                f,
                                v["audit_mark"].as_i64().unwrap_or(0),
                                v["at"].as_str().unwrap_or("").into(),
                            );
                        }
                    }
                    return;
                }
            }
            Err(e) => {
                f.set_message(format!("failover impossible: the mirror is unreachable too ({e})"));
                return;
            }
        }
    }
    // 2. Lag: refuse when the mirror was behind, or nobody knows how far.
    let lag = f.inner.lock().expect("not poisoned").last_lag;
    // The lag is measured while the primary answers, so at decision time the newest measurement is
    // at least `retries` checks old: never demand a fresher one than that.
    let checks = f.config.interval() * (f.config.health_check_max_retries + 2) + f.config.timeout();
    let max_age = Duration::from_secs(f.config.failover_max_lag_age_secs).max(checks);
    let refusal = match lag {
        None => Some("the mirror's lag was never measured (is its subscription running?)".to_owned()),
        Some((_, at)) if at.elapsed() > max_age => {
            Some(format!("the last lag measurement is {} s old", at.elapsed().as_secs()))
        }
        Some((bytes, _)) if bytes as u64 > f.config.failover_max_lag_bytes => {
            Some(format!("the mirror was {bytes} bytes of WAL behind (limit {})", f.config.failover_max_lag_bytes))
        }
        _ => None,
    };
    if let Some(why) = refusal {
        let first = f.inner.lock().expect("not poisoned").message.as_deref() != Some(why.as_str());
        f.set_message(why.clone());
        *lease = None; // do not keep the lease for a failover that did not happen
        if first {
            state
                .alerts
                .raise(AlertKind::FailoverRefused, format!("Failover to the mirror refused: {why}"), None)
                .await;
        }
        return;
    }
    // 3. Fence the old primary if it can be reached at all (it is unreachable from here, but maybe
    //    not from everywhere); otherwise it is fenced as soon as it answers again.
    let fenced = fence(f, true).await.is_ok();
    // 4. The mirror stops following the primary and becomes writable for us.
    let prepared = prepare_mirror(f.mirror_pool.clone());
    let (subs, mark) = match prepared.await {
        Ok(x) => x,
        Err(e) => {
            f.set_message(format!("failover aborted while preparing the mirror: {e}"));
            *lease = None;
            state
                .alerts
                .raise(AlertKind::FailoverRefused, format!("Failover aborted while preparing the mirror: {e}"), None)
                .await;
            return;
        }
    };
    let at = now();
    let decision = json!({"active": "mirror", "at": at, "audit_mark": mark, "by": state.node.to_string()});
    if let Err(e) = f.set_record(&decision).await {
        tracing::warn!(error = %e, "could not record the failover on the mirror");
    }
    switch_to_mirror(state, f, mark, at);
    f.inner.lock().expect("not poisoned").fenced = fenced;
    state.metrics.failovers.inc();
    let message = format!(
        "Failover: the primary database failed {} checks; now serving from the mirror (subscriptions disabled: {}; old primary {})",
        f.config.health_check_max_retries,
        subs.join(", "),
        if fenced { "fenced read-only" } else { "unreachable, to be fenced when it answers" }
    );
    state.alerts.raise(AlertKind::Failover, message, Some(json!({"audit_mark": mark}))).await;
}

fn prepare_mirror(pool: AnyPool) -> BoxFuture<'static, Result<(Vec<String>, i64), String>> {
    async move {
        let subs: Vec<String> = sqlx::query_scalar(
            "SELECT subname::text FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_all(&pool)
        .await
        .map_err(|e| e.to_string())?;
        for s in &subs {
            sqlx::raw_sql(&format!("ALTER SUBSCRIPTION \"{}\" DISABLE", s.replace('"', ""))).execute(&pool).await.map_err(|e| e.to_string())?;
        }
        // Logical replication copies rows, not sequences: move each past the rows it numbers.
        let serials: Vec<(String, String)> = sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = 'public' AND column_default LIKE 'nextval(%'",
        )
        .fetch_all(&pool)
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .map(|r| (r.get::<String, _>("t"), r.get::<String, _>("c")))
        .collect();
        for (t, c) in serials {
            sqlx::raw_sql(&format!(
                "SELECT setval(pg_get_serial_sequence('{t}', '{c}'), GREATEST((SELECT COALESCE(MAX({c}), 0) FROM {t}), 1))"
            ))
            .execute(&pool)
            .await
            .map_err(|e| e.to_string())?;
        }
        let mark: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM audit_log").fetch_one(&pool).await.map_err(|e| e.to_string())?;
        Ok((subs, mark))
    }
    .boxed()
}

fn switch_to_mirror(state: &AppState, f: &Arc<Failover>, mark: i64, since: String) {
    if state.db.which() != Which::Mirror {
        let old = state.db.swap(f.mirror_pool.clone(), Which::Mirror);
        // Connections stuck on the dead primary end with their requests' timeouts.
        tokio::spawn(async move { old.close().await });
    }
    let mut inner = f.inner.lock().expect("not poisoned");
    inner.phase = Phase::FailedOver;
    inner.audit_mark = mark;
    inner.since = Some(since);
    inner.healthy_checks = 0;
    inner.message = Some("serving from the mirror".into());
}

/// Makes the old primary read-only (`on`) or writable again (`off`).
fn fence(f: &Failover, on: bool) -> BoxFuture<'_, Result<(), String>> {
    async move {
        let mut conn = f.reachable(&f.primary_url).await?;
        let sql = if on {
            "ALTER SYSTEM SET default_transaction_read_only = on"
        } else {
            "ALTER SYSTEM RESET default_transaction_read_only"
        };
        sqlx::query(sql).execute(&mut conn).await.map_err(|e| e.to_string())?;
        sqlx::query("SELECT pg_reload_conf()").execute(&mut conn).await.map_err(|e| e.to_string())?;
        if on {
            // Sessions already inside a transaction finish it; new transactions everywhere are read-only.
            tracing::warn!("old primary database fenced: default_transaction_read_only = on");
        }
        let _ = conn.close().await;
        Ok(())
    }
    .boxed()
}

async fn check_while_failed_over(state: &AppState, f: &Arc<Failover>) {
    // Whoever holds the lease decides. An instance that restarted while failed over, or a follower
    // whose decider died, takes it over when it is free; a decision left half-done by a dead decider
    // (`failing_back`) is then taken back, so no instance keeps holding its requests for it.
    let record = f.record().await.ok().flatten();
    // The decider failed back already (and let the lease go): follow it, never take over — a new
    // decider would fence the primary everyone just went back to.
    let decided_back = record.as_ref().is_some_and(|r| r["active"] == "primary");
    if decided_back || !take_lease(f).await {
        follow(state, f).await;
        return;
    }
    if let Some(record) = record {
        if record["failing_back"] == true && !f.inner.lock().expect("not poisoned").failing_back {
            let mark = f.inner.lock().expect("not poisoned").audit_mark;
            let _ = f.set_record(&json!({"active": "mirror", "audit_mark": mark, "at": now()})).await;
        }
    }
    match f.reachable(&f.primary_url).await {
        Err(_) => {
            let mut inner = f.inner.lock().expect("not poisoned");
            inner.healthy_checks = 0;
        }
        Ok(conn) => {
            let _ = conn.close().await;
            let not_fenced = !f.inner.lock().expect("not poisoned").fenced;
            if not_fenced && fence(f, true).await.is_ok() {
                f.inner.lock().expect("not poisoned").fenced = true;
            }
            let healthy = {
                let mut inner = f.inner.lock().expect("not poisoned");
                inner.healthy_checks += 1;
                inner.healthy_checks
            };
            if healthy >= f.config.failback_healthy_checks {
                failback(state, f).await;
            }
        }
    }
}

/// Holds the lease, or takes it when it is free; true when this instance decides.
async fn take_lease(f: &Failover) -> bool {
    let mut lease = f.lease.lock().await;
    if lease.is_some() {
        return true;
    }
    let Ok(Ok(mut conn)) = tokio::time::timeout(f.config.timeout(), PgConnection::connect(&f.mirror_url)).await else {
        return false;
    };
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LEASE_KEY)
        .fetch_one(&mut conn)
        .await
        .unwrap_or(false);
    if got {
        tracing::warn!("took over the failover lease: this instance decides from now on");
        *lease = Some(conn);
    }
    got
}

/// An instance that did not decide follows the decider's record on the mirror: it holds requests
/// back while the decider replays (`failing_back`), and goes back to the primary after it. It only
/// ever opens a gate it held itself (a restore may hold the same gate).
async fn follow(state: &AppState, f: &Arc<Failover>) {
    let Ok(Some(record)) = f.record().await else { return };
    let gate = &state.backups.gate;
    let holding = f.inner.lock().expect("not poisoned").holding;
    if record["active"] == "primary" {
        // Open again only once the pool points at the primary: writes must not land on the mirror
        // after its writes were replayed.
        if switch_back(state, f).await && holding {
            f.inner.lock().expect("not poisoned").holding = false;
            gate.release();
        }
    } else if record["failing_back"] == true {
        if !holding {
            tracing::warn!("the decider is failing back: holding requests until it is done");
            f.inner.lock().expect("not poisoned").holding = true;
            gate.hold();
            // Requests already inside finish (they are bounded by the request timeout; the
            // decider replays once more after that long).
            gate.wait_idle(state.config.request_timeout()).await;
        }
    } else if holding {
        // The failback failed: the mirror goes on serving.
        f.inner.lock().expect("not poisoned").holding = false;
        gate.release();
    }
}

/// Replays the mirror's writes since the failover into the primary, then serves from the primary.
async fn failback(state: &AppState, f: &Arc<Failover>) {
    let mark = f.inner.lock().expect("not poisoned").audit_mark;
    // Other instances (followers) hold their requests once they read this; give them two checks.
    let announce = json!({"active": "mirror", "failing_back": true, "audit_mark": mark, "at": now()});
    if f.set_record(&announce).await.is_err() {
        f.set_message("failback postponed: the mirror did not take the announcement");
        return;
    }
    let announced = Instant::now();
    f.inner.lock().expect("not poisoned").failing_back = true;
    tokio::time::sleep(f.config.interval() * 2).await;
    let closed = match state.backups.gate.close().await {
        Ok(c) => c,
        Err(e) => {
            f.set_message(format!("failback postponed: {e}"));
            return;
        }
    };
    let result = async {
        fence(f, false).await.map_err(|e| format!("unfencing the primary: {e}"))?;
        // A new pool: the reload that unfenced it reaches new sessions at once.
        let options = AnyConnectOptions::from_str(&f.primary_url).map_err(|e| e.to_string())?;
        let primary =
            pool_options().connect_with(options).await.map_err(|e| format!("connecting to the primary: {e}"))?;
        let primary_db = state.db.with_pool(primary.clone(), Which::Primary);
        let mut replay_state = state.clone();
        replay_state.db = primary_db.clone();
        let router = crate::http::router(replay_state);
        let mut report = ReplayReport::new(format!("mirror database (audit id > {mark})"));
        let mut after = mark;
        // A follower's request admitted just before it saw the announcement may still commit to the
        // mirror; it is over within the request timeout. Replay until then, and once more after.
        let last_call = announced + f.config.interval() + state.config.request_timeout();
        loop {
            let ops = reconcile::load(&f.mirror, Selection::Every, after, 500)
                .await
                .map_err(|e| format!("reading the mirror's log: {e}"))?;
            for op in &ops {
                reconcile::replay_one(&router, &primary_db, op, &mut report)
                    .await
                    .map_err(|e| format!("replay stopped: {e}"))?;
            }
            match ops.last() {
                Some(last) => after = last.audit_id,
                None if Instant::now() >= last_call => break,
                None => tokio::time::sleep(f.config.interval().min(last_call - Instant::now())).await,
            }
        }
        report.finished_at = now();
        // Devices hold cursors the mirror's feed handed out; the primary's feed moves past them and
        // publishes the catalog again, as after a restore.
        let mirror_seq: i64 = sqlx::query_scalar("SELECT last_seq FROM sync_state WHERE id = 1")
            .fetch_one(&f.mirror_pool)
            .await
            .map_err(|e| format!("reading the mirror's feed: {e}"))?;
        crate::sync::feed::move_past(&primary, mirror_seq)
            .await
            .map_err(|e| format!("moving the primary's feed: {e}"))?;
        copy_sessions(&f.mirror_pool, &primary).await.map_err(|e| format!("copying sign-ins: {e}"))?;
        Ok::<_, String>((primary, report))
    }
    .await;
    match result {
        Ok((primary, report)) => {
            let old = state.db.swap(primary, Which::Primary);
            drop(old); // the mirror pool stays in `f` for the record below
            drop(closed);
            *f.lease.lock().await = None;
            {
                let mut inner = f.inner.lock().expect("not poisoned");
                inner.failing_back = false;
                inner.phase = Phase::NeedsResync;
                inner.failed_checks = 0;
                inner.healthy_checks = 0;
                inner.since = Some(now());
                inner.message =
                    Some("failed back; the mirror diverged and must be seeded again (mostrador mirror init)".into());
            }
            let record =
                json!({"active": "primary", "needs_resync": true, "at": now(), "replay": reconcile::summary(&report)});
            let _ = f.set_record(&record).await;
            let _ = super::node_state::put(&state.db, STATE_KEY, &record).await;
            state.metrics.failbacks.inc();
            let message = format!(
                "Failback: {} write(s) made on the mirror replayed into the primary ({} already there, {} refused); serving from the primary",
                report.applied,
                report.already_present,
                report.rejected.len()
            );
            state.alerts.raise(AlertKind::Failback, message, serde_json::to_value(&report).ok()).await;
        }
        Err(e) => {
            drop(closed);
            let record = json!({"active": "mirror", "audit_mark": mark, "at": now()});
            let _ = f.set_record(&record).await;
            // Keep serving from the mirror; fence the primary again so nothing else writes there.
            let _ = fence(f, true).await;
            {
                let mut inner = f.inner.lock().expect("not poisoned");
                inner.failing_back = false;
                inner.healthy_checks = 0;
                inner.message = Some(format!("failback failed, still on the mirror: {e}"));
            }
            state
                .alerts
                .raise(AlertKind::Failback, format!("Failback failed (still serving from the mirror): {e}"), None)
                .await;
        }
    }
}

/// Sign-ins made on the mirror are not operations (nothing replays them): copy them over, so that
/// nobody who signed in during the failover is signed out by the failback.
fn copy_sessions<'a>(mirror: &'a AnyPool, primary: &'a AnyPool) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
    async move {
        let rows = sqlx::query("SELECT id, data, expires_at FROM sessions").fetch_all(mirror).await?;
        let mut copied = 0;
        for r in &rows {
            let (id, data, expires): (String, String, i64) =
                (r.try_get("id")?, r.try_get("data")?, r.try_get("expires_at")?);
            copied += sqlx::query(
                "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at",
            )
            .bind(id)
            .bind(data)
            .bind(expires)
            .execute(primary)
            .await?
            .rows_affected();
        }
        Ok(copied)
    }
    .boxed()
}

/// A follower going back to the primary after the decider failed back; true once it serves from it.
async fn switch_back(state: &AppState, f: &Arc<Failover>) -> bool {
    if state.db.which() == Which::Primary {
        return true;
    }
    let Ok(options) = AnyConnectOptions::from_str(&f.primary_url) else { return false };
    match pool_options().connect_with(options).await {
        Ok(primary) => {
            state.db.swap(primary, Which::Primary);
            let mut inner = f.inner.lock().expect("not poisoned");
            inner.phase = Phase::NeedsResync;
            inner.message = Some("followed the failback to the primary".into());
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot reach the primary to follow the failback yet");
            false
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
