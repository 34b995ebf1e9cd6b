//! The raw table's rows: one per record of the events topic.
//!
//! Contract: a [`SourceRecord`] is a topic record as read: its partition, offset, key,
//! payload bytes and timestamp. [`to_batch`] turns records into one Arrow batch of the
//! raw table's columns ([`columns`]): the record's coordinates and bytes unchanged, the
//! instant it was ingested, the ingest hour's partition columns ([`PARTITION_COLUMNS`],
//! UTC), and — read from the payload when it is an event object, null otherwise —
//! `user`, `event_id`, `event_type` and `event_time_ms`. A payload that is not an event
//! is kept as it is: the table holds every record of the topic. These four columns
//! index the raw record; they are not its judgement: `event_time_ms` is the `time` the
//! client sent (the classifier corrects it for clock skew with `received_at`), and a
//! head with a field of the wrong type leaves all four null (the head is found by
//! [`crate::event_head::scan`]). Replay decodes payloads with the classifier's own
//! decoder.
//!
//! ```
//! use segstream_lake::records::{to_batch, SourceRecord};
//! let payload = br#"{"id":"e1","user":"u1","type":"ad_watched","time":"2026-11-29T17:00:00Z","properties":{"x":1}}"#;
//! let record = SourceRecord { partition: 2, offset: 41, key: None, payload: Some(payload.to_vec()), timestamp_ms: Some(5) };
//! let junk = SourceRecord { partition: 2, offset: 42, key: None, payload: Some(b"not json".to_vec()), timestamp_ms: None };
//! let batch = to_batch(&[record, junk], 1_795_971_600_000).unwrap();
//! assert_eq!(batch.num_rows(), 2);
//! assert_eq!(batch.schema().field(0).name(), "source_partition");
//! ```

use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, BinaryBuilder, Int32Array, Int64Builder, RecordBatch, StringBuilder};
use deltalake::arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef};
use deltalake::kernel::{DataType, StructField};

use crate::event_head::{scan, Time};
use crate::LakeError;

/// The ingest hour's partition columns, outermost first (the seed's `YYYY/MM/DD/HH`).
pub const PARTITION_COLUMNS: [&str; 4] = ["year", "month", "day", "hour"];

/// A topic record as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRecord {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key, if any.
    pub key: Option<Vec<u8>>,
    /// Its payload, if any.
    pub payload: Option<Vec<u8>>,
    /// Its timestamp (ms), if any.
    pub timestamp_ms: Option<i64>,
}

/// The raw table's columns, in order: (name, Delta type, nullable).
const COLUMNS: [(&str, DataType, bool); 14] = [
    ("source_partition", DataType::INTEGER, false),
    ("source_offset", DataType::LONG, false),
    ("record_key", DataType::BINARY, true),
    ("payload", DataType::BINARY, true),
    ("record_timestamp_ms", DataType::LONG, true),
    ("ingested_at_ms", DataType::LONG, false),
    ("user", DataType::STRING, true),
    ("event_id", DataType::STRING, true),
    ("event_type", DataType::STRING, true),
    ("event_time_ms", DataType::LONG, true),
    ("year", DataType::INTEGER, false),
    ("month", DataType::INTEGER, false),
    ("day", DataType::INTEGER, false),
    ("hour", DataType::INTEGER, false),
];

