//! The curated table: every event of the raw table once, by event date.
//!
//! Contract: [`CuratedTable::compact`] brings the curated table up to the raw table's
//! current version, and is idempotent: a run's last commit records, as the Delta
//! application transaction `segstream-curated`, the raw version it covers, so a second
//! run with nothing new in the raw table commits nothing. A run reads only the raw
//! files added since that version (the raw table only appends) and keeps the rows that
//! are events ([`rows`]). It reads and commits them in chunks of [`CHUNK_BYTES`] of
//! Parquet, so its memory is bounded by a chunk; a run killed between two chunks
//! leaves some of the new events curated without the covered version moving, and the
//! next run reads those files again and drops their events as duplicates of the
//! curated copies — the same table either way. Deduplication is by `(user, event_id)`: of the
//! copies a run reads, the first ingested wins ([`rows::CuratedRow::ingest_order`]),
//! and a copy already curated always wins over a new one — checked against the whole
//! event-date partition it falls in, through the Bloom filters on `user` and `event_id`
//! first, then the keys of the row groups that may clash. A retry of an event carries
//! the event's own time, so the copies of an event share a date: deduplicating within
//! the date is deduplicating across the whole history. (Two different events that
//! reuse one id at different dates are both kept.) Late events merge into the past
//! partitions of their dates. New rows land as one file per date and chunk, sorted by
//! event time; when a date would reach [`SMALL_FILES_TO_COMPACT`] files smaller than
//! [`SMALL_FILE_BYTES`], its old small files are rewritten into one in the same commit
//! (marked as no data change). New raw files are read oldest first. Every commit
//! carries the application transaction, so two compactors at once conflict instead of
//! both adding the same events. [`Progress`] is told of files read and dates written.

pub mod rows;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Add, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError, Path};

use crate::added_files;
use crate::location::TableLocation;
use crate::parquet_file::{self, Columns};
use crate::raw_table::{writer_properties, RawTable};
use crate::table_shape::{self, TableShape};
use crate::LakeError;
use rows::{event_date, read_rows, to_batch, CuratedRow, CURATED_PARTITIONS, LAST_TIME_MS, ROW_COLUMNS};

/// The application transaction recording the raw version the curated table covers.
const APP_ID: &str = "segstream-curated";
/// Files below this size count as small (about 75,000 of the game's events: rewriting
/// seven of them holds about half a million rows in memory).
pub const SMALL_FILE_BYTES: i64 = 2 << 20;
/// A date with this many small files has them rewritten into one.
pub const SMALL_FILES_TO_COMPACT: usize = 8;
/// A run reads and commits the new raw files in chunks of at most this many bytes of
/// Parquet (a larger file is a chunk of its own), so its memory is bounded by the
/// chunk, not by the backlog. The game's events compress to about 28 bytes a row and
/// take about 1 KB a row once read, so a chunk holds about 600,000 events: compacting
/// the demo's 2.5M-row lake took 0.81 GB at most with these chunks, 2.6 GB with 64 MiB
/// ones (`docs/benchmarks.md`).
pub const CHUNK_BYTES: i64 = 16 << 20;

/// Told how a run goes (the CLI draws progress bars with it).
pub trait Progress {
    /// The run reads `files` raw files holding `bytes`.
    fn reading(&self, files: u64, bytes: u64);
    /// One raw file of `bytes` was read.
    fn read_one(&self, bytes: u64);
    /// The run merges a chunk of what it read into `dates` partitions.
    fn merging(&self, dates: u64);
    /// One date was merged.
    fn merged_one(&self);
}

/// No progress shown.
pub struct Quiet;

impl Progress for Quiet {
    fn reading(&self, _: u64, _: u64) {}
    fn read_one(&self, _: u64) {}
    fn merging(&self, _: u64) {}
    fn merged_one(&self) {}
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// The raw version now covered.
    pub raw_version: u64,
    /// The raw version covered before the run (none: the table was empty).
    pub covered_before: Option<u64>,
    /// Raw files read.
    pub raw_files: usize,
    /// Raw rows read.
    pub raw_rows: usize,
    /// Of those, rows that are not events (kept in the raw table only).
    pub not_events: usize,
    /// Of the events, copies of an event already curated or read earlier in the run.
    pub duplicates: usize,
    /// Events added to the curated table.
    pub added: usize,
    /// Dates (partitions) that got events.
    pub dates: usize,
    /// Small files rewritten into larger ones.
    pub files_compacted: usize,
    /// The curated table's version after the run (none: nothing was committed).
    pub committed: Option<u64>,
}

/// The curated table of one topic (see the module contract).
pub struct CuratedTable {
    table: DeltaTable,
    location: String,
}

