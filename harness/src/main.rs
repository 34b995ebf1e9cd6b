//! `segstream-harness`: load-test a segstream deployment against the five-second SLA.
//!
//! ```text
//! segstream-harness run --target embedded --rate 2000 --duration 30s --sla 5s
//! segstream-harness run --target http --collector 127.0.0.1:8080 --brokers 127.0.0.1:9092 --rate 5000 --duration 60s
//! segstream-harness find-max --target http --collector 127.0.0.1:8080 --sla 5s --p 99
//! ```
//!
//! Contract: `run` drives one deployment at a rate schedule for a duration (open loop),
//! watches its changes, prints p50/p90/p99/p99.9/max of event→change latency and PASS
//! or FAIL against `--sla` at `--p`, checks a sample of users against the classifier's
//! oracle, and writes a Markdown report with plots to `--report DIR`. Exit code 0 is
//! PASS, 1 FAIL, 2 an error. `find-max` runs trials at rising rates (doubling, then
//! bisecting) and reports the highest rate that passes. `--target embedded` starts
//! `segstream demo` itself (the whole pipeline in one process, fed over HTTP); `http`
//! posts to running collectors and reads `segment-changes` from Kafka; `kafka` produces
//! to the events topic directly.

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use segstream_activation::receiver::Faults;
use segstream_dataflows::classifier::ClassifierConfig;
use segstream_harness::arrivals;
use segstream_harness::changes::{Change, ChangeFeed, KafkaChanges, NdjsonTail};
use segstream_harness::check::{check, CheckResult, InputReader};
use segstream_harness::drivers::{Driver, HttpDriver, KafkaDriver};
use segstream_harness::latency::Percentiles;
use segstream_harness::partner::{serve, MockPartner};
use segstream_harness::report::{write_report, PartnerLatency, Report, SecondStats};
use segstream_harness::run::{run, sampled, wall_ms, PartnerFeed, RunConfig, RunResult};
use segstream_harness::schedule::Schedule;
use segstream_harness::scrape::{scrape, ClassifierCounts};
use segstream_harness::tables;
use segstream_rules::files::load_rules;
use segstream_time::{format_timestamp, parse_duration};
use segstream_traffic::TrafficConfig;

#[derive(Parser)]
#[command(name = "segstream-harness", about = "Load-test segstream against its latency SLA")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// One run at a rate schedule: latency percentiles, SLA verdict, correctness, report.
    Run(RunArgs),
    /// The highest constant rate that meets the SLA.
    FindMax(FindMaxArgs),
    /// A mock ad partner that records what it receives, with faults and an outage.
    Partner(PartnerArgs),
}

#[derive(Args)]
struct PartnerArgs {
    /// Where to listen.
    #[arg(long)]
    listen: std::net::SocketAddr,
    /// Where receipts go (`<partner>.ndjson`).
    #[arg(long)]
    out: PathBuf,
    /// The partner id whose webhook signatures are checked (with --secret-file).
    #[arg(long, default_value = "local")]
    partner: String,
    /// The webhook secret of --partner.
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Added before every answer.
    #[arg(long, default_value = "0ms")]
    latency: String,
    /// Share of requests answered 500.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of requests answered 429 with Retry-After: 1.
    #[arg(long, default_value_t = 0.0)]
    throttle_rate: f64,
    /// Start an outage (503) this long after start.
    #[arg(long)]
    down_after: Option<String>,
    /// How long the outage lasts.
    #[arg(long, default_value = "60s")]
    down_for: String,
    /// Stop after this long (default: until killed).
    #[arg(long)]
    duration: Option<String>,
}

fn partner_command(args: &PartnerArgs) -> Result<bool, String> {
    let duration = |text: &str, name: &str| millis(text, name).map(Duration::from_millis);
    let mock = MockPartner {
        listen: args.listen,
        out: args.out.clone(),
        partner: args.partner.clone(),
        secret_file: args.secret_file.clone(),
        faults: Faults {
            latency: duration(&args.latency, "latency")?,
            error_rate: args.error_rate,
            throttle_rate: args.throttle_rate,
            ..Faults::default()
        },
        outage: match &args.down_after {
            Some(after) => Some((duration(after, "down-after")?, duration(&args.down_for, "down-for")?)),
            None => None,
        },
        duration: args.duration.as_deref().map(|d| duration(d, "duration")).transpose()?,
    };
    serve(&mock)?;
    Ok(true)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    /// Start `segstream demo` and drive its collector (no services needed).
    Embedded,
    /// Running collectors over HTTP; changes from Kafka.
    Http,
    /// The events topic directly; changes from Kafka.
    Kafka,
}