/// A table's columns: (name, Delta type, nullable); the types are integers, longs,
/// binaries and strings.
pub(crate) type ColumnList<'a> = &'a [(&'a str, DataType, bool)];

/// The Delta columns of `list`.
pub(crate) fn delta_columns(list: ColumnList<'_>) -> Vec<StructField> {
    list.iter()
        .map(|(name, ty, nullable)| StructField::new(*name, ty.clone(), *nullable))
        .collect()
}

/// The Arrow schema of `list`.
pub(crate) fn arrow_schema_of(list: ColumnList<'_>) -> SchemaRef {
    let arrow = |ty: &DataType| match ty {
        t if *t == DataType::INTEGER => ArrowType::Int32,
        t if *t == DataType::LONG => ArrowType::Int64,
        t if *t == DataType::BINARY => ArrowType::Binary,
        _ => ArrowType::Utf8,
    };
    let fields: Vec<Field> = list
        .iter()
        .map(|(name, ty, nullable)| Field::new(*name, arrow(ty), *nullable))
        .collect();
    Arc::new(Schema::new(fields))
}

/// The raw table's Delta columns.
pub fn columns() -> Vec<StructField> {
    delta_columns(&COLUMNS)
}

/// The raw table's Arrow schema.
pub fn arrow_schema() -> SchemaRef {
    arrow_schema_of(&COLUMNS)
}

/// `(year, month, day, hour)` of an instant, UTC.
pub fn ingest_hour(at_ms: i64) -> (i32, i32, i32, i32) {
    let text = segstream_time::format_timestamp(at_ms);
    let number = |range: std::ops::Range<usize>| text.get(range).and_then(|s| s.parse().ok()).unwrap_or(0);
    (number(0..4), number(5..7), number(8..10), number(11..13))
}

/// One batch of the raw table from `records` ingested at `ingested_at_ms`.
pub fn to_batch(records: &[SourceRecord], ingested_at_ms: i64) -> Result<RecordBatch, LakeError> {
    let rows = records.len();
    let mut offsets = Int64Builder::with_capacity(rows);
    let mut keys = BinaryBuilder::new();
    let mut payloads = BinaryBuilder::new();
    let mut timestamps = Int64Builder::with_capacity(rows);
    let mut ingested = Int64Builder::with_capacity(rows);
    let (mut users, mut ids, mut types) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let mut times = Int64Builder::with_capacity(rows);
    for record in records {
        offsets.append_value(record.offset);
        keys.append_option(record.key.as_deref());
        payloads.append_option(record.payload.as_deref());
        timestamps.append_option(record.timestamp_ms);
        ingested.append_value(ingested_at_ms);
        let head = record.payload.as_deref().and_then(scan);
        let head = head.as_ref();
        users.append_option(head.and_then(|h| h.user.as_deref()));
        ids.append_option(head.and_then(|h| h.id.as_deref()));
        types.append_option(head.and_then(|h| h.event_type.as_deref()));
        times.append_option(head.and_then(|h| match h.time.as_ref()? {
            Time::Millis(ms) => Some(*ms),
            Time::Text(text) => segstream_time::parse_timestamp(text).ok(),
        }));
    }
    let (year, month, day, hour) = ingest_hour(ingested_at_ms);
    let constant = |value: i32| Arc::new(Int32Array::from(vec![value; rows])) as ArrayRef;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(records.iter().map(|r| r.partition))),
        Arc::new(offsets.finish()),
        Arc::new(keys.finish()),
        Arc::new(payloads.finish()),
        Arc::new(timestamps.finish()),
        Arc::new(ingested.finish()),
        Arc::new(users.finish()),
        Arc::new(ids.finish()),
        Arc::new(types.finish()),
        Arc::new(times.finish()),
        constant(year),
        constant(month),
        constant(day),
        constant(hour),
    ];
    RecordBatch::try_new(arrow_schema(), columns).map_err(|e| LakeError::Batch(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Array, AsArray};
    use deltalake::arrow::datatypes::Int64Type;

    #[test]
    fn an_event_is_indexed_and_anything_else_is_kept_as_it_is() {
        let record = |offset: i64, payload: &[u8]| SourceRecord {
            partition: 0,
            offset,
            key: Some(b"u1".to_vec()),
            payload: Some(payload.to_vec()),
            timestamp_ms: Some(7),
        };
        let records = [
            record(0, br#"{"id":"e1","user":"u1","type":"purchase","time":1700000000000}"#),
            record(
                1,
                br#"{"id":"e2","user":"u2","type":"purchase","time":"2026-11-29T17:00:00Z","properties":{"amount":3.5}}"#,
            ),
            record(2, b"\xff not json"),
        ];
        let batch = to_batch(&records, 1_795_971_600_000).unwrap_or_else(|e| panic!("{e}"));
        let users = batch.column(6).as_string::<i32>();
        assert_eq!((users.value(0), users.value(1), users.is_null(2)), ("u1", "u2", true));
        let times = batch.column(9).as_primitive::<Int64Type>();
        assert_eq!((times.value(0), times.value(1)), (1_700_000_000_000, 1_795_971_600_000));
        assert_eq!(batch.column(3).as_binary::<i32>().value(2), b"\xff not json", "kept byte for byte");
        assert_eq!(ingest_hour(1_795_971_600_000), (2026, 11, 29, 17));
    }
}
