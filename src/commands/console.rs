//! `segstream console`: the rules repository and web console of a distributed deployment.
//!
//! Contract: opens the repository (`--console-db`; a new one is filled from `--rules`),
//! serves the console on `--console` until Ctrl-C or SIGTERM, and hands every published
//! rule set to the deployment's compacted rules topic, which the classifier processes
//! read and apply live (a failed hand-over is retried every second and shown on the
//! console). The status line reads, from Redis, the rule-set version every classifier
//! worker has acknowledged, and the list the segment sizes the workers report; user
//! lookups go to the classifier processes through Redis. It refuses to start without `--console-tokens` unless
//! `--insecure`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use segstream_config::DeploymentConfig;
use segstream_console::api::ApiState;
use segstream_console::live::{Audience, DryRun, LiveView, Trends};
use segstream_console::repository::RuleChannel;
use segstream_kafka::rules_topic::publish_rules;
use segstream_model::user_report::UserReport;
use segstream_redis::rules_live::read;
use segstream_redis::segment_moves::read_last_hour;
use segstream_redis::segment_sizes::read as read_sizes;
use segstream_redis::Retrying;
use segstream_rules::files::load_schema;
use segstream_rules::snapshot::RulesSnapshot;
use segstream_rules::SegmentDef;
use segstream_time::wall_clock_ms;

use super::console_setup::{open_repository, serve, tokens};
use super::dry_runs::dry_run;
use super::user_lookups::lookup;
use crate::cli::ConsoleArgs;
use crate::error::CommandError;

/// How long the broker gets to acknowledge a rule set.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);

/// Published sets to the rules topic.
struct RulesTopic {
    config: DeploymentConfig,
}

impl RuleChannel for RulesTopic {
    fn deliver(&self, snapshot: &RulesSnapshot) -> Result<(), String> {
        publish_rules(&self.config, snapshot, PUBLISH_TIMEOUT)
    }

    fn describe(&self) -> String {
        format!("topic {} on {}", self.config.topics.rules, self.config.kafka.brokers)
    }
}

/// How long a dry run may wait for the classifier processes.
const DRY_RUN_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a user lookup may wait for the classifier processes.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the console samples sizes for the trends.
const TREND_EVERY: Duration = Duration::from_secs(2);

/// The deployment as the console sees it, from Redis: the rule-set version every
/// classifier worker acknowledged, and the segment sizes the workers report (trends
/// sampled here), the users entering and leaving each segment per minute (summed over
/// the last hour), and the user lookups and dry runs the classifier processes answer
/// through Redis.
struct DeploymentLive {
    redis: Mutex<Retrying>,
    /// Where Redis is: every lookup and dry run waits for answers on a connection of
    /// its own, so none waits behind another.
    url: String,
    group: String,
    trends: Mutex<(Option<Instant>, Trends)>,
}

impl LiveView for DeploymentLive {
    fn audiences(&self) -> Vec<Audience> {
        let Ok(mut redis) = self.redis.lock() else { return Vec::new() };
        let sizes: BTreeMap<String, i64> = match read_sizes(&mut redis, &self.group) {
            Ok(sizes) => sizes.into_iter().collect(),
            Err(_) => return Vec::new(),
        };
        // Moves that cannot be read show as unknown, not as zero.
        let moves = read_last_hour(&mut redis, &self.group, wall_clock_ms() / 60_000).ok();
        drop(redis);
        let Ok(mut trends) = self.trends.lock() else { return Vec::new() };
        if trends.0.is_none_or(|at| at.elapsed() >= TREND_EVERY) {
            trends.1.sample(&sizes);
            trends.0 = Some(Instant::now());
        }
        // Every segment with members, moves or a trend (one everybody left still shows).
        let mut segments: Vec<&String> = sizes
            .keys()
            .chain(moves.iter().flat_map(|m| m.keys()))
            .chain(trends.1.segments())
            .collect();
        segments.sort();
        segments.dedup();
        let moved = |segment: &str, pick: fn(&(u64, u64)) -> u64| moves.as_ref().map(|m| m.get(segment).map_or(0, pick));
        segments
            .into_iter()
            .map(|segment| Audience {
                segment: segment.clone(),
                size: sizes.get(segment).copied().unwrap_or(0),
                entered_last_hour: moved(segment, |c| c.0),
                exited_last_hour: moved(segment, |c| c.1),
                trend: trends.1.of(segment),
            })
            .collect()
    }