#[derive(Args, Clone)]
struct Common {
    /// What to drive.
    #[arg(long, value_enum, default_value = "embedded")]
    target: Target,
    /// The SLA on event→change latency.
    #[arg(long, default_value = "5s")]
    sla: String,
    /// The percentile the SLA applies to (50, 90, 99, 99.9).
    #[arg(long = "p", default_value_t = 99.0)]
    percentile: f64,
    /// Users in the traffic model.
    #[arg(long, default_value_t = 20_000)]
    users: u64,
    /// Seed of the traffic model.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of the users active today.
    #[arg(long, default_value_t = 0.3)]
    daily_active: f64,
    /// Sessions open at once (a user's events are this / rate seconds apart on average).
    #[arg(long, default_value_t = 2_000)]
    sessions: usize,
    /// Events per request.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Sender threads (connections; each waits for its request's answer).
    #[arg(long, default_value_t = 32)]
    senders: usize,
    /// Collector address, host:port (repeat for several; http target).
    #[arg(long = "collector", default_value = "127.0.0.1:8080")]
    collectors: Vec<String>,
    /// Write key for the collectors.
    #[arg(long, default_value = "wk")]
    write_key: String,
    /// Kafka brokers (http and kafka targets).
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// The events topic (kafka target's destination; the http and kafka targets'
    /// correctness check reads it back).
    #[arg(long, default_value = "events")]
    events_topic: String,
    /// The changes topic (http and kafka targets).
    #[arg(long, default_value = "segment-changes")]
    changes_topic: String,
    /// The profiles topic (http and kafka targets: the harness publishes every user's profile).
    #[arg(long, default_value = "user-profiles")]
    profiles_topic: String,
    /// The stats topic (http and kafka targets).
    #[arg(long, default_value = "user-stats")]
    stats_topic: String,
    /// The classifier's tick, for matching changes to events.
    #[arg(long, default_value = "100ms")]
    tick: String,
    /// Longest wait for changes after the load ends.
    #[arg(long, default_value = "15s")]
    drain: String,
    /// Users checked against the oracle, per 10,000 (0: no check).
    #[arg(long, default_value_t = 200)]
    check_per_10k: u64,
    /// The longest the check may take, once the load is over, to read the rest of the
    /// events topic (http and kafka targets: it is followed while the load runs).
    #[arg(long, default_value = "15m")]
    check_read_limit: String,
    /// The `segstream` binary (embedded target; default: next to this one).
    #[arg(long)]
    segstream: Option<PathBuf>,
    /// Classifier workers of the embedded demo.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// A classifier process's metrics endpoint, host:port (repeat; the embedded target
    /// finds its own): what the classifier observed is reported next to what was sent.
    #[arg(long = "metrics")]
    metrics: Vec<String>,
    /// A partner's receipts to measure event → partner latency on, NAME=PATH of the NDJSON
    /// file a mock partner writes (repeat; the embedded target sets up its own).
    #[arg(long = "partner-receipts")]
    partner_receipts: Vec<String>,
    /// Rule locations (for the correctness check; the deployment's rules).
    #[arg(long = "rules", default_value = "configs/rules")]
    rules: Vec<PathBuf>,
    /// The schema.
    #[arg(long, default_value = "configs/schema.toml")]
    schema: PathBuf,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Events per second: R, constant:R, ramp:A..B, or step:A+S/P.
    #[arg(long, default_value = "1000")]
    rate: String,
    /// Length of the load.
    #[arg(long, default_value = "30s")]
    duration: String,
    /// Write the report (report.md and plots) into this directory.
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(Args)]
struct FindMaxArgs {
    #[command(flatten)]
    common: Common,
    /// The first rate tried.
    #[arg(long, default_value_t = 1_000.0)]
    from: f64,
    /// The highest rate tried.
    #[arg(long, default_value_t = 200_000.0)]
    max: f64,
    /// Length of each trial.
    #[arg(long, default_value = "30s")]
    trial: String,
    /// Write the best passing trial's report here.
    #[arg(long)]
    report: Option<PathBuf>,
}

