//! The lake inside `segstream demo`: every input line lands in the raw table, and the
//! curated table follows it.
//!
//! Contract: [`DemoLake::start`] opens (or creates) the raw table at `--lake`/`raw` and
//! the curated table at `--lake`/`curated`, and returns the [`Tapped`] handles the demo's sources read through: the generator's and
//! the collector's lines, valid or rejected, reach a writer thread over a bounded
//! channel (a full channel blocks the source: the lake pushes back, it never drops). The
//! thread commits what it holds every second, or at 500,000 records, with the same
//! exactly-once commit as `segstream lake write`: the embedded deployment has no topic,
//! so each source partition's lines are numbered on from the offsets the table last
//! committed for that partition, and the table's coordinates stay unique across runs.
//! Every `--lake-every`, and once more after the last commit, a thread of its own
//! brings the curated table up to the raw one (`segstream lake compact`), so a long
//! compaction never holds the writer, nor through it the sources, back; while the
//! sources run, the stats job follows each compaction on that thread
//! ([`super::demo_stats`], tiles at `--lake`/`stats_tiles`).
//! [`DemoLake::finish`] commits the rest once the sources are gone and says what landed.
//! A table that fails (disk full, not a raw table) is reported; the demo goes on
//! without it.

use segstream_lake::metrics::LakeMetrics;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use segstream_embedded::line_tap::{LineTap, Tapped};
use segstream_lake::curated::{CompactReport, CuratedTable, Quiet};
use segstream_lake::location::TableLocation;
use segstream_lake::raw_table::RawTable;
use segstream_lake::records::SourceRecord;
use segstream_rules::Schema;
use segstream_time::wall_clock_ms;

use super::demo_stats::{DemoStats, StatsInbox};
use crate::error::CommandError;

/// Lines waiting for the writer before the sources block.
const CHANNEL_CAPACITY: usize = 100_000;
/// The longest a line waits before it is committed.
const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// A commit holds at most this many records.
const BATCH: usize = 500_000;

/// The lake's end of the sources' tap.
struct ChannelTap(SyncSender<(u32, String)>);

impl LineTap for ChannelTap {
    fn tap(&self, partition: u32, line: &str) {
        // Only fails once the writer is gone, which it has reported.
        let _ = self.0.send((partition, line.to_string()));
    }
}

/// What landed in the lake during the run.
pub struct LakeSummary {
    /// Records committed.
    pub records: u64,
    /// The table's version at the end.
    pub version: Option<u64>,
    /// The last compaction into the curated table.
    pub curated: Option<CompactReport>,
}

/// What the writer thread returns: records committed and the raw table's version.
type Written = Result<(u64, Option<u64>), String>;

/// The demo's lake writer (see the module contract).
pub struct DemoLake {
    tap: Arc<dyn LineTap>,
    writer: JoinHandle<Written>,
    compactor: JoinHandle<Option<CompactReport>>,
    written: Arc<AtomicBool>,
    raw: String,
    curated: String,
    tiles: String,
    stats_inbox: Arc<StatsInbox>,
}