    fn applied(&self) -> Vec<u64> {
        let Ok(mut redis) = self.redis.lock() else { return Vec::new() };
        match read(&mut redis, &self.group) {
            Ok(Some(live)) => vec![live.version; live.workers as usize],
            Ok(None) | Err(_) => Vec::new(),
        }
    }

    fn dry_run(&self, draft: &SegmentDef, live: Option<&SegmentDef>) -> Result<DryRun, String> {
        let workers = self.applied().len() as u64;
        let mut redis = Retrying::new(&self.url)?;
        dry_run(
            &mut redis,
            &self.group,
            (draft, live),
            (workers > 0).then_some(workers),
            DRY_RUN_TIMEOUT,
        )
    }

    fn lookup(&self, user: &str) -> Result<Option<UserReport>, String> {
        let workers = self.applied().len() as u64;
        let mut redis = Retrying::new(&self.url)?;
        lookup(&mut redis, &self.group, user, (workers > 0).then_some(workers), LOOKUP_TIMEOUT)
    }
}

/// How often the console says where rule delivery stands.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Logs which rule-set the rules topic last took, or why publishing fails (every
/// [`PROGRESS_EVERY`] while it does: a slow, bounded repeat).
fn say_delivery(state: &segstream_console::repository::delivery::DeliveryState) {
    match (&state.delivered_version, &state.last_error) {
        (_, Some(error)) => tracing::warn!(channel = %state.channel, error = %error, "console: publishing rules is failing"),
        (Some(version), None) => {
            tracing::info!(channel = %state.channel, version, "console: the rules topic last took rule-set v{version}")
        }
        (None, None) => tracing::info!(channel = %state.channel, "console: the rules topic has taken no rule-set from here yet"),
    }
}

/// Runs the console.
pub fn run(args: &ConsoleArgs) -> Result<ExitCode, CommandError> {
    let config = DeploymentConfig::load(&args.config.config)?;
    let schema = Arc::new(load_schema(&config.schema.path)?);
    let (tokens, _) = tokens(&args.console, false)?;
    let Some(listen) = args.console.listen.0 else {
        return Err(CommandError::Invalid("--console off: there is nothing to serve".into()));
    };
    let channel = Arc::new(RulesTopic { config: config.clone() });
    let repository = open_repository(&args.console.db, schema, channel, &args.rules)?;
    let state = ApiState {
        repository: repository.clone(),
        tokens: Arc::new(tokens),
        live: Arc::new(DeploymentLive {
            redis: Mutex::new(Retrying::new(&config.redis.url).map_err(CommandError::Invalid)?),
            url: config.redis.url.clone(),
            group: config.kafka.group.clone(),
            trends: Mutex::new((None, Trends::default())),
        }),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let bound = serve(state, listen, Arc::clone(&stop))?;
    tracing::info!(
        "console: http://{bound}/ (rules repository {}, published to {})",
        args.console.db.display(),
        repository.delivery().state().channel
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::Invalid(format!("tokio runtime: {e}")))?;
    runtime.block_on(async {
        let mut every = tokio::time::interval(PROGRESS_EVERY);
        every.tick().await;
        let stopped = segstream_collector::server::interrupted_or_terminated();
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                () = &mut stopped => break,
                _ = every.tick() => say_delivery(&repository.delivery().state()),
            }
        }
    });
    stop.store(true, Ordering::Relaxed);
    say_delivery(&repository.delivery().state());
    tracing::info!("console: stopped");
    Ok(ExitCode::SUCCESS)
}
