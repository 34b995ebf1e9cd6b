//! `segstream lake write`: the raw table, written exactly once from the events topic.
//!
//! Contract: reads every partition of the events topic from the offsets the raw table's
//! last commit recorded (the beginning for a new table) and commits what it read to the
//! table ([`segstream_lake::raw_table::RawTable`]) every `--commit-every`, or sooner when
//! `--batch` records or `--batch-mib` of keys and payloads are waiting: the files and
//! the next offsets in one atomic commit. It refuses to start when a partition no
//! longer holds the offset the table resumes at (retention removed records the lake
//! never read, or the topic was recreated): resuming would lose or repeat records.
//! A `kill -9` at any moment loses nothing and writes nothing twice: the restart resumes
//! from the last commit, and the files of a commit that did not land are not in the
//! table. Events the classifier sidelines as too late are in the topic, so they are in
//! the table too. With `--once` it stops once it has committed the topic's end as it
//! was at start. It prints one line per commit.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use segstream_config::DeploymentConfig;
use segstream_kafka::admin::partition_count;
use segstream_kafka::REQUEST_TIMEOUT;
use segstream_lake::location::TableLocation;
use segstream_lake::metrics::LakeMetrics;
use segstream_lake::raw_table::RawTable;
use segstream_lake::records::SourceRecord;
use segstream_telemetry::exposition::Exposition;
use segstream_telemetry::metrics_http::serve;
use segstream_telemetry::streak::FailureStreak;
use segstream_time::{parse_duration, wall_clock_ms};

use crate::cli::LakeWriteArgs;
use crate::error::CommandError;

/// Runs the writer (see the module contract).
pub fn run(args: &LakeWriteArgs) -> Result<ExitCode, CommandError> {
    let config = DeploymentConfig::load(&args.config.config)?;
    let invalid = |e: String| CommandError::Invalid(e);
    let every = parse_duration(&args.commit_every).map_err(|e| invalid(format!("--commit-every: {e}")))?;
    let every = Duration::from_millis(every.max(1) as u64);
    let location = TableLocation::parse(&args.table).map_err(|e| invalid(e.to_string()))?;
    let runtime = segstream_lake::runtime().map_err(|e| invalid(e.to_string()))?;
    let topic = config.topics.events.clone();
    let mut table = runtime
        .block_on(RawTable::open_or_create(&location, &topic))
        .map_err(|e| invalid(e.to_string()))?;
    let consumer =
        segstream_kafka::consumer(&config, &format!("{}-lake", config.kafka.group)).map_err(|e| invalid(format!("kafka consumer: {e}")))?;
    let partitions = partition_count(&consumer, &topic).map_err(invalid)?;
    if partitions == 0 {
        return Err(invalid(format!("topic {topic} does not exist (segstream topics create makes it)")));
    }
    let resume = runtime
        .block_on(table.resume_offsets(0..partitions))
        .map_err(|e| invalid(e.to_string()))?;
    let mut assignment = TopicPartitionList::new();
    let mut ends: BTreeMap<i32, i64> = BTreeMap::new();
    for partition in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(&topic, partition, REQUEST_TIMEOUT)
            .map_err(|e| invalid(format!("{topic}/{partition}: {e}")))?;
        let start = match resume.get(&partition) {
            // Between the commit and now, records were removed (retention) or the
            // topic was truncated or recreated: resuming would lose or repeat records.
            Some(next) if *next < low || *next > high => {
                return Err(invalid(format!(
                    "{topic}/{partition}: the table resumes at offset {next}, but the partition now holds {low}..{high}; \
                     records were removed before the lake read them, or the topic was recreated"
                )));
            }
            Some(next) => *next,
            None => low,
        };
        assignment
            .add_partition_offset(&topic, partition, Offset::Offset(start))
            .map_err(|e| invalid(e.to_string()))?;
        if high > start {
            ends.insert(partition, high);
        }
    }
    consumer
        .assign(&assignment)
        .map_err(|e| invalid(format!("assigning {topic}: {e}")))?;
    tracing::info!(
        "lake: writing {topic} ({} partitions) into {} from {}",
        assignment.count(),
        location.url,
        if resume.is_empty() {
            "the beginning".to_string()
        } else {
            format!("the committed offsets {resume:?}")
        }
    );
    let metrics = Arc::new(LakeMetrics::default());
    if let Some(addr) = args.metrics_addr {
        let listener = std::net::TcpListener::bind(addr).map_err(|e| invalid(format!("--metrics-addr {addr}: {e}")))?;
        tracing::info!(
            "lake: metrics on http://{}/metrics",
            listener.local_addr().map_err(|e| invalid(e.to_string()))?
        );
        serve(listener, Exposition::of(Arc::clone(&metrics)));
    }
    let mut records: Vec<SourceRecord> = Vec::new();
    let mut bytes = 0usize;
    let max_bytes = args.batch_bytes.max(1) << 20;
    let mut next_offsets: BTreeMap<i32, i64> = BTreeMap::new();
    let mut since = Instant::now();
    let mut written = 0u64;
    let reading = FailureStreak::new();
    loop {
        match consumer.poll(Duration::from_millis(10)) {
            Some(Ok(message)) => {
                if let Some(failures) = reading.succeeded() {
                    tracing::info!(topic = %topic, failures, "lake: reading again");
                }
                if records.is_empty() {
                    since = Instant::now();
                }
                let partition = message.partition();
                if ends.get(&partition).is_some_and(|end| message.offset() + 1 >= *end) {
                    ends.remove(&partition);
                }
                next_offsets.insert(partition, message.offset() + 1);
                bytes += message.payload_len() + message.key().map_or(0, <[u8]>::len);
                records.push(SourceRecord {
                    partition,
                    offset: message.offset(),
                    key: message.key().map(<[u8]>::to_vec),
                    payload: message.payload().map(<[u8]>::to_vec),
                    timestamp_ms: message.timestamp().to_millis(),
                });
            }
            // At the end (its last records may be gone or be control records).
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                ends.remove(&partition);
            }
            None => {}
            Some(Err(e)) => {
                if let Some(failures) = reading.failed() {
                    tracing::warn!(topic = %topic, failures, error = %e, "lake: reading failed");
                }
            }
        }
        let full = records.len() >= args.batch.max(1) || bytes >= max_bytes;
        let due = full || since.elapsed() >= every || (args.once && ends.is_empty());
        if !records.is_empty() && due {
            let started = Instant::now();
            let version = runtime
                .block_on(table.commit(&records, &next_offsets, wall_clock_ms() as i64))
                .map_err(|e| invalid(e.to_string()))?;
            written += records.len() as u64;
            metrics.observe_commit(records.len() as u64, started.elapsed(), wall_clock_ms());
            tracing::info!(
                "lake: committed v{version}: {} records in {} ms; next offsets {next_offsets:?}",
                records.len(),
                started.elapsed().as_millis()
            );
            records.clear();
            next_offsets.clear();
            bytes = 0;
        }
        if args.once && ends.is_empty() && records.is_empty() {
            break;
        }
    }
    println!("lake: caught up; {written} records written");
    Ok(ExitCode::SUCCESS)
}
