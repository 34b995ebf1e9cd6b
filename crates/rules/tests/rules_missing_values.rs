//! Missing-value semantics: strict operators propagate missing, `&&`/`||` follow
//! Kleene logic, `has()` is never missing, and a missing condition is not a member.

mod common;

use common::{eval, EMPTY_VIEW, FULL_VIEW};

#[test]
fn kleene_truth_tables() {
    // `profile.vip` is missing in EMPTY_VIEW.
    let m = "profile.vip";
    let cases = [
        (format!("{m} && false"), Some(false)),
        (format!("false && {m}"), Some(false)),
        (format!("{m} && true"), None),
        (format!("true && {m}"), None),
        (format!("{m} || true"), Some(true)),
        (format!("true || {m}"), Some(true)),
        (format!("{m} || false"), None),
        (format!("false || {m}"), None),
        (format!("!{m}"), None),
        (format!("{m} && {m}"), None),
        (format!("{m} || {m}"), None),
        (format!("({m} ? true : false)"), None),
    ];
    for (condition, expected) in cases {
        assert_eq!(eval(&condition, EMPTY_VIEW), expected, "{condition}");
    }
}

#[test]
fn strict_operators_propagate_missing() {
    for condition in [
        "profile.level + 1 > 0",
        "profile.level == 1",
        "profile.level != 1",
        "profile.gender.startsWith(\"f\")",
        "profile.gender in [\"female\"]",
        "size(profile.gender) > 0",
        "stats.watchedAds[0] == \"A\"",
        "\"A\" in stats.watchedAds",
        "int(profile.score) == 0",
        "now() - profile.since > duration(\"1d\")",
        "last(\"app_opened\").os == \"iOS\"",
    ] {
        assert_eq!(eval(condition, EMPTY_VIEW), None, "{condition}");
    }
}

#[test]
fn in_list_with_a_missing_element_is_true_if_any_match() {
    assert_eq!(eval("\"US\" in [profile.country, \"US\"]", EMPTY_VIEW), Some(true));
    assert_eq!(eval("\"FR\" in [profile.country, \"US\"]", EMPTY_VIEW), None);
    assert_eq!(eval("\"FR\" in [profile.country, \"US\"]", FULL_VIEW), Some(false));
}

#[test]
fn negation_does_not_match_users_without_the_field() {
    assert_eq!(eval("!(profile.gender == \"male\")", EMPTY_VIEW), None);
    assert_eq!(eval("!has(profile.gender) || profile.gender != \"male\"", EMPTY_VIEW), Some(true));
    assert_eq!(eval("!has(profile.gender) || profile.gender != \"male\"", FULL_VIEW), Some(true));
}

#[test]
fn counting_functions_are_zero_not_missing() {
    assert_eq!(eval("count(\"purchase\", \"1d\") == 0", EMPTY_VIEW), Some(true));
    assert_eq!(eval("sum(\"purchase\", \"qty\", \"1d\") == 0", EMPTY_VIEW), Some(true));
    assert_eq!(eval("max(\"purchase\", \"qty\", \"1d\") == 0", EMPTY_VIEW), None);
}
