//! Property tests: on random well-typed conditions and random user views, the compiled
//! evaluator agrees with the reference interpreter, and printing a parsed condition
//! gives text that parses back to the same tree.

mod common;

use proptest::prelude::*;
use segstream_rules::{parse, reference_evaluate, FieldValue, Limits, Program, SampleView, UdfRegistry};
use serde_json::{json, Map, Value};

#[derive(Clone, Copy, Debug)]
enum Ty {
    Bool,
    Int,
    Double,
    Str,
    Time,
    Dur,
}

fn leaves(ty: Ty) -> Vec<&'static str> {
    match ty {
        Ty::Int => vec![
            "0",
            "1",
            "-3",
            "7",
            "42",
            "9223372036854775807",
            "profile.level",
            "stats.sessions",
            "count(\"purchase\", \"1h\")",
            "count(\"purchase\", \"7d\", event.qty > 1)",
            "sum(\"purchase\", \"qty\", \"1d\")",
            "size(profile.gender)",
            "age()",
            "distinct_count(\"purchase\", \"item\", \"1d\")",
            "size(stats.watchedAds)",
            "last(\"purchase\").qty",
            "min(\"purchase\", \"qty\", \"1d\")",
            "stats.hours[0]",
        ],
        Ty::Double => vec![
            "0.5",
            "-2.25",
            "1e300",
            "0.0",
            "3.0",
            "profile.score",
            "stats.revenue",
            "sum(\"purchase\", \"amount\", \"1d\")",
            "avg(\"purchase\", \"amount\", \"1d\")",
            "max(\"purchase\", \"amount\", \"7d\")",
            "last(\"purchase\").amount",
            "stats.amounts[0]",
        ],
        Ty::Str => vec![
            "\"a\"",
            "\"US\"",
            "\"\"",
            "\"fem\"",
            "profile.gender",
            "profile.country",
            "last(\"app_opened\").os",
            "stats.watchedAds[1]",
            "max(\"purchase\", \"item\", \"7d\")",
        ],
        Ty::Bool => vec![
            "true",
            "false",
            "profile.vip",
            "stats.isRegularPlayer",
            "has(profile.gender)",
            "has(last(\"purchase\").item)",
            "sequence(\"ad_shown\", \"ad_clicked\", \"10m\")",
            "(\"A\" in stats.watchedAds)",
            "(3 in stats.amounts)",
        ],
        Ty::Time => vec![
            "now()",
            "timestamp(\"2026-06-01T00:00:00Z\")",
            "profile.since",
            "first_seen(\"purchase\")",
            "last_seen(\"app_opened\")",
        ],
        Ty::Dur => vec!["duration(\"1h\")", "duration(\"90s\")", "profile.session", "duration(\"0s\")"],
    }
}

fn leaf(ty: Ty) -> BoxedStrategy<String> {
    proptest::sample::select(leaves(ty)).prop_map(str::to_string).boxed()
}

fn fmt2(template: &'static str) -> impl Fn((String, String)) -> String {
    move |(a, b)| template.replacen("{}", &a, 1).replacen("{}", &b, 1)
}

fn fmt3(template: &'static str) -> impl Fn((String, String, String)) -> String {
    move |(a, b, c)| template.replacen("{}", &a, 1).replacen("{}", &b, 1).replacen("{}", &c, 1)
}

