//! The stats job inside `segstream demo`: the users' `[stats]` computed from the lake
//! reach the classifier.
//!
//! Contract: [`DemoStats::refresh`] runs after each compaction of the demo's curated
//! table (see [`super::demo_lake`]): it runs the stats job (`segstream stats`) as of
//! today over the curated table into the tile table at `--lake`/`stats_tiles` and puts
//! the users whose stats changed into a [`StatsInbox`]. The demo's classifier starts
//! with no stats from the lake, so its first run publishes every user
//! ([`Baseline::Nothing`]); later runs only the changed ones. Worker 0 takes the inbox
//! at each step ([`apply`]) and upserts each user's stats at the current tick: the
//! job's fields, with the fields it does not compute (model outputs such as
//! `churnScore`) kept from the generated stats, as a model's own source would keep
//! them. A failed run is reported and retried at the next compaction against the same
//! baseline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use segstream_dataflows::dataflow::Handles;
use segstream_lake::curated::CuratedTable;
use segstream_lake::location::TableLocation;
use segstream_lake::stats::merge::FIELDS;
use segstream_lake::stats::{Baseline, SessionLimits, StatsRow};
use segstream_rules::Schema;
use segstream_traffic::Traffic;

use super::stats::{describe, only, published_fields, run_job, today, JobPlan};

/// The names of the fields the stats job computes (the rest of a user's generated
/// stats are kept), looked up once per generated field.
static COMPUTED: std::sync::LazyLock<std::collections::HashSet<&'static str>> =
    std::sync::LazyLock::new(|| FIELDS.iter().map(|(name, _)| *name).collect());

/// The query engine's memory inside the demo.
const DEMO_MEMORY: usize = 512 << 20;

/// Changed users' stats, waiting for worker 0, and how many it has upserted.
#[derive(Default)]
pub struct StatsInbox {
    waiting: Mutex<Vec<StatsRow>>,
    upserted: AtomicU64,
}

impl StatsInbox {
    fn push(&self, rows: Vec<StatsRow>) -> Result<(), String> {
        self.waiting
            .lock()
            .map(|mut waiting| waiting.extend(rows))
            .map_err(|_| "the stats inbox is poisoned".to_string())
    }

    fn take(&self) -> Vec<StatsRow> {
        self.waiting
            .lock()
            .map(|mut waiting| std::mem::take(&mut *waiting))
            .unwrap_or_default()
    }

    /// The users' stats upserted into the classifier so far.
    pub fn upserted(&self) -> u64 {
        self.upserted.load(Ordering::Relaxed)
    }
}

/// The stats job's side of the demo (see the module contract).
pub struct DemoStats {
    tiles_at: TableLocation,
    fields: Vec<&'static str>,
    baseline: Baseline,
    inbox: std::sync::Arc<StatsInbox>,
}

impl DemoStats {
    /// The job into the tile table at `tiles_at` for `schema`'s declared fields; none
    /// (reported) if the schema declares a computed field with another type.
    pub fn new(tiles_at: TableLocation, schema: &Schema, inbox: std::sync::Arc<StatsInbox>) -> Option<DemoStats> {
        match published_fields(schema) {
            Ok(fields) => Some(DemoStats {
                tiles_at,
                fields,
                baseline: Baseline::Nothing,
                inbox,
            }),
            Err(e) => {
                tracing::warn!("the demo runs without the stats job: {e}");
                None
            }
        }
    }

    /// Runs the job once over `curated` and says what it did.
    pub fn refresh(&mut self, runtime: &tokio::runtime::Runtime, curated: &CuratedTable) {
        let started = Instant::now();
        let as_of = today();
        let limits = SessionLimits {
            memory_limit: DEMO_MEMORY,
            spill_dir: None,
        };
        let plan = JobPlan {
            tiles_at: &self.tiles_at,
            as_of: &as_of,
            baseline: self.baseline,
            limits: &limits,
        };
        let (fields, inbox) = (&self.fields, &self.inbox);
        match run_job(runtime, curated, &plan, &mut |rows| inbox.push(only(fields, rows))) {
            Ok(report) => {
                self.baseline = Baseline::LastPublished;
                tracing::info!(
                    "stats: {} ({:.1} s); the changed users' stats are queued for the classifier's next step \
                     (the total it took is in the summary at exit)",
                    describe(&report),
                    started.elapsed().as_secs_f64()
                );
            }
            Err(e) => tracing::error!(error = %e, "stats: this run failed, the next compaction retries"),
        }
    }
}

/// On worker 0: upserts the waiting stats at `tick` (see the module contract).
pub fn apply(inbox: &StatsInbox, handles: &mut Handles, schema: &Schema, generator: &Traffic, tick: u64) {
    let rows = inbox.take();
    let at = tick.max(*handles.stats.time());
    for (user, computed) in rows {
        let mut stats = match user.strip_prefix('u').and_then(|n| n.parse::<u64>().ok()) {
            Some(generated) => match generator.stats(generated) {
                serde_json::Value::Object(mut kept) => {
                    kept.retain(|name, _| !COMPUTED.contains(name.as_str()));
                    kept
                }
                _ => serde_json::Map::new(),
            },
            None => serde_json::Map::new(),
        };
        stats.extend(computed);
        match schema.stats.read_json(&stats) {
            Ok(row) => {
                handles.stats.send((user, Some(row), at));
                inbox.upserted.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::error!("stats of {user} refused: {e}"),
        }
    }
}
