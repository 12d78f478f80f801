//! Operations that a device recorded offline and that reached the server long afterwards. The device says
//! when it recorded each queued operation (`queued_at` in a sync push); the push notes the ones that took
//! effect more than [`LATE_AFTER_MINUTES`] later, so the owner sees which figures changed after the fact.

use app::model::LateOperation;
use sqlx::{AnyConnection, Row};

use crate::db::now;

pub const LATE_AFTER_MINUTES: i64 = 5;

const STORED: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

fn parse(stamp: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).ok()
}

/// Minutes between the device's `queued_at` and now, when they make the operation late.
pub fn lateness(queued_at: &str, received: time::OffsetDateTime) -> Option<i64> {
    let queued = parse(queued_at)?;
    let minutes = (received - queued).whole_minutes();
    (minutes >= LATE_AFTER_MINUTES).then_some(minutes)
}

/// Notes a late operation (once per idempotency key; a replay changes nothing).
pub async fn note(
    conn: &mut AnyConnection,
    idempotency_key: &str,
    method: &str,
    path: &str,
    username: &str,
    queued_at: &str,
) -> Result<(), sqlx::Error> {
    let Some(minutes) = lateness(queued_at, time::OffsetDateTime::now_utc()) else {
        return Ok(());
    };
    // Stored in the server's own format (UTC, milliseconds) whatever offset the device wrote.
    let queued = parse(queued_at)
        .and_then(|q| q.to_offset(time::UtcOffset::UTC).format(STORED).ok())
        .unwrap_or_else(|| queued_at.to_owned());
    sqlx::query(
        "INSERT INTO late_operations (idempotency_key, method, path, username, queued_at, received_at, minutes_late) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(idempotency_key)
    .bind(method)
    .bind(path)
    .bind(username)
    .bind(queued)
    .bind(now())
    .bind(minutes)
    .execute(conn)
    .await?;
    Ok(())
}

/// The late operations received since `since`, newest first (at most 50).
pub async fn recent(conn: &mut AnyConnection, since: &str) -> Result<Vec<LateOperation>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT idempotency_key, method, path, username, queued_at, received_at, minutes_late FROM late_operations \
         WHERE received_at >= $1 ORDER BY received_at DESC LIMIT 50",
    )
    .bind(since)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(LateOperation {
                idempotency_key: row.try_get("idempotency_key")?,
                method: row.try_get("method")?,
                path: row.try_get("path")?,
                username: row.try_get("username")?,
                queued_at: row.try_get("queued_at")?,
                received_at: row.try_get("received_at")?,
                minutes_late: row.try_get("minutes_late")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_only_past_the_threshold() {
        let received = time::macros::datetime!(2026-11-23 10:00 UTC);
        assert_eq!(lateness("2026-11-23T09:58:00.000Z", received), None);
        assert_eq!(lateness("2026-11-23T09:55:00.000Z", received), Some(5));
        assert_eq!(lateness("2026-11-22T10:00:00.000Z", received), Some(1440));
        assert_eq!(lateness("not a date", received), None);
    }
}
