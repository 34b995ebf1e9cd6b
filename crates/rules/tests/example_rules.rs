//! The shipped example rule set and schema (configs/) are valid, large enough, and use
//! every part of the language they are meant to demonstrate.

use std::collections::BTreeSet;

use segstream_rules::{load_rule_files, FeatureKind, Limits, Schema, SegmentKind, SourceText, UdfRegistry};

fn read(path: &std::path::Path) -> SourceText {
    match std::fs::read_to_string(path) {
        Ok(text) => SourceText {
            name: path.display().to_string(),
            text,
        },
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

#[test]
fn the_example_set_is_valid_and_complete() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let schema = Schema::from_toml(&read(&root.join("schema.toml")).text).unwrap_or_else(|e| panic!("schema: {e:?}"));
    let mut files: Vec<_> = std::fs::read_dir(root.join("rules"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let sources: Vec<SourceText> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| read(p))
        .collect();
    let (set, defs) = match load_rule_files(&sources, &schema, &UdfRegistry::new(), Limits::default()) {
        Ok(loaded) => loaded,
        Err(diagnostics) => panic!("{}", diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")),
    };
    assert!(defs.len() >= 20, "only {} segments", defs.len());
    assert!(defs.iter().any(|d| d.kind == SegmentKind::Sticky), "no sticky segment");
    assert!(defs.iter().filter(|d| d.group.is_some()).count() >= 3, "no exclusive group of 3+");
    assert!(defs.iter().any(|d| d.parent.is_some()), "no hierarchy");
    let kinds: BTreeSet<&str> = set
        .features()
        .iter()
        .map(|f| match (f.kind, f.filter.is_some()) {
            (FeatureKind::Count, false) => "count",
            (FeatureKind::Count, true) => "count_filtered",
            (FeatureKind::Sum(_), _) => "sum",
            (FeatureKind::Min(_), _) => "min",
            (FeatureKind::Max(_), _) => "max",
            (FeatureKind::Avg(_), _) => "avg",
            (FeatureKind::DistinctCount(_), _) => "distinct_count",
            (FeatureKind::Last(_), _) => "last",
            (FeatureKind::FirstSeen, _) => "first_seen",
            (FeatureKind::LastSeen, _) => "last_seen",
            (FeatureKind::SequenceThen(_), _) => "sequence",
        })
        .collect();
    assert_eq!(kinds.len(), 11, "functions used: {kinds:?}");
    let all_text: String = defs.iter().map(|d| d.when.as_str()).collect::<Vec<_>>().join("\n");
    for function in ["age()", "now()", "matches(", "startsWith(", " in ", "has("] {
        assert!(all_text.contains(function), "no example uses {function}");
    }
}
