//! Failing over, from the primary to the mirror: the healthy-check step that counts failures and
//! measures the lag, then, once the retries are spent, the guarded takeover (the lease, the lag
//! limits, fencing, disabling the mirror's subscriptions and moving its sequences, the recorded
//! decision) and the switch of the pool to the mirror.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::future::{BoxFuture, FutureExt};
use serde_json::json;
use sqlx::{postgres::PgConnection, AnyPool, Connection, Row};

use super::{probe::fence, Failover, Phase, LEASE_KEY};
use crate::{
    alerts::AlertKind,
    db::{now, Which},
    http::AppState,
};

pub(super) async fn check_primary(state: &AppState, f: &Arc<Failover>) {
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

pub(super) fn switch_to_mirror(state: &AppState, f: &Arc<Failover>, mark: i64, since: String) {
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