fn millis(text: &str, what: &str) -> Result<u64, String> {
    parse_duration(text).map(|ms| ms as u64).map_err(|e| format!("--{what}: {e}"))
}

/// A started deployment: where to send, where changes appear, and what to stop after.
struct Deployment {
    collectors: Vec<String>,
    metrics: Vec<String>,
    feed: Box<dyn ChangeFeed>,
    partner_feeds: Vec<PartnerFeed>,
    /// Where what the classifier was given can be read back, for the exact check.
    input: Input,
    child: Option<Child>,
}

/// Where the exact check reads the classifier's input.
enum Input {
    /// The embedded demo's `--tap-lines` file.
    Tap(PathBuf),
    /// The events topic, followed while the load runs.
    Followed(arrivals::Follower),
    /// Not read: no check was asked for.
    NotRead,
}

/// The partner the embedded target's demo delivers to, for event → partner latency.
const EMBEDDED_PARTNER: &str = "sla-webhook";

/// A partners file with one webhook partner of every segment of the rules, delivering
/// to the demo's local partner on `port`; returns its path and where receipts go.
fn embedded_partners(common: &Common, scratch: &std::path::Path, port: u16) -> Result<(PathBuf, PathBuf), String> {
    let loaded = load_rules(&common.schema, &common.rules).map_err(|e| e.to_string())?;
    let segments: Vec<String> = loaded.defs.iter().map(|d| format!("{0} = \"{0}\"", d.id)).collect();
    let secret = scratch.join(format!("partner-{port}.secret"));
    std::fs::write(&secret, format!("harness-secret-{port}-{}", wall_ms())).map_err(|e| format!("{}: {e}", secret.display()))?;
    let text = format!(
        "[[partner]]\nid = \"{EMBEDDED_PARTNER}\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/p/{EMBEDDED_PARTNER}/webhook\"\nsegments = {{ {} }}\nbatch_size = 500\nmax_batch_wait = \"50ms\"\nconcurrency = 4\ncredentials = {{ file = \"{}\" }}\n",
        segments.join(", "),
        secret.display()
    );
    let file = scratch.join(format!("partners-{port}.toml"));
    std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok((file, scratch.join(format!("partners-{port}"))))
}

