//! The failover's own fresh connections to the databases (a pooled one could hide a dead network
//! path): whether a database answers at all, how many bytes of WAL the mirror is behind the
//! primary, and fencing the old primary read-only (or lifting the fence for a failback).

use futures::future::{BoxFuture, FutureExt};
use sqlx::{postgres::PgConnection, Connection};

use super::Failover;

impl Failover {
    /// A fresh connection to `url` answers `SELECT 1` within the timeout (a pooled connection could
    /// hide a dead network path, or hang on one).
    pub(super) fn reachable<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<PgConnection, String>> {
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
    pub(super) fn measure_lag<'a>(
        &'a self,
        primary: &'a mut PgConnection,
    ) -> BoxFuture<'a, Result<Option<i64>, String>> {
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

/// Makes the old primary read-only (`on`) or writable again (`off`).
pub(super) fn fence(f: &Failover, on: bool) -> BoxFuture<'_, Result<(), String>> {
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
