//! The command-line surface, declared as data with clap.
//!
//! Contract: every command and flag is declared here with its help text and default;
//! `commands` turns a parsed [`Cli`] into work.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// segstream: real-time user segmentation on timely dataflow.
#[derive(Debug, Parser)]
#[command(name = "segstream", version, about)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
    /// How log lines are written to standard error: `text` for a terminal, `json` (one
    /// object per line) for a log pipeline. `RUST_LOG` filters them (unset:
    /// `warn,segstream=info`; it replaces that default, so keep `warn,` in front).
    #[arg(long, global = true, value_enum, default_value_t = LogFormatFlag::Text)]
    pub log_format: LogFormatFlag,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormatFlag {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl From<LogFormatFlag> for segstream_telemetry::logging::LogFormat {
    fn from(flag: LogFormatFlag) -> Self {
        match flag {
            LogFormatFlag::Text => Self::Text,
            LogFormatFlag::Json => Self::Json,
        }
    }
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check, preview and manage segment rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Run the whole pipeline in this process on generated traffic (no services needed).
    Demo(Box<DemoArgs>),
    /// Classify a file of events (NDJSON) and exit when it is done.
    Run(RunArgs),
    /// Classify the lake's curated events with the same dataflow, bounded (recovery,
    /// new rules over history, a standby's bring-up); changes go to a file, never to
    /// the live topic.
    Replay(ReplayArgs),
    /// Write generated traffic to an NDJSON file.
    Generate(GenerateArgs),
    /// Serve the event tracking HTTP API (Segment-compatible) and publish to Kafka.
    Collector(CollectorArgs),
    /// Run the classifier on Kafka and Redis (one process of a cluster).
    Classify(ClassifyArgs),
    /// Serve the rules repository and web console; published rules go to the rules topic.
    Console(ConsoleArgs),
    /// Deliver membership changes to ad partners (`activate status`, `activate replay`, `activate check`).
    Activate(ActivateCommand),
    /// Keep the Redis user-data cache (`user:<id>:data`) in step with the profile and stats topics.
    CacheSync(CacheSyncArgs),
    /// Create the deployment's Kafka topics.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// The lake: the raw and curated event tables on Delta Lake (`lake write`, `lake compact`).
    #[command(subcommand)]
    Lake(LakeCommand),
    /// Compute each user's historical stats from the lake (DataFusion over daily tiles)
    /// and publish the users whose stats changed; once (for cron) or `--every` interval.
    Stats(StatsArgs),
    /// Offer generated events to the broker at a fixed rate and measure event→segment-changes latency.
    BrokerBench(BrokerBenchArgs),
    /// Measure classifier throughput, memory and latency (see docs/benchmarks.md).
    Bench(BenchArgs),
}

/// `segstream lake …`
#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Write the events topic into the raw table, exactly once, until stopped.
    Write(LakeWriteArgs),
    /// Bring the curated table (events by event date, deduplicated) up to the raw table.
    Compact(LakeCompactArgs),
}

/// `segstream lake compact`
#[derive(Debug, Args)]
pub struct LakeCompactArgs {
    /// The raw table (it must exist).
    #[arg(long, default_value = "out/lake/raw")]
    pub raw: String,
    /// The curated table (created if missing).
    #[arg(long, default_value = "out/lake/curated")]
    pub curated: String,
    /// The topic whose tables these are.
    #[arg(long, default_value = "events")]
    pub topic: String,
}

/// `segstream stats`
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The curated table (it must exist).
    #[arg(long, default_value = "out/lake/curated")]
    pub curated: String,
    /// The daily tile table (created if missing).
    #[arg(long, default_value = "out/lake/stats_tiles")]
    pub tiles: String,
    /// The topic whose curated table this is.
    #[arg(long, default_value = "events")]
    pub topic: String,
    /// The day (YYYY-MM-DD, UTC) the stats are as of; today at each run if not given.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Run again at this interval ("1h") until stopped; without it, run once (for cron).
    #[arg(long)]
    pub every: Option<String>,
    /// Append the changed users' upserts to this NDJSON file (`segstream run --stats` reads it).
    #[arg(long, conflicts_with = "config")]
    pub out: Option<PathBuf>,
    /// Publish them to this deployment's stats topic instead (keyed by user).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The schema whose `[stats]` fields are published (with --out; --config names its own).
    #[arg(long, default_value = "configs/schema.toml")]
    pub schema: PathBuf,
    /// The most memory the query engine holds; beyond it, operators spill to disk.
    #[arg(long, default_value = "1GiB")]
    pub memory_limit: String,
    /// Where they spill (the system's temporary directory if not given).
    #[arg(long)]
    pub spill_dir: Option<PathBuf>,
    /// Publish every user's stats, not only those changed since the last run (for a new
    /// classifier or an empty stats store); with --every, the first run only.
    #[arg(long)]
    pub republish_all: bool,
}

