//! Fuzzes parse + check + compile + evaluate of one condition against the example
//! schema: no input may panic, hang or overflow the stack.
#![no_main]

use libfuzzer_sys::fuzz_target;
use segstream_rules::{check_condition, CheckEnv, FeatureRegistry, Limits, Program, Schema, UdfRegistry, View};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(schema) = Schema::from_toml(include_str!("../../configs/schema.toml")) else { return };
    let udfs = UdfRegistry::new();
    let mut features = FeatureRegistry::default();
    let mut env = CheckEnv { schema: &schema, udfs: &udfs, features: &mut features, limits: Limits::default() };
    if let Ok(typed) = check_condition(text, &mut env) {
        let program = Program::compile(&typed, &udfs);
        let _ = program.eval_bool(&View { now: 1_781_438_400_000, ..View::default() });
    }
});
