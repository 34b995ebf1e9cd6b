//! Matching each observed segment change to the event that caused it.
//!
//! Contract: the harness [`Matcher::sent`]s every valid event it sends, just before the
//! request, with its user, the earliest event time the collector can give it and its
//! intended send instant (ms). The collector's event time is `received_at − delay` (the
//! device's send delay), and `received_at` lies between the request's start and its
//! acknowledgement; so the event's time lies in `[sent − delay, acknowledged − delay]`.
//! Until [`Matcher::acknowledged`] narrows it, the upper end is `unacknowledged_slack_ms`
//! past the lower one. A change of user `u` stamped with tick `t` (tick length `T`) was
//! caused by one of `u`'s events whose time range meets `[t, t + T)`: the match is the
//! one with the earliest intended instant, and the latency is the change's observation
//! instant minus that instant (conservative: from the first action that could have
//! caused it). A change with no such event was caused by the clock or a side input (a
//! window expiring, a profile update) and has no event latency: [`Matcher::observe`]
//! returns `None`.
//!
//! *Why per-event ranges:* a fixed slack of 300 ms either side made every change match
//! the user's events of up to three earlier ticks, overstating the p99 by up to 300 ms;
//! the range is as wide as the request really took (12–24 ms at 2,000 events/s).
//!
//! ```
//! use segstream_harness::matcher::Matcher;
//! let mut m = Matcher::new(100, 300);
//! m.sent("u1", 10_050, 10_050);
//! m.acknowledged("u1", 10_050, 20);
//! assert_eq!(m.observe("u1", 10_000, 11_000), Some(950));
//! assert_eq!(m.observe("u1", 20_000, 21_000), None);
//! ```

use std::collections::HashMap;

/// One sent event: its possible event times and its intended send instant.
#[derive(Clone, Copy, Debug)]
struct Sent {
    earliest_ms: u64,
    latest_ms: u64,
    intended_ms: u64,
}

/// Events sent, by user (see the module contract).
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    tick_ms: u64,
    unacknowledged_slack_ms: u64,
    /// Per user, in send order.
    sent: HashMap<String, Vec<Sent>>,
}

impl Matcher {
    /// A matcher for ticks of `tick_ms`, allowing events not yet acknowledged
    /// `unacknowledged_slack_ms` of event-time shift.
    pub fn new(tick_ms: u64, unacknowledged_slack_ms: u64) -> Matcher {
        Matcher {
            tick_ms: tick_ms.max(1),
            unacknowledged_slack_ms,
            sent: HashMap::new(),
        }
    }

    /// Records an event about to be sent, whose time is at least `earliest_ms`.
    pub fn sent(&mut self, user: &str, earliest_ms: u64, intended_ms: u64) {
        self.sent.entry(user.to_string()).or_default().push(Sent {
            earliest_ms,
            latest_ms: earliest_ms + self.unacknowledged_slack_ms,
            intended_ms,
        });
    }

    /// Narrows the events of `user` recorded at `earliest_ms` once their request was
    /// acknowledged `took_ms` after it started.
    pub fn acknowledged(&mut self, user: &str, earliest_ms: u64, took_ms: u64) {
        let unacknowledged = earliest_ms + self.unacknowledged_slack_ms;
        if let Some(events) = self.sent.get_mut(user) {
            for event in events
                .iter_mut()
                .rev()
                .filter(|e| e.earliest_ms == earliest_ms && e.latest_ms == unacknowledged)
            {
                event.latest_ms = earliest_ms + took_ms;
            }
        }
    }

    /// The latency of a change of `user` at `tick_ms` observed at `observed_ms`, if an event caused it.
    pub fn observe(&self, user: &str, tick_ms: u64, observed_ms: u64) -> Option<u64> {
        let tick_end = tick_ms + self.tick_ms;
        self.sent
            .get(user)?
            .iter()
            .filter(|e| e.earliest_ms < tick_end && e.latest_ms >= tick_ms)
            .map(|e| e.intended_ms)
            .min()
            .map(|intended| observed_ms.saturating_sub(intended))
    }

    /// The users events were sent for.
    pub fn users(&self) -> impl Iterator<Item = &String> {
        self.sent.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_event_that_can_fall_in_the_tick_counts_and_other_ticks_do_not() {
        let mut m = Matcher::new(100, 300);
        for (time, took) in [(985, 20), (1_020, 10), (1_090, 5), (5_000, 10)] {
            m.sent("u", time, time);
            m.acknowledged("u", time, took);
        }
        assert_eq!(
            m.observe("u", 1_000, 2_000),
            Some(1_015),
            "the event sent at 985 may have been received at 995..1,000"
        );
        assert_eq!(m.observe("u", 1_100, 2_000), None, "no event can be in the next tick");
        assert_eq!(m.observe("u", 3_000, 4_000), None, "a change of the clock");
        assert_eq!(m.observe("v", 1_000, 2_000), None, "another user");
        assert_eq!(m.observe("u", 5_000, 4_990), Some(0), "clocks never give negative latency");
    }

    #[test]
    fn an_unacknowledged_event_keeps_the_wide_range() {
        let mut m = Matcher::new(100, 300);
        m.sent("u", 750, 750);
        assert_eq!(m.observe("u", 1_000, 2_000), Some(1_250), "it may still be received up to 1,050");
        m.acknowledged("u", 750, 30);
        assert_eq!(m.observe("u", 1_000, 2_000), None, "received by 780: not in the tick");
    }
}
