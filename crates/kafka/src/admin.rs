//! Creating the deployment's topics and reading partition counts.
//!
//! Contract: [`ensure_topics`] creates every configured topic that does not exist —
//! events with the configured partition count, the upsert topics compacted, progress
//! and rules with one partition — and leaves existing topics as they are. Errors name
//! the topic and the broker's reason. [`fresh_deployment`] makes a new, isolated set.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::Message;

use super::{REQUEST_TIMEOUT, STARTUP_TIMEOUT};
use segstream_config::DeploymentConfig;

/// Creates the missing topics; returns the names created.
pub fn ensure_topics(config: &DeploymentConfig) -> Result<Vec<String>, String> {
    let admin: AdminClient<DefaultClientContext> = config.client_config().create().map_err(|e| format!("kafka admin client: {e}"))?;
    let topics = &config.topics;
    let many = config.kafka.partitions;
    let specs: Vec<(&str, i32, bool)> = vec![
        (&topics.events, many, false),
        (&topics.profiles, many, true),
        (&topics.stats, many, true),
        (&topics.changes, many, false),
        (&topics.dead_letter, 1, false),
        (&topics.failed_events, many, false),
        (&topics.rules, 1, true),
        (&topics.progress, 1, true),
    ];
    let new: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|(name, partitions, compacted)| {
            let topic = NewTopic::new(name, *partitions, TopicReplication::Fixed(-1));
            if *compacted {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
    let results = futures_executor::block_on(admin.create_topics(&new, &options)).map_err(|e| format!("creating topics: {e}"))?;
    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("creating topic {name}: {code}")),
        }
    }
    Ok(created)
}

/// A deployment of its own on `brokers` ([`DeploymentConfig::isolated`]) named
/// `<prefix>-<process id>-<clock ns>-<count>`, so it is new, with its topics created: a fresh
/// set beside others, for tests and trials.
pub fn fresh_deployment(brokers: &str, prefix: &str, partitions: i32) -> Result<DeploymentConfig, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let made = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("{prefix}-{}-{nanos}-{made}", std::process::id());
    let config = DeploymentConfig::isolated(brokers, &name, partitions)?;
    ensure_topics(&config).map_err(|e| format!("{e} (is a broker listening on {brokers}? scripts/services start)"))?;
    Ok(config)
}

/// The number of partitions of `topic` (0 if it does not exist), waiting up to
/// [`STARTUP_TIMEOUT`] for the answer.
pub fn partition_count<C: ConsumerContext>(consumer: &BaseConsumer<C>, topic: &str) -> Result<i32, String> {
    partition_count_within(consumer, topic, STARTUP_TIMEOUT)
}

/// The number of partitions of `topic` (0 if it does not exist), waiting up to `timeout`.
pub fn partition_count_within<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    timeout: std::time::Duration,
) -> Result<i32, String> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| format!("metadata of {topic}: {e}"))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len() as i32))
}

/// Assigns `consumer` every partition of `topic` from its first record with a time at or
/// after `from_ms` (the record timestamp) to its end as it is now. Returns each
/// partition's end, and how many partitions were assigned (those with records to read).
pub fn assign_from_time<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    from_ms: i64,
) -> Result<(BTreeMap<i32, i64>, usize), String> {
    let partitions: Vec<i32> = (0..partition_count(consumer, topic)?).collect();
    let starts = offsets_at_time(consumer, topic, &partitions, from_ms)?;
    let mut assignment = TopicPartitionList::new();
    for (&p, &(start, high)) in &starts {
        if start < high {
            assignment
                .add_partition_offset(topic, p, Offset::Offset(start))
                .map_err(|e| e.to_string())?;
        }
    }
    consumer.assign(&assignment).map_err(|e| format!("assigning {topic}: {e}"))?;
    let ends = starts.into_iter().map(|(p, (_, high))| (p, high)).collect();
    Ok((ends, assignment.count()))
}

