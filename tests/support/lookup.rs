//! Checking a console user lookup against a change stream.

use std::collections::BTreeSet;

use serde_json::Value;

/// The segments `user` is in at event time `as_of`, by folding `changes`
/// (`(user, segment, time, entered)`, in stream order).
pub fn members_by_changes(changes: impl IntoIterator<Item = (String, String, u64, bool)>, user: &str, as_of: u64) -> Vec<String> {
    let mut members = BTreeSet::new();
    for (who, segment, time, entered) in changes {
        if who == user && time <= as_of {
            if entered {
                members.insert(segment);
            } else {
                members.remove(&segment);
            }
        }
    }
    members.into_iter().collect()
}

/// The segments a lookup's report says the user is a member of, by id.
pub fn members_by_report(report: &Value) -> Vec<String> {
    report["segments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["member"] == true)
        .filter_map(|s| s["segment"].as_str().map(str::to_string))
        .collect()
}

/// One segment of a lookup's report (`null` when absent).
pub fn segment_of_report(report: &Value, segment: &str) -> Value {
    report["segments"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["segment"] == segment)
        .cloned()
        .unwrap_or_default()
}