/// `segstream lake write`
#[derive(Debug, Args)]
pub struct LakeWriteArgs {
    /// Deployment configuration (its events topic is read).
    #[command(flatten)]
    pub config: ConfigArg,
    /// The raw table: a directory (created if missing) or a file:// URL.
    #[arg(long, default_value = "out/lake/raw")]
    pub table: String,
    /// The longest a read record waits before it is committed.
    #[arg(long, default_value = "1s")]
    pub commit_every: String,
    /// Commit sooner once this many records are waiting.
    #[arg(long, default_value_t = 500_000)]
    pub batch: usize,
    /// Commit sooner once this many MiB of keys and payloads are waiting.
    #[arg(long = "batch-mib", default_value_t = 256)]
    pub batch_bytes: usize,
    /// Stop once the topic's end as it was at start is committed.
    #[arg(long)]
    pub once: bool,
    /// Serve Prometheus metrics (commits, records written, the last commit's time) on
    /// this address at `/metrics`.
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// `segstream broker-bench`
#[derive(Debug, Args)]
pub struct BrokerBenchArgs {
    /// Deployment configuration (a classifier must be running on it).
    #[command(flatten)]
    pub config: ConfigArg,
    /// Events per second offered (open loop: the schedule does not wait for the system).
    #[arg(long, default_value_t = 5_000)]
    pub rate: u64,
    /// How long events are offered.
    #[arg(long, default_value = "30s")]
    pub duration: String,
    /// How long changes are still collected after the last event.
    #[arg(long, default_value = "10s")]
    pub drain: String,
    /// Changes caused in this first stretch are not counted (start-up is reported apart from steady state).
    #[arg(long, default_value = "5s")]
    pub warmup: String,
    /// Number of simulated users.
    #[arg(long, default_value_t = 100_000)]
    pub users: u64,
    /// Seed of the traffic generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also produce every user's profile and stats first.
    #[arg(long)]
    pub tables: bool,
}

/// `segstream bench`
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Classifier time parameters.
    #[command(flatten)]
    pub classifier: ClassifierFlags,
    /// Number of simulated users.
    #[arg(long, default_value_t = 1_000_000)]
    pub users: u64,
    /// Records generated for the throughput phases.
    #[arg(long, default_value_t = 4_000_000)]
    pub events: u64,
    /// Records per second of event time in the generated data.
    #[arg(long, default_value_t = 50_000)]
    pub event_time_rate: u64,
    /// Worker threads for the dataflow phases.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Events per second of the live latency phase.
    #[arg(long, default_value_t = 50_000.0)]
    pub latency_rate: f64,
    /// Length of the live latency phase.
    #[arg(long, default_value_t = 20)]
    pub latency_seconds: u64,
    /// Users of the live latency phase.
    #[arg(long, default_value_t = 100_000)]
    pub latency_users: u64,
    /// Seed of the traffic generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Measure the engine's memory under a churning population instead (see
    /// docs/benchmarks.md): users arrive one after another, are active for one
    /// session, and leave.
    #[arg(long)]
    pub churn: bool,
    /// Distinct users of the churn run.
    #[arg(long, default_value_t = 10_000_000)]
    pub churn_users: u64,
    /// Event time the churn run spans, in days.
    #[arg(long, default_value_t = 170)]
    pub churn_days: u64,
    /// Rows of the churn curve.
    #[arg(long, default_value_t = 20)]
    pub churn_samples: u64,
    /// Rule locations.
    #[arg(long = "rules", default_value = "configs/rules")]
    pub rules: Vec<PathBuf>,
    /// Schema location.
    #[command(flatten)]
    pub schema: SchemaArg,
}

/// `segstream generate`
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// How many records.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Number of simulated users.
    #[arg(long, default_value_t = 10_000)]
    pub users: u64,
    /// Event time of the first record (RFC 3339).
    #[arg(long, default_value = "2026-11-26T10:00:00Z")]
    pub start: String,
    /// Records per second of event time.
    #[arg(long, default_value_t = 1_000.0)]
    pub rate: f64,
    /// Seed of the traffic generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of events delivered late (hours old).
    #[arg(long, default_value_t = 0.05)]
    pub late_rate: f64,
    /// Share of events sent twice.
    #[arg(long, default_value_t = 0.02)]
    pub duplicate_rate: f64,
    /// The file to write.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// Time parameters of the classifier (durations like `100ms`, `1s`, `24h`).
