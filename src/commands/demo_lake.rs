//! The lake inside `segstream demo`: every input line lands in the raw table.
//!
//! Contract: [`DemoLake::start`] opens (or creates) the raw table at `--lake` and
//! returns the [`Tapped`] handles the demo's sources read through: the generator's and
//! the collector's lines, valid or rejected, reach a writer thread over a bounded
//! channel (a full channel blocks the source: the lake pushes back, it never drops). The
//! thread commits what it holds every second, or at 500,000 records, with the same
//! exactly-once commit as `segstream lake write`: the embedded deployment has no topic,
//! so each source partition's lines are numbered on from the offsets the table last
//! committed for that partition, and the table's coordinates stay unique across runs.
//! [`DemoLake::finish`] commits the rest once the sources are gone and says what landed.
//! A table that fails (disk full, not a raw table) is reported; the demo goes on
//! without it.

use std::collections::BTreeMap;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use segstream_embedded::line_tap::{LineTap, Tapped};
use segstream_lake::location::TableLocation;
use segstream_lake::raw_table::RawTable;
use segstream_lake::records::SourceRecord;
use segstream_time::wall_clock_ms;

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
}

/// The demo's lake writer (see the module contract).
pub struct DemoLake {
    tap: Arc<dyn LineTap>,
    thread: JoinHandle<Result<LakeSummary, String>>,
    location: String,
}

impl DemoLake {
    /// Starts the writer into the table at `location` (`off`: none), resuming the
    /// numbering of `partitions`.
    pub fn start(location: &str, partitions: &[u32]) -> Result<Option<DemoLake>, CommandError> {
        if location == "off" {
            return Ok(None);
        }
        let invalid = |e: String| CommandError::Invalid(format!("--lake {location}: {e}"));
        let parsed = TableLocation::parse(location).map_err(|e| invalid(e.to_string()))?;
        let runtime = segstream_lake::runtime().map_err(|e| invalid(e.to_string()))?;
        let table = runtime
            .block_on(RawTable::open_or_create(&parsed, "events"))
            .map_err(|e| invalid(e.to_string()))?;
        let next = runtime
            .block_on(table.resume_offsets(partitions.iter().map(|p| *p as i32)))
            .map_err(|e| invalid(e.to_string()))?;
        let (sender, receiver) = sync_channel(CHANNEL_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("lake".into())
            .spawn(move || write(&runtime, table, next, &receiver))
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Some(DemoLake {
            tap: Arc::new(ChannelTap(sender)),
            thread,
            location: parsed.url.to_string(),
        }))
    }

    /// The tap of a source whose partition 0 is `partition_base` in the table.
    pub fn tapped(&self, partition_base: u32) -> Tapped {
        Tapped {
            tap: Arc::clone(&self.tap),
            partition_base,
        }
    }

    /// Where the table is.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Waits for the sources to be dropped, commits the rest and says what landed.
    pub fn finish(self) -> Result<LakeSummary, String> {
        drop(self.tap);
        self.thread.join().map_err(|_| "the lake writer panicked".to_string())?
    }
}

/// The writer thread: commits what the sources tapped until they are all gone.
fn write(
    runtime: &tokio::runtime::Runtime,
    mut table: RawTable,
    mut next: BTreeMap<i32, i64>,
    lines: &Receiver<(u32, String)>,
) -> Result<LakeSummary, String> {
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
            let result = runtime.block_on(table.commit(&records, &next, wall_clock_ms() as i64));
            if let Err(e) = result {
                let error = format!(
                    "lake: committing {} records failed, the demo goes on without the lake: {e}",
                    records.len()
                );
                eprintln!("error: {error}");
                return Err(error);
            }
            committed += records.len() as u64;
            records.clear();
        }
        if records.is_empty() {
            since = Instant::now();
        }
        if !open {
            return Ok(LakeSummary {
                records: committed,
                version: table.version(),
            });
        }
    }
}
