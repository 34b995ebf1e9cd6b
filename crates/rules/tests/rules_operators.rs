//! Every operator, literal and function of the rule language, evaluated on fixed
//! views, with the compiled evaluator cross-checked against the reference.

mod common;

use common::{eval, eval_with, EMPTY_VIEW, FULL_VIEW};
use segstream_rules::{Type, Udf, UdfRegistry, Value};
use std::sync::Arc;

fn assert_all(view: &str, cases: &[(&str, Option<bool>)]) {
    for (condition, expected) in cases {
        assert_eq!(eval(condition, view), *expected, "{condition}");
    }
}

const T: Option<bool> = Some(true);
const F: Option<bool> = Some(false);
const MISSING: Option<bool> = None;

#[test]
fn integer_arithmetic() {
    assert_all(
        EMPTY_VIEW,
        &[
            ("1 + 2 == 3", T),
            ("7 - 10 == -3", T),
            ("6 * 7 == 42", T),
            ("7 / 2 == 3", T),
            ("-7 / 2 == -3", T),
            ("7 % 3 == 1", T),
            ("-7 % 3 == -1", T),
            ("0x10 == 16", T),
            ("1 + 2 * 3 == 7", T),
            ("(1 + 2) * 3 == 9", T),
            ("-(3) == -3", T),
            ("1 / 0 == 0", MISSING),
            ("1 % 0 == 0", MISSING),
            ("9223372036854775807 + 1 > 0", MISSING),
            ("-9223372036854775807 - 2 < 0", MISSING),
            ("4611686018427387904 * 2 > 0", MISSING),
        ],
    );
}

#[test]
fn double_arithmetic_and_promotion() {
    assert_all(
        EMPTY_VIEW,
        &[
            ("1.5 + 1 == 2.5", T),
            ("1 + 1.5 == 2.5", T),
            ("10 / 4.0 == 2.5", T),
            ("2.0 * 3 == 6", T),
            ("1e3 == 1000", T),
            ("0.1 + 0.2 == 0.3", F),
            ("1.0 / 0.0 > 0.0", MISSING),
            ("1e308 * 10.0 > 0.0", MISSING),
            ("-(2.5) < 0", T),
            ("1 == 1.0", T),
            ("2 < 2.5", T),
        ],
    );
}

#[test]
fn comparisons_of_every_ordered_type() {
    assert_all(
        EMPTY_VIEW,
        &[
            ("1 < 2", T),
            ("2 <= 2", T),
            ("3 > 2", T),
            ("2 >= 3", F),
            ("1 != 2", T),
            ("1 == 2", F),
            ("\"abc\" < \"abd\"", T),
            ("\"b\" > \"abc\"", T),
            ("\"x\" == 'x'", T),
            ("\"Z\" < \"a\"", T),
            ("true == true", T),
            ("true != false", T),
            ("timestamp(\"2026-01-01T00:00:00Z\") < timestamp(\"2026-01-02T00:00:00Z\")", T),
            ("timestamp(\"2026-01-01T01:00:00+01:00\") == timestamp(\"2026-01-01T00:00:00Z\")", T),
            ("duration(\"1h\") > duration(\"59m\")", T),
            ("duration(\"90m\") == duration(\"1h30m\")", T),
        ],
    );
}

#[test]
fn logic_and_conditional() {
    assert_all(
        EMPTY_VIEW,
        &[
            ("true && false", F),
            ("true && true", T),
            ("false || true", T),
            ("false || false", F),
            ("!true", F),
            ("!!true", T),
            ("(true ? 1 : 2) == 1", T),
            ("(false ? 1 : 2.5) == 2.5", T),
            ("(1 > 2 ? \"a\" : \"b\") == \"b\"", T),
        ],
    );
}

#[test]
fn membership_lists_and_maps() {
    assert_all(
        FULL_VIEW,
        &[
            ("\"b\" in [\"a\", \"b\"]", T),
            ("3 in [1, 2]", F),
            ("2 in [1.0, 2.0]", T),
            ("2.5 in [1, 2]", F),
            ("profile.country in [\"US\", \"CA\"]", T),
            ("\"A\" in stats.watchedAds", T),
            ("\"Z\" in stats.watchedAds", F),
            ("19 in stats.hours", T),
            ("4.99 in stats.amounts", T),
            ("\"US\" in {\"US\": 1, \"DE\": 2}", T),
            ("\"FR\" in {\"US\": 1, \"DE\": 2}", F),
            ("{\"US\": 1.5, \"DE\": 1.2}[profile.country] > 1.3", T),
            ("{\"FR\": 1.5}[profile.country] > 1.3", MISSING),
            ("{1: \"one\", 2: \"two\"}[2] == \"two\"", T),
            ("stats.watchedAds[0] == \"A\"", T),
            ("stats.watchedAds[5] == \"A\"", MISSING),
            ("stats.watchedAds[-1] == \"A\"", MISSING),
            ("[10, 20, 30][1] == 20", T),
            ("[10, 20, 30][3] == 20", MISSING),
            ("[profile.level, 5][0] == 12", T),
            ("size(stats.watchedAds) == 3", T),
            ("stats.watchedAds.size() == 3", T),
            ("size([1, 2]) == 2", T),
            ("profile.country in [profile.gender, \"US\"]", T),
        ],
    );
}