/// `NAME=PATH` receipts to follow.
fn partner_feeds(specs: &[String]) -> Result<Vec<PartnerFeed>, String> {
    specs
        .iter()
        .map(|spec| {
            let (name, path) = spec
                .split_once('=')
                .ok_or_else(|| format!("--partner-receipts {spec:?}: expected NAME=PATH"))?;
            Ok((
                name.to_string(),
                Box::new(NdjsonTail::new(PathBuf::from(path))) as Box<dyn ChangeFeed>,
            ))
        })
        .collect()
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn segstream_binary(common: &Common) -> Result<PathBuf, String> {
    if let Some(path) = &common.segstream {
        return Ok(path.clone());
    }
    let me = std::env::current_exe().map_err(|e| format!("where am I: {e}"))?;
    Ok(me.with_file_name("segstream"))
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn deploy(common: &Common, lifetime: Duration, scratch: &std::path::Path) -> Result<Deployment, String> {
    match common.target {
        Target::Embedded => {
            let (port, metrics_port, partner_port) = (free_port()?, free_port()?, free_port()?);
            std::fs::create_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
            let changes = scratch.join(format!("changes-{port}.ndjson"));
            let tap = scratch.join(format!("input-{port}.tsv"));
            let (partners, receipts) = embedded_partners(common, scratch, partner_port)?;
            let binary = segstream_binary(common)?;
            let child = Command::new(&binary)
                .args([
                    "demo",
                    "--rate",
                    "0",
                    "--collector",
                    &format!("127.0.0.1:{port}"),
                    "--write-key",
                    &common.write_key,
                ])
                .args(["--users", &common.users.to_string(), "--seed", &common.seed.to_string()])
                .args([
                    "--workers",
                    &common.workers.to_string(),
                    "--duration",
                    &format!("{}s", lifetime.as_secs() + 5),
                ])
                .args([
                    "--out",
                    &changes.display().to_string(),
                    "--schema",
                    &common.schema.display().to_string(),
                ])
                .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
                // The exact check replays every input line; the lake's stats job would
                // change users' stats mid-run behind the check's back.
                .args(["--tap-lines", &tap.display().to_string(), "--lake", "off"])
                .args(["--partners", &partners.display().to_string()])
                .args(["--partner-receiver", &format!("127.0.0.1:{partner_port}")])
                .args(["--partners-out", &receipts.display().to_string()])
                .args([
                    "--dead-letters",
                    &scratch.join(format!("dead-letters-{port}")).display().to_string(),
                ])
                .args(common.rules.iter().flat_map(|r| ["--rules".to_string(), r.display().to_string()]))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("starting {}: {e}", binary.display()))?;
            let deadline = Instant::now() + Duration::from_secs(30);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if Instant::now() > deadline {
                    return Err("the embedded demo's collector did not start listening".into());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(Deployment {
                collectors: vec![format!("127.0.0.1:{port}")],
                metrics: vec![format!("127.0.0.1:{metrics_port}")],
                feed: Box::new(NdjsonTail::new(changes)),
                partner_feeds: vec![(
                    EMBEDDED_PARTNER.to_string(),
                    Box::new(NdjsonTail::new(receipts.join(format!("{EMBEDDED_PARTNER}.ndjson")))),
                )],
                input: Input::Tap(tap),
                child: Some(child),
            })
        }
        Target::Http | Target::Kafka => Ok(Deployment {
            collectors: common.collectors.clone(),
            metrics: common.metrics.clone(),
            feed: Box::new(KafkaChanges::new(&common.brokers, &common.changes_topic)?),
            partner_feeds: partner_feeds(&common.partner_receipts)?,
            input: if common.check_per_10k > 0 {
                let spool = std::env::temp_dir().join(format!("segstream-harness-events-{}", std::process::id()));
                Input::Followed(arrivals::Follower::start(&common.brokers, &common.events_topic, &spool)?)
            } else {
                Input::NotRead
            },
            child: None,
        }),
    }
}

/// Longer than the classifier's idle timeout (5 s): a partition whose profiles arrived
/// first may hold the watermark back that long before the rest of the start-up
/// memberships come out.
const SETTLED_AFTER: Duration = Duration::from_secs(7);
/// The longest wait for the start-up memberships.
const SETTLE_LIMIT: Duration = Duration::from_secs(180);

/// Waits until the changes that the deployment's start makes (every user's memberships
/// from profiles and stats) have passed — the classifier's and each partner's feed quiet
/// for [`SETTLED_AFTER`] after the first change, at most 3 minutes — so that the run
/// measures the steady state. Returns the first tick seen and the sampled users'
/// changes, for the correctness check.
fn settle(
    feed: &mut dyn ChangeFeed,
    partner_feeds: &mut [PartnerFeed],
    quiet_progress: bool,
    per_10k: u64,
) -> Result<(Option<u64>, Vec<Change>), String> {
    let (started, mut last) = (Instant::now(), Instant::now());
    let (mut first_tick, mut seen, mut changes, mut kept) = (None::<u64>, 0u64, Vec::new(), Vec::new());
    let mut delivered = Vec::new();
    while (seen == 0 || last.elapsed() < SETTLED_AFTER) && started.elapsed() < SETTLE_LIMIT {
        feed.poll(&mut changes)?;
        for (_, partner) in partner_feeds.iter_mut() {
            partner.poll(&mut delivered)?;
        }
        if !changes.is_empty() || !delivered.is_empty() {
            last = Instant::now();
            seen += changes.len() as u64;
            first_tick = changes.iter().map(|c| c.tick_ms).chain(first_tick).min();
            kept.extend(changes.drain(..).filter(|c| sampled(&c.user, per_10k)));
            delivered.clear();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if !quiet_progress {
        println!(
            "start-up memberships (profiles and stats): {seen} changes in {:.1}s before the load",
            started.elapsed().as_secs_f64()
        );
    }
    Ok((first_tick, kept))
}

/// The outcome of one run, judged.
struct Judged {
    result: RunResult,
    latency: Percentiles,
    pass: bool,
    verdict: String,
    check: Option<Result<CheckResult, String>>,
    /// What the classifier observed during the run, if its metrics were reachable.
    classifier: Option<Result<ClassifierCounts, String>>,
}

fn one_run(common: &Common, schedule: Schedule, quiet_progress: bool) -> Result<Judged, String> {
    let sla_ms = millis(&common.sla, "sla")?;
    let tick_ms = millis(&common.tick, "tick")?;
    let drain = Duration::from_millis(millis(&common.drain, "drain")?);
    let check_read_limit = Duration::from_millis(millis(&common.check_read_limit, "check-read-limit")?);
    // The embedded demo outlives the run (it is stopped when the deployment drops):
    // settling, the schedule, its cool-down and the drain.
    let lifetime = Duration::from_secs_f64(schedule.duration_s) + drain + SETTLE_LIMIT + Duration::from_secs(10);
    let mut deployment = deploy(common, lifetime, &std::env::temp_dir().join("segstream-harness"))?;
    // Against a long-lived deployment every run has users of its own.
    let user_prefix = match common.target {
        Target::Embedded => String::new(),
        Target::Http | Target::Kafka => format!("r{}-", wall_ms()),
    };
    let traffic = TrafficConfig {
        users: common.users,
        seed: common.seed,
        daily_active: common.daily_active,
        concurrent_sessions: common.sessions,
        ..TrafficConfig::default()
    };
    if matches!(common.target, Target::Http | Target::Kafka) {
        tables::publish(&common.brokers, &common.profiles_topic, &common.stats_topic, traffic, &user_prefix)?;
    }
    let (warmup_tick, warmup_changes) = settle(
        deployment.feed.as_mut(),
        &mut deployment.partner_feeds,
        quiet_progress,
        common.check_per_10k,
    )?;
    let config = RunConfig {
        schedule,
        traffic,
        batch: common.batch.max(1),
        senders: common.senders.max(1),
        tick_ms,
        drain,
        // Longer than the classifier's idle timeout (5 s), after which the watermark
        // passes the load's last ticks.
        quiet: Duration::from_secs(7),
        sample_per_10k: common.check_per_10k,
        cooldown: Duration::from_secs(3),
        user_prefix,
        spooling_collectors: match common.target {
            Target::Http => deployment.collectors.clone(),
            Target::Kafka | Target::Embedded => Vec::new(),
        },
    };
    let collectors = deployment.collectors.clone();
    let (target, key, brokers, topic) = (
        common.target,
        common.write_key.clone(),
        common.brokers.clone(),
        common.events_topic.clone(),
    );
    let make = move |index: usize| -> Result<Box<dyn Driver>, String> {
        Ok(match target {
            Target::Kafka => Box::new(KafkaDriver::new(&brokers, &topic)?),
            Target::Embedded | Target::Http => Box::new(HttpDriver::new(&collectors[index % collectors.len().max(1)], &key)),
        })
    };
    let bar = if quiet_progress {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(schedule.duration_s.ceil() as u64)
    };
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len}s {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()));
    let progress = |second: u64, sent: u64, accepted: u64, _: u64| {
        bar.set_position(second);
        bar.set_message(format!("sent {sent}, acknowledged {accepted}"));
    };
    let feed = std::mem::replace(&mut deployment.feed, Box::new(NdjsonTail::new(PathBuf::new())));
    let observe = |endpoints: &[String]| (!endpoints.is_empty()).then(|| scrape(endpoints));
    let before = observe(&deployment.metrics);
    let partner_feeds = std::mem::take(&mut deployment.partner_feeds);
    let mut result = run(&config, &make, feed, partner_feeds, &progress)?;
    let classifier = match (before, observe(&deployment.metrics)) {
        (Some(Ok(before)), Some(Ok(after))) => Some(Ok(after.since(&before))),
        (Some(Err(e)), _) | (_, Some(Err(e))) => Some(Err(e)),
        _ => None,
    };
    for change in warmup_changes {
        result.sampled_changes.entry(change.user.clone()).or_default().push(change);
    }
    bar.finish_and_clear();
    let latency = result.latency.overall();
    let observed = latency.at(common.percentile);
    let ingest_p = result.ingest.overall().at(common.percentile);
    // The SLA the business signs is to the partner: each partner's latency counts too.
    let late_partner = result
        .partners
        .iter()
        .map(|(name, r)| (name, r.overall()))
        .find(|(_, p)| p.count == 0 || p.at(common.percentile) > sla_ms as f64);
    let check = (common.check_per_10k > 0).then(|| {
        let loaded = load_rules(&common.schema, &common.rules).map_err(|e| match e.diagnostics().first() {
            Some(first) => format!("{e}: {first}"),
            None => e.to_string(),
        })?;
        let start_tick = warmup_tick
            .into_iter()
            .chain(result.first_change_tick)
            .min()
            .ok_or("no change observed")?;
        let config = ClassifierConfig {
            tick_ms,
            ..ClassifierConfig::default()
        };
        let mut reader = InputReader::new(&loaded.schema, result.sampled.keys().cloned().collect(), &config);
        let mut delivery = result.delivery.clone();
        let mut read = |p: u32, line: &str| {
            delivery.stored(line);
            reader.line(p, line)
        };
        match std::mem::replace(&mut deployment.input, Input::NotRead) {
            Input::Tap(path) => arrivals::read_tap_file(&path, &mut read)?,
            Input::Followed(follower) => follower.finish(check_read_limit, &mut read)?,
            Input::NotRead => return Err("the classifier's input was not read".to_string()),
        }
        check(
            &loaded.schema,
            &loaded.defs,
            config,
            &result.sampled,
            reader.finish(),
            &result.sampled_changes,
            start_tick,
            // Every tick of the load is past the watermark once the drain ends.
            result.load_ended_at_ms,
        )
        .map(|sampled| sampled.with_delivery(&delivery))
    });
    let correct = match &check {
        Some(Ok(c)) if !c.passed() => Err(format!(
            "{} of {} sampled users' changes differ from the oracle; first: {}",
            c.difference_count,
            c.users,
            c.differences.first().map_or("", String::as_str)
        )),
        Some(Err(e)) => Err(format!("the correctness check could not run: {e}")),
        _ => Ok(()),
    };
    let pass = latency.count > 0
        && observed <= sla_ms as f64
        && late_partner.is_none()
        && result.failed == 0
        && result.sender_lag_s < 1.0
        && ingest_p <= sla_ms as f64
        && correct.is_ok();
    let why_not = if latency.count == 0 {
        "no change could be matched to an event".to_string()
    } else if let Some((name, p)) = &late_partner {
        if p.count == 0 {
            format!("partner {name} received no change caused by an event")
        } else {
            format!("partner {name}: p{} {:.3} s", common.percentile, p.at(common.percentile) / 1000.0)
        }
    } else if ingest_p > sla_ms as f64 {
        format!(
            "events waited {:.1} s to be accepted: the system does not take this rate",
            ingest_p / 1000.0
        )
    } else if result.failed > 0 {
        format!("{} events were not acknowledged", result.failed)
    } else if result.sender_lag_s >= 1.0 {
        format!("the sender fell {:.1} s behind its schedule", result.sender_lag_s)
    } else if let Err(why) = &correct {
        why.clone()
    } else {
        String::new()
    };
    let verdict = format!(
        "{}: p{} {:.3} s {} SLA {:.3} s{}",
        if pass { "PASS" } else { "FAIL" },
        common.percentile,
        observed / 1000.0,
        if observed <= sla_ms as f64 { "≤" } else { ">" },
        sla_ms as f64 / 1000.0,
        if why_not.is_empty() {
            String::new()
        } else {
            format!(" ({why_not})")
        }
    );
    Ok(Judged {
        result,
        latency,
        pass,
        verdict,
        check,
        classifier,
    })
}

fn print_summary(judged: &Judged) {
    let (r, l) = (&judged.result, &judged.latency);
    let ingest = r.ingest.overall();
    println!(
        "sent {} events ({} duplicates, {} late; then {} unmeasured in the cool-down) in {:.1}s: {} acknowledged, {} rejected, {} failed",
        r.sent, r.duplicates_sent, r.late_sent, r.cooldown_sent, r.elapsed_s, r.accepted, r.rejected, r.failed
    );
    println!(
        "changes observed {} ({} matched to the event that caused them)",
        r.changes, r.matched
    );
    println!(
        "event→change latency: p50 {:.0} ms  p90 {:.0} ms  p99 {:.0} ms  p99.9 {:.0} ms  max {:.0} ms  (n={})",
        l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms, l.count
    );
    println!(
        "ingest latency:        p50 {:.0} ms  p99 {:.0} ms  max {:.0} ms",
        ingest.p50_ms, ingest.p99_ms, ingest.max_ms
    );
    for (name, recorder) in &r.partners {
        let p = recorder.overall();
        println!(
            "event→partner {name}: p50 {:.0} ms  p90 {:.0} ms  p99 {:.0} ms  max {:.0} ms  (n={}, {} changes received)",
            p.p50_ms,
            p.p90_ms,
            p.p99_ms,
            p.max_ms,
            p.count,
            r.partner_changes.get(name).copied().unwrap_or(0)
        );
    }
    if let Some(e) = &r.last_error {
        println!("last error: {e}");
    }
    match &judged.classifier {
        Some(Ok(c)) => println!(
            "classifier observed: {} read, {} applied, {} late, {} duplicates dropped, {} sidelined, {} rejected, {} changes; watermark {:.1} s behind at the end",
            c.read,
            c.applied,
            c.late,
            c.duplicates,
            c.sidelined,
            c.rejected,
            c.changes,
            r.ended_at_ms.saturating_sub(c.watermark_ms) as f64 / 1000.0
        ),
        Some(Err(e)) => println!("classifier observed: unknown: {e}"),
        None => {}
    }
    match &judged.check {
        Some(Ok(c)) if c.passed() => println!(
            "correctness: {} sampled users ({} with late events), {} changes, all equal to the oracle's on the {} input lines the classifier read; {} acknowledged sampled events, 0 lost; of all users, {} acknowledged events, 0 lost",
            c.users, c.users_with_late_events, c.observed, c.lines, c.acknowledged, c.all_acknowledged
        ),
        Some(Ok(c)) => println!(
            "correctness: {} differences for {} sampled users ({} of {} acknowledged sampled events lost; of all users, {} of {} acknowledged events lost), e.g. {}",
            c.difference_count,
            c.users,
            c.lost,
            c.acknowledged,
            c.all_lost,
            c.all_acknowledged,
            c.differences.first().map_or("", String::as_str)
        ),
        Some(Err(e)) => println!("correctness: not checked: {e}"),
        None => {}
    }
    println!("{}", judged.verdict);
}

fn report_of(judged: &Judged, title: String) -> Report {
    let r = &judged.result;
    let per_second: std::collections::BTreeMap<u64, Percentiles> = r.latency.per_second().into_iter().collect();
    let last = r
        .sent_per_second
        .keys()
        .chain(r.changes_per_second.keys())
        .max()
        .copied()
        .unwrap_or(0);
    let seconds = (0..=last)
        .map(|s| SecondStats {
            second: s,
            sent: r.sent_per_second.get(&s).copied().unwrap_or(0),
            changes: r.changes_per_second.get(&s).copied().unwrap_or(0),
            latency: per_second.get(&s).copied().unwrap_or_default(),
        })
        .collect();
    let counters = [
        ("events sent", r.sent),
        ("duplicates sent (client retries)", r.duplicates_sent),
        ("late events sent (offline devices)", r.late_sent),
        ("acknowledged", r.accepted),
        ("rejected (invalid)", r.rejected),
        ("failed (not acknowledged)", r.failed),
        ("changes observed", r.changes),
        ("changes matched to their event", r.matched),
        ("undecodable change records", r.bad_records),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain(judged.classifier.iter().flatten().flat_map(|c| {
        [
            ("classifier: records read", c.read),
            ("classifier: events applied", c.applied),
            ("classifier: late (behind the watermark)", c.late),
            ("classifier: duplicates dropped", c.duplicates),
            ("classifier: sidelined (past the dedup horizon)", c.sidelined),
            ("classifier: rejected", c.rejected),
            ("classifier: changes emitted", c.changes),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    }))
    .collect();
    let mut notes = Vec::new();
    match &judged.check {
        Some(Ok(c)) => notes.push(format!(
            "Correctness (exact: the oracle replayed the {} input lines the classifier read, late-event rule included, no tolerance): {} sampled users ({} with late events): {} changes expected, {} observed, {} differences.{}",
            c.lines,
            c.users,
            c.users_with_late_events,
            c.expected,
            c.observed,
            c.difference_count,
            c.differences.iter().take(5).map(|d| format!("\n- {d}")).collect::<String>()
        )),
        Some(Err(e)) => notes.push(format!("Correctness: not checked: {e}")),
        None => {}
    }
    if let Some(e) = &r.last_error {
        notes.push(format!("Last error: {e}"));
    }
    notes.push(
        "Latency is measured from each event's intended send instant (open loop: no coordinated omission) to the moment the harness observed the change, for changes caused by an event; changes of the clock or of profiles have no causing event and are not in the latency figures.".into(),
    );
    Report {
        title,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        started_at: format_timestamp((r.ended_at_ms as f64 - r.elapsed_s * 1000.0) as i64),
        verdict: judged.verdict.clone(),
        pass: judged.pass,
        latency: judged.latency,
        ingest: Some(r.ingest.overall()),
        cdf: r.latency.cdf(),
        seconds,
        partners: r
            .partners
            .iter()
            .map(|(name, recorder)| PartnerLatency {
                name: name.clone(),
                overall: recorder.overall(),
                per_second: recorder.per_second(),
            })
            .collect(),
        counters,
        notes,
    }
}

fn run_command(args: &RunArgs) -> Result<bool, String> {
    let duration_s = millis(&args.duration, "duration")? as f64 / 1000.0;
    let schedule = Schedule::parse(&args.rate, duration_s)?;
    let judged = one_run(&args.common, schedule, false)?;
    print_summary(&judged);
    if let Some(dir) = &args.report {
        let title = format!(
            "segstream load test: {:?}, rate {}, {}",
            args.common.target, args.rate, args.duration
        );
        let path = write_report(dir, &report_of(&judged, title)).map_err(|e| format!("{}: {e}", dir.display()))?;
        println!("report: {}", path.display());
    }
    // The verdict includes the correctness check.
    Ok(judged.pass)
}

fn find_max(args: &FindMaxArgs) -> Result<bool, String> {
    let trial_s = millis(&args.trial, "trial")? as f64 / 1000.0;
    let trial = |rate: f64| -> Result<Judged, String> {
        let judged = one_run(&args.common, Schedule::parse(&format!("{rate}"), trial_s)?, true)?;
        let l = &judged.latency;
        println!(
            "{rate:>9.0} events/s: p50 {:.0} ms p99 {:.0} ms max {:.0} ms, {} failed — {}",
            l.p50_ms, l.p99_ms, l.max_ms, judged.result.failed, judged.verdict
        );
        Ok(judged)
    };
    let (mut good, mut bad): (Option<(f64, Judged)>, Option<f64>) = (None, None);
    let mut rate = args.from;
    while bad.is_none() && rate <= args.max {
        let judged = trial(rate)?;
        if judged.pass {
            good = Some((rate, judged));
            rate *= 2.0;
        } else {
            bad = Some(rate);
        }
    }
    while let (Some((low, _)), Some(high)) = (&good, bad) {
        if high - low <= low * 0.1 {
            break;
        }
        let mid = ((low + high) / 2.0).round();
        let judged = trial(mid)?;
        if judged.pass {
            good = Some((mid, judged));
        } else {
            bad = Some(mid);
        }
    }
    match good {
        Some((rate, judged)) => {
            println!(
                "highest rate meeting p{} ≤ {}: {rate:.0} events/s",
                args.common.percentile, args.common.sla
            );
            if let Some(dir) = &args.report {
                let title = format!("segstream find-max: {:?}, best passing rate {rate:.0} events/s", args.common.target);
                let path = write_report(dir, &report_of(&judged, title)).map_err(|e| format!("{}: {e}", dir.display()))?;
                println!("report: {}", path.display());
            }
            Ok(true)
        }
        None => {
            println!("no rate from {} events/s up meets the SLA", args.from);
            Ok(false)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs (the mock partner's, the libraries') on standard error; the reports stay on
    // standard output.
    if let Err(e) = segstream_telemetry::logging::init(segstream_telemetry::logging::LogFormat::Text) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let outcome = match &cli.command {
        Commands::Run(args) => run_command(args),
        Commands::FindMax(args) => find_max(args),
        Commands::Partner(args) => partner_command(args),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use segstream_harness::report::markdown;

    #[test]
    fn the_markdown_of_a_judged_run_has_the_verdict() {
        let judged = Judged {
            result: RunResult::default(),
            latency: Percentiles::default(),
            pass: false,
            verdict: "FAIL: no data".into(),
            check: None,
            classifier: None,
        };
        assert!(markdown(&report_of(&judged, "t".into())).contains("FAIL: no data"));
    }
}
