//! Eviction of idle users.
//!
//! Contract: a user with no pending window-expiry timer (hence no windowed state)
//! whose last input is at least `user_ttl` before the current tick is evicted. If any
//! of its condition results or memberships is set, or it has a profile or stats row,
//! those bits are kept as a *dormant* record ([`Dormant`]: the user id and two bit
//! sets, about 55 bytes, instead of the whole state); otherwise nothing is kept. (A
//! user with a row keeps a record, bits or not, so that a checkpoint, which saves the
//! dormant records' rows from the arrangements, holds every row: `snapshot/walk.rs`.) Its next input — or a rule change —
//! rebuilds it: the profile and stats come back from the arrangements
//! ([`super::SideRows`]), the condition results and memberships from the dormant
//! record, every segment counted as evaluated; a user without a record starts as a new
//! user. What an evicted user loses is only what the arrangements do not hold and a
//! dormant record does not keep: its unwindowed features (`last`, `first_seen`,
//! `last_seen`) and its raw history. So for rules without unwindowed features eviction
//! is invisible in the change stream, memberships (sticky ones too) included.
//!
//! A sweep starts once `user_ttl / 16` of event time (at least a tick) has passed *and*
//! the engine has taken inputs of at least an eighth as many users as it holds since
//! the last sweep started (or after a rule change), so a pass over the map costs at most
//! 8 checks per user input and the users held beyond their TTL are at most an eighth
//! more than held. It walks the users by dense index from the last down, at most
//! [`SWEEP_CHECKS_PER_TICK`] of them at the end of each tick, so no tick pays for the
//! whole map (a whole pass over 1M users took up to 99 ms in one piece); which users a
//! tick checks depends only on the ticks and their inputs, never on timing. A user that
//! a rule change rebuilt without an input of its own is evicted again right after it is
//! processed, so a rule change does not bring every dormant user back into memory at
//! once. *Why a sweep and not a timer per user:* a timer costs an entry per user and a
//! re-arm per input; the sweep is one pass over the user map (a few milliseconds per
//! million users), paid for by the inputs.
//!
//! *Why dormant records, not only users without membership:* segments over profile
//! fields alone (`adults_18_plus`, `profile_incomplete` in the example set) hold
//! nearly every user, so evicting only users without membership freed nobody
//! (measured: 0 of 200,000 churned users); a dormant record is 1/20 of a live user's
//! state and keeps the change stream exact.

use smallbitvec::SmallBitVec;

use super::*;

/// What an evicted user keeps: its condition results and memberships by segment index.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct Dormant {
    #[serde(with = "crate::classifier::bits")]
    pub(super) raw: SmallBitVec,
    #[serde(with = "crate::classifier::bits")]
    pub(super) member: SmallBitVec,
}

/// Users an eviction sweep checks at the end of a tick (about a millisecond's work).
pub const SWEEP_CHECKS_PER_TICK: usize = 4_096;

impl Engine {
    /// At the end of tick `now`: starts a sweep if one is due (see the module contract)
    /// and works on the sweep in progress.
    pub(super) fn evict_idle(&mut self, now: u64, after_rule_change: bool) {
        let ttl = self.config.user_ttl_ms;
        if ttl == 0 {
            return;
        }
        let mut cursor = match self.sweep_below.take() {
            Some(cursor) => cursor.min(self.users.len()),
            None => {
                let due = now >= self.next_eviction_sweep && self.inputs_since_sweep >= self.users.len() as u64 / 8;
                if !(due || after_rule_change) {
                    return;
                }
                self.next_eviction_sweep = now.saturating_add((ttl / 16).max(self.config.tick_ms));
                self.inputs_since_sweep = 0;
                self.users.len()
            }
        };
        let idle = |state: &UserState| state.next_timer.is_none() && state.last_active.saturating_add(ttl) <= now;
        let stop = cursor.saturating_sub(SWEEP_CHECKS_PER_TICK);
        while cursor > stop {
            cursor -= 1;
            if self.users.get_index(cursor).is_some_and(|(_, state)| idle(state)) {
                // The user moved into this slot was checked already (it came from the end).
                if let Some((name, state)) = self.users.swap_remove_index(cursor) {
                    self.counters.evictions += 1;
                    self.keep_dormant(name, state);
                }
            }
        }
        self.sweep_below = (cursor > 0).then_some(cursor);
    }

    /// Evicts `name` at once if it has no pending timer (a user a rule change rebuilt;
    /// not counted again as an eviction).
    pub(super) fn evict_rebuilt(&mut self, name: &str) {
        if self.config.user_ttl_ms == 0 || self.users.get(name).is_none_or(|s| s.next_timer.is_some()) {
            return;
        }
        if let Some((name, state)) = self.users.swap_remove_entry(name) {
            self.keep_dormant(name, state);
        }
    }

    fn keep_dormant(&mut self, name: Box<str>, state: UserState) {
        let has_rows = state.profile.is_some() || state.stats.is_some();
        if has_rows || state.raw.iter().any(|b| b) || state.member.iter().any(|b| b) {
            let record = Dormant {
                raw: state.raw,
                member: state.member,
            };
            self.dormant.insert(name, record);
        }
    }

    /// Restores what `state`, being rebuilt, keeps from a dormant record of `name`.
    pub(super) fn wake(&mut self, name: &str, state: &mut UserState) {
        if let Some((_, record)) = self.dormant.swap_remove_entry(name) {
            let segments = state.raw.len();
            state.raw = record.raw;
            state.member = record.member;
            state.evaluated = SmallBitVec::from_elem(segments, true);
        }
    }

