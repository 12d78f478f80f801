//! While the mirror serves: the instance holding the lease decides (it fences the old primary when
//! it answers again and fails back after enough healthy checks); the others follow its record on
//! the mirror, holding their requests during its replay and going back to the primary after it.

use std::{str::FromStr, sync::Arc};

use serde_json::json;
use sqlx::{any::AnyConnectOptions, postgres::PgConnection, Connection};

use super::{failback::failback, pool_options, probe::fence, Failover, Phase, LEASE_KEY};
use crate::{
    db::{now, Which},
    http::AppState,
};

pub(super) async fn check_while_failed_over(state: &AppState, f: &Arc<Failover>) {
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
