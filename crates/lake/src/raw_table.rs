//! The raw table: open or create it, resume from its offsets, commit batches exactly
//! once, and read its coordinates back.
//!
//! Contract: [`RawTable::open_or_create`] opens the Delta table at a location, creating
//! it with the raw columns partitioned by the ingest hour if none is there (a table of
//! other columns is refused). [`RawTable::commit`] writes records as Parquet (zstd,
//! statistics, Bloom filters on `user` and `event_id`) and commits the files together
//! with one application transaction per source partition — app id
//! `segstream-raw-<topic>-<partition>`, version the next offset to read — in one atomic
//! log entry: either both are in the table or neither is. Files written by a commit that
//! never landed are not part of the table (a vacuum would remove them; segstream does
//! not run one yet).
//! [`RawTable::resume_offsets`] reads the next offsets back. [`RawTable::coordinates`]
//! lists the `(partition, offset)` of every row of the table, for checks.

use std::collections::BTreeMap;

use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Transaction;
use deltalake::parquet::basic::{Compression, ZstdLevel};
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};

use crate::location::TableLocation;
use crate::parquet_file::{self, Columns};
use crate::records::{columns, to_batch, SourceRecord, PARTITION_COLUMNS};
use crate::table_shape::{self, TableShape};
use crate::LakeError;

/// The raw table of one topic (see the module contract).
pub struct RawTable {
    table: DeltaTable,
    topic: String,
    location: String,
}

/// Parquet settings of the raw table's files for a commit of `rows` records: zstd at
/// its fastest level, no dictionary for the columns whose values are all distinct
/// (payloads, event ids: a dictionary would be built and thrown away), and Bloom
/// filters sized for the rows (the default, 1M distinct values, is mostly empty bits).
/// Together these took a 100,000-record commit from 341 ms to 322 ms
/// (`benches/lake_write.rs`).
pub(crate) fn writer_properties(rows: usize) -> WriterProperties {
    let level = ZstdLevel::try_new(1).unwrap_or_default();
    let mut properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(256 * 1024));
    for column in ["payload", "event_id"] {
        properties = properties.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
    for column in ["user", "event_id"] {
        properties = properties
            .set_column_bloom_filter_enabled(ColumnPath::from(column), true)
            .set_column_bloom_filter_max_ndv(ColumnPath::from(column), rows.max(1) as u64);
    }
    properties.build()
}

impl RawTable {
    /// Opens the raw table of `topic` at `location`, creating it if there is none.
    pub async fn open_or_create(location: &TableLocation, topic: &str) -> Result<RawTable, LakeError> {
        let table = table_shape::open_or_create(location, &Self::shape(topic)).await?;
        Ok(Self::over(table, location, topic))
    }

    /// Opens the raw table of `topic` at `location`; none there is an error.
    pub async fn open_existing(location: &TableLocation, topic: &str) -> Result<RawTable, LakeError> {
        let table = table_shape::open_existing(location, &Self::shape(topic)).await?;
        Ok(Self::over(table, location, topic))
    }

