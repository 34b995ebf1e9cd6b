//! Builders for the engine's unit tests.

use std::collections::BTreeSet;
use std::ops::Bound;

use super::*;
use segstream_rules::SegmentKind;

/// A segment definition to add (diff +1).
pub(super) fn rule(id: &str, kind: SegmentKind, when: &str) -> (SegmentDef, isize) {
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

/// An `ad_watched` event (event type 0) of `user`.
pub(super) fn watched(user: &str, id: &str, time: u64) -> (String, UserInput) {
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

/// An engine for a schema of one event type, `ad_watched`.
pub(super) fn engine(config: ClassifierConfig) -> Engine {
    let schema = Arc::new(Schema::from_toml("[events.ad_watched]\n").unwrap_or_else(|e| panic!("{e:?}")));
    Engine::new(schema, Arc::new(UdfRegistry::new()), config).unwrap_or_else(|e| panic!("{e}"))
}

/// Side rows from a sorted map of users with a (fieldless) profile, as an arrangement
/// answers: it counts the pages asked for and each user's row lookups.
#[derive(Default)]
pub(super) struct PagedRows {
    pub(super) users: BTreeSet<String>,
    pub(super) pages: usize,
    pub(super) lookups: BTreeMap<String, usize>,
}

impl SideRows for PagedRows {
    fn rows_before(&mut self, user: &str, _tick: u64) -> (Option<PackedRow>, Option<PackedRow>) {
        *self.lookups.entry(user.to_string()).or_default() += 1;
        (self.users.contains(user).then(|| PackedRow::from_slots(&[])), None)
    }

    fn users_after(&mut self, _tick: u64, after: Option<&str>, limit: usize) -> Vec<String> {
        self.pages += 1;
        let from = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_string()));
        self.users.range((from, Bound::Unbounded)).take(limit).cloned().collect()
    }
}