#[derive(Debug, Args)]
pub struct ClassifierFlags {
    /// Event times are rounded down to multiples of this.
    #[arg(long, default_value = "100ms")]
    pub tick: String,
    /// How far behind the highest event time a partition's watermark trails.
    #[arg(long, default_value = "1s")]
    pub max_out_of_order: String,
    /// Events are deduplicated within this much event time; older late events are sidelined.
    #[arg(long, default_value = "24h")]
    pub dedup_horizon: String,
    /// Event times are clamped to at most received_at plus this.
    #[arg(long, default_value = "1m")]
    pub future_tolerance: String,
    /// A caught-up partition silent this long stops holding the watermark back.
    #[arg(long, default_value = "5s")]
    pub idle_timeout: String,
    /// Raw events kept per user, from which features of newly added rules start.
    #[arg(long, default_value = "24h")]
    pub history: String,
    /// Evict a user with no windowed state whose last input is older than this, keeping
    /// only its condition results and memberships (its next input rebuilds it from the
    /// profile and stats); "0s": never.
    #[arg(long, default_value = "24h")]
    pub user_ttl: String,
}

/// `segstream demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Classifier time parameters.
    #[command(flatten)]
    pub classifier: ClassifierFlags,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Number of simulated users.
    #[arg(long, default_value_t = 100_000)]
    pub users: u64,
    /// Events per second, over all workers.
    #[arg(long, default_value_t = 20_000.0)]
    pub rate: f64,
    /// Stop after this long, e.g. 30s (default: run until interrupted).
    #[arg(long)]
    pub duration: Option<String>,
    /// Seed of the traffic generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where membership changes are written (NDJSON).
    #[arg(long, default_value = "out/changes.ndjson")]
    pub out: PathBuf,
    /// Rule locations.
    #[arg(long = "rules", default_value = "configs/rules")]
    pub rules: Vec<PathBuf>,
    /// Serve every component's Prometheus metrics at http://ADDR/metrics (`off`:
    /// don't); the dashboard in configs/grafana/ reads them. If ADDR is taken, the demo
    /// runs without it.
    #[arg(long, default_value = "127.0.0.1:9464", value_parser = listen_or_off)]
    pub metrics_addr: ListenOrOff,
    /// Re-read the rule files every second and apply valid edits live.
    #[arg(long)]
    pub watch_rules: bool,
    /// Write every input line the classifier reads to this file, as `partition<TAB>line`
    /// in each partition's order (what the load harness's exact check replays).
    #[arg(long)]
    pub tap_lines: Option<PathBuf>,
    /// Serve the tracking API on ADDR (`off`: don't): events posted there go through the
    /// in-process log into the classifier, alongside the generated traffic (`--rate 0`
    /// for posted events only). If ADDR is taken, the demo runs without it.
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = listen_or_off)]
    pub collector: ListenOrOff,
    /// The tracking API's settings (with `--collector`).
    #[command(flatten)]
    pub http: CollectorHttpFlags,
    /// Schema location.
    #[command(flatten)]
    pub schema: SchemaArg,
    /// Activation: the partners that receive membership changes.
    #[command(flatten)]
    pub activation: DemoActivationFlags,
    /// The rules console.
    #[command(flatten)]
    pub console: ConsoleFlags,
    /// The lake's directory (`off`: none): every generated and posted line lands in its
    /// raw table (`raw/`), which its curated table (`curated/`) follows; the stats job
    /// computes the users' `[stats]` from it into daily tiles (`stats_tiles/`) and the
    /// classifier takes what changed.
    #[arg(long, default_value = "out/lake")]
    pub lake: String,
    /// How often the curated table and the stats follow the raw table.
    #[arg(long, default_value = "30s")]
    pub lake_every: String,
    /// Where the classifier's checkpoints go (`off`: none): each worker's state, saved a
    /// slice at a time while it goes on, with a manifest (`segstream classify`'s layout).
    #[arg(long, default_value = "out/checkpoints")]
    pub checkpoints: String,
    /// How often a checkpoint is taken, in event time (every tenth full, the others
    /// incremental).
    #[arg(long, default_value = "10s")]
    pub checkpoint_every: String,
}

