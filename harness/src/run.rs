//! One load-test run: the open-loop sender, the change watcher, and what they measured.
//!
//! Contract: [`run`] generates the traffic of `config.traffic` on `config.schedule`
//! (open loop: events are due at their intended instants whether or not the system
//! keeps up; they queue for `senders` sender threads, each with its own [`Driver`]),
//! while a watcher polls the [`ChangeFeed`] and matches every change to the event that
//! caused it ([`Matcher`]). Event→change latency and ingest latency (batch acknowledged
//! minus its first event's intended instant) are recorded per second of the run. After
//! the schedule ends, load goes on unmeasured for `cooldown` at the final rate (traffic
//! in production does not stop, and the last measured events should not wait for the
//! classifier's idle timeout); then it waits until the spools of `spooling_collectors`
//! are empty (events they acknowledged but have not yet put into the log; at most
//! [`SPOOL_LIMIT`]), keeps watching for `drain` from then (or until no change arrived for
//! `quiet`), and returns everything measured, including the sampled users' events and
//! changes for the correctness check.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use segstream_time::parse_timestamp;
use serde_json::Value;

use crate::changes::{Change, ChangeFeed};
use crate::check::{SampledUser, SentLine};
use crate::drivers::Driver;
use crate::latency::LatencyRecorder;
use crate::matcher::Matcher;
use crate::schedule::Schedule;
use crate::whole::Delivery;
use segstream_traffic::rng::mix;
use segstream_traffic::{Traffic, TrafficConfig};

/// What a run does.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The send schedule.
    pub schedule: Schedule,
    /// The traffic model.
    pub traffic: TrafficConfig,
    /// Events per request or produce batch.
    pub batch: usize,
    /// Sender threads.
    pub senders: usize,
    /// The classifier's tick (ms), for matching.
    pub tick_ms: u64,
    /// Longest wait for changes after the schedule ends.
    pub drain: Duration,
    /// The wait ends early once no change arrived for this long.
    pub quiet: Duration,
    /// Users sampled for the correctness check, per 10,000.
    pub sample_per_10k: u64,
    /// Prefixed to every user id (`""`: none), so that a run against a long-lived
    /// deployment starts with users it has never seen.
    pub user_prefix: String,
    /// After the schedule, load continues this long at its final rate, unmeasured, so
    /// the last measured events see the same steady stream as the others (in production
    /// traffic does not stop; without it they would wait for the idle timeout).
    pub cooldown: Duration,
    /// Collectors (`host:port`) whose spool must be empty before the drain starts: the
    /// events in it are acknowledged and on their way to the log.
    pub spooling_collectors: Vec<String>,
}

/// The longest wait, after the load, for the collectors' spools to empty; after it the
/// run goes on and says so (the events still spooled count as lost in the check).
pub const SPOOL_LIMIT: Duration = Duration::from_secs(15 * 60);

/// Whether the collectors' spools are empty, looked at once a second after the load.
struct SpoolWatch {
    collectors: Vec<String>,
    since: Option<Instant>,
    looked: Option<Instant>,
    empty: bool,
}

impl SpoolWatch {
    fn new(collectors: Vec<String>) -> SpoolWatch {
        let empty = collectors.is_empty();
        SpoolWatch {
            collectors,
            since: None,
            looked: None,
            empty,
        }
    }

