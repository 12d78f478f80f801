//! Failing back, from the mirror to the primary: announce it to the followers, close the gate,
//! unfence the primary, replay every write the mirror took since the failover into it, move its
//! sync feed past the mirror's, copy the sign-ins, then serve from the primary and mark the mirror
//! `needs_resync`. A failure leaves the mirror serving and the primary fenced again.

use std::{str::FromStr, sync::Arc, time::Instant};

use futures::future::{BoxFuture, FutureExt};
use serde_json::json;
use sqlx::{any::AnyConnectOptions, AnyPool, Row};

use super::{pool_options, probe::fence, Failover, Phase, STATE_KEY};
use crate::{
    alerts::AlertKind,
    db::{now, Which},
    ha::reconcile::{self, ReplayReport, Selection},
    http::AppState,
};

/// Replays the mirror's writes since the failover into the primary, then serves from the primary.
pub(super) async fn failback(state: &AppState, f: &Arc<Failover>) {
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
        crate::changelog::move_past(&primary, mirror_seq)
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
            let _ = crate::ha::node_state::put(&state.db, STATE_KEY, &record).await;
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
