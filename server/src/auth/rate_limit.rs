//! Login throttling per client address and per username (governor's GCRA, in process memory).
//! Several server processes each keep their own counters: an attacker gets at most N× the quota,
//! which still turns password guessing from millions per hour into a few hundred.

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{
    clock::{Clock, DefaultClock},
    DefaultKeyedRateLimiter, Quota,
};

pub struct LoginLimiter {
    per_client: DefaultKeyedRateLimiter<IpAddr>,
    per_username: DefaultKeyedRateLimiter<String>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        // 20 attempts per client then one every 3 s; 5 per username then one every 12 s.
        let per_client = Quota::per_minute(NonZeroU32::new(20).unwrap());
        let per_username = Quota::per_minute(NonZeroU32::new(5).unwrap());
        LoginLimiter {
            per_client: governor::RateLimiter::keyed(per_client),
            per_username: governor::RateLimiter::keyed(per_username),
        }
    }
}

impl LoginLimiter {
    /// Counts one attempt; `Err(wait)` when either budget is spent.
    pub fn check(&self, client: IpAddr, username: &str) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        self.per_client.check_key(&client).map_err(|n| n.wait_time_from(now))?;
        self.per_username
            .check_key(&username.trim().to_lowercase())
            .map_err(|n| n.wait_time_from(now))?;
        Ok(())
    }

    /// Forgets keys whose budget is full again, so the maps do not grow without bound.
    pub fn forget_idle(&self) {
        self.per_client.retain_recent();
        self.per_username.retain_recent();
    }
}