impl DemoLake {
    /// Starts the writer into the lake in the directory `root` (`off`: none), resuming
    /// the numbering of `partitions`; the curated table and `schema`'s stats follow the
    /// raw table `every` so long.
    pub fn start(
        root: &str,
        partitions: &[u32],
        every: Duration,
        schema: &Schema,
        metrics: Arc<LakeMetrics>,
    ) -> Result<Option<DemoLake>, CommandError> {
        if root == "off" {
            return Ok(None);
        }
        let invalid = |e: String| CommandError::Invalid(format!("--lake {root}: {e}"));
        let root = std::path::Path::new(root);
        let at = |name: &str| TableLocation::parse(&root.join(name).display().to_string()).map_err(|e| invalid(e.to_string()));
        let (raw_at, curated_at, tiles_at) = (at("raw")?, at("curated")?, at("stats_tiles")?);
        let runtime = segstream_lake::runtime().map_err(|e| invalid(e.to_string()))?;
        let table = runtime
            .block_on(RawTable::open_or_create(&raw_at, "events"))
            .map_err(|e| invalid(e.to_string()))?;
        let curated = runtime
            .block_on(CuratedTable::open_or_create(&curated_at, "events"))
            .map_err(|e| invalid(e.to_string()))?;
        let next = runtime
            .block_on(table.resume_offsets(partitions.iter().map(|p| *p as i32)))
            .map_err(|e| invalid(e.to_string()))?;
        let (sender, receiver) = sync_channel(CHANNEL_CAPACITY);
        let writer = std::thread::Builder::new()
            .name("lake".into())
            .spawn(move || write(&runtime, table, next, &receiver, &metrics))
            .map_err(|e| invalid(e.to_string()))?;
        let written = Arc::new(AtomicBool::new(false));
        let stats_inbox = Arc::new(StatsInbox::default());
        let tiles = tiles_at.url.to_string();
        let stats = DemoStats::new(tiles_at, schema, Arc::clone(&stats_inbox));
        let (done, raw_location) = (Arc::clone(&written), raw_at.clone());
        let compactor = std::thread::Builder::new()
            .name("lake-compact".into())
            .spawn(move || compact(curated, stats, &raw_location, every, &done))
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Some(DemoLake {
            tap: Arc::new(ChannelTap(sender)),
            writer,
            compactor,
            written,
            raw: raw_at.url.to_string(),
            curated: curated_at.url.to_string(),
            tiles,
            stats_inbox,
        }))
    }

    /// The tap of a source whose partition 0 is `partition_base` in the table.
    pub fn tapped(&self, partition_base: u32) -> Tapped {
        Tapped {
            tap: Arc::clone(&self.tap),
            partition_base,
        }
    }

    /// Where the raw table is.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Where the curated table is.
    pub fn curated(&self) -> &str {
        &self.curated
    }

    /// Where the stats job's tile table is.
    pub fn tiles(&self) -> &str {
        &self.tiles
    }

    /// Where the stats job leaves the changed users' stats for the classifier.
    pub fn stats_inbox(&self) -> Arc<StatsInbox> {
        Arc::clone(&self.stats_inbox)
    }

    /// Waits for the sources to be dropped, commits the rest, brings the curated table
    /// up to it and says what landed.
    pub fn finish(self) -> Result<LakeSummary, String> {
        drop(self.tap);
        let written = self.writer.join().map_err(|_| "the lake writer panicked".to_string());
        self.written.store(true, Ordering::Release);
        let curated = self.compactor.join().map_err(|_| "the lake compactor panicked".to_string())?;
        let (records, version) = written??;
        Ok(LakeSummary { records, version, curated })
    }
}

/// The compactor thread: every `every` until `written` is raised, each compaction
/// followed by the stats job, then one more compaction; the last report.
fn compact(
    mut curated: CuratedTable,
    mut stats: Option<DemoStats>,
    raw_at: &TableLocation,
    every: Duration,
    written: &AtomicBool,
) -> Option<CompactReport> {
    let runtime = match segstream_lake::runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("lake: the curated table is not kept: {e}");
            return None;
        }
    };
    let mut last = None;
    let mut since = Instant::now();
    loop {
        let finished = written.load(Ordering::Acquire);
        if finished || since.elapsed() >= every {
            let run = async {
                let raw = RawTable::open_existing(raw_at, "events").await?;
                curated.compact(&raw, &Quiet).await
            };
            match runtime.block_on(run) {
                Ok(report) => last = Some(report),
                Err(e) => tracing::error!("lake: compacting into the curated table: {e}"),
            }
            if let (false, Some(stats)) = (finished, stats.as_mut()) {
                stats.refresh(&runtime, &curated);
            }
            since = Instant::now();
        }
        if finished {
            return last;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The writer thread: commits what the sources tapped until they are all gone.
fn write(
    runtime: &tokio::runtime::Runtime,
    mut table: RawTable,
    mut next: BTreeMap<i32, i64>,
    lines: &Receiver<(u32, String)>,
    metrics: &LakeMetrics,
) -> Written {
    let mut records = Vec::new();
    let mut committed = 0u64;
    let mut since = Instant::now();
    loop {
        let wait = COMMIT_EVERY.saturating_sub(since.elapsed());
        let open = match lines.recv_timeout(wait) {
            Ok((partition, line)) => {
                let offset = next.entry(partition as i32).or_insert(0);
                records.push(SourceRecord {
                    partition: partition as i32,
                    offset: *offset,
                    key: None,
                    payload: Some(line.into_bytes()),
                    timestamp_ms: None,
                });
                *offset += 1;
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => false,
        };
        if (!open || since.elapsed() >= COMMIT_EVERY || records.len() >= BATCH) && !records.is_empty() {
            let started = Instant::now();
            let result = runtime.block_on(table.commit(&records, &next, wall_clock_ms() as i64));
            if let Err(e) = result {
                let error = format!(
                    "lake: committing {} records failed, the demo goes on without the lake: {e}",
                    records.len()
                );
                tracing::error!("{error}");
                return Err(error);
            }
            committed += records.len() as u64;
            metrics.observe_commit(records.len() as u64, started.elapsed(), wall_clock_ms());
            records.clear();
        }
        if records.is_empty() {
            since = Instant::now();
        }
        if !open {
            return Ok((committed, table.version()));
        }
    }
}
