//! Shared fixture for the rule-language tests: a small schema, views built from JSON,
//! and evaluation that always cross-checks the compiled evaluator against the
//! reference interpreter.
#![allow(dead_code)]

use segstream_rules::{
    check_condition, reference_evaluate, CheckEnv, FeatureRegistry, FieldValue, Limits, Program, RuleError, SampleView, Schema, UdfRegistry,
};

pub const SCHEMA: &str = r#"
[profile]
gender = "string"
country = "string"
birthDate = "date"
score = "double"
level = "int"
vip = "bool"
since = "timestamp"
session = "duration"
tags = "list<string>"

[stats]
isRegularPlayer = "bool"
watchedAds = "list<string>"
revenue = "double"
sessions = "int"
hours = "list<int>"
amounts = "list<double>"

[events.purchase]
amount = "double"
item = "string"
qty = "int"

[events.ad_shown]
network = "string"

[events.ad_clicked]
network = "string"

[events.app_opened]
os = "string"
"#;

pub const TICK_MS: i64 = 100;

pub fn schema() -> Schema {
    match Schema::from_toml(SCHEMA) {
        Ok(schema) => schema,
        Err(errors) => panic!("test schema is invalid: {errors:?}"),
    }
}

/// Checks a condition with the given UDFs and limits.
pub fn check_with(condition: &str, udfs: &UdfRegistry, limits: Limits) -> Result<(segstream_rules::Typed, FeatureRegistry), RuleError> {
    let schema = schema();
    let mut features = FeatureRegistry::default();
    let mut env = CheckEnv {
        schema: &schema,
        udfs,
        features: &mut features,
        limits,
    };
    let typed = check_condition(condition, &mut env)?;
    Ok((typed, features))
}

/// Evaluates `condition` on the view JSON with both evaluators; panics if they differ.
pub fn eval_with(condition: &str, view_json: &str, udfs: &UdfRegistry) -> Option<bool> {
    let schema = schema();
    let (typed, features) = match check_with(condition, udfs, Limits::default()) {
        Ok(checked) => checked,
        Err(e) => panic!("{condition:?} does not check: {} at {:?}", e.message, e.span),
    };
    let sample = match SampleView::from_json(view_json, &schema, TICK_MS) {
        Ok(sample) => sample,
        Err(e) => panic!("bad view: {e}"),
    };
    let values = sample.features(&schema, features.specs(), TICK_MS);
    let view = sample.view(&values);
    let program = Program::compile(&typed, udfs);
    let compiled = program.eval_bool(&view);
    let reference = match reference_evaluate(&typed, &view, udfs) {
        Some(FieldValue::Bool(b)) => Some(b),
        Some(other) => panic!("reference gave a non-bool {other:?}"),
        None => None,
    };
    assert_eq!(compiled, reference, "compiled and reference disagree on {condition:?}");
    compiled
}

pub fn eval(condition: &str, view_json: &str) -> Option<bool> {
    eval_with(condition, view_json, &UdfRegistry::new())
}

/// The error of a condition that must not check: (1-based column, message).
pub fn error_of(condition: &str) -> (usize, String) {
    error_with(condition, Limits::default())
}

pub fn error_with(condition: &str, limits: Limits) -> (usize, String) {
    match check_with(condition, &UdfRegistry::new(), limits) {
        Ok(_) => panic!("{condition:?} should not check"),
        Err(e) => (segstream_rules::line_col(condition, e.span.start).col, e.message),
    }
}

pub const EMPTY_VIEW: &str = r#"{"now": "2026-06-14T12:00:00Z"}"#;

pub const FULL_VIEW: &str = r#"{
  "now": "2026-06-14T12:00:00Z",
  "profile": {"gender": "female", "country": "US", "birthDate": "1990-06-15", "score": 0.75, "level": 12, "vip": true,
              "since": "2026-06-01T00:00:00Z", "session": "90s", "tags": ["early", "beta"]},
  "stats": {"isRegularPlayer": true, "watchedAds": ["A", "B", "C"], "revenue": 120.5, "sessions": 40, "hours": [18, 19, 20], "amounts": [9.99, 4.99]},
  "events": [
    {"type": "app_opened", "time": "2026-06-10T08:00:00Z", "id": "o1", "properties": {"os": "iOS 17"}},
    {"type": "app_opened", "time": "2026-06-14T11:00:00Z", "id": "o2", "properties": {"os": "iOS 18"}},
    {"type": "purchase", "time": "2026-06-14T11:30:00Z", "id": "p1", "properties": {"amount": 9.99, "item": "gems", "qty": 3}},
    {"type": "purchase", "time": "2026-06-14T11:50:00Z", "id": "p2", "properties": {"amount": 4.99, "item": "coins", "qty": 1}},
    {"type": "purchase", "time": "2026-06-13T10:00:00Z", "id": "p3", "properties": {"amount": 50.0, "item": "gems"}},
    {"type": "ad_shown", "time": "2026-06-14T11:55:00Z", "id": "s1", "properties": {"network": "unity"}},
    {"type": "ad_clicked", "time": "2026-06-14T11:57:00Z", "id": "c1", "properties": {"network": "unity"}}
  ]
}"#;