fn expr(ty: Ty, depth: u32) -> BoxedStrategy<String> {
    if depth == 0 {
        return leaf(ty);
    }
    let d = depth - 1;
    let e = |t: Ty| expr(t, d);
    let numeric = || prop_oneof![expr(Ty::Int, d), expr(Ty::Double, d)].boxed();
    let composite: BoxedStrategy<String> = match ty {
        Ty::Int => prop_oneof![
            (e(Ty::Int), e(Ty::Int)).prop_map(fmt2("({} + {})")),
            (e(Ty::Int), e(Ty::Int)).prop_map(fmt2("({} - {})")),
            (e(Ty::Int), e(Ty::Int)).prop_map(fmt2("({} * {})")),
            (e(Ty::Int), e(Ty::Int)).prop_map(fmt2("({} / {})")),
            (e(Ty::Int), e(Ty::Int)).prop_map(fmt2("({} % {})")),
            e(Ty::Int).prop_map(|a| format!("-({a})")),
            e(Ty::Double).prop_map(|a| format!("int({a})")),
            (e(Ty::Bool), e(Ty::Int), e(Ty::Int)).prop_map(fmt3("({} ? {} : {})")),
            (e(Ty::Int), e(Ty::Int), e(Ty::Int)).prop_map(fmt3("[{}, {}, 5][{}]")),
            (e(Ty::Int), e(Ty::Int), e(Ty::Str)).prop_map(fmt3("{\"US\": {}, \"a\": {}}[{}]")),
        ]
        .boxed(),
        Ty::Double => prop_oneof![
            (e(Ty::Double), numeric()).prop_map(fmt2("({} + {})")),
            (numeric(), e(Ty::Double)).prop_map(fmt2("({} - {})")),
            (e(Ty::Double), numeric()).prop_map(fmt2("({} * {})")),
            (numeric(), e(Ty::Double)).prop_map(fmt2("({} / {})")),
            e(Ty::Double).prop_map(|a| format!("-({a})")),
            e(Ty::Int).prop_map(|a| format!("double({a})")),
            (e(Ty::Bool), e(Ty::Double), e(Ty::Int)).prop_map(fmt3("({} ? {} : {})")),
        ]
        .boxed(),
        Ty::Str => prop_oneof![
            (e(Ty::Bool), e(Ty::Str), e(Ty::Str)).prop_map(fmt3("({} ? {} : {})")),
            Just("(\"a\" + \"b\")".to_string()),
            (e(Ty::Str), e(Ty::Str), e(Ty::Str)).prop_map(fmt3("{\"a\": {}, \"US\": {}}[{}]")),
        ]
        .boxed(),
        Ty::Bool => {
            let compare = |t: Ty, ops: &'static [&'static str]| {
                (e(t), proptest::sample::select(ops), e(t))
                    .prop_map(|(a, op, b)| format!("({a} {op} {b})"))
                    .boxed()
            };
            const ALL: &[&str] = &["==", "!=", "<", "<=", ">", ">="];
            prop_oneof![
                e(Ty::Bool).prop_map(|a| format!("!({a})")),
                (e(Ty::Bool), e(Ty::Bool)).prop_map(fmt2("({} && {})")),
                (e(Ty::Bool), e(Ty::Bool)).prop_map(fmt2("({} || {})")),
                (numeric(), proptest::sample::select(ALL), numeric()).prop_map(|(a, op, b)| format!("({a} {op} {b})")),
                compare(Ty::Str, ALL),
                compare(Ty::Time, ALL),
                compare(Ty::Dur, ALL),
                compare(Ty::Bool, &["==", "!="]),
                (e(Ty::Str), e(Ty::Str), e(Ty::Str)).prop_map(fmt3("({} in [{}, {}])")),
                (numeric(), e(Ty::Int), e(Ty::Double)).prop_map(fmt3("({} in [{}, {}])")),
                e(Ty::Str).prop_map(|a| format!("({a} in {{\"US\": 1, \"fem\": 2}})")),
                (e(Ty::Str), e(Ty::Str)).prop_map(fmt2("{}.startsWith({})")),
                (e(Ty::Str), e(Ty::Str)).prop_map(fmt2("{}.endsWith({})")),
                (e(Ty::Str), e(Ty::Str)).prop_map(fmt2("{}.contains({})")),
                e(Ty::Str).prop_map(|a| format!("{a}.matches(\"^[a-f]\")")),
                (e(Ty::Bool), e(Ty::Bool), e(Ty::Bool)).prop_map(fmt3("({} ? {} : {})")),
            ]
            .boxed()
        }
        Ty::Time => prop_oneof![
            (e(Ty::Time), e(Ty::Dur)).prop_map(fmt2("({} + {})")),
            (e(Ty::Time), e(Ty::Dur)).prop_map(fmt2("({} - {})")),
            (e(Ty::Dur), e(Ty::Time)).prop_map(fmt2("({} + {})")),
            (e(Ty::Bool), e(Ty::Time), e(Ty::Time)).prop_map(fmt3("({} ? {} : {})")),
        ]
        .boxed(),
        Ty::Dur => prop_oneof![
            (e(Ty::Time), e(Ty::Time)).prop_map(fmt2("({} - {})")),
            (e(Ty::Dur), e(Ty::Dur)).prop_map(fmt2("({} + {})")),
            (e(Ty::Dur), e(Ty::Dur)).prop_map(fmt2("({} - {})")),
            e(Ty::Dur).prop_map(|a| format!("-({a})")),
        ]
        .boxed(),
    };
    prop_oneof![1 => leaf(ty), 3 => composite].boxed()
}

fn maybe(value: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Option<Value>> {
    proptest::option::weighted(0.7, value).boxed()
}

fn text() -> BoxedStrategy<Value> {
    proptest::sample::select(vec!["", "a", "US", "DE", "female", "fem", "abc", "A", "B"])
        .prop_map(Value::from)
        .boxed()
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        (-50i64..50).prop_map(Value::from),
        proptest::sample::select(vec![0.5, -1.25, 3.0, 1e300, 9.99]).prop_map(Value::from)
    ]
    .boxed()
}

