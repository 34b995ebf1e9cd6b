//! Logging a failure that repeats without flooding the log.
//!
//! Contract: [`FailureStreak::failed`] counts a failure and answers `Some(n)` for the
//! failures worth a log line (the 1st, 2nd, 4th, 8th… of a streak), `None` for the
//! rest; [`FailureStreak::succeeded`] ends the streak and answers how many failures it
//! had (`Some(n)`, to log the recovery once) or `None` if there was none. A service that
//! is down (a broker, Redis, a partner) is therefore logged when it starts failing, ever
//! more rarely while it stays down, and when it is back; the metrics count every
//! failure. Shared by reference across threads; a success with no streak is one relaxed
//! load, so the hot path can call it on every request.

use std::sync::atomic::{AtomicU64, Ordering};

/// A count of consecutive failures (see the module contract).
#[derive(Debug, Default)]
pub struct FailureStreak {
    failures: AtomicU64,
}

impl FailureStreak {
    /// No failures yet.
    pub const fn new() -> FailureStreak {
        FailureStreak {
            failures: AtomicU64::new(0),
        }
    }

    /// Counts a failure: `Some(n)` (the failures so far) if this one should be logged.
    pub fn failed(&self) -> Option<u64> {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        n.is_power_of_two().then_some(n)
    }

    /// Ends the streak: `Some(n)` if it had `n` failures.
    pub fn succeeded(&self) -> Option<u64> {
        if self.failures.load(Ordering::Relaxed) == 0 {
            return None;
        }
        Some(self.failures.swap(0, Ordering::Relaxed)).filter(|n| *n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_is_logged_at_powers_of_two_and_its_end_once() {
        let streak = FailureStreak::new();
        assert_eq!(streak.succeeded(), None, "no streak, nothing to say");
        let logged: Vec<u64> = (0..10).filter_map(|_| streak.failed()).collect();
        assert_eq!(logged, vec![1, 2, 4, 8]);
        assert_eq!(streak.succeeded(), Some(10));
        assert_eq!(streak.succeeded(), None);
        assert_eq!(streak.failed(), Some(1), "a new streak starts over");
    }
}
