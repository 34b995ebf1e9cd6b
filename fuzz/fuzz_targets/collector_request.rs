//! Fuzzes the collector's request decoder: a request body (the first byte chooses the
//! API, gzip and NDJSON) read, parsed and judged event by event exactly as
//! `POST /v1/batch`, `/v1/track` and `/v1/events` do. No input may panic or hang, and
//! every event of a well-shaped request gets exactly one judgement.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use segstream_rules::Schema;
use segstream_ingest::body::read_body;
use segstream_ingest::events::{accept, parse_request, Api, Enrichment, Outcome};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    static SCHEMA: OnceLock<Option<Schema>> = OnceLock::new();
    let Some(schema) = SCHEMA.get_or_init(|| Schema::from_toml(include_str!("../../configs/schema.toml")).ok()) else {
        return;
    };
    let api = match mode % 3 {
        0 => Api::Batch,
        1 => Api::Track,
        _ => Api::Events,
    };
    let (gzip, ndjson) = (mode & 0x10 != 0, mode & 0x20 != 0);
    let Ok(body) = read_body(body, gzip, 500_000) else { return };
    let Ok(request) = parse_request(&body, ndjson, api) else { return };
    let enrichment = Enrichment {
        received_at_ms: 1_800_000_000_000,
        node: "fuzz".into(),
        node_ip: "127.0.0.1".into(),
        client_ip: "127.0.0.2".into(),
    };
    let outcomes = accept(&request, schema, 60_000, 32_768, &enrichment);
    assert_eq!(outcomes.len(), request.len(), "one judgement per event");
    for outcome in outcomes {
        if let Outcome::Accepted { line, .. } = outcome {
            // What is accepted is valid JSON for the classifier.
            assert!(serde_json::from_str::<serde_json::Value>(&line).is_ok(), "{line}");
        }
    }
});
