//! `segstream cache-sync`: the Redis user-data cache follows the profile and stats topics.
//!
//! Contract: reads every partition of `user-profiles` and `user-stats` from the
//! group's committed offsets (or the beginning) and keeps `user:<id>:data` — fields
//! `profile` and `stats`, each the record's JSON — with the configured TTL refreshed on
//! every write; a tombstone deletes its field. Records are written in pipelined batches
//! (up to `redis.batch`, or whatever arrived within 50 ms), and offsets are committed
//! only after Redis has accepted the batch: at least once, and every write is
//! idempotent. While Redis is down it retries and does not commit. A record that is not
//! a JSON object or has no key goes to the dead-letter topic. With `--once` it stops
//! when it has reached the ends the topics had at start.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::cli::CacheSyncArgs;
use crate::error::CommandError;
use segstream_config::DeploymentConfig;
use segstream_kafka::admin::partition_count;
use segstream_kafka::dead_letter::{DeadLetters, Origin};
use segstream_kafka::REQUEST_TIMEOUT;
use segstream_redis::user_data::{write_upserts, Upsert};
use segstream_redis::Retrying;
use segstream_telemetry::streak::FailureStreak;

/// How often cache-sync says how it is doing.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// The longest a record waits for its batch.
const LINGER: Duration = Duration::from_millis(50);

/// Decodes a record into an upsert of `field`.
fn upsert(message: &BorrowedMessage<'_>, field: &'static str) -> Result<Upsert, String> {
    let user = match message.key().map(std::str::from_utf8) {
        Some(Ok(user)) if !user.is_empty() => user.to_string(),
        _ => return Err("missing or non-UTF-8 key (user id)".into()),
    };
    let Some(payload) = message.payload() else {
        return Ok((user, field, None));
    };
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(value @ serde_json::Value::Object(_)) => Ok((user, field, Some(value.to_string()))),
        Ok(_) => Err("expected a JSON object".into()),
        Err(e) => Err(format!("malformed JSON at column {}: {e}", e.column())),
    }
}

/// Runs the cache sync.
pub fn run(args: &CacheSyncArgs) -> Result<ExitCode, CommandError> {
    let config = DeploymentConfig::load(&args.config.config)?;
    let ttl = config.data_ttl_seconds()?;
    let invalid = |e: String| CommandError::Invalid(e);
    let group = format!("{}-cache-sync", config.kafka.group);
    let consumer = segstream_kafka::consumer(&config, &group).map_err(|e| invalid(format!("kafka consumer: {e}")))?;
    let dead_letters = DeadLetters::connect(&config, &config.topics.dead_letter).map_err(|e| invalid(format!("kafka producer: {e}")))?;
    let mut redis = Retrying::new(&config.redis.url).map_err(invalid)?;
    let fields: [(&str, &'static str); 2] = [(&config.topics.profiles, "profile"), (&config.topics.stats, "stats")];
    let mut assignment = TopicPartitionList::new();
    let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for (topic, _) in fields {
        for p in 0..partition_count(&consumer, topic).map_err(invalid)? {
            assignment.add_partition(topic, p);
            let (_, high) = consumer
                .fetch_watermarks(topic, p, REQUEST_TIMEOUT)
                .map_err(|e| invalid(format!("{topic}/{p}: {e}")))?;
            ends.insert((topic.to_string(), p), high);
        }
    }
    let committed = consumer
        .committed_offsets(assignment.clone(), REQUEST_TIMEOUT)
        .map_err(|e| invalid(format!("committed offsets: {e}")))?;
    let mut start = TopicPartitionList::new();
    for element in committed.elements() {
        let offset = match element.offset() {
            Offset::Offset(o) => Offset::Offset(o),
            _ => Offset::Beginning,
        };
        start
            .add_partition_offset(element.topic(), element.partition(), offset)
            .map_err(|e| invalid(e.to_string()))?;
        if let Offset::Offset(o) = offset {
            if ends
                .get(&(element.topic().to_string(), element.partition()))
                .is_some_and(|end| o >= *end)
            {
                ends.remove(&(element.topic().to_string(), element.partition()));
            }
        }
    }
    ends.retain(|_, end| *end > 0);
    consumer.assign(&start).map_err(|e| invalid(format!("assigning: {e}")))?;
    tracing::info!("cache-sync: {} partitions, TTL {ttl}s, into {}", start.count(), config.redis.url);
    let mut batch: Vec<Upsert> = Vec::new();
    let mut next_offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut written = 0u64;
    let mut batch_started = Instant::now();
    let reading = FailureStreak::new();
    let mut reported = (Instant::now(), 0u64);
    loop {
        if reported.0.elapsed() >= PROGRESS_EVERY {
            let per_second = (written - reported.1) as f64 / reported.0.elapsed().as_secs_f64();
            tracing::info!(written, dead_letters = dead_letters.sent(), "cache-sync: {per_second:.0} upserts/s");
            reported = (Instant::now(), written);
        }
        match consumer.poll(Duration::from_millis(10)) {
            Some(Ok(message)) => {
                if let Some(failures) = reading.succeeded() {
                    tracing::info!(failures, "cache-sync: reading again");
                }
                let field = fields.iter().find(|(t, _)| *t == message.topic()).map_or("profile", |(_, f)| *f);
                match upsert(&message, field) {
                    Ok(u) => batch.push(u),
                    Err(reason) => {
                        let origin = Origin::of(&message);
                        dead_letters.send(&origin, &reason, segstream_time::wall_clock_ms());
                    }
                }
                let at = (message.topic().to_string(), message.partition());
                if ends.get(&at).is_some_and(|end| message.offset() + 1 >= *end) {
                    ends.remove(&at);
                }
                if next_offsets.is_empty() {
                    batch_started = Instant::now();
                }
                next_offsets.insert(at, message.offset() + 1);
            }
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => {
                if let Some(failures) = reading.failed() {
                    tracing::warn!(failures, error = %e, "cache-sync: reading failed");
                }
            }
        }
        let full = batch.len() >= config.redis.batch.max(1);
        if !next_offsets.is_empty() && (full || batch_started.elapsed() >= LINGER || (args.once && ends.is_empty())) {
            write_upserts(&mut redis, &batch, ttl, config.redis.batch);
            written += batch.len() as u64;
            batch.clear();
            let mut offsets = TopicPartitionList::new();
            for ((topic, p), offset) in std::mem::take(&mut next_offsets) {
                // Never past a record whose dead letter is not acknowledged.
                let offset = dead_letters.commit_bound(&topic, p, offset);
                offsets
                    .add_partition_offset(&topic, p, Offset::Offset(offset))
                    .map_err(|e| invalid(e.to_string()))?;
            }
            if let Err(e) = consumer.commit(&offsets, CommitMode::Sync) {
                tracing::warn!(error = %e, "cache-sync: committing offsets failed (records will be re-applied, harmlessly)");
            }
        }
        if args.once && ends.is_empty() && next_offsets.is_empty() {
            break;
        }
    }
    dead_letters
        .flush(Duration::from_secs(10))
        .map_err(|e| invalid(format!("flushing dead letters: {e}")))?;
    println!(
        "cache-sync: caught up; {written} upserts written, {} dead letters",
        dead_letters.sent()
    );
    Ok(ExitCode::SUCCESS)
}
