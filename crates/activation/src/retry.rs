//! What a partner's answer means, and how long to wait before trying again.
//!
//! Contract: [`verdict_of_status`] maps an HTTP status the way RudderStack's router does:
//! 2xx delivered; 5xx (except 501 and 505), 408 and 429 retried (429's `Retry-After`
//! honoured); every other status rejected at once (dead letter, with the status). A
//! connection error or a timeout is retried. [`Attempts`] is one batch's retry budget:
//! it is spent only when *both* the attempts and the time window are used up (defaults
//! 3 and 180 minutes), so a short outage never dead-letters anything. [`backoff`] is
//! exponential from 100 ms, capped at 30 s, with ±50 % jitter derived from the batch, so
//! shards that failed together do not retry in lockstep.

use std::time::{Duration, Instant};

use crate::config::RetryBudget;

/// What to do with a batch after an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The partner has it.
    Delivered,
    /// Try again, not before `after` if the partner said so.
    Retry {
        /// Why (for the status's last error).
        reason: String,
        /// The partner's `Retry-After`.
        after: Option<Duration>,
    },
    /// The partner refused it for good.
    Reject(String),
}

/// The verdict of an HTTP status.
pub fn verdict_of_status(status: u16, retry_after: Option<Duration>, body: &str) -> Verdict {
    let excerpt: String = body.chars().take(200).collect();
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 => Verdict::Retry {
            reason: format!("HTTP {status}"),
            after: retry_after,
        },
        501 | 505 => Verdict::Reject(format!("HTTP {status}: {excerpt}")),
        500..=599 => Verdict::Retry {
            reason: format!("HTTP {status}: {excerpt}"),
            after: retry_after,
        },
        _ => Verdict::Reject(format!("HTTP {status}: {excerpt}")),
    }
}

/// A `Retry-After` header: delay-seconds (an HTTP date is not used by partners here).
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    value.and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)
}

/// The attempts made on one batch.
#[derive(Clone, Copy, Debug)]
pub struct Attempts {
    /// How many so far.
    pub made: u32,
    /// When the first was made.
    pub first: Instant,
}

impl Attempts {
    /// None made yet; the window starts now.
    pub fn start(now: Instant) -> Attempts {
        Attempts { made: 0, first: now }
    }

    /// Whether the budget is spent at `now`.
    pub fn spent(&self, budget: RetryBudget, now: Instant) -> bool {
        self.made >= budget.attempts && now.saturating_duration_since(self.first) >= budget.window
    }
}

/// The wait before attempt `made + 1` (see the module contract); `seed` varies the jitter.
pub fn backoff(made: u32, seed: u64) -> Duration {
    let base_ms = 100u64.saturating_mul(1u64 << made.saturating_sub(1).min(20)).min(30_000);
    // A multiplicative hash of the seed and the attempt spreads the jitter over [0.5, 1.5).
    let mix = (seed ^ u64::from(made)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    let factor = 0.5 + (mix as f64) / ((1u64 << 53) as f64);
    Duration::from_millis((base_ms as f64 * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_like_the_router_of_rudderstack() {
        assert_eq!(verdict_of_status(204, None, ""), Verdict::Delivered);
        for status in [500, 502, 503, 504, 408, 429] {
            assert!(matches!(verdict_of_status(status, None, ""), Verdict::Retry { .. }), "{status}");
        }
        for status in [400, 401, 403, 404, 422, 501, 505, 302] {
            assert!(matches!(verdict_of_status(status, None, "no"), Verdict::Reject(_)), "{status}");
        }
        let after = Some(Duration::from_secs(7));
        assert_eq!(
            verdict_of_status(429, after, ""),
            Verdict::Retry {
                reason: "HTTP 429".into(),
                after
            }
        );
        assert_eq!(parse_retry_after(Some(" 7 ")), after);
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }

    #[test]
    fn the_budget_needs_both_attempts_and_time_spent() {
        let budget = RetryBudget {
            attempts: 3,
            window: Duration::from_secs(60),
        };
        let t0 = Instant::now();
        let mut attempts = Attempts::start(t0);
        attempts.made = 10;
        assert!(!attempts.spent(budget, t0 + Duration::from_secs(59)), "many attempts, short time");
        attempts.made = 2;
        assert!(!attempts.spent(budget, t0 + Duration::from_secs(600)), "long time, few attempts");
        attempts.made = 3;
        assert!(attempts.spent(budget, t0 + Duration::from_secs(60)));
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        assert!(backoff(1, 7) >= Duration::from_millis(50) && backoff(1, 7) < Duration::from_millis(150));
        assert!(backoff(4, 7) >= Duration::from_millis(400) && backoff(4, 7) < Duration::from_millis(1_200));
        assert!(backoff(40, 7) < Duration::from_millis(45_000));
        assert_ne!(backoff(3, 1), backoff(3, 2), "different batches wait different times");
    }
}
