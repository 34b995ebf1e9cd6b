//! Check-time errors: every kind of mistake is rejected with its position and a
//! readable reason, including hostile inputs and the cost limit.

mod common;

use common::{error_of, error_with};
use segstream_rules::Limits;

fn assert_error(condition: &str, column: usize, fragment: &str) {
    let (col, message) = error_of(condition);
    assert!(
        message.contains(fragment),
        "{condition:?}: {message:?} does not mention {fragment:?}"
    );
    assert_eq!(col, column, "{condition:?}: {message}");
}

#[test]
fn unknown_names_with_suggestions() {
    assert_error(
        "profile.gendr == \"f\"",
        9,
        "unknown profile field `gendr` (did you mean \"gender\"?)",
    );
    assert_error("stats.revenu > 1.0", 7, "did you mean \"revenue\"");
    assert_error(
        "count(\"ad_clikced\", \"10m\") > 1",
        7,
        "unknown event type \"ad_clikced\" (did you mean \"ad_clicked\"?)",
    );
    assert_error(
        "sum(\"purchase\", \"amout\", \"1d\") > 1.0",
        17,
        "has no property `amout` (did you mean \"amount\"?)",
    );
    assert_error("last(\"purchase\").itme == \"x\"", 18, "did you mean \"item\"");
    assert_error(
        "cuont(\"purchase\", \"1d\") > 1",
        1,
        "unknown function `cuont` (did you mean \"count\"?)",
    );
    assert_error(
        "profile.gender.startWith(\"f\")",
        16,
        "unknown method `startWith` (did you mean \"startsWith\"?)",
    );
    assert_error("proflie.gender == \"f\"", 1, "unknown name `proflie` (did you mean \"profile\"?)");
    assert_error("profile == 1", 1, "`profile` is a record");
}

#[test]
fn type_errors() {
    assert_error("profile.level", 1, "a condition must be a bool, but this is int");
    assert_error("profile.level + \"a\" == 1", 1, "`+` cannot be applied to int and string");
    assert_error("profile.gender > 1", 1, "`>` cannot be applied to string and int");
    assert_error("profile.vip < true", 1, "cannot be applied to bool and bool");
    assert_error("!profile.level", 2, "`!` needs a bool, but this is int");
    assert_error("-profile.gender == \"x\"", 2, "`-` needs a number or a duration");
    assert_error("profile.level && true", 1, "each side of `&&` must be bool, but this is int");
    assert_error(
        "(true ? 1 : \"a\") == 1",
        2,
        "the branches of `? :` have different types: int and string",
    );
    assert_error(
        "sum(\"purchase\", \"item\", \"1d\") > 1",
        17,
        "sum() needs a numeric property, but this one is string",
    );
    assert_error("profile.gender in [1, 2]", 1, "`in` compares string with a list of int");
    assert_error("[1, \"a\"][0] == 1", 5, "list elements must all have one type");
    assert_error(
        "stats.watchedAds == stats.watchedAds",
        1,
        "`==` cannot be applied to list(string) and list(string)",
    );
    assert_error("profile.level[0] == 1", 1, "only lists and map literals can be indexed");
    assert_error("size(profile.level) == 1", 6, "size() takes a string or a list");
    assert_error("int(\"3\") == 3", 5, "int() converts between int and double");
    assert_error("profile.session > 5", 1, "cannot be applied to duration and int");
    assert_error("now() + now() > now()", 1, "cannot be applied to timestamp and timestamp");
    assert_error("5.5 % 2.0 == 1.0", 1, "`%` cannot be applied to double and double");
}

#[test]
fn function_arguments() {
    assert_error(
        "count(\"purchase\") > 1",
        1,
        "count() takes an event type, a window and an optional filter, but 1 argument was given",
    );
    assert_error("count(profile.gender, \"1d\") > 1", 7, "the event type must be a string literal");
    assert_error("count(\"purchase\", \"10x\") > 1", 19, "invalid duration \"10x\"");
    assert_error("count(\"purchase\", 10) > 1", 19, "the window must be a duration literal");
    assert_error("count(\"purchase\", \"0s\") > 1", 19, "the window must be longer than zero");
    assert_error("count(\"purchase\", \"100d\") > 1", 19, "longer than the limit of 90d");
    assert_error("timestamp(\"yesterday\") < now()", 11, "invalid timestamp \"yesterday\"");
    assert_error("timestamp(profile.gender) < now()", 11, "timestamp() takes a string literal");
    assert_error("duration(\"soon\") > duration(\"1h\")", 1, "invalid duration \"soon\"");
    assert_error("profile.gender.matches(\"[\")", 24, "invalid regular expression");
    assert_error(
        "profile.gender.matches(profile.country)",
        24,
        "matches() takes a regular expression literal",
    );
    assert_error("has(profile)", 5, "has() takes a field");
    assert_error("last(\"purchase\") == 1", 1, "last(...) is an event; read one of its properties");
    assert_error("age(1) > 3", 1, "age() takes no arguments");
}

