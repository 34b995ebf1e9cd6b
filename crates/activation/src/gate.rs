//! One partner's gate: its rate limit, its `Retry-After` pauses and its circuit
//! breaker, shared by the partner's workers and by no other partner.
//!
//! Contract: [`Gate::wait_time`] says how long a worker must wait before its next
//! request at `now` (zero: go, and a token is taken). Requests are paced by a token
//! bucket of `rate` per second (bursts of one second's worth; rate 0 is unlimited). A
//! `Retry-After` pauses every worker of the partner until it has passed. After
//! [`BREAKER_THRESHOLD`] failures in a row the breaker opens: requests wait for a
//! cool-down (1 s, doubling to 30 s), then one probe goes through (half-open); a success
//! closes it. A partner that has failed without a success for `disable_after` is
//! *disabled*: it is reported, probed once a minute, and re-enabled by the first probe
//! that succeeds; its changes keep queueing meanwhile. Time is passed in, so tests
//! control it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures in a row that open the breaker.
pub const BREAKER_THRESHOLD: u32 = 5;
/// How often a disabled partner is probed.
const DISABLED_PROBE_EVERY: Duration = Duration::from_secs(60);
/// The longest cool-down of an open breaker.
const MAX_COOL_DOWN: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct State {
    tokens: f64,
    refilled_at: Instant,
    paused_until: Option<Instant>,
    failures_in_a_row: u32,
    failing_since: Option<Instant>,
    open_until: Option<Instant>,
    probing: bool,
    disabled: bool,
}

/// The gate of one partner (see the module contract).
#[derive(Debug)]
pub struct Gate {
    rate: f64,
    disable_after: Duration,
    state: Mutex<State>,
}

/// What the gate reports about its partner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateStatus {
    /// The breaker is open (or half-open).
    pub open: bool,
    /// The partner is disabled.
    pub disabled: bool,
}

impl Gate {
    /// A gate for `rate` requests per second (0: unlimited).
    pub fn new(rate: f64, disable_after: Duration, now: Instant) -> Gate {
        Gate {
            rate,
            disable_after,
            state: Mutex::new(State {
                tokens: rate.max(1.0),
                refilled_at: now,
                paused_until: None,
                failures_in_a_row: 0,
                failing_since: None,
                open_until: None,
                probing: false,
                disabled: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A worker that panicked holding the lock left plain numbers behind: still usable.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How long to wait before the next request; zero means go (a token is taken).
    pub fn wait_time(&self, now: Instant) -> Duration {
        let mut s = self.lock();
        if let Some(until) = s.paused_until.filter(|u| *u > now) {
            return until - now;
        }
        if let Some(until) = s.open_until {
            if until > now {
                return until - now;
            }
            if s.probing {
                // One probe is in flight; the others wait for its outcome.
                return Duration::from_millis(50);
            }
            s.probing = true;
        }
        if self.rate > 0.0 {
            let refill = now.saturating_duration_since(s.refilled_at).as_secs_f64() * self.rate;
            s.tokens = (s.tokens + refill).min(self.rate.max(1.0));
            s.refilled_at = now;
            if s.tokens < 1.0 {
                return Duration::from_secs_f64((1.0 - s.tokens) / self.rate);
            }
            s.tokens -= 1.0;
        }
        Duration::ZERO
    }

    /// Records a success.
    pub fn succeeded(&self) {
        let mut s = self.lock();
        s.failures_in_a_row = 0;
        s.failing_since = None;
        s.open_until = None;
        s.probing = false;
        s.disabled = false;
    }

    /// Records a failure (a retryable one) at `now`, with the partner's `Retry-After`.
    pub fn failed(&self, now: Instant, retry_after: Option<Duration>) {
        let mut s = self.lock();
        if let Some(after) = retry_after {
            s.paused_until = Some(now + after);
        }
        s.failures_in_a_row += 1;
        let since = *s.failing_since.get_or_insert(now);
        s.probing = false;
        if now.saturating_duration_since(since) >= self.disable_after {
            s.disabled = true;
        }
        if s.failures_in_a_row >= BREAKER_THRESHOLD {
            let cool_down = if s.disabled {
                DISABLED_PROBE_EVERY
            } else {
                let doublings = (s.failures_in_a_row - BREAKER_THRESHOLD).min(5);
                (Duration::from_secs(1) * (1 << doublings)).min(MAX_COOL_DOWN)
            };
            s.open_until = Some(now + cool_down);
        }
    }

    /// The breaker's and the partner's state.
    pub fn status(&self) -> GateStatus {
        let s = self.lock();
        GateStatus {
            open: s.open_until.is_some(),
            disabled: s.disabled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(3600);

    #[test]
    fn requests_are_paced_by_the_rate() {
        let t0 = Instant::now();
        let gate = Gate::new(10.0, LONG, t0);
        for _ in 0..10 {
            assert_eq!(gate.wait_time(t0), Duration::ZERO, "a second's burst");
        }
        let wait = gate.wait_time(t0);
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100), "{wait:?}");
        assert_eq!(gate.wait_time(t0 + Duration::from_millis(100)), Duration::ZERO);
        let unlimited = Gate::new(0.0, LONG, t0);
        assert!((0..10_000).all(|_| unlimited.wait_time(t0).is_zero()));
    }

    #[test]
    fn retry_after_pauses_everyone() {
        let t0 = Instant::now();
        let gate = Gate::new(0.0, LONG, t0);
        gate.failed(t0, Some(Duration::from_secs(3)));
        assert_eq!(gate.wait_time(t0 + Duration::from_secs(1)), Duration::from_secs(2));
        assert!(gate.wait_time(t0 + Duration::from_secs(3)).is_zero());
    }

    #[test]
    fn the_breaker_opens_lets_one_probe_through_and_closes_on_success() {
        let t0 = Instant::now();
        let gate = Gate::new(0.0, LONG, t0);
        for _ in 0..BREAKER_THRESHOLD {
            gate.failed(t0, None);
        }
        assert!(gate.status().open);
        assert_eq!(gate.wait_time(t0), Duration::from_secs(1));
        let later = t0 + Duration::from_secs(1);
        assert!(gate.wait_time(later).is_zero(), "the probe");
        assert!(!gate.wait_time(later).is_zero(), "others wait for the probe");
        gate.succeeded();
        assert!(gate.wait_time(later).is_zero() && !gate.status().open);
    }

    #[test]
    fn failing_past_disable_after_disables_until_a_probe_succeeds() {
        let t0 = Instant::now();
        let gate = Gate::new(0.0, Duration::from_secs(60), t0);
        for s in 0..10 {
            gate.failed(t0 + Duration::from_secs(s * 10), None);
        }
        assert!(gate.status().disabled);
        assert!(
            gate.wait_time(t0 + Duration::from_secs(100)) > Duration::from_secs(30),
            "probed once a minute"
        );
        gate.succeeded();
        assert_eq!(
            gate.status(),
            GateStatus {
                open: false,
                disabled: false
            }
        );
    }
}
