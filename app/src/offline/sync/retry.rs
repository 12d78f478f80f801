//! How each answer moves the connection status, and when to try again after a failure: exponential
//! backoff with jitter, and a Background Sync request where the browser has it.

use leptos::prelude::*;

#[cfg(feature = "hydrate")]
use super::kick;
use super::{browser_online, Connection, SyncState};
use crate::api::ApiError;

pub(super) fn note_failure(state: SyncState, e: &ApiError) {
    if e.is_unauthorized() {
        state.unauthorized.set(true);
        return;
    }
    state.connection.set(if browser_online() { Connection::Unreachable } else { Connection::Offline });
    state.failures.update(|n| *n = (*n + 1).min(20));
    schedule_retry(state);
    // Where the browser has Background Sync, it also wakes us when the connection is back.
    if state.items.with_untracked(|v| v.iter().any(|i| i.is_open())) {
        crate::offline::service_worker::request_background_sync();
    }
}

pub(super) fn note_success(state: SyncState) {
    // An answer that set out before the browser went offline says nothing about now: the browser's
    // own word (and its `offline` event, already handled) wins.
    state.connection.set(if browser_online() { Connection::Online } else { Connection::Offline });
    state.failures.set(0);
}

/// The next attempt after a failure: 2 s × 2ⁿ, at most 5 minutes, ±50 % jitter so that many devices
/// coming back at once do not all hit the server in the same second.
pub fn backoff_ms(failures: u32, random: f64) -> f64 {
    let base = 2_000.0 * 2f64.powi(failures.saturating_sub(1).min(8) as i32);
    base.min(300_000.0) * (0.5 + random)
}

pub(super) fn schedule_retry(state: SyncState) {
    #[cfg(feature = "hydrate")]
    {
        let gen = state.timer_gen.get_untracked() + 1;
        state.timer_gen.set(gen);
        let delay = backoff_ms(state.failures.get_untracked(), js_sys::Math::random());
        set_timeout(
            move || {
                if state.timer_gen.get_untracked() == gen {
                    kick(state);
                }
            },
            std::time::Duration::from_millis(delay as u64),
        );
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = state;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_five_minutes_with_jitter() {
        assert_eq!(backoff_ms(1, 0.5), 2_000.0);
        assert_eq!(backoff_ms(2, 0.5), 4_000.0);
        assert_eq!(backoff_ms(20, 0.5), 300_000.0);
        assert_eq!(backoff_ms(1, 0.0), 1_000.0);
        assert!(backoff_ms(3, 0.999) < 8_000.0 * 1.5);
    }
}