#[test]
fn scope_rules() {
    assert_error("event.amount > 1.0", 1, "`event` can only be used inside a count filter");
    assert_error(
        "count(\"purchase\", \"1d\", profile.vip) > 1",
        25,
        "a count filter can only read the event's own properties",
    );
    assert_error(
        "count(\"purchase\", \"1d\", now() > now()) > 1",
        25,
        "now() cannot be used inside a count filter",
    );
    assert_error(
        "count(\"purchase\", \"1d\", count(\"purchase\", \"1d\") > 1) > 1",
        25,
        "count() cannot be used inside a count filter",
    );
    assert_error(
        "count(\"purchase\", \"1d\", event.network == \"x\") > 1",
        31,
        "event type \"purchase\" has no property `network`",
    );
    assert_error(
        "count(\"purchase\", \"1d\", event.amount) > 1",
        25,
        "a count filter must be a bool, but this is double",
    );
}

#[test]
fn syntax_errors() {
    assert_error("profile.level >", 16, "expected a value, a name or '('");
    assert_error("profile.level = 3", 15, "unexpected character '=' (use == to compare)");
    assert_error("profile.vip & true", 13, "use && for 'and'");
    assert_error("count(\"purchase\" \"1d\")", 18, "expected ')', found a string");
    assert_error("\"unterminated", 1, "unterminated string literal");
    assert_error("null == profile.gender", 1, "null is not supported; use has(field)");
    assert_error("b\"bytes\" == \"x\"", 1, "bytes literals are not supported");
    assert_error("1u == 1", 2, "unsigned integers are not supported");
    assert_error(
        "\"a\" + profile.gender == \"ab\"",
        1,
        "strings can only be concatenated when both are constants",
    );
    assert_error("[] == []", 1, "an empty list has no element type");
    assert_error("{profile.gender: 1}[\"a\"] == 1", 2, "map keys must be constant");
    assert_error("", 1, "expected a value");
}

#[test]
fn multi_line_positions() {
    let condition = "count(\"purchase\", \"1d\") > 1 &&\n  profile.contry == \"US\"";
    let (col, message) = error_of(condition);
    assert_eq!(col, 11);
    assert!(message.contains("did you mean \"country\""), "{message}");
}

#[test]
fn hostile_inputs_are_rejected_quickly() {
    let megabyte = format!("profile.level > {}", "9".repeat(1 << 20));
    assert_error(&megabyte, 1, "bytes long; the limit is 16384 bytes");
    let deep_parens = format!("{}true{}", "(".repeat(10_000), ")".repeat(10_000));
    assert_error(&deep_parens, 1, "limit");
    let deep_nots = format!("{}true", "!".repeat(10_000));
    assert!(error_of(&deep_nots).1.contains("nested too deeply (the limit is 64 levels)"));
    let deep_within_size = format!("{}true{}", "(".repeat(5_000), ")".repeat(5_000));
    assert!(error_of(&deep_within_size).1.contains("nested too deeply"));
    let long_or = vec!["profile.vip"; 200].join(" || ");
    assert!(error_of(&long_or).1.contains("nested too deeply"));
    let wide = format!(
        "profile.level in [{}]",
        (0..1200).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
    );
    assert!(error_of(&wide).1.contains("too large (the limit is 1000 nodes)"));
    let garbage = String::from_utf8_lossy(&[0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x7f, b'(', b'"']).to_string();
    assert!(!error_of(&garbage).1.is_empty());
}

#[test]
fn cost_limit() {
    let condition = "profile.gender.matches(\"a\") || profile.gender.matches(\"b\") || profile.gender.matches(\"c\")";
    let limits = Limits {
        max_cost: 50,
        ..Limits::default()
    };
    let (col, message) = error_with(condition, limits);
    assert_eq!(col, 1);
    assert!(message.contains("too costly to evaluate (cost 6"), "{message}");
    assert!(message.contains("the limit is 50"), "{message}");
    assert!(common::check_with(condition, &segstream_rules::UdfRegistry::new(), Limits::default()).is_ok());
    let list = format!(
        "profile.level in [{}]",
        (0..60).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
    );
    assert!(error_with(&list, limits).1.contains("too costly"));
}