    fn shape(topic: &str) -> TableShape<'static> {
        TableShape {
            kind: "raw",
            name: format!("raw_{topic}"),
            columns: columns(),
            partitions: &PARTITION_COLUMNS,
        }
    }

    fn over(table: DeltaTable, location: &TableLocation, topic: &str) -> RawTable {
        RawTable {
            table,
            topic: topic.to_string(),
            location: location.url.to_string(),
        }
    }

    /// The Delta table.
    pub fn delta(&self) -> &DeltaTable {
        &self.table
    }

    /// The table's URL.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn error(&self, source: DeltaTableError) -> LakeError {
        LakeError::table(&self.location, source)
    }

    /// The topic whose records the table holds.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn app_id(&self, partition: i32) -> String {
        format!("segstream-raw-{}-{partition}", self.topic)
    }

    /// The table's version (its number of commits after the creation).
    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }

    /// For each of `partitions` that a commit covered, the next offset to read.
    pub async fn resume_offsets(&self, partitions: impl IntoIterator<Item = i32>) -> Result<BTreeMap<i32, i64>, LakeError> {
        let snapshot = self.table.snapshot().map_err(|e| self.error(e))?;
        let log = self.table.log_store();
        let mut offsets = BTreeMap::new();
        for partition in partitions {
            let version = snapshot
                .transaction_version(log.as_ref(), self.app_id(partition))
                .await
                .map_err(|e| self.error(e))?;
            offsets.extend(version.map(|next| (partition, next)));
        }
        Ok(offsets)
    }

    /// Commits `records` (ingested at `ingested_at_ms`) with `next_offsets`, the next
    /// offset to read of every partition they come from; the new table version.
    pub async fn commit(
        &mut self,
        records: &[SourceRecord],
        next_offsets: &BTreeMap<i32, i64>,
        ingested_at_ms: i64,
    ) -> Result<u64, LakeError> {
        let transactions: Vec<Transaction> = next_offsets
            .iter()
            .map(|(partition, next)| Transaction::new_with_last_update(self.app_id(*partition), *next, Some(ingested_at_ms)))
            .collect();
        let properties = CommitProperties::default().with_application_transactions(transactions);
        let mut writer = RecordBatchWriter::for_table(&self.table)
            .map_err(|e| self.error(e))?
            .with_writer_properties(writer_properties(records.len()))
            .with_commit_properties(properties);
        if !records.is_empty() {
            writer.write(to_batch(records, ingested_at_ms)?).await.map_err(|e| self.error(e))?;
        }
        writer.flush_and_commit(&mut self.table).await.map_err(|e| self.error(e))
    }

    /// `(partition, offset)` of every row, in file order.
    pub async fn coordinates(&self) -> Result<Vec<(i32, i64)>, LakeError> {
        let snapshot = self.table.snapshot().map_err(|e| self.error(e))?;
        let mut out = Vec::new();
        for file in snapshot.log_data() {
            let path = file.object_store_path();
            let bytes = parquet_file::fetch(&self.table, &self.location, &path).await?;
            let name = path.to_string();
            for batch in parquet_file::read_columns(&name, bytes, &["source_partition", "source_offset"], None)? {
                let columns = Columns {
                    file: &name,
                    batch: &batch,
                };
                let (partitions, offsets) = (columns.ints("source_partition")?, columns.longs("source_offset")?);
                out.extend(partitions.values().iter().copied().zip(offsets.values().iter().copied()));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        crate::runtime().unwrap_or_else(|e| panic!("{e}"))
    }

    fn scratch(name: &str) -> TableLocation {
        let dir = std::env::temp_dir().join(format!("segstream-raw-table-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TableLocation::parse(&dir.display().to_string()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn record(partition: i32, offset: i64) -> SourceRecord {
        let payload = format!(r#"{{"id":"e{offset}","user":"u{partition}","type":"ad_watched","time":1}}"#);
        SourceRecord {
            partition,
            offset,
            key: None,
            payload: Some(payload.into_bytes()),
            timestamp_ms: Some(1),
        }
    }

    #[test]
    fn commits_carry_their_offsets_and_a_reopened_table_resumes_from_them() {
        let runtime = runtime();
        let location = scratch("resume");
        let mut table = runtime
            .block_on(RawTable::open_or_create(&location, "events"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(runtime.block_on(table.resume_offsets([0, 1])).ok(), Some(BTreeMap::new()));
        let first = [record(0, 0), record(0, 1), record(1, 0)];
        runtime
            .block_on(table.commit(&first, &BTreeMap::from([(0, 2), (1, 1)]), 1_795_971_600_000))
            .unwrap_or_else(|e| panic!("{e}"));
        runtime
            .block_on(table.commit(&[record(1, 1)], &BTreeMap::from([(1, 2)]), 1_795_975_200_000))
            .unwrap_or_else(|e| panic!("{e}"));
        let reopened = runtime
            .block_on(RawTable::open_or_create(&location, "events"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            runtime.block_on(reopened.resume_offsets([0, 1, 2])).ok(),
            Some(BTreeMap::from([(0, 2), (1, 2)]))
        );
        let mut rows = runtime.block_on(reopened.coordinates()).unwrap_or_else(|e| panic!("{e}"));
        rows.sort_unstable();
        assert_eq!(rows, vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
        let hours = std::fs::read_dir(location.url.to_file_path().unwrap_or_default().join("year=2026/month=11/day=29"))
            .map(|d| d.count())
            .unwrap_or_default();
        assert_eq!(hours, 2, "one partition per ingest hour (17 and 18)");
    }

    /// A new table at scratch location `name` with one record of partition 0 committed.
    fn one_record_committed(name: &str) -> (tokio::runtime::Runtime, TableLocation, RawTable) {
        let runtime = runtime();
        let location = scratch(name);
        let mut table = runtime
            .block_on(RawTable::open_or_create(&location, "events"))
            .unwrap_or_else(|e| panic!("{e}"));
        runtime
            .block_on(table.commit(&[record(0, 0)], &BTreeMap::from([(0, 1)]), 1_795_971_600_000))
            .unwrap_or_else(|e| panic!("{e}"));
        (runtime, location, table)
    }

    #[test]
    fn a_damaged_file_is_named_and_the_offsets_still_resume() {
        let (runtime, location, table) = one_record_committed("damaged");
        let dir = location
            .url
            .to_file_path()
            .unwrap_or_default()
            .join("year=2026/month=11/day=29/hour=17");
        let file = std::fs::read_dir(&dir)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok)
            .map(|e| e.path())
            .unwrap_or_else(|| panic!("no file in {}", dir.display()));
        std::fs::write(&file, b"not parquet").unwrap_or_else(|e| panic!("{e}"));
        let error = runtime
            .block_on(table.coordinates())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
        assert!(error.contains(&name), "{error}");
        assert_eq!(runtime.block_on(table.resume_offsets([0])).ok(), Some(BTreeMap::from([(0, 1)])));
    }

    #[test]
    fn files_written_by_a_commit_that_never_landed_are_not_in_the_table() {
        let (runtime, location, table) = one_record_committed("unlanded");
        // A writer killed between writing its files and its log entry.
        let orphans = runtime.block_on(async {
            let mut writer = RecordBatchWriter::for_table(&table.table).map_err(|e| table.error(e))?;
            writer
                .write(to_batch(&[record(0, 1), record(0, 2)], 1_795_971_600_000)?)
                .await
                .map_err(|e| table.error(e))?;
            writer.flush().await.map_err(|e| table.error(e))
        });
        assert_eq!(orphans.map(|adds| adds.len()).ok(), Some(1), "a file was written");
        let reopened = runtime
            .block_on(RawTable::open_or_create(&location, "events"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(runtime.block_on(reopened.coordinates()).ok(), Some(vec![(0, 0)]));
        assert_eq!(runtime.block_on(reopened.resume_offsets([0])).ok(), Some(BTreeMap::from([(0, 1)])));
    }

    #[test]
    fn the_raw_table_of_another_topic_is_refused() {
        let runtime = runtime();
        let location = scratch("topic");
        runtime
            .block_on(RawTable::open_or_create(&location, "events"))
            .unwrap_or_else(|e| panic!("{e}"));
        let refused = runtime
            .block_on(RawTable::open_or_create(&location, "clicks"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("not \"raw_clicks\""), "{refused}");
    }

    #[test]
    fn a_table_of_other_columns_is_refused() {
        let runtime = runtime();
        let location = scratch("other");
        let other = runtime.block_on(async {
            let table = location.builder()?.build().map_err(|e| LakeError::table("", e))?;
            table
                .create()
                .with_columns([deltalake::kernel::StructField::new("x", deltalake::kernel::DataType::LONG, true)])
                .await
                .map_err(|e| LakeError::table("", e))
        });
        assert!(other.is_ok());
        let refused = runtime
            .block_on(RawTable::open_or_create(&location, "events"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("is not a segstream raw table"), "{refused}");
    }
}
