//! Fuzzes loading a whole rule file (TOML, definitions, conditions) and rendering its
//! errors: no input may panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use segstream_rules::{load_rule_files, Limits, Schema, SourceText, UdfRegistry};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(schema) = Schema::from_toml(include_str!("../../configs/schema.toml")) else { return };
    let files = [SourceText { name: "fuzz.toml".into(), text: text.to_string() }];
    if let Err(diagnostics) = load_rule_files(&files, &schema, &UdfRegistry::new(), Limits::default()) {
        for d in diagnostics {
            let _ = d.to_string();
        }
    }
});