/// A data file of the curated table, as the snapshot lists it.
struct DataFile {
    path: Path,
    size: i64,
    remove: deltalake::kernel::Remove,
}

impl CuratedTable {
    /// Opens the curated table of `topic` at `location`, creating it if there is none.
    pub async fn open_or_create(location: &TableLocation, topic: &str) -> Result<CuratedTable, LakeError> {
        Ok(CuratedTable {
            table: table_shape::open_or_create(location, &Self::shape(topic)).await?,
            location: location.url.to_string(),
        })
    }

    /// Opens the curated table of `topic` at `location`; none there is an error.
    pub async fn open_existing(location: &TableLocation, topic: &str) -> Result<CuratedTable, LakeError> {
        Ok(CuratedTable {
            table: table_shape::open_existing(location, &Self::shape(topic)).await?,
            location: location.url.to_string(),
        })
    }

    fn shape(topic: &str) -> TableShape<'static> {
        TableShape {
            kind: "curated",
            name: format!("curated_{topic}"),
            columns: rows::columns(),
            partitions: &CURATED_PARTITIONS,
        }
    }

    fn error(&self, source: DeltaTableError) -> LakeError {
        LakeError::table(&self.location, source)
    }

    /// The raw version the table covers (none before the first run).
    pub async fn covered_raw_version(&self) -> Result<Option<u64>, LakeError> {
        let snapshot = self.table.snapshot().map_err(|e| self.error(e))?;
        let version = snapshot
            .transaction_version(self.table.log_store().as_ref(), APP_ID)
            .await
            .map_err(|e| self.error(e))?;
        Ok(version.and_then(|v| u64::try_from(v).ok()))
    }

    /// The Delta table.
    pub fn delta(&self) -> &DeltaTable {
        &self.table
    }

    /// Its URL.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The table's version.
    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }

    /// The data files of each date.
    fn files_by_date(&self) -> Result<BTreeMap<String, Vec<DataFile>>, LakeError> {
        let snapshot = self.table.snapshot().map_err(|e| self.error(e))?;
        let mut dates: BTreeMap<String, Vec<DataFile>> = BTreeMap::new();
        for file in snapshot.log_data() {
            let date = file.partition_values_map().remove("event_date").flatten().unwrap_or_default();
            dates.entry(date).or_default().push(DataFile {
                path: file.object_store_path(),
                size: file.size(),
                remove: file.remove_action(false),
            });
        }
        Ok(dates)
    }

    /// How many data files each date has.
    pub fn file_counts(&self) -> Result<BTreeMap<String, usize>, LakeError> {
        Ok(self.files_by_date()?.into_iter().map(|(d, f)| (d, f.len())).collect())
    }

    /// Every row of the table.
    pub async fn rows(&self) -> Result<Vec<CuratedRow>, LakeError> {
        self.events_between(None, None).await
    }

    /// The events with `since <= event_time_ms < until` (either bound open), reading
    /// only the dates they can fall on; in file order.
    pub async fn events_between(&self, since: Option<i64>, until: Option<i64>) -> Result<Vec<CuratedRow>, LakeError> {
        // Event times outside years 1970–9999 are not curated: bounds beyond them select
        // everything on that side (and keep the dates comparable as text).
        let since = since.map(|s| s.clamp(0, LAST_TIME_MS + 1));
        let until = until.map(|u| u.clamp(0, LAST_TIME_MS + 1));
        if until == Some(0) {
            return Ok(Vec::new());
        }
        let (first, last) = (since.map(event_date), until.map(|t| event_date(t.saturating_sub(1))));
        let wanted = |date: &String| first.as_ref().is_none_or(|f| date >= f) && last.as_ref().is_none_or(|l| date <= l);
        let in_range = |row: &CuratedRow| since.is_none_or(|s| row.event_time_ms >= s) && until.is_none_or(|u| row.event_time_ms < u);
        let mut out = Vec::new();
        for (_, files) in self.files_by_date()?.into_iter().filter(|(date, _)| wanted(date)) {
            for file in files {
                out.extend(self.read_file(&file.path, None).await?.into_iter().filter(in_range));
            }
        }
        Ok(out)
    }

    async fn read_file(&self, path: &Path, row_groups: Option<Vec<usize>>) -> Result<Vec<CuratedRow>, LakeError> {
        read_events(&self.table, &self.location, path, row_groups)
            .await
            .map(|(rows, _)| rows)
    }

    /// Brings the table up to `raw`'s current version (see the module contract).
    pub async fn compact(&mut self, raw: &RawTable, progress: &dyn Progress) -> Result<CompactReport, LakeError> {
        self.compact_in_chunks(raw, progress, CHUNK_BYTES, None).await
    }

    /// [`Self::compact`] with chunks of `chunk_bytes`, stopping after `stop_after`
    /// chunks if given (as a run killed there would; for tests).
    pub(crate) async fn compact_in_chunks(
        &mut self,
        raw: &RawTable,
        progress: &dyn Progress,
        chunk_bytes: i64,
        stop_after: Option<usize>,
    ) -> Result<CompactReport, LakeError> {
        let raw_version = raw.version().unwrap_or(0);
        let covered_before = self.covered_raw_version().await?;
        let mut report = CompactReport {
            raw_version,
            covered_before,
            ..CompactReport::default()
        };
        if covered_before == Some(raw_version) {
            return Ok(report);
        }
        let new_files = new_raw_files(raw, covered_before).await?;
        progress.reading(new_files.len() as u64, new_files.iter().map(|(_, size)| *size as u64).sum());
        report.raw_files = new_files.len();
        let chunks = chunks_of(new_files, chunk_bytes);
        let mut dates = BTreeSet::new();
        if chunks.is_empty() {
            report.committed = Some(self.commit(Vec::new(), Some(raw_version)).await?);
        }
        let last = chunks.len().saturating_sub(1);
        for (index, chunk) in chunks.into_iter().enumerate().take(stop_after.unwrap_or(usize::MAX)) {
            let actions = self.merge_chunk(raw, &chunk, &mut report, &mut dates, progress).await?;
            // Every commit carries the transaction (the version it covered so far until
            // the last), so two compactors running at once conflict instead of both
            // adding the same events.
            let covered = if index == last { Some(raw_version) } else { covered_before };
            report.committed = Some(self.commit(actions, covered).await?);
        }
        report.dates = dates.len();
        Ok(report)
    }

    /// Reads one chunk of raw files and merges its events into their dates: the
    /// actions of the commit.
    async fn merge_chunk(
        &self,
        raw: &RawTable,
        chunk: &[(Path, i64)],
        report: &mut CompactReport,
        dates: &mut BTreeSet<String>,
        progress: &dyn Progress,
    ) -> Result<Vec<Action>, LakeError> {
        let mut by_date: BTreeMap<String, Vec<CuratedRow>> = BTreeMap::new();
        for (path, size) in chunk {
            let (rows, not_events) = read_events(raw.delta(), raw.location(), path, None).await?;
            report.raw_rows += rows.len() + not_events;
            report.not_events += not_events;
            for row in rows {
                by_date.entry(event_date(row.event_time_ms)).or_default().push(row);
            }
            progress.read_one(*size as u64);
        }
        let mut existing = self.files_by_date()?;
        progress.merging(by_date.len() as u64);
        let (mut added_rows, mut compacted_rows, mut removes) = (Vec::new(), Vec::new(), Vec::new());
        for (date, rows) in by_date {
            let files = existing.remove(&date).unwrap_or_default();
            let merged = self.merge_date(rows, files).await?;
            report.duplicates += merged.duplicates;
            report.added += merged.added.len();
            report.files_compacted += merged.removes.len();
            if !merged.added.is_empty() {
                dates.insert(date);
            }
            added_rows.extend(merged.added);
            compacted_rows.extend(merged.compacted);
            removes.extend(merged.removes.into_iter().map(Action::Remove));
            progress.merged_one();
        }
        let mut actions = self.write(&mut added_rows, true).await?;
        actions.extend(self.write(&mut compacted_rows, false).await?);
        actions.extend(removes);
        Ok(actions)
    }

    /// Merges a date's new `rows` into its `files`: the rows to add, the small files'
    /// rows to rewrite and the files they replace.
    async fn merge_date(&self, mut rows: Vec<CuratedRow>, files: Vec<DataFile>) -> Result<MergedDate, LakeError> {
        rows.sort_by_key(CuratedRow::ingest_order);
        let read = rows.len();
        let mut seen = HashSet::new();
        rows.retain(|row| seen.insert((row.user.clone(), row.event_id.clone())));
        let small = files.iter().filter(|f| f.size < SMALL_FILE_BYTES).count();
        let compact = small + 1 >= SMALL_FILES_TO_COMPACT;
        let (mut compacted, mut removes) = (Vec::new(), Vec::new());
        for file in files {
            if compact && file.size < SMALL_FILE_BYTES {
                let kept = self.read_file(&file.path, None).await?;
                kept.iter().for_each(|row| {
                    seen.remove(&(row.user.clone(), row.event_id.clone()));
                });
                compacted.extend(kept);
                removes.push(file.remove);
                continue;
            }
            let bytes = parquet_file::fetch(&self.table, &self.location, &file.path).await?;
            let name = file.path.to_string();
            let groups = parquet_file::row_groups_that_may_hold(&name, bytes.clone(), ["user", "event_id"], &seen)?;
            if groups.is_empty() {
                continue;
            }
            for batch in parquet_file::read_columns(&name, bytes, &["user", "event_id"], Some(groups))? {
                let columns = Columns {
                    file: &name,
                    batch: &batch,
                };
                let (users, ids) = (columns.strings("user")?, columns.strings("event_id")?);
                for (user, id) in users.iter().zip(ids.iter()) {
                    if let (Some(user), Some(id)) = (user, id) {
                        seen.remove(&(user.to_string(), id.to_string()));
                    }
                }
            }
        }
        rows.retain(|row| seen.contains(&(row.user.clone(), row.event_id.clone())));
        Ok(MergedDate {
            duplicates: read - rows.len(),
            added: rows,
            compacted,
            removes,
        })
    }

    /// Writes `rows` (sorted by event time) as files of their dates; their add actions.
    async fn write(&self, rows: &mut [CuratedRow], data_change: bool) -> Result<Vec<Action>, LakeError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        rows.sort_by(|a, b| (a.event_time_ms, &a.user).cmp(&(b.event_time_ms, &b.user)));
        let mut writer = RecordBatchWriter::for_table(&self.table)
            .map_err(|e| self.error(e))?
            .with_writer_properties(writer_properties(rows.len()));
        writer.write(to_batch(rows)?).await.map_err(|e| self.error(e))?;
        let adds: Vec<Add> = writer.flush().await.map_err(|e| self.error(e))?;
        Ok(adds
            .into_iter()
            .map(|mut add| {
                add.data_change = data_change;
                Action::Add(add)
            })
            .collect())
    }

    /// Commits `actions` with the raw version the table then covers (none yet: -1),
    /// in one log entry.
    async fn commit(&mut self, actions: Vec<Action>, covered: Option<u64>) -> Result<u64, LakeError> {
        let version = covered.map_or(-1, |v| v as i64);
        let now = Some(segstream_time::wall_clock_ms() as i64);
        let properties = CommitProperties::default().with_application_transaction(Transaction::new_with_last_update(APP_ID, version, now));
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(CURATED_PARTITIONS.iter().map(|c| c.to_string()).collect()),
            predicate: None,
        };
        let snapshot = self.table.snapshot().map_err(|e| self.error(e))?;
        let finalized = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(snapshot), self.table.log_store(), operation)
            .await
            .map_err(|e| self.error(e))?;
        let version = finalized.version();
        self.table.update_incremental(None).await.map_err(|e| self.error(e))?;
        Ok(version)
    }
}

