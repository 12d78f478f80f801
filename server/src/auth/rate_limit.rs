//! Login throttling per client address and per username (governor's GCRA, in process memory).
//! Several server processes each keep their own counters: an attacker gets at most N× the quota,
//! which still turns password guessing from millions per hour into a few hundred.
//!
//! The memory is bounded: each limiter remembers at most `cap` keys. When it is full, keys whose
//! budget is whole again are forgotten; if it is still full, a new key shares one overflow budget
//! with every other newcomer (keys already known keep their own). A flood of invented usernames
//! or addresses therefore costs a fixed amount of memory and throttles only the flood.

use std::{
    hash::Hash,
    net::{IpAddr, Ipv4Addr},
    num::NonZeroU32,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use governor::{
    clock::{Clock, DefaultClock},
    nanos::Nanos,
    state::{
        keyed::{DashMapStateStore, ShrinkableKeyedStateStore},
        StateStore,
    },
    Quota, RateLimiter,
};

/// The longest username the limiter (or anything else) ever sees; longer ones are refused before.
pub const MAX_USERNAME_BYTES: usize = 64;

/// governor's DashMap store with a cap on the number of keys.
pub struct BoundedStore<K: Hash + Eq + Clone> {
    map: DashMapStateStore<K>,
    cap: usize,
    /// The key every newcomer shares while the map is full.
    overflow: K,
}

impl<K: Hash + Eq + Clone> StateStore for BoundedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let key = if self.map.len() >= self.cap && !self.map.contains_key(key) { &self.overflow } else { key };
        self.map.measure_and_replace(key, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for BoundedStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        self.map.retain_recent(drop_below);
    }
    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&self.map);
    }
    fn len(&self) -> usize {
        self.map.len()
    }
    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

type Limiter<K> = RateLimiter<K, BoundedStore<K>, DefaultClock>;

fn limiter<K: Hash + Eq + Clone>(quota: Quota, cap: usize, overflow: K) -> Limiter<K> {
    let store = BoundedStore { map: DashMapStateStore::default(), cap: cap.max(1), overflow };
    RateLimiter::new(quota, store, DefaultClock::default())
}

pub struct LoginLimiter {
    per_client: Limiter<IpAddr>,
    per_username: Limiter<String>,
    cap: usize,
    started: Instant,
    /// Milliseconds after `started` of the last pruning forced by a full map (at most one a second).
    last_prune_ms: AtomicU64,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::with_capacity(10_000)
    }
}

impl LoginLimiter {
    /// 20 attempts per client then one every 3 s; 5 per username then one every 12 s; at most `cap`
    /// keys in each map.
    pub fn with_capacity(cap: usize) -> Self {
        let per_client = Quota::per_minute(NonZeroU32::new(20).unwrap());
        let per_username = Quota::per_minute(NonZeroU32::new(5).unwrap());
        LoginLimiter {
            // The unspecified address and the empty name are never real keys.
            per_client: limiter(per_client, cap, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            per_username: limiter(per_username, cap, String::new()),
            cap: cap.max(1),
            started: Instant::now(),
            last_prune_ms: AtomicU64::new(0),
        }
    }

    /// Counts one attempt; `Err(wait)` when either budget is spent. The login handler refuses
    /// usernames over MAX_USERNAME_BYTES first; the key is cut there anyway.
    pub fn check(&self, client: IpAddr, username: &str) -> Result<(), Duration> {
        self.prune_if_full();
        let now = DefaultClock::default().now();
        self.per_client.check_key(&client).map_err(|n| n.wait_time_from(now))?;
        let name: String = username.trim().chars().take(MAX_USERNAME_BYTES).flat_map(char::to_lowercase).collect();
        self.per_username.check_key(&name).map_err(|n| n.wait_time_from(now))?;
        Ok(())
    }

    /// Keys remembered: (client addresses, usernames).
    pub fn remembered(&self) -> (usize, usize) {
        (self.per_client.len(), self.per_username.len())
    }

    /// Forgets keys whose budget is full again, so the maps do not grow without bound.
    pub fn forget_idle(&self) {
        self.per_client.retain_recent();
        self.per_username.retain_recent();
        self.per_client.shrink_to_fit();
        self.per_username.shrink_to_fit();
    }

    /// A full map is pruned at once rather than at the next periodic pass, but at most once a second
    /// (a pass walks the whole map).
    fn prune_if_full(&self) {
        let (clients, usernames) = self.remembered();
        if clients < self.cap && usernames < self.cap {
            return;
        }
        let now_ms = self.started.elapsed().as_millis() as u64;
        let last = self.last_prune_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= 1000
            && self.last_prune_ms.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            self.per_client.retain_recent();
            self.per_username.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_new_keys_stays_under_the_cap() {
        let limiter = LoginLimiter::with_capacity(100);
        let known = IpAddr::from([10, 0, 0, 1]);
        assert!(limiter.check(known, "ana").is_ok());
        for i in 0..5_000u32 {
            let client = IpAddr::from(i.wrapping_add(0x0b00_0000).to_be_bytes());
            let _ = limiter.check(client, &format!("user{i}"));
        }
        let (clients, usernames) = limiter.remembered();
        // The cap plus the overflow key.
        assert!(clients <= 101 && usernames <= 101, "{clients} clients, {usernames} usernames");
        // The flood shares one budget: most of it was refused.
        assert!(limiter.check(IpAddr::from([11, 255, 0, 1]), "newcomer").is_err());
        // A key known before the flood keeps its own budget.
        assert!(limiter.check(known, "ana").is_ok());
    }

    #[test]
    fn budgets_are_per_client_and_per_username() {
        let limiter = LoginLimiter::with_capacity(100);
        let a = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..5 {
            assert!(limiter.check(a, "Ana").is_ok());
        }
        assert!(limiter.check(a, "ana ").is_err(), "names are case-folded and trimmed");
        assert!(limiter.check(a, "bea").is_ok());
    }
}
