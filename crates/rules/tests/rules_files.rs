//! Rule files: definitions, set consistency and hostile files, with every error located
//! at file:line:col.

mod common;

use segstream_rules::{load_rule_files, Diagnostic, Limits, SegmentKind, SourceText, UdfRegistry};

fn load(files: &[(&str, &str)]) -> Result<Vec<segstream_rules::SegmentDef>, Vec<Diagnostic>> {
    let sources: Vec<SourceText> = files
        .iter()
        .map(|(name, text)| SourceText {
            name: name.to_string(),
            text: text.to_string(),
        })
        .collect();
    load_rule_files(&sources, &common::schema(), &UdfRegistry::new(), Limits::default()).map(|(_, defs)| defs)
}

fn errors(files: &[(&str, &str)]) -> Vec<String> {
    match load(files) {
        Ok(_) => panic!("should not load"),
        Err(diagnostics) => diagnostics
            .iter()
            .map(|d| format!("{}:{}:{}: {}", d.file, d.at.line, d.at.col, d.message))
            .collect(),
    }
}

fn assert_one_error(files: &[(&str, &str)], location: &str, fragment: &str) {
    let found = errors(files);
    assert!(
        found.iter().any(|e| e.starts_with(location) && e.contains(fragment)),
        "expected {location} {fragment:?} in {found:#?}"
    );
}

const VALID: &str = r#"
[[segment]]
id = "payers"
name = "Payers"
when = "false"

[[segment]]
id = "whales"
name = "Whales"
kind = "sticky"
group = "tier"
priority = 2
parent = "payers"
when = '''
sum("purchase", "amount", "30d") >= 100.0
'''

[[segment]]
id = "minnows"
name = "Minnows"
group = "tier"
priority = 1
parent = "payers"
when = 'count("purchase", "30d") > 0'
"#;

#[test]
fn a_valid_file_loads_with_every_field() {
    let defs = load(&[("a.toml", VALID)]).unwrap_or_default();
    assert_eq!(defs.len(), 3);
    assert_eq!(defs[1].kind, SegmentKind::Sticky);
    assert_eq!(defs[1].group.as_deref(), Some("tier"));
    assert_eq!(defs[1].priority, Some(2));
    assert_eq!(defs[1].parent.as_deref(), Some("payers"));
    assert_eq!(defs[0].kind, SegmentKind::Dynamic);
}

#[test]
fn condition_errors_point_into_the_file() {
    let text = VALID.replace("sum(\"purchase\", \"amount\"", "sum(\"purchase\", \"amont\"");
    assert_one_error(&[("a.toml", &text)], "a.toml:15:17", "has no property `amont`");
    let single = VALID.replace("count(\"purchase\", \"30d\") > 0", "count(\"purchse\", \"30d\") > 0");
    assert_one_error(&[("a.toml", &single)], "a.toml:24:15", "unknown event type \"purchse\"");
    let escaped = "[[segment]]\nid = \"x\"\nname = \"X\"\nwhen = \"profile.gendr == \\\"f\\\"\"\n";
    assert_one_error(
        &[("e.toml", escaped)],
        "e.toml:4:8",
        "in the condition of \"x\" at character 9: unknown profile field",
    );
}

#[test]
fn errors_in_several_files_are_all_reported() {
    let bad = "[[segment]]\nid = \"b\"\nname = \"B\"\nwhen = \"profile.level\"\n";
    let found = errors(&[("good.toml", VALID), ("bad.toml", bad), ("empty.toml", "# nothing\n")]);
    assert!(
        found
            .iter()
            .any(|e| e.starts_with("empty.toml:1:1") && e.contains("no segments in this file")),
        "{found:?}"
    );
    let found = errors(&[("good.toml", VALID), ("bad.toml", bad)]);
    assert!(
        found
            .iter()
            .any(|e| e.starts_with("bad.toml:4:9") && e.contains("a condition must be a bool")),
        "{found:?}"
    );
}