/// What merging one date produced.
struct MergedDate {
    duplicates: usize,
    added: Vec<CuratedRow>,
    compacted: Vec<CuratedRow>,
    removes: Vec<deltalake::kernel::Remove>,
}

/// The events of one file of `table`, and how many of its rows were not events.
async fn read_events(
    table: &DeltaTable,
    location: &str,
    path: &Path,
    row_groups: Option<Vec<usize>>,
) -> Result<(Vec<CuratedRow>, usize), LakeError> {
    let bytes = parquet_file::fetch(table, location, path).await?;
    let name = path.to_string();
    let mut out = (Vec::new(), 0);
    for batch in parquet_file::read_columns(&name, bytes, &ROW_COLUMNS, row_groups)? {
        let (rows, not_events) = read_rows(&name, &batch)?;
        out.0.extend(rows);
        out.1 += not_events;
    }
    Ok(out)
}

/// `files` in chunks of at most `bytes` (a larger file is a chunk of its own).
fn chunks_of(files: Vec<(Path, i64)>, bytes: i64) -> Vec<Vec<(Path, i64)>> {
    let mut chunks: Vec<Vec<(Path, i64)>> = Vec::new();
    let mut size = 0;
    for file in files {
        if chunks.is_empty() || size + file.1 > bytes {
            chunks.push(Vec::new());
            size = 0;
        }
        size += file.1;
        if let Some(chunk) = chunks.last_mut() {
            chunk.push(file);
        }
    }
    chunks
}

/// The raw table's files (path, size) added after version `covered` (all of them
/// without one), oldest first (by the time each was written, then path), so that
/// across chunks too the first ingested copy of an event is read first.
async fn new_raw_files(raw: &RawTable, covered: Option<u64>) -> Result<Vec<(Path, i64)>, LakeError> {
    let mut files = added_files::added_since(raw.delta(), raw.location(), covered, |f| {
        (f.modification_time(), f.object_store_path(), f.size())
    })
    .await?;
    files.sort();
    Ok(files.into_iter().map(|(_, path, size)| (path, size)).collect())
}

#[cfg(test)]
mod tests;