fn object(fields: Vec<(&'static str, Option<Value>)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
            .collect::<Map<_, _>>(),
    )
}

fn view() -> impl Strategy<Value = String> {
    let profile = (
        maybe(text()),
        maybe(text()),
        maybe(proptest::sample::select(vec!["1990-06-15", "2010-01-01", "1960-12-31"]).prop_map(Value::from)),
        maybe(number().prop_map(|n| json!(n.as_f64().unwrap_or(0.0)))),
        maybe((-5i64..60).prop_map(Value::from)),
        maybe(any::<bool>().prop_map(Value::from)),
        maybe(proptest::sample::select(vec!["2026-06-01T00:00:00Z", "2026-06-14T11:59:59Z"]).prop_map(Value::from)),
        maybe(proptest::sample::select(vec!["90s", "1h", "0s"]).prop_map(Value::from)),
    )
        .prop_map(|(g, c, b, s, l, v, since, session)| {
            object(vec![
                ("gender", g),
                ("country", c),
                ("birthDate", b),
                ("score", s),
                ("level", l),
                ("vip", v),
                ("since", since),
                ("session", session),
            ])
        });
    let stats = (
        maybe(any::<bool>().prop_map(Value::from)),
        maybe(proptest::collection::vec(text(), 0..4).prop_map(Value::from)),
        maybe(number().prop_map(|n| json!(n.as_f64().unwrap_or(0.0)))),
        maybe((0i64..100).prop_map(Value::from)),
        maybe(proptest::collection::vec((0i64..24).prop_map(Value::from), 0..3).prop_map(Value::from)),
        maybe(proptest::collection::vec(number().prop_map(|n| json!(n.as_f64().unwrap_or(0.0))), 0..3).prop_map(Value::from)),
    )
        .prop_map(|(r, w, rev, s, h, a)| {
            object(vec![
                ("isRegularPlayer", r),
                ("watchedAds", w),
                ("revenue", rev),
                ("sessions", s),
                ("hours", h),
                ("amounts", a),
            ])
        });
    let event = (
        0usize..4,
        -200_000i64..30_000,
        maybe(number()),
        maybe(text()),
        maybe((0i64..5).prop_map(Value::from)),
    )
        .prop_map(|(kind, offset_s, amount, label, qty)| {
            let now = 1_781_438_400_000i64; // 2026-06-14T12:00:00Z
            let time = segstream_time::format_timestamp(now + offset_s * 1000);
            let amount = amount.map(|n| json!(n.as_f64().unwrap_or(0.0)));
            let (name, props) = match kind {
                0 => ("purchase", object(vec![("amount", amount), ("item", label), ("qty", qty)])),
                1 => ("ad_shown", object(vec![("network", label)])),
                2 => ("ad_clicked", object(vec![("network", label)])),
                _ => ("app_opened", object(vec![("os", label)])),
            };
            json!({"type": name, "time": time, "properties": props})
        });
    (profile, stats, proptest::collection::vec(event, 0..8))
        .prop_map(|(p, s, events)| json!({"now": "2026-06-14T12:00:00Z", "profile": p, "stats": s, "events": events}).to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn compiled_evaluation_equals_the_reference(condition in expr(Ty::Bool, 4), view_json in view()) {
        let udfs = UdfRegistry::new();
        let (typed, features) = match common::check_with(&condition, &udfs, Limits::default()) {
            Ok(checked) => checked,
            Err(e) => return Err(TestCaseError::fail(format!("generated condition does not check: {} at {:?}", e.message, e.span))),
        };
        let schema = common::schema();
        let sample = SampleView::from_json(&view_json, &schema, common::TICK_MS).map_err(TestCaseError::fail)?;
        let values = sample.features(&schema, features.specs(), common::TICK_MS);
        let view = sample.view(&values);
        let compiled = Program::compile(&typed, &udfs).eval(&view).map(FieldValue::from_value);
        let reference = reference_evaluate(&typed, &view, &udfs);
        prop_assert_eq!(compiled, reference, "condition: {}", condition);
    }

    #[test]
    fn printing_then_parsing_gives_the_same_tree(condition in expr(Ty::Bool, 4)) {
        let limits = Limits::default();
        let first = parse(&condition, &limits).map_err(|e| TestCaseError::fail(e.message))?;
        let printed = first.to_string();
        let second = parse(&printed, &limits).map_err(|e| TestCaseError::fail(format!("{}: {printed}", e.message)))?;
        prop_assert_eq!(second.to_string(), printed);
    }
}
