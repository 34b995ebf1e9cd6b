//! Reading a user view from JSON, for previews (`segstream rules eval`) and tests.
//!
//! Contract: [`SampleView::from_json`] reads `{"now", "profile", "stats", "events"}`
//! (format in `docs/rules.md`) against the schema: fields are typed by it, unknown
//! fields and event types are errors naming their path, and duplicate event ids keep
//! the first. Features are then computed by the reference computation.

use serde::Deserialize;

use super::feature_reference::{compute_features, dedup_by_id, tick_of, ObservedEvent};
use super::features::FeatureSpec;
use super::schema::Schema;
use super::value::FieldValue;
use super::view::View;
use segstream_time as time;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewJson {
    now: String,
    #[serde(default)]
    profile: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    stats: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    events: Vec<EventJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventJson {
    #[serde(rename = "type")]
    event_type: String,
    time: String,
    id: Option<String>,
    #[serde(default)]
    properties: serde_json::Map<String, serde_json::Value>,
}

/// A user's state as given in a JSON view.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleView {
    /// Evaluation time (rounded down to the tick).
    pub now: i64,
    /// Profile by slot.
    pub profile: Vec<Option<FieldValue>>,
    /// Stats by slot.
    pub stats: Vec<Option<FieldValue>>,
    /// Deduplicated events.
    pub events: Vec<ObservedEvent>,
    /// The profile slot `age()` reads.
    pub birth_slot: Option<usize>,
}

impl SampleView {
    /// Parses a view; `tick_ms` rounds `now` down to a tick.
    pub fn from_json(text: &str, schema: &Schema, tick_ms: i64) -> Result<SampleView, String> {
        let json: ViewJson = serde_json::from_str(text).map_err(|e| format!("view JSON: {e}"))?;
        let now = tick_of(time::parse_timestamp(&json.now).map_err(|e| format!("now: {e}"))?, tick_ms);
        let profile = schema.profile.read_json(&json.profile).map_err(|e| format!("profile: {e}"))?;
        let stats = schema.stats.read_json(&json.stats).map_err(|e| format!("stats: {e}"))?;
        let mut events = Vec::with_capacity(json.events.len());
        for (i, event) in json.events.into_iter().enumerate() {
            let at = format!("events[{i}]");
            let event_type = schema
                .event_type(&event.event_type)
                .ok_or_else(|| format!("{at}: unknown event type {:?}", event.event_type))?;
            let props = schema
                .event_properties(event_type)
                .ok_or_else(|| format!("{at}: unknown event type"))?;
            events.push(ObservedEvent {
                event_type,
                time_ms: time::parse_timestamp(&event.time).map_err(|e| format!("{at}.time: {e}"))?,
                id: event.id.unwrap_or_else(|| format!("view-event-{i}")),
                properties: props.read_json(&event.properties).map_err(|e| format!("{at}.properties: {e}"))?,
            });
        }
        Ok(SampleView {
            now,
            profile,
            stats,
            events: dedup_by_id(&events),
            birth_slot: schema.birth_date_slot(),
        })
    }

    /// Feature values for a rule set's features at `now`.
    pub fn features(&self, schema: &Schema, specs: &[FeatureSpec], tick_ms: i64) -> Vec<Option<FieldValue>> {
        compute_features(schema, specs, &self.events, self.now, tick_ms)
    }

    /// A view over this state with the given feature values.
    pub fn view<'a>(&'a self, features: &'a [Option<FieldValue>]) -> View<'a> {
        View {
            now: self.now,
            profile: (&self.profile).into(),
            stats: (&self.stats).into(),
            features,
            event: &[],
            age: None,
        }
        .with_age(self.birth_slot)
    }
}