#[test]
fn strings() {
    assert_all(
        FULL_VIEW,
        &[
            ("profile.gender.startsWith(\"fem\")", T),
            ("profile.gender.endsWith(\"male\")", T),
            ("profile.gender.contains(\"mal\")", T),
            ("profile.gender.contains(\"x\")", F),
            ("profile.gender.matches(\"^f.*e$\")", T),
            ("profile.country.matches(r\"^[A-Z]{2}$\")", T),
            ("profile.country.matches(\"^[a-z]+$\")", F),
            ("size(\"héllo\") == 6", T),
            ("\"héllo\".size() == 6", T),
            ("\"ab\" + \"cd\" == \"abcd\"", T),
            ("\"line\\nbreak\".contains(\"\\n\")", T),
            ("\"\"\"tri\"ple\"\"\" == 'tri\"ple'", T),
            ("\"\\u00e9\" == \"é\"", T),
        ],
    );
}

#[test]
fn conversions() {
    assert_all(
        EMPTY_VIEW,
        &[
            ("int(2.9) == 2", T),
            ("int(-2.9) == -2", T),
            ("int(1e300) == 0", MISSING),
            ("double(3) / 2.0 == 1.5", T),
            ("int(7) == 7", T),
            ("double(2.5) == 2.5", T),
        ],
    );
}

#[test]
fn time_and_durations() {
    assert_all(
        FULL_VIEW,
        &[
            ("now() == timestamp(\"2026-06-14T12:00:00Z\")", T),
            ("now() - profile.since > duration(\"13d\")", T),
            ("now() - profile.since == duration(\"13d12h\")", T),
            ("profile.since + duration(\"1d\") == timestamp(\"2026-06-02T00:00:00Z\")", T),
            ("duration(\"1d\") + profile.since == timestamp(\"2026-06-02T00:00:00Z\")", T),
            ("profile.since - duration(\"1d\") < profile.since", T),
            ("-duration(\"1h\") < duration(\"0s\")", T),
            ("profile.session == duration(\"90s\")", T),
            ("profile.session - duration(\"30s\") == duration(\"1m\")", T),
            ("age() == 35", T),
            ("age() >= 25 && age() <= 34", F),
        ],
    );
}

#[test]
fn has_is_never_missing() {
    assert_all(
        FULL_VIEW,
        &[
            ("has(profile.gender)", T),
            ("has(stats.sessions)", T),
            ("has(last(\"purchase\").item)", T),
            ("has(last(\"app_opened\").os)", T),
            ("count(\"purchase\", \"7d\", has(event.qty)) == 2", T),
        ],
    );
    assert_all(
        EMPTY_VIEW,
        &[
            ("has(profile.gender)", F),
            ("!has(stats.sessions)", T),
            ("has(last(\"purchase\").item)", F),
        ],
    );
}