    /// Whether the spools are empty (or the wait is over, which goes to `error`).
    fn empty(&mut self, error: &mut Option<String>) -> bool {
        if self.empty {
            return true;
        }
        let since = *self.since.get_or_insert_with(Instant::now);
        if self.looked.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
            return false;
        }
        self.looked = Some(Instant::now());
        // A collector that does not answer (restarting) may still hold a spool.
        match crate::scrape::spool_bytes(&self.collectors) {
            Ok(0) => self.empty = true,
            Ok(bytes) if since.elapsed() >= SPOOL_LIMIT => {
                *error = Some(format!(
                    "the collectors' spools still held {bytes} bytes {SPOOL_LIMIT:?} after the load"
                ));
                self.empty = true;
            }
            Err(e) if since.elapsed() >= SPOOL_LIMIT => {
                *error = Some(e);
                self.empty = true;
            }
            Ok(_) | Err(_) => {}
        }
        self.empty
    }
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct RunResult {
    /// Event → change latency.
    pub latency: LatencyRecorder,
    /// Request (or produce) latency from the first event's intended instant.
    pub ingest: LatencyRecorder,
    /// Events generated and sent during the measured schedule.
    pub sent: u64,
    /// Events sent during the cool-down (not measured).
    pub cooldown_sent: u64,
    /// Events acknowledged.
    pub accepted: u64,
    /// Events refused as invalid.
    pub rejected: u64,
    /// Events not acknowledged (errors).
    pub failed: u64,
    /// The last error seen.
    pub last_error: Option<String>,
    /// Changes observed.
    pub changes: u64,
    /// Changes matched to an event.
    pub matched: u64,
    /// Undecodable change records.
    pub bad_records: u64,
    /// Duplicates and late events the traffic contained.
    pub duplicates_sent: u64,
    /// Late events sent.
    pub late_sent: u64,
    /// Events sent per second of the run.
    pub sent_per_second: BTreeMap<u64, u64>,
    /// Changes observed per second of the run.
    pub changes_per_second: BTreeMap<u64, u64>,
    /// The run's length, seconds (schedule plus drain).
    pub elapsed_s: f64,
    /// Seconds the sender was behind its schedule at the end (0 if it kept up).
    pub sender_lag_s: f64,
    /// The smallest tick of any change observed (the deployment's start, for the check).
    pub first_change_tick: Option<u64>,
    /// Wall clock at the end (ms).
    pub ended_at_ms: u64,
    /// Wall clock when the schedule's last event was due (ms).
    pub load_ended_at_ms: u64,
    /// Sampled users' events.
    pub sampled: BTreeMap<String, SampledUser>,
    /// Sampled users' changes.
    pub sampled_changes: BTreeMap<String, Vec<Change>>,
    /// Per partner: event → partner-receipt latency of the changes it received.
    pub partners: BTreeMap<String, LatencyRecorder>,
    /// Per partner: changes received.
    pub partner_changes: BTreeMap<String, u64>,
    /// Every acknowledged event's id (the whole stream's loss check).
    pub delivery: Delivery,
}

/// A partner's receipts, followed like a change feed.
pub type PartnerFeed = (String, Box<dyn ChangeFeed>);

/// Wall-clock milliseconds.
pub fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A hash of a whole line, to recognise a client's retry (the same line again).
fn line_hash(line: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    line.hash(&mut hasher);
    hasher.finish()
}

/// Whether `user` is in the correctness sample.
pub fn sampled(user: &str, per_10k: u64) -> bool {
    let hash = user.bytes().fold(0u64, |h, b| mix(h ^ u64::from(b)));
    hash % 10_000 < per_10k
}

/// A batch on its way to a sender: lines and the first one's intended instant (ms).
struct Batch {
    lines: Vec<String>,
    intended_ms: u64,
    /// The measured events among the lines, registered with the matcher when sent.
    measured: Vec<Measured>,
}

/// A measured event: registered for matching when it is actually sent, since the
/// collector stamps the event with its arrival (a backlog moves its tick, not only its
/// latency).
struct Measured {
    user: String,
    /// The device's send delay (`sent_at − time`).
    delay_ms: u64,
    intended_ms: u64,
    /// The line, if the user is in the correctness sample.
    sampled_line: Option<String>,
    /// Its line's index in the batch.
    line: usize,
    /// Whether its latency is measured (not during the cool-down, whose events the
    /// correctness check still needs: the classifier applies them).
    timed: bool,
}

/// Where the senders note what they sent, for matching and the correctness check.
struct Ledger {
    matcher: Mutex<Matcher>,
    /// Sampled users' lines with the `received_at` the system stamped, if it said.
    sampled: Mutex<BTreeMap<String, Vec<SentLine>>>,
    /// Every acknowledged event's id, for the whole stream's loss check.
    delivery: Mutex<Delivery>,
}

/// The line with its user id prefixed (generated lines are compact JSON).
pub fn with_prefix(line: String, prefix: &str) -> String {
    if prefix.is_empty() {
        return line;
    }
    line.replacen("\"user\":\"u", &format!("\"user\":\"{prefix}u"), 1)
}

/// The traffic model's index of a (prefixed) user id.
pub fn user_index(user: &str, prefix: &str) -> u64 {
    user.strip_prefix(prefix)
        .and_then(|u| u.strip_prefix('u'))
        .and_then(|i| i.parse().ok())
        .unwrap_or(0)
}

/// Adds a line to the pending batch (whose instant is its first line's).
fn pending_push(pending: &mut Batch, line: String, intended_ms: u64) {
    if pending.lines.is_empty() {
        pending.intended_ms = intended_ms;
    }
    pending.lines.push(line);
}