    /// Number of dormant records on this worker.
    pub fn dormant_count(&self) -> usize {
        self.dormant.len()
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::engine::test_support::{engine, rule, watched, PagedRows};
    use crate::classifier::side_rows::NoSideRows;
    use segstream_rules::SegmentKind;

    #[test]
    fn idle_users_without_windows_are_evicted_and_members_wake_with_their_membership() {
        let mut engine = engine(ClassifierConfig {
            user_ttl_ms: 10_000,
            ..ClassifierConfig::default()
        });
        let rules = vec![
            rule("busy", SegmentKind::Dynamic, r#"count("ad_watched", "1m") >= 5"#),
            rule("ever", SegmentKind::Sticky, r#"count("ad_watched", "1m") >= 2"#),
        ];
        let mut out = Vec::new();
        engine.process_tick(0, rules, Vec::new(), &mut NoSideRows, &mut out);
        // "casual" has one event (a window until 61 s); "fan" two (a sticky member).
        let inputs = vec![
            watched("casual", "c1", 1_000),
            watched("fan", "f1", 1_000),
            watched("fan", "f2", 1_000),
        ];
        engine.process_tick(1_000, Vec::new(), inputs, &mut NoSideRows, &mut out);
        assert_eq!((engine.user_count(), out.len()), (2, 1), "fan entered 'ever'");
        engine.process_tick(30_000, Vec::new(), vec![watched("other", "o1", 30_000)], &mut NoSideRows, &mut out);
        assert_eq!(engine.user_count(), 3, "idle past the TTL, but the windows are open");
        assert_eq!(engine.next_timer(), Some(61_000));
        engine.process_tick(61_000, Vec::new(), Vec::new(), &mut NoSideRows, &mut out);
        engine.process_tick(71_000, Vec::new(), vec![watched("late", "l1", 71_000)], &mut NoSideRows, &mut out);
        assert_eq!(
            engine.counters.evictions, 2,
            "casual and fan (windows closed at 61 s); other's is open until 90 s"
        );
        assert_eq!(engine.dormant_count(), 1, "fan keeps its membership; casual keeps nothing");
        assert_eq!(engine.user_count(), 2);
        // fan comes back: it is still a member, so nothing is emitted for 'ever'.
        out.clear();
        engine.process_tick(72_000, Vec::new(), vec![watched("fan", "f3", 72_000)], &mut NoSideRows, &mut out);
        assert_eq!((out.len(), engine.dormant_count(), engine.user_count()), (0, 0, 3), "{out:?}");
    }

    #[test]
    fn a_sweep_checks_a_bounded_number_of_users_per_tick_until_it_has_seen_them_all() {
        let mut engine = engine(ClassifierConfig {
            user_ttl_ms: 1_000,
            ..ClassifierConfig::default()
        });
        let mut out = Vec::new();
        let users = 2 * SWEEP_CHECKS_PER_TICK + 100;
        let ever = rule("ever", SegmentKind::Sticky, r#"count("ad_watched", "1s") >= 1"#);
        let inputs = (0..users).map(|u| watched(&format!("u{u}"), &format!("e{u}"), 0)).collect();
        // The sweep due at tick 0 checks 4,096 users (none idle yet) and goes on at the
        // next ticks; at 1 s the windows close and every user is idle.
        engine.process_tick(0, vec![ever], inputs, &mut NoSideRows, &mut out);
        assert_eq!(engine.counters.evictions, 0);
        engine.process_tick(1_000, Vec::new(), Vec::new(), &mut NoSideRows, &mut out);
        assert_eq!(engine.counters.evictions as usize, SWEEP_CHECKS_PER_TICK, "one slice of the map");
        engine.process_tick(1_100, Vec::new(), vec![watched("new", "n", 1_100)], &mut NoSideRows, &mut out);
        assert_eq!(
            engine.counters.evictions as usize,
            SWEEP_CHECKS_PER_TICK + 100,
            "the sweep's last slice"
        );
        // A rule change starts the next sweep; each tick evicts at most a slice.
        let mut tick = 1_200;
        let mut change = vec![rule("other", SegmentKind::Dynamic, r#"count("ad_watched", "1s") >= 9"#)];
        while (engine.counters.evictions as usize) < users {
            let before = engine.counters.evictions as usize;
            engine.process_tick(tick, std::mem::take(&mut change), Vec::new(), &mut NoSideRows, &mut out);
            let evicted = engine.counters.evictions as usize - before;
            assert!(evicted > 0 && evicted <= SWEEP_CHECKS_PER_TICK, "{evicted} at {tick}");
            tick += 100;
        }
        assert_eq!(engine.dormant_count(), users, "each keeps its sticky membership");
        assert_eq!(engine.user_count(), 1, "only `new` is held");
    }

    #[test]
    fn an_evicted_user_with_rows_keeps_a_dormant_record() {
        let mut engine = engine(ClassifierConfig {
            user_ttl_ms: 1_000,
            ..ClassifierConfig::default()
        });
        let mut rows = PagedRows {
            users: ["with_row".to_string()].into(),
            ..PagedRows::default()
        };
        let mut out = Vec::new();
        let never = rule("never", SegmentKind::Dynamic, r#"count("ad_watched", "1s") >= 99"#);
        let inputs = vec![watched("with_row", "w", 0), watched("without", "o", 0)];
        engine.process_tick(0, vec![never], inputs, &mut rows, &mut out);
        engine.process_tick(1_000, Vec::new(), Vec::new(), &mut rows, &mut out);
        engine.process_tick(2_000, Vec::new(), vec![watched("new", "n", 2_000)], &mut rows, &mut out);
        assert_eq!(engine.counters.evictions, 2, "both idle past the TTL, no bit set");
        assert_eq!(engine.dormant_count(), 1, "only the user with a row keeps a record");
        assert_eq!(engine.user_count(), 1);
    }
}
