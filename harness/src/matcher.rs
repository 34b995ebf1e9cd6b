//! Matching each observed segment change to the event that caused it.
//!
//! Contract: the harness [`Matcher::sent`]s every valid event it sends with its user, its
//! true event time and its intended send instant (both ms). A change of user `u` stamped
//! with tick `t` (tick length `T`) was caused by `u`'s events of that tick: the match is
//! the *first* event of `u` whose time lies in `[t − slack, t + T + slack)` — the slack
//! covers the collector's skew correction, which moves an event's time by the device's
//! send delay — and the latency is the change's observation instant minus that event's
//! intended instant (conservative: from the first action that could have caused it). A
//! change with no such event was caused by the clock or a side input (a window expiring,
//! a profile update) and has no event latency: [`Matcher::observe`] returns `None`.
//!
//! ```
//! use segstream_harness::matcher::Matcher;
//! let mut m = Matcher::new(100, 300);
//! m.sent("u1", 10_050, 10_050);
//! assert_eq!(m.observe("u1", 10_000, 11_000), Some(950));
//! assert_eq!(m.observe("u1", 20_000, 21_000), None);
//! ```

use std::collections::HashMap;

/// Events sent, by user (see the module contract).
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    tick_ms: u64,
    slack_ms: u64,
    /// Per user: (event time, intended send instant), in send order.
    sent: HashMap<String, Vec<(u64, u64)>>,
}

impl Matcher {
    /// A matcher for ticks of `tick_ms`, allowing `slack_ms` of event-time shift.
    pub fn new(tick_ms: u64, slack_ms: u64) -> Matcher {
        Matcher {
            tick_ms: tick_ms.max(1),
            slack_ms,
            sent: HashMap::new(),
        }
    }

    /// Records a sent event.
    pub fn sent(&mut self, user: &str, event_time_ms: u64, intended_ms: u64) {
        self.sent.entry(user.to_string()).or_default().push((event_time_ms, intended_ms));
    }

    /// The latency of a change of `user` at `tick_ms` observed at `observed_ms`, if an event caused it.
    pub fn observe(&self, user: &str, tick_ms: u64, observed_ms: u64) -> Option<u64> {
        let from = tick_ms.saturating_sub(self.slack_ms);
        let until = tick_ms + self.tick_ms + self.slack_ms;
        self.sent
            .get(user)?
            .iter()
            .filter(|(time, _)| (from..until).contains(time))
            .map(|(_, intended)| *intended)
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
    fn the_first_event_of_the_tick_counts_and_other_ticks_do_not() {
        let mut m = Matcher::new(100, 50);
        m.sent("u", 1_020, 1_020);
        m.sent("u", 1_090, 1_090);
        m.sent("u", 5_000, 5_000);
        assert_eq!(m.observe("u", 1_000, 2_000), Some(980));
        assert_eq!(
            m.observe("u", 1_100, 2_000),
            Some(910),
            "the next tick: its own event, the earlier one is outside the slack"
        );
        assert_eq!(m.observe("u", 3_000, 4_000), None, "a change of the clock");
        assert_eq!(m.observe("v", 1_000, 2_000), None, "another user");
        assert_eq!(m.observe("u", 5_000, 4_990), Some(0), "clocks never give negative latency");
    }
}
