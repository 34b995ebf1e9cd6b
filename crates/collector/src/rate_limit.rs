//! Per-write-key rate limits.
//!
//! Contract: each write key has a token bucket of `rate` events per second with room for
//! `burst` events; [`RateLimits::admit`] takes `n` tokens for a request of `n` events or
//! refuses it whole (the caller answers 429 with `Retry-After`, and nothing of the
//! request is stored). A rate of 0 turns limiting off. Time is passed in, so tests
//! control it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of all keys.
#[derive(Debug)]
pub struct RateLimits {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<Vec<u8>, Bucket>>,
}

impl RateLimits {
    /// `rate` events/s per key (0: unlimited), bursts of up to `burst` events.
    pub fn new(rate: u64, burst: u64) -> RateLimits {
        RateLimits {
            rate: rate as f64,
            burst: burst.max(rate) as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` may send `n` events at `now`; takes the tokens if so.
    pub fn admit(&self, key: &[u8], n: u64, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let Ok(mut buckets) = self.buckets.lock() else { return true };
        let bucket = buckets.entry(key.to_vec()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= n as f64 {
            bucket.tokens -= n as f64;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_key_gets_its_burst_then_its_rate_and_keys_are_independent() {
        let limits = RateLimits::new(100, 200);
        let t0 = Instant::now();
        assert!(limits.admit(b"a", 200, t0));
        assert!(!limits.admit(b"a", 1, t0), "burst spent");
        assert!(limits.admit(b"b", 200, t0), "another key has its own bucket");
        assert!(
            !limits.admit(b"a", 60, t0 + Duration::from_millis(500)),
            "50 tokens back after 0.5 s"
        );
        assert!(limits.admit(b"a", 50, t0 + Duration::from_millis(500)));
        assert!(RateLimits::new(0, 0).admit(b"a", 1_000_000, t0), "0 means unlimited");
    }
}
