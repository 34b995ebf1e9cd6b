//! The curated table's rows: one per distinct event, by event date.
//!
//! Contract: a [`CuratedRow`] is an event of the raw table: its `user`, `event_id`,
//! `event_type`, `event_time_ms` and payload bytes, and where and when it was ingested
//! (`source_partition`, `source_offset`, `ingested_at_ms`) — the same column names as
//! the raw table's, so [`read_rows`] reads either. A raw row without a user, an id or an
//! event time, or with a time outside years 1970–9999, is not an event: it stays in the
//! raw table and is counted, not curated. The table is partitioned by
//! [`event_date`] (`YYYY-MM-DD`, UTC, of the event time). [`to_batch`] writes rows back.
//!
//! ```
//! use segstream_lake::curated::rows::event_date;
//! assert_eq!(event_date(1_795_971_600_000), "2026-11-29");
//! ```

use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, BinaryArray, Int32Array, Int64Array, RecordBatch, StringArray};
use deltalake::kernel::{DataType, StructField};

use crate::parquet_file::Columns;
use crate::records::{arrow_schema_of, delta_columns};
use crate::LakeError;

/// The curated table's partition column.
pub const CURATED_PARTITIONS: [&str; 1] = ["event_date"];

/// The latest event time the lake files (the last instant of year 9999).
pub(crate) const LAST_TIME_MS: i64 = 253_402_300_799_999;

/// One event (see the module contract).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CuratedRow {
    /// The user.
    pub user: String,
    /// The event's id.
    pub event_id: String,
    /// Its type, if it has one.
    pub event_type: Option<String>,
    /// Its time as the client sent it (ms).
    pub event_time_ms: i64,
    /// The record's payload, byte for byte.
    pub payload: Option<Vec<u8>>,
    /// The events topic's partition it was read from.
    pub source_partition: i32,
    /// Its offset there.
    pub source_offset: i64,
    /// When the raw table ingested it.
    pub ingested_at_ms: i64,
}

impl CuratedRow {
    /// What makes two rows the same event.
    pub fn key(&self) -> (&str, &str) {
        (&self.user, &self.event_id)
    }

    /// Of two copies of one event, the one ingested first (then the lower coordinates)
    /// sorts first.
    pub fn ingest_order(&self) -> (i64, i32, i64) {
        (self.ingested_at_ms, self.source_partition, self.source_offset)
    }
}

/// The columns [`read_rows`] reads (the raw and the curated table both have them).
pub const ROW_COLUMNS: [&str; 8] = [
    "user",
    "event_id",
    "event_type",
    "event_time_ms",
    "payload",
    "source_partition",
    "source_offset",
    "ingested_at_ms",
];

/// The curated table's columns: (name, Delta type, nullable).
const COLUMNS: [(&str, DataType, bool); 9] = [
    ("user", DataType::STRING, false),
    ("event_id", DataType::STRING, false),
    ("event_type", DataType::STRING, true),
    ("event_time_ms", DataType::LONG, false),
    ("payload", DataType::BINARY, true),
    ("source_partition", DataType::INTEGER, false),
    ("source_offset", DataType::LONG, false),
    ("ingested_at_ms", DataType::LONG, false),
    ("event_date", DataType::STRING, false),
];

/// The curated table's Delta columns.
pub fn columns() -> Vec<StructField> {
    delta_columns(&COLUMNS)
}

/// The UTC date (`YYYY-MM-DD`) of an instant.
pub fn event_date(time_ms: i64) -> String {
    let text = segstream_time::format_timestamp(time_ms);
    text.get(..10).unwrap_or(&text).to_string()
}

/// The events of a batch of `file` (raw or curated), and how many rows were not events.
pub fn read_rows(file: &str, batch: &RecordBatch) -> Result<(Vec<CuratedRow>, usize), LakeError> {
    let columns = Columns { file, batch };
    let (users, ids, types) = (
        columns.strings("user")?,
        columns.strings("event_id")?,
        columns.strings("event_type")?,
    );
    let (times, payloads) = (columns.longs("event_time_ms")?, columns.binaries("payload")?);
    let (partitions, offsets) = (columns.ints("source_partition")?, columns.longs("source_offset")?);
    let ingested = columns.longs("ingested_at_ms")?;
    let text = |array: &StringArray, row: usize| (!array.is_null(row)).then(|| array.value(row).to_string());
    let mut rows = Vec::with_capacity(batch.num_rows());
    let mut not_events = 0;
    for row in 0..batch.num_rows() {
        let time = (!times.is_null(row))
            .then(|| times.value(row))
            .filter(|t| (0..=LAST_TIME_MS).contains(t));
        let (Some(user), Some(event_id), Some(event_time_ms)) = (text(users, row), text(ids, row), time) else {
            not_events += 1;
            continue;
        };
        rows.push(CuratedRow {
            user,
            event_id,
            event_type: text(types, row),
            event_time_ms,
            payload: (!payloads.is_null(row)).then(|| payloads.value(row).to_vec()),
            source_partition: partitions.value(row),
            source_offset: offsets.value(row),
            ingested_at_ms: ingested.value(row),
        });
    }
    Ok((rows, not_events))
}

/// One batch of the curated table holding `rows`.
pub fn to_batch(rows: &[CuratedRow]) -> Result<RecordBatch, LakeError> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.user))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.event_id))),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| r.event_type.as_deref()))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.event_time_ms))),
        Arc::new(BinaryArray::from_iter(rows.iter().map(|r| r.payload.as_deref()))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.source_partition))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.source_offset))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.ingested_at_ms))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| event_date(r.event_time_ms)))),
    ];
    RecordBatch::try_new(arrow_schema_of(&COLUMNS), columns).map_err(|e| LakeError::Batch(e.to_string()))
}
