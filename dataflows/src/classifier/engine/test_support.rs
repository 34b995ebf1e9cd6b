//! Builders for the engine's unit tests.

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