/// Hands the pending batch to the senders and starts an empty one.
fn dispatch(pending: &mut Batch, capacity: usize, senders: &mpsc::Sender<Batch>) -> Result<(), String> {
    let empty = Batch {
        lines: Vec::with_capacity(capacity),
        intended_ms: 0,
        measured: Vec::new(),
    };
    senders
        .send(std::mem::replace(pending, empty))
        .map_err(|_| "the senders stopped".to_string())
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
}

fn sender(
    mut driver: Box<dyn Driver>,
    queue: Arc<Mutex<mpsc::Receiver<Batch>>>,
    counters: Arc<Counters>,
    start_ms: u64,
    last_error: Arc<Mutex<Option<String>>>,
    ledger: Arc<Ledger>,
) -> LatencyRecorder {
    let mut ingest = LatencyRecorder::default();
    loop {
        let batch = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => break,
        };
        let Ok(batch) = batch else { break };
        let sent_at = wall_ms();
        if let Ok(mut matcher) = ledger.matcher.lock() {
            for m in batch.measured.iter().filter(|m| m.timed) {
                matcher.sent(&m.user, sent_at.saturating_sub(m.delay_ms), m.intended_ms);
            }
        }
        let outcome = driver.send(&batch.lines);
        // What the system stored is what the check recomputes from: only the lines of
        // the requests that were answered reached it, and the collector's own
        // `received_at` places each event.
        let failed: std::collections::HashSet<usize> = outcome.failed_lines.iter().copied().collect();
        if outcome.failed < batch.lines.len() as u64 {
            if let Ok(mut delivery) = ledger.delivery.lock() {
                let answered = batch.lines.iter().enumerate().filter(|(i, _)| !failed.contains(i));
                delivery.acknowledged(answered.map(|(_, line)| line.as_str()));
            }
            if let Ok(mut sampled) = ledger.sampled.lock() {
                for m in batch
                    .measured
                    .iter()
                    .filter(|m| m.sampled_line.is_some() && !failed.contains(&m.line))
                {
                    let line = m.sampled_line.clone().unwrap_or_default();
                    sampled.entry(m.user.clone()).or_default().push((line, outcome.received_at_ms));
                }
            }
        }
        let now = wall_ms();
        if let Ok(mut matcher) = ledger.matcher.lock() {
            for m in batch.measured.iter().filter(|m| m.timed) {
                matcher.acknowledged(&m.user, sent_at.saturating_sub(m.delay_ms), now.saturating_sub(sent_at));
            }
        }
        ingest.record(now.saturating_sub(start_ms) / 1_000, now.saturating_sub(batch.intended_ms));
        counters.accepted.fetch_add(outcome.accepted, Ordering::Relaxed);
        counters.rejected.fetch_add(outcome.rejected, Ordering::Relaxed);
        counters.failed.fetch_add(outcome.failed, Ordering::Relaxed);
        if let (Some(e), Ok(mut last)) = (outcome.error, last_error.lock()) {
            *last = Some(e);
        }
    }
    ingest
}

/// What the generator learns of a line: user, the device's send delay (the classifier
/// places the event that long before its arrival), and whether it is late.
fn describe(line: &str) -> Option<(String, u64, bool)> {
    let value: Value = serde_json::from_str(line).ok()?;
    let user = value["user"].as_str()?.to_string();
    let time = parse_timestamp(value["time"].as_str()?).ok()?;
    let sent_at = parse_timestamp(value["sent_at"].as_str()?).ok()?;
    let delay = u64::try_from(sent_at - time).unwrap_or(0);
    Some((user, delay, delay > 60_000))
}

/// Live figures for a progress display: (seconds into the run, sent, changes, matched).
pub type Progress<'a> = &'a (dyn Fn(u64, u64, u64, u64) + Sync);