/// The rules console's settings, shared by `segstream console` and `segstream demo`.
#[derive(Debug, Args)]
pub struct ConsoleFlags {
    /// Serve the rules console on ADDR (`off`: don't; port 0: any free port).
    #[arg(long = "console", default_value = "127.0.0.1:8070", value_parser = listen_or_off)]
    pub listen: ListenOrOff,
    /// The rules repository (SQLite); a new one is filled from the rule files and published.
    #[arg(long = "console-db", default_value = "out/console.db")]
    pub db: PathBuf,
    /// Who may use the console: a TOML file of `[[token]] name, role, token` (see docs/console.md).
    /// Without it the demo makes an admin token and prints it; `segstream console` refuses
    /// to start unless `--insecure`.
    #[arg(long = "console-tokens")]
    pub tokens: Option<PathBuf>,
    /// Let anyone in without a token, as an admin (for a console on a trusted laptop only).
    #[arg(long)]
    pub insecure: bool,
}

/// `segstream console`
#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Deployment configuration (brokers, topics, schema).
    #[command(flatten)]
    pub config: ConfigArg,
    /// Rule files that fill a new repository (published as its first version).
    #[arg(long = "rules", default_value = "configs/rules")]
    pub rules: Vec<PathBuf>,
    /// The console.
    #[command(flatten)]
    pub console: ConsoleFlags,
}

/// Activation in the demo.
#[derive(Debug, Args)]
pub struct DemoActivationFlags {
    /// The partners file (`off`: no activation).
    #[arg(long, default_value = "configs/partners.toml")]
    pub partners: String,
    /// Run the local partner on ADDR (`off`: don't), recording what it receives.
    #[arg(long, default_value = "127.0.0.1:8090", value_parser = listen_or_off)]
    pub partner_receiver: ListenOrOff,
    /// Where the local partner records receipts, one NDJSON file per partner.
    #[arg(long, default_value = "out/partners")]
    pub partners_out: PathBuf,
    /// Where dead-lettered changes go, one NDJSON file per partner.
    #[arg(long, default_value = "out/dead-letters")]
    pub dead_letters: PathBuf,
}

/// `segstream run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The events, one JSON object per line.
    #[arg(long)]
    pub input: PathBuf,
    /// Partitions the file is split into by user (like the events topic), whatever the
    /// worker count; a late event is judged against its partition's watermark, so the
    /// changes do not depend on `--workers`.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub partitions: u32,
    /// How the events are classified.
    #[command(flatten)]
    pub run: BoundedRunFlags,
}

/// `segstream replay`
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The curated table to replay.
    #[arg(long = "from", default_value = "out/lake/curated")]
    pub from: String,
    /// Replay events from this event time on (RFC 3339 or epoch ms).
    #[arg(long)]
    pub since: Option<String>,
    /// Replay events before this event time (RFC 3339 or epoch ms).
    #[arg(long)]
    pub until: Option<String>,
    /// How the events are classified.
    #[command(flatten)]
    pub run: BoundedRunFlags,
}

/// A bounded classification (`run`, `replay`): rules, side inputs, workers, output.
#[derive(Debug, Args)]
pub struct BoundedRunFlags {
    /// Classifier time parameters.
    #[command(flatten)]
    pub classifier: ClassifierFlags,
    /// Profile upserts, NDJSON: {"user", "time"?, "profile": {...} | null}.
    #[arg(long)]
    pub profiles: Option<PathBuf>,
    /// Stats upserts, NDJSON: {"user", "time"?, "stats": {...} | null}.
    #[arg(long)]
    pub stats: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Where membership changes are written (NDJSON).
    #[arg(long, default_value = "out/changes.ndjson")]
    pub out: PathBuf,
    /// Rule locations.
    #[arg(long = "rules", default_value = "configs/rules")]
    pub rules: Vec<PathBuf>,
    /// Schema location.
    #[command(flatten)]
    pub schema: SchemaArg,
}

/// `segstream rules …`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate rule files against the schema and print every error like a compiler.
    Check(CheckArgs),
    /// Evaluate rules against a sample user view (JSON) and show what they read.
    Eval(EvalArgs),
    /// Validate rule files and publish them as one set to the rules topic.
    Publish(PublishArgs),
}

/// The deployment configuration file.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The deployment configuration (environment variables `SEGSTREAM__<SECTION>__<KEY>` override it).
    #[arg(long, default_value = "configs/kafka.toml")]
    pub config: PathBuf,
}