#[test]
fn segmentation_functions() {
    assert_all(
        FULL_VIEW,
        &[
            ("count(\"purchase\", \"1h\") == 2", T),
            ("count(\"purchase\", \"7d\") == 3", T),
            ("count(\"purchase\", duration(\"7d\")) == 3", T),
            ("count(\"purchase\", \"7d\", event.amount > 5.0) == 2", T),
            ("count(\"purchase\", \"7d\", event.item == \"gems\" && event.amount < 20.0) == 1", T),
            ("count(\"purchase\", \"7d\", event.qty > 1) == 1", T),
            ("sum(\"purchase\", \"amount\", \"1h\") == 14.98", T),
            ("sum(\"purchase\", \"qty\", \"7d\") == 4", T),
            ("sum(\"purchase\", \"amount\", \"1ms\") == 0.0", T),
            ("min(\"purchase\", \"amount\", \"7d\") == 4.99", T),
            ("max(\"purchase\", \"amount\", \"7d\") == 50.0", T),
            ("max(\"purchase\", \"item\", \"7d\") == \"gems\"", T),
            ("avg(\"purchase\", \"qty\", \"7d\") == 2.0", T),
            ("avg(\"purchase\", \"amount\", \"1h\") == 7.49", T),
            ("min(\"purchase\", \"amount\", \"1ms\") > 0.0", MISSING),
            ("avg(\"purchase\", \"amount\", \"1ms\") > 0.0", MISSING),
            ("distinct_count(\"purchase\", \"item\", \"7d\") == 2", T),
            ("distinct_count(\"purchase\", \"item\", \"1h\") == 2", T),
            ("last(\"purchase\").item == \"coins\"", T),
            ("last(\"app_opened\").os.startsWith(\"iOS 18\")", T),
            ("first_seen(\"app_opened\") == timestamp(\"2026-06-10T08:00:00Z\")", T),
            ("last_seen(\"purchase\") == timestamp(\"2026-06-14T11:50:00Z\")", T),
            ("now() - last_seen(\"app_opened\") == duration(\"1h\")", T),
            ("sequence(\"ad_shown\", \"ad_clicked\", \"10m\")", T),
            ("sequence(\"ad_clicked\", \"ad_shown\", \"10m\")", F),
            ("sequence(\"ad_shown\", \"ad_clicked\", \"4m\")", F),
            ("first_seen(\"ad_clicked\") > now()", F),
        ],
    );
    assert_all(
        EMPTY_VIEW,
        &[
            ("count(\"purchase\", \"7d\") == 0", T),
            ("sum(\"purchase\", \"amount\", \"7d\") == 0.0", T),
            ("distinct_count(\"purchase\", \"item\", \"7d\") == 0", T),
            ("last(\"purchase\").item == \"coins\"", MISSING),
            ("first_seen(\"purchase\") < now()", MISSING),
            ("sequence(\"ad_shown\", \"ad_clicked\", \"10m\")", F),
            ("age() > 0", MISSING),
        ],
    );
}

#[test]
fn user_defined_functions() {
    let mut udfs = UdfRegistry::new();
    let clamp = Udf {
        name: "clamp01".into(),
        params: vec![Type::Double],
        result: Type::Double,
        cost: 2,
        body: Arc::new(|args| match args {
            [Value::Double(x)] => Some(Value::Double(x.clamp(0.0, 1.0))),
            _ => None,
        }),
    };
    let region = Udf {
        name: "region".into(),
        params: vec![Type::String],
        result: Type::String,
        cost: 2,
        body: Arc::new(|args| match args {
            [Value::Str("US" | "CA" | "MX")] => Some(Value::Str("NA")),
            [Value::Str(_)] => Some(Value::Str("ROW")),
            _ => None,
        }),
    };
    let broken = Udf {
        name: "broken".into(),
        params: vec![],
        result: Type::Int,
        cost: 1,
        body: Arc::new(|_| Some(Value::Str("not an int"))),
    };
    for udf in [clamp, region, broken] {
        assert_eq!(udfs.register(udf), Ok(()));
    }
    assert!(udfs
        .register(Udf {
            name: "count".into(),
            params: vec![],
            result: Type::Int,
            cost: 1,
            body: Arc::new(|_| None)
        })
        .is_err());
    assert_eq!(eval_with("clamp01(profile.score * 2.0) == 1.0", FULL_VIEW, &udfs), Some(true));
    assert_eq!(eval_with("clamp01(3) == 1.0", FULL_VIEW, &udfs), Some(true));
    assert_eq!(eval_with("region(profile.country) == \"NA\"", FULL_VIEW, &udfs), Some(true));
    assert_eq!(eval_with("region(profile.country) == \"NA\"", EMPTY_VIEW, &udfs), None);
    assert_eq!(eval_with("broken() == 1", EMPTY_VIEW, &udfs), None);
}

#[test]
fn an_int_sum_that_overflows_is_missing() {
    let view = r#"{"now": "2026-06-14T12:00:00Z", "events": [
        {"type": "purchase", "time": "2026-06-14T11:00:00Z", "id": "a", "properties": {"qty": 9223372036854775807}},
        {"type": "purchase", "time": "2026-06-14T11:01:00Z", "id": "b", "properties": {"qty": 1}}]}"#;
    assert_eq!(eval("sum(\"purchase\", \"qty\", \"1d\") > 0", view), MISSING);
    assert_eq!(eval("sum(\"purchase\", \"qty\", \"1h\") == 1", view), T);
}