#[test]
fn definition_errors() {
    let segment = |id: &str, extra: &str| format!("[[segment]]\nid = \"{id}\"\nname = \"N\"\n{extra}when = \"true\"\n\n");
    assert_one_error(
        &[("k.toml", &segment("a", "kind = \"sometimes\"\n"))],
        "k.toml:4:8",
        "unknown variant `sometimes`",
    );
    let duplicate = segment("a", "") + &segment("a", "");
    assert_one_error(&[("d.toml", &duplicate)], "d.toml:7:6", "duplicate segment id \"a\"");
    let across_files = [("one.toml", segment("a", "")), ("two.toml", segment("a", ""))];
    let across: Vec<(&str, &str)> = across_files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    assert_one_error(&across, "two.toml:2:6", "duplicate segment id");
    let cycle = segment("a", "parent = \"b\"\n") + &segment("b", "parent = \"c\"\n") + &segment("c", "parent = \"a\"\n");
    assert_one_error(&[("c.toml", &cycle)], "c.toml:4:10", "parent cycle: a -> b -> c -> a");
    assert_eq!(errors(&[("c.toml", &cycle)]).len(), 1, "a cycle is reported once");
    assert_one_error(
        &[("s.toml", &segment("a", "parent = \"a\"\n"))],
        "s.toml:4:10",
        "cannot be its own parent",
    );
    assert_one_error(
        &[("p.toml", &segment("a", "parent = \"nobody\"\n"))],
        "p.toml:4:10",
        "unknown parent segment \"nobody\"",
    );
    let tie = segment("a", "group = \"g\"\npriority = 5\n") + &segment("b", "group = \"g\"\npriority = 5\n");
    assert_one_error(&[("t.toml", &tie)], "t.toml:12:12", "have the same priority 5");
    assert_one_error(&[("g.toml", &segment("a", "group = \"g\"\n"))], "g.toml:4:9", "needs a priority");
    assert_one_error(
        &[("q.toml", &segment("a", "priority = 3\n"))],
        "q.toml:4:12",
        "priority only has a meaning inside an exclusive group",
    );
    assert_one_error(&[("i.toml", &segment("Bad Id", ""))], "i.toml:2:6", "must be 1-64 characters");
    assert_one_error(
        &[("u.toml", &segment("a", "colour = \"red\"\n"))],
        "u.toml:4:1",
        "unknown field `colour`",
    );
    assert_one_error(
        &[("m.toml", "[[segment]]\nid = \"a\"\nname = \"A\"\n")],
        "m.toml:1:1",
        "missing field `when`",
    );
    assert_one_error(
        &[("w.toml", "[[segments]]\nid = \"a\"\n")],
        "w.toml:1:3",
        "unknown field `segments`",
    );
    assert_one_error(
        &[("n.toml", &segment("a", "priority = \"high\"\ngroup = \"g\"\n"))],
        "n.toml:4:12",
        "invalid type",
    );
}

#[test]
fn hostile_files() {
    assert_one_error(&[("empty.toml", "")], "empty.toml:1:1", "no segments in this file");
    let garbage: String = (0u32..2000)
        .map(|i| char::from_u32((i * 7919) % 0x2FF + 1).unwrap_or('?'))
        .collect();
    assert!(!errors(&[("garbage.toml", &garbage)]).is_empty());
    let binary = String::from_utf8_lossy(&[0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0xff, 0xfe]).to_string();
    assert!(!errors(&[("binary.toml", &binary)]).is_empty());
    let huge_condition = format!(
        "[[segment]]\nid = \"a\"\nname = \"A\"\nwhen = '''{}'''\n",
        "true && ".repeat(130_000) + "true"
    );
    assert_one_error(
        &[("huge.toml", &huge_condition)],
        "huge.toml:4:11",
        "bytes long; the limit is 16384 bytes",
    );
    let deep = format!("[[segment]]\nid = \"a\"\nname = \"A\"\nwhen = '''{}true'''\n", "!".repeat(10_000));
    assert_one_error(&[("deep.toml", &deep)], "deep.toml:4:", "nested too deeply");
    let too_big = "#".repeat(5 << 20);
    assert_one_error(&[("big.toml", &too_big)], "big.toml:1:1", "the limit is 4194304 bytes");
}