/// `segstream rules publish`
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Rule files or directories of `*.toml` rule files.
    #[arg(default_value = "configs/rules")]
    pub paths: Vec<PathBuf>,
    /// Deployment configuration.
    #[command(flatten)]
    pub config: ConfigArg,
}

/// `segstream classify`
#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// Deployment configuration.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Worker threads in this process.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Processes in the cluster.
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
    /// This process's index (0-based).
    #[arg(long, default_value_t = 0)]
    pub process: usize,
    /// One `host:port` per line, a line per process, in process order (needed with --processes > 1).
    #[arg(long)]
    pub hostfile: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Stop once every change before this event time (RFC 3339 or epoch ms) is durable.
    #[arg(long)]
    pub until: Option<String>,
    /// Run as the warm standby of this process slot: follow the checkpoints, decoding
    /// each newer one, and take over once the primary's lease lapses (it never reclaims
    /// the primary's slot while the primary holds it).
    #[arg(long)]
    pub standby: bool,
}

/// `segstream collector`
#[derive(Debug, Args)]
pub struct CollectorArgs {
    /// Deployment configuration (brokers, topics, schema).
    #[command(flatten)]
    pub config: ConfigArg,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The tracking API's settings.
    #[command(flatten)]
    pub http: CollectorHttpFlags,
    /// How long the broker may take to acknowledge before the request is answered 503.
    #[arg(long, default_value = "5s")]
    pub publish_timeout: String,
    /// How long the producer waits to fill a batch, ms.
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// The spool directory: batches the broker cannot take are fsynced here and republished later.
    #[arg(long, default_value = "spool")]
    pub spool_dir: std::path::PathBuf,
    /// The spool's capacity in bytes; beyond it requests get 503.
    #[arg(long, default_value_t = 1 << 30)]
    pub spool_capacity: u64,
    /// Size at which a spool segment file is sealed, bytes.
    #[arg(long, default_value_t = 16 << 20)]
    pub spool_segment: u64,
}

/// The tracking API's settings, shared by `segstream collector` and `segstream demo --collector`.
#[derive(Debug, Args)]
pub struct CollectorHttpFlags {
    /// An accepted write key (repeat for several). Without one, `segstream collector`
    /// refuses to start and the demo makes one and prints it.
    #[arg(long = "write-key")]
    pub write_keys: Vec<String>,
    /// Accept events from anyone, with no write key (local experiments only).
    #[arg(long, conflicts_with = "write_keys")]
    pub insecure_no_auth: bool,
    /// This collector's node id (default: the listen address).
    #[arg(long)]
    pub node: Option<String>,
    /// Largest event, bytes.
    #[arg(long, default_value_t = 32 * 1024)]
    pub event_limit: usize,
    /// Largest request body after inflating, bytes.
    #[arg(long, default_value_t = 500 * 1024)]
    pub request_limit: usize,
    /// Events per second each write key may send (0: unlimited); bursts of twice that.
    #[arg(long, default_value_t = 0)]
    pub rate_limit: u64,
    /// A proxy or load balancer (address or CIDR range, repeatable) whose
    /// `X-Forwarded-For` is believed; without one the header is ignored.
    #[arg(long = "trusted-proxy")]
    pub trusted_proxies: Vec<String>,
}

/// `segstream cache-sync`
#[derive(Debug, Args)]
pub struct CacheSyncArgs {
    /// Deployment configuration.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Stop once caught up with the topics' ends as they were at start (for backfills and tests).
    #[arg(long)]
    pub once: bool,
}

/// `segstream activate [status|replay|check]`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ActivateCommand {
    /// Without one, the activator runs.
    #[command(subcommand)]
    pub action: Option<ActivateAction>,
    /// The activator's settings.
    #[command(flatten)]
    pub run: ActivateArgs,
}

/// What `segstream activate` does besides running.
#[derive(Debug, Subcommand)]
pub enum ActivateAction {
    /// Validate the partners file against the rules, like `rules check`.
    Check(ActivateCheckArgs),
    /// Show each partner's state from a running activator.
    Status(ActivateStatusArgs),
    /// Deliver dead-lettered changes again, or every change since a time, to one partner.
    Replay(ActivateReplayArgs),
    /// Measure throughput to a fast local partner, and isolation from a partner that is down.
    Bench(ActivateBenchArgs),
}