/// For each of `partitions` of `topic`: the offset of its first record with a time at
/// or after `from_ms`, or its end when it has none, and its end (high watermark) as it
/// is now. Leaves `consumer` with no assignment.
///
/// Kafka answers "no such record" with `End`. tansu 0.6 answers offset 0 (its lookup
/// finds no row and defaults to 0), which would make a reader go through the whole
/// partition; so an answer at a partition's start is checked against the time of the
/// record there, which is at or after `from_ms` whenever the answer is a real one.
pub fn offsets_at_time<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partitions: &[i32],
    from_ms: i64,
) -> Result<BTreeMap<i32, (i64, i64)>, String> {
    let mut query = TopicPartitionList::new();
    for &p in partitions {
        query
            .add_partition_offset(topic, p, Offset::Offset(from_ms))
            .map_err(|e| e.to_string())?;
    }
    let answer = consumer
        .offsets_for_times(query, STARTUP_TIMEOUT)
        .map_err(|e| format!("offsets of {topic} at {from_ms}: {e}"))?;
    let mut starts = BTreeMap::new();
    let mut at_their_start = BTreeMap::new();
    for element in answer.elements() {
        let p = element.partition();
        let (low, high) = consumer
            .fetch_watermarks(topic, p, STARTUP_TIMEOUT)
            .map_err(|e| format!("watermarks of {topic}/{p}: {e}"))?;
        let start = match element.offset() {
            Offset::Offset(start) if start < high => start,
            _ => high,
        };
        if start <= low && start < high {
            at_their_start.insert(p, start);
        }
        starts.insert(p, (start, high));
    }
    for p in records_before(consumer, topic, &at_their_start, from_ms)? {
        if let Some(entry) = starts.get_mut(&p) {
            entry.0 = entry.1;
        }
    }
    Ok(starts)
}

/// Of the partitions `at` (partition → offset), those whose record at that offset has a
/// time before `from_ms` (or that have no record there). Leaves `consumer` with no
/// assignment.
fn records_before<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    at: &BTreeMap<i32, i64>,
    from_ms: i64,
) -> Result<Vec<i32>, String> {
    if at.is_empty() {
        return Ok(Vec::new());
    }
    let mut assignment = TopicPartitionList::new();
    for (&p, &offset) in at {
        assignment
            .add_partition_offset(topic, p, Offset::Offset(offset))
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&assignment).map_err(|e| format!("assigning {topic}: {e}"))?;
    let mut unseen: BTreeSet<i32> = at.keys().copied().collect();
    let mut before = Vec::new();
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while !unseen.is_empty() {
        if Instant::now() > deadline {
            return Err(format!("reading the first records of {topic}: timed out"));
        }
        let first = match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => Some((message.partition(), message.timestamp().to_millis().is_none_or(|t| t < from_ms))),
            Some(Err(KafkaError::PartitionEOF(p))) => Some((p, true)),
            Some(Err(e)) => return Err(format!("reading the first records of {topic}: {e}")),
            None => None,
        };
        if let Some((p, is_before)) = first.filter(|(p, _)| unseen.remove(p)) {
            if is_before {
                before.push(p);
            }
        }
    }
    consumer.unassign().map_err(|e| format!("unassigning {topic}: {e}"))?;
    Ok(before)
}

/// The partitions of `count` that global worker `worker` of `workers` owns.
pub fn owned_partitions(count: i32, worker: usize, workers: usize) -> Vec<i32> {
    (0..count).filter(|p| *p as usize % workers.max(1) == worker).collect()
}

#[cfg(test)]
mod tests {
    use super::owned_partitions;

    #[test]
    fn every_partition_has_exactly_one_owner_and_growth_only_adds() {
        for workers in 1..6 {
            for count in 0..10 {
                let mut owners = vec![0; count as usize];
                for worker in 0..workers {
                    for p in owned_partitions(count, worker, workers) {
                        owners[p as usize] += 1;
                    }
                    // A topic that grows keeps every partition with its owner.
                    let before = owned_partitions(count, worker, workers);
                    let after = owned_partitions(count + 3, worker, workers);
                    assert!(before.iter().all(|p| after.contains(p)));
                }
                assert!(
                    owners.iter().all(|n| *n == 1),
                    "{count} partitions over {workers} workers: {owners:?}"
                );
            }
        }
        assert!(owned_partitions(2, 3, 4).is_empty(), "a worker may own none");
    }
}
