//! Eviction of idle users.
//!
//! Contract: a user is evicted when it has no membership, no pending window-expiry timer
//! (hence no windowed state) and its last input is at least `user_ttl` before the
//! current tick. Nothing it could produce is lost: its windowed features are empty, so
//! its next evaluation would see exactly what a rebuilt state sees — the profile and
//! stats come back from the arrangements ([`super::SideRows`]) — except its unwindowed
//! features (`last`, `first_seen`, `last_seen`), its raw history and its condition
//! results (recomputed at its next input). The sweep runs every `user_ttl / 16` of
//! event time (at least a tick), so a user lives at most 1/16 longer than the TTL, and
//! right after a rule change, which builds the users with a profile or stats that the
//! engine did not hold, to drop again those the new rules leave without membership.
//! *Why a sweep and not a timer per user:* a timer costs an entry per user and a
//! re-arm per input; the sweep is one pass over the user map, which at 1M users takes
//! a few milliseconds, once per 1/16 of the TTL.

use super::*;

impl Engine {
    pub(super) fn evict_idle(&mut self, now: u64, after_rule_change: bool) {
        let ttl = self.config.user_ttl_ms;
        if ttl == 0 || (now < self.next_eviction_sweep && !after_rule_change) {
            return;
        }
        self.next_eviction_sweep = now.saturating_add((ttl / 16).max(self.config.tick_ms));
        let before = self.users.len();
        self.users.retain(|_, state| {
            let idle = state.last_active.saturating_add(ttl) <= now;
            !(idle && state.next_timer.is_none() && !state.member.iter().any(|m| m))
        });
        self.counters.evictions += (before - self.users.len()) as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::side_rows::NoSideRows;
    use segstream_rules::SegmentKind;

    fn rule(id: &str, kind: SegmentKind, when: &str) -> (SegmentDef, isize) {
        let def = SegmentDef {
            id: id.into(),
            name: id.into(),
            description: String::new(),
            kind,
            group: None,
            priority: None,
            parent: None,
            when: when.into(),
        };
        (def, 1)
    }

    fn watched(user: &str, id: &str, time: u64) -> (String, UserInput) {
        let event = Event {
            time,
            id: id.into(),
            user: user.into(),
            event_type: 0,
            properties: vec![],
            client_time: time as i64,
            sent_at: time as i64,
            received_at: time as i64,
        };
        (user.to_string(), UserInput::Event(event))
    }

    #[test]
    fn only_users_without_windows_or_membership_idle_for_the_ttl_are_evicted() {
        let schema = Arc::new(Schema::from_toml("[events.ad_watched]\n").unwrap_or_else(|e| panic!("{e:?}")));
        let config = ClassifierConfig {
            user_ttl_ms: 10_000,
            ..ClassifierConfig::default()
        };
        let mut engine = Engine::new(schema, Arc::new(UdfRegistry::new()), config).unwrap_or_else(|e| panic!("{e}"));
        let rules = vec![
            rule("busy", SegmentKind::Dynamic, r#"count("ad_watched", "1m") >= 5"#),
            rule("ever", SegmentKind::Sticky, r#"count("ad_watched", "1m") >= 2"#),
        ];
        let mut out = Vec::new();
        engine.process_tick(0, rules, Vec::new(), &mut NoSideRows, &mut out);
        // "casual" has one event (a window until 61 s, no membership); "fan" two (sticky member).
        let inputs = vec![
            watched("casual", "c1", 1_000),
            watched("fan", "f1", 1_000),
            watched("fan", "f2", 1_000),
        ];
        engine.process_tick(1_000, Vec::new(), inputs, &mut NoSideRows, &mut out);
        assert_eq!((engine.user_count(), out.len()), (2, 1), "fan entered 'ever'");
        engine.process_tick(30_000, Vec::new(), vec![watched("other", "o1", 30_000)], &mut NoSideRows, &mut out);
        assert_eq!(engine.user_count(), 3, "idle past the TTL, but casual's window is open");
        assert_eq!(engine.next_timer(), Some(61_000));
        engine.process_tick(61_000, Vec::new(), Vec::new(), &mut NoSideRows, &mut out);
        engine.process_tick(71_000, Vec::new(), vec![watched("late", "l1", 71_000)], &mut NoSideRows, &mut out);
        assert_eq!(engine.counters.evictions, 1, "other's window closed at 90 s: only casual went");
        assert_eq!(engine.next_timer(), Some(90_000));
        engine.process_tick(90_000, Vec::new(), Vec::new(), &mut NoSideRows, &mut out);
        engine.process_tick(100_000, Vec::new(), vec![watched("late", "l2", 100_000)], &mut NoSideRows, &mut out);
        assert_eq!(engine.counters.evictions, 2, "then other");
        assert_eq!(engine.user_count(), 2, "fan (a member) and late (active) stay");
    }
}
