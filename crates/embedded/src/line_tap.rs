//! A tap on the embedded sources' input lines, and the one place a line becomes a
//! classifier record.
//!
//! Contract: [`read_line`] hands `line` to the tap, if any, before decoding it exactly
//! as a record of the events topic is decoded (`decode_event_line`): the tap sees every
//! line, valid or rejected, in each partition's order — what a topic would hold. The
//! embedded deployment has no topic, so the lake writer of `segstream demo` taps the
//! generator's and the collector's lines here. A tap may block (that pushes back on the
//! source); it must not lose a line while it returns normally.

use std::sync::Arc;

use segstream_dataflows::classifier::source::SourceRecord;
use segstream_model::event::decode::decode_event_line;
use segstream_rules::Schema;

/// Something that sees every line a source reads.
pub trait LineTap: Send + Sync {
    /// `line` was read from `partition` (numbered as the tap's owner numbers them).
    fn tap(&self, partition: u32, line: &str);
}

/// A source's tap: the tap and the number its partition 0 has there.
#[derive(Clone)]
pub struct Tapped {
    /// The tap.
    pub tap: Arc<dyn LineTap>,
    /// Added to the source's partition numbers.
    pub partition_base: u32,
}

/// Taps `line` of `partition`, then decodes it into the record the classifier reads.
pub fn read_line(tap: Option<&Tapped>, partition: u32, line: &str, schema: &Schema, future_tolerance_ms: u64) -> SourceRecord {
    if let Some(tapped) = tap {
        tapped.tap.tap(tapped.partition_base + partition, line);
    }
    match decode_event_line(line, schema, future_tolerance_ms) {
        Ok(event) => SourceRecord::Event(event),
        Err(e) => SourceRecord::Rejected(e.reason),
    }
}