/// Runs the load (see the module contract).
pub fn run(
    config: &RunConfig,
    make_driver: &dyn Fn(usize) -> Result<Box<dyn Driver>, String>,
    mut feed: Box<dyn ChangeFeed>,
    mut partner_feeds: Vec<PartnerFeed>,
    progress: Progress<'_>,
) -> Result<RunResult, String> {
    let start = Instant::now();
    let start_ms = wall_ms();
    let ledger = Arc::new(Ledger {
        matcher: Mutex::new(Matcher::new(config.tick_ms, 300)),
        sampled: Mutex::new(BTreeMap::new()),
        delivery: Mutex::new(Delivery::default()),
    });
    let counters = Arc::new(Counters::default());
    let last_error = Arc::new(Mutex::new(None));
    let (to_senders, queue) = mpsc::channel::<Batch>();
    let queue = Arc::new(Mutex::new(queue));
    let mut senders = Vec::new();
    for index in 0..config.senders.max(1) {
        let driver = make_driver(index)?;
        let (queue, counters, last_error, ledger) = (
            Arc::clone(&queue),
            Arc::clone(&counters),
            Arc::clone(&last_error),
            Arc::clone(&ledger),
        );
        senders.push(std::thread::spawn(move || {
            sender(driver, queue, counters, start_ms, last_error, ledger)
        }));
    }
    let sending = Arc::new(AtomicBool::new(true));
    let per_10k = config.sample_per_10k;
    let watcher = {
        let (ledger, sending, drain, quiet) = (Arc::clone(&ledger), Arc::clone(&sending), config.drain, config.quiet);
        let mut spooled = SpoolWatch::new(config.spooling_collectors.clone());
        std::thread::spawn(move || {
            let mut result = RunResult::default();
            let mut batch = Vec::new();
            let mut last_change = Instant::now();
            let mut drain_started: Option<Instant> = None;
            loop {
                match feed.poll(&mut batch) {
                    Ok(bad) => result.bad_records += bad,
                    Err(e) => result.last_error = Some(e),
                }
                let now = wall_ms();
                let second = now.saturating_sub(start_ms) / 1_000;
                if !batch.is_empty() {
                    last_change = Instant::now();
                }
                if let Ok(matcher) = ledger.matcher.lock() {
                    for change in batch.drain(..) {
                        result.changes += 1;
                        *result.changes_per_second.entry(second).or_default() += 1;
                        result.first_change_tick = Some(result.first_change_tick.map_or(change.tick_ms, |t| t.min(change.tick_ms)));
                        if let Some(latency) = matcher.observe(&change.user, change.tick_ms, now) {
                            result.matched += 1;
                            result.latency.record(second, latency);
                        }
                        if sampled(&change.user, per_10k) {
                            result.sampled_changes.entry(change.user.clone()).or_default().push(change);
                        }
                    }
                }
                for (name, partner_feed) in &mut partner_feeds {
                    let bad = partner_feed.poll(&mut batch).unwrap_or_else(|e| {
                        result.last_error = Some(format!("partner {name}: {e}"));
                        0
                    });
                    result.bad_records += bad;
                    if !batch.is_empty() {
                        last_change = Instant::now();
                    }
                    *result.partner_changes.entry(name.clone()).or_default() += batch.len() as u64;
                    let recorder = result.partners.entry(name.clone()).or_default();
                    if let Ok(matcher) = ledger.matcher.lock() {
                        for change in batch.drain(..) {
                            if let Some(latency) = matcher.observe(&change.user, change.tick_ms, now) {
                                recorder.record(second, latency);
                            }
                        }
                    }
                    batch.clear();
                }
                if !sending.load(Ordering::Relaxed) {
                    if !spooled.empty(&mut result.last_error) {
                        drain_started = None;
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                    let since = *drain_started.get_or_insert_with(Instant::now);
                    if since.elapsed() >= drain || (since.elapsed() >= quiet && last_change.elapsed() >= quiet) {
                        break;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            result
        })
    };
    let mut traffic = Traffic::new(config.traffic, 0, 1);
    let mut sampled_users: BTreeMap<String, SampledUser> = BTreeMap::new();
    let (mut sent_per_second, mut duplicates, mut late) = (BTreeMap::new(), 0u64, 0u64);
    let mut seen_lines = std::collections::HashSet::new();
    let total = config.schedule.total();
    let cooldown_s = config.cooldown.as_secs_f64();
    let end_rate = config.schedule.rate_at(config.schedule.duration_s).max(1.0);
    let with_cooldown = total + (end_rate * cooldown_s) as u64;
    // Due and intended instants over the schedule and its cool-down.
    let due_by = |t: f64| -> u64 {
        if t <= config.schedule.duration_s {
            config.schedule.due_by(t)
        } else {
            (total + (end_rate * (t - config.schedule.duration_s)) as u64).min(with_cooldown)
        }
    };
    let instant_of = |n: u64| -> f64 {
        if n < total {
            config.schedule.instant_of(n)
        } else {
            config.schedule.duration_s + (n - total) as f64 / end_rate
        }
    };
    let mut emitted = 0u64;
    let mut pending = Batch {
        lines: Vec::with_capacity(config.batch),
        intended_ms: 0,
        measured: Vec::new(),
    };
    let mut last_progress = 0;
    while emitted < with_cooldown {
        let elapsed = start.elapsed().as_secs_f64();
        let due = due_by(elapsed);
        while emitted < due {
            let intended_ms = start_ms + (instant_of(emitted) * 1_000.0) as u64;
            let line = with_prefix(traffic.next_line(intended_ms), &config.user_prefix);
            emitted += 1;
            // The cool-down's events are sent and checked, not timed.
            let timed = emitted <= total;
            if timed {
                *sent_per_second.entry((intended_ms - start_ms) / 1_000).or_insert(0u64) += 1;
            }
            if !seen_lines.insert(line_hash(&line)) {
                duplicates += u64::from(timed);
            } else if let Some((user, delay_ms, is_late)) = describe(&line) {
                late += u64::from(is_late && timed);
                let mut sampled_line = None;
                if sampled(&user, per_10k) {
                    let entry = sampled_users.entry(user.clone()).or_insert_with(|| {
                        let index = user_index(&user, &config.user_prefix);
                        SampledUser {
                            profile: Some(traffic.profile(index)),
                            stats: Some(traffic.stats(index)),
                            ..SampledUser::default()
                        }
                    });
                    entry.had_late_event |= is_late;
                    sampled_line = Some(line.clone());
                }
                pending.measured.push(Measured {
                    user,
                    delay_ms,
                    intended_ms,
                    sampled_line,
                    line: pending.lines.len(),
                    timed,
                });
            }
            pending_push(&mut pending, line, intended_ms);
            if pending.lines.len() >= config.batch {
                dispatch(&mut pending, config.batch, &to_senders)?;
            }
        }
        // A partial batch goes out at every 10 ms step, so low rates are not delayed.
        if !pending.lines.is_empty() {
            dispatch(&mut pending, config.batch, &to_senders)?;
        }
        let second = start.elapsed().as_secs();
        if second != last_progress {
            last_progress = second;
            progress(second, emitted, counters.accepted.load(Ordering::Relaxed), 0);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let sender_lag_s = (start.elapsed().as_secs_f64() - config.schedule.duration_s - cooldown_s).max(0.0);
    drop(to_senders);
    let mut ingest = LatencyRecorder::default();
    for sender in senders {
        if let Ok(recorded) = sender.join() {
            ingest.merge(&recorded);
        }
    }
    sending.store(false, Ordering::Relaxed);
    let mut result = watcher.join().map_err(|_| "the change watcher panicked".to_string())?;
    result.ingest = ingest;
    result.sent = total;
    result.cooldown_sent = emitted - total;
    result.accepted = counters.accepted.load(Ordering::Relaxed);
    result.rejected = counters.rejected.load(Ordering::Relaxed);
    result.failed = counters.failed.load(Ordering::Relaxed);
    if let Ok(mut last) = last_error.lock() {
        result.last_error = result.last_error.take().or(last.take());
    }
    result.duplicates_sent = duplicates;
    result.late_sent = late;
    result.sent_per_second = sent_per_second;
    result.elapsed_s = start.elapsed().as_secs_f64();
    result.sender_lag_s = sender_lag_s;
    result.ended_at_ms = wall_ms();
    result.load_ended_at_ms = start_ms + (config.schedule.duration_s * 1_000.0) as u64;
    if let Ok(mut sent) = ledger.sampled.lock() {
        for (user, lines) in std::mem::take(&mut *sent) {
            if let Some(entry) = sampled_users.get_mut(&user) {
                entry.sent = lines;
            }
        }
    }
    result.sampled = sampled_users;
    if let Ok(mut delivery) = ledger.delivery.lock() {
        result.delivery = std::mem::take(&mut *delivery);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::Sent;

    /// A system that acknowledges everything and, for each event, emits a change of its
    /// user at the event's tick, 50 ms later, which reaches a partner 200 ms later.
    struct Echo(Arc<Mutex<Vec<(u64, Change)>>>, Arc<Mutex<Vec<(u64, Change)>>>);

    impl Driver for Echo {
        fn send(&mut self, lines: &[String]) -> Sent {
            let now = wall_ms();
            if let (Ok(mut out), Ok(mut partner)) = (self.0.lock(), self.1.lock()) {
                for line in lines {
                    if let Some((user, delay, _)) = describe(line) {
                        let time = now - delay;
                        let change = Change {
                            user,
                            segment: "s".into(),
                            tick_ms: time - time % 100,
                            entered: true,
                        };
                        partner.push((now + 200, change.clone()));
                        out.push((now + 50, change));
                    }
                }
            }
            Sent {
                accepted: lines.len() as u64,
                ..Sent::default()
            }
        }
    }

    struct EchoFeed(Arc<Mutex<Vec<(u64, Change)>>>);

    impl ChangeFeed for EchoFeed {
        fn poll(&mut self, out: &mut Vec<Change>) -> Result<u64, String> {
            let now = wall_ms();
            if let Ok(mut pending) = self.0.lock() {
                let (due, later): (Vec<_>, Vec<_>) = pending.drain(..).partition(|(at, _)| *at <= now);
                *pending = later;
                out.extend(due.into_iter().map(|(_, c)| c));
            }
            Ok(0)
        }
    }

    #[test]
    fn user_prefixes_are_applied_and_read_back() {
        let line = with_prefix(r#"{"id":"p0-1","type":"x","user":"u42"}"#.to_string(), "r7-");
        assert_eq!(line, r#"{"id":"p0-1","type":"x","user":"r7-u42"}"#);
        assert_eq!(user_index("r7-u42", "r7-"), 42);
        assert_eq!(user_index("u42", ""), 42);
    }

    #[test]
    fn a_run_sends_the_schedule_and_matches_every_change() {
        let shared = Arc::new(Mutex::new(Vec::new()));
        let config = RunConfig {
            schedule: Schedule::parse("500", 2.0).unwrap(),
            traffic: TrafficConfig {
                users: 1_000,
                late_rate: 0.0,
                ..TrafficConfig::default()
            },
            batch: 50,
            senders: 2,
            tick_ms: 100,
            drain: Duration::from_secs(2),
            quiet: Duration::from_millis(300),
            sample_per_10k: 10_000,
            cooldown: Duration::from_millis(200),
            user_prefix: String::new(),
            spooling_collectors: Vec::new(),
        };
        let partner = Arc::new(Mutex::new(Vec::new()));
        let make = |_: usize| -> Result<Box<dyn Driver>, String> { Ok(Box::new(Echo(Arc::clone(&shared), Arc::clone(&partner)))) };
        let partners: Vec<PartnerFeed> = vec![("p".into(), Box::new(EchoFeed(Arc::clone(&partner))))];
        let result = run(&config, &make, Box::new(EchoFeed(Arc::clone(&shared))), partners, &|_, _, _, _| {}).unwrap();
        assert_eq!(result.sent, 1_000);
        assert_eq!((result.cooldown_sent, result.accepted), (100, 1_100), "the cool-down is sent too");
        let valid = result.sent - result.duplicates_sent;
        assert!(result.changes >= valid - 5, "{} changes for {valid} events", result.changes);
        assert!(
            result.matched >= valid - 5,
            "every measured event's change is matched: {}",
            result.matched
        );
        let latency = result.latency.overall();
        assert!(latency.p50_ms >= 40.0 && latency.p99_ms < 1_000.0, "{latency:?}");
        assert!(!result.sampled.is_empty());
        let to_partner = result.partners["p"].overall();
        assert!(to_partner.count >= valid - 5, "every change reached the partner: {to_partner:?}");
        assert!(to_partner.p50_ms >= 190.0 && to_partner.p50_ms > latency.p50_ms, "{to_partner:?}");
        assert_eq!(result.partner_changes["p"], result.changes);
    }

    /// A collector's `/metrics` answering with the spool bytes in `bytes`.
    fn collector_metrics(bytes: Arc<AtomicU64>) -> String {
        crate::mock_http::serve(move |_| {
            (
                200,
                format!("# TYPE x gauge\nsegstream_collector_spool_bytes {}\n", bytes.load(Ordering::SeqCst)),
            )
        })
    }

    #[test]
    fn the_drain_waits_for_the_collectors_spool_to_empty() {
        let bytes = Arc::new(AtomicU64::new(4_096));
        let mut watch = SpoolWatch::new(vec![collector_metrics(Arc::clone(&bytes))]);
        let mut error = None;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(2_500) {
            assert!(!watch.empty(&mut error), "4 KiB still spooled");
            std::thread::sleep(Duration::from_millis(50));
        }
        bytes.store(0, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !watch.empty(&mut error) {
            assert!(Instant::now() < deadline, "the empty spool was never seen");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(error, None);
        assert!(SpoolWatch::new(Vec::new()).empty(&mut error), "no collectors: nothing to wait for");
    }
}