/// `segstream activate bench`
#[derive(Debug, Args)]
pub struct ActivateBenchArgs {
    /// Changes for the throughput run.
    #[arg(long, default_value_t = 1_000_000)]
    pub changes: u64,
    /// Changes per request in the throughput run.
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,
    /// Changes per second fed to both partners in the isolation runs.
    #[arg(long, default_value_t = 5_000.0)]
    pub rate: f64,
    /// Length of each isolation run.
    #[arg(long, default_value = "100s")]
    pub duration: String,
    /// How long partner A is down in the second isolation run.
    #[arg(long, default_value = "60s")]
    pub outage: String,
    /// Skip the isolation runs.
    #[arg(long)]
    pub throughput_only: bool,
}

/// The partners file and where dead letters go.
#[derive(Debug, Args)]
pub struct PartnersArgs {
    /// The partners file.
    #[arg(long, default_value = "configs/partners.toml")]
    pub partners: PathBuf,
    /// Rule locations (partners may map only segments they define).
    #[arg(long = "rules", default_value = "configs/rules")]
    pub rules: Vec<PathBuf>,
    /// Where dead-lettered changes go, one NDJSON file per partner.
    #[arg(long, default_value = "dead-letters")]
    pub dead_letter_dir: PathBuf,
}

/// `segstream activate`
#[derive(Debug, Args)]
pub struct ActivateArgs {
    /// Deployment configuration.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Partners.
    #[command(flatten)]
    pub partners: PartnersArgs,
    /// Serve `/metrics` and `/status` on ADDR (`off`: don't).
    #[arg(long, default_value = "127.0.0.1:9465", value_parser = listen_or_off)]
    pub status_addr: ListenOrOff,
    /// Stop after this long (default: run until interrupted).
    #[arg(long)]
    pub duration: Option<String>,
}

/// `segstream activate check`
#[derive(Debug, Args)]
pub struct ActivateCheckArgs {
    /// Partners.
    #[command(flatten)]
    pub partners: PartnersArgs,
    /// Schema location.
    #[command(flatten)]
    pub schema: SchemaArg,
}

/// `segstream activate status`
#[derive(Debug, Args)]
pub struct ActivateStatusArgs {
    /// Where the activator serves `/status`.
    #[arg(long, default_value = "127.0.0.1:9465")]
    pub addr: std::net::SocketAddr,
}

/// `segstream activate replay`
#[derive(Debug, Args)]
pub struct ActivateReplayArgs {
    /// Deployment configuration.
    #[command(flatten)]
    pub config: ConfigArg,
    /// Partners.
    #[command(flatten)]
    pub partners: PartnersArgs,
    /// The partner to deliver to.
    #[arg(long)]
    pub partner: String,
    /// Deliver the partner's dead letters again (those that fail again are dead-lettered again).
    #[arg(long, conflicts_with = "from", required_unless_present = "from")]
    pub dead_letters: bool,
    /// Deliver every change of `segment-changes` from this time (RFC 3339) to now.
    #[arg(long)]
    pub from: Option<String>,
}

/// `segstream topics …`
#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create every configured topic that does not exist yet.
    Create(ConfigArg),
}

/// Where the schema is.
#[derive(Debug, Args)]
pub struct SchemaArg {
    /// The schema of events, profile and stats.
    #[arg(long, default_value = "configs/schema.toml")]
    pub schema: PathBuf,
}

/// `segstream rules check`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Rule files or directories of `*.toml` rule files.
    #[arg(default_value = "configs/rules")]
    pub paths: Vec<PathBuf>,
    /// Schema location.
    #[command(flatten)]
    pub schema: SchemaArg,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Text,
    /// One JSON object per segment, per line.
    Json,
}

/// `segstream rules eval`
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A rule file or a directory of rule files (use the directory when parents are in other files).
    #[arg(long)]
    pub rule: Vec<PathBuf>,
    /// The user view: JSON with now, profile, stats and events (see docs/rules.md).
    #[arg(long)]
    pub view: PathBuf,
    /// Only this segment.
    #[arg(long)]
    pub segment: Option<String>,
    /// The tick that event times are rounded down to, e.g. 100ms.
    #[arg(long, default_value = "100ms")]
    pub tick: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Schema location.
    #[command(flatten)]
    pub schema: SchemaArg,
}

/// An address to listen on, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenOrOff(pub Option<std::net::SocketAddr>);

fn listen_or_off(text: &str) -> Result<ListenOrOff, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(ListenOrOff(None));
    }
    text.parse()
        .map(|addr| ListenOrOff(Some(addr)))
        .map_err(|e| format!("expected host:port or off: {e}"))
}
