//! `segstream broker-bench`: events through the broker, latency to `segment-changes`.
//!
//! Contract: offers generated traffic (the harness's model, event time = the instant
//! the event is sent) to the events topic at `--rate` events/s on an open-loop schedule
//! — events due are sent even if the system is behind, so slowness shows as latency,
//! not as a lower offered rate (coordinated omission avoided) — while it consumes
//! `segment-changes` from its end. Each change's latency is the instant it is read
//! minus its event time (its tick, rounded down to the tick: the figure errs high by
//! less than one tick). Changes at ticks before the first event was sent (from the
//! tables and rules in place) or in the `--warmup` after it are not counted, nor are changes in the last
//! `max_out_of_order` (plus a tick) of the load: once input stops, only partition
//! idleness moves event time on — after `idle_timeout` — so their latency says nothing
//! about the pipeline under load. Prints the offered and achieved rate and p50/p90/p99/max in an
//! HDR histogram. A classifier must be running on the same configuration.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use segstream_model::event::user_of;
use segstream_time::parse_duration;
use segstream_traffic::tables::{upserts, Table};
use segstream_traffic::{Traffic, TrafficConfig};

use crate::cli::BrokerBenchArgs;
use crate::error::CommandError;
use segstream_config::DeploymentConfig;
use segstream_kafka::admin::partition_count;
use segstream_kafka::client_context::KafkaConsumer;
use segstream_model::change::decode_change;
use segstream_telemetry::streak::FailureStreak;
use segstream_time::wall_clock_ms;

fn duration(flag: &str, text: &str) -> Result<Duration, CommandError> {
    let ms = parse_duration(text).map_err(|e| CommandError::Invalid(format!("--{flag}: {e}")))?;
    Ok(Duration::from_millis(ms.max(0) as u64))
}

/// Records the bench could not produce (logged once per streak).
static UNPRODUCED: FailureStreak = FailureStreak::new();

fn send(producer: &BaseProducer, topic: &str, key: &str, payload: &str) {
    if let Err(e) = segstream_kafka::send_waiting(producer, BaseRecord::to(topic).key(key).payload(payload)) {
        if let Some(failures) = UNPRODUCED.failed() {
            tracing::warn!(topic, failures, error = %e, "broker-bench: cannot produce");
        }
    }
}

/// The `emitted_at` of a change record, in ms.
fn emitted_at(payload: &[u8]) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let ms = segstream_time::parse_timestamp(value.get("emitted_at")?.as_str()?).ok()?;
    u64::try_from(ms).ok()
}

fn changes_consumer(config: &DeploymentConfig) -> Result<KafkaConsumer, String> {
    let consumer = segstream_kafka::consumer(config, &format!("{}-bench", config.kafka.group)).map_err(|e| e.to_string())?;
    let topic = &config.topics.changes;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partition_count(&consumer, topic)? {
        assignment.add_partition_offset(topic, p, Offset::End).map_err(|e| e.to_string())?;
    }
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    Ok(consumer)
}

/// Runs the benchmark.
pub fn run(args: &BrokerBenchArgs) -> Result<ExitCode, CommandError> {
    let config = DeploymentConfig::load(&args.config.config)?;
    let (offer_for, drain) = (duration("duration", &args.duration)?, duration("drain", &args.drain)?);
    let warmup = duration("warmup", &args.warmup)?;
    let invalid = |e: String| CommandError::Invalid(e);
    let producer: BaseProducer = segstream_kafka::producer(&config).map_err(|e| invalid(format!("kafka producer: {e}")))?;
    let consumer = changes_consumer(&config).map_err(invalid)?;
    let traffic_config = TrafficConfig {
        users: args.users,
        seed: args.seed,
        late_rate: 0.0,
        ..TrafficConfig::default()
    };
    let mut traffic = Traffic::new(traffic_config, 0, 1);
    if args.tables {
        for (table, key, payload) in upserts(traffic_config, "") {
            let topic = match table {
                Table::Profiles => &config.topics.profiles,
                Table::Stats => &config.topics.stats,
            };
            send(&producer, topic, &key, &payload);
            producer.poll(Duration::ZERO);
        }
        producer
            .flush(Duration::from_secs(60))
            .map_err(|e| invalid(format!("tables: {e}")))?;
        println!("broker-bench: profiles and stats of {} users produced", args.users);
    }
    let histogram = || Histogram::<u64>::new_with_bounds(1, 3_600_000, 3).map_err(|e| CommandError::Invalid(e.to_string()));
    let mut latency = histogram()?;
    // Where the time goes: event time → the classifier emitting the change, and emitted → read.
    let in_classifier = std::cell::RefCell::new(histogram()?);
    let in_delivery = std::cell::RefCell::new(histogram()?);
    let started = Instant::now();
    // Changes before this are from the tables and rules already in place, or from the warm-up.
    let first_event_ms = wall_clock_ms() + warmup.as_millis() as u64;
    let rate = args.rate.max(1);
    let (mut sent, mut changes) = (0u64, 0u64);
    let last_event_ms = std::cell::Cell::new(u64::MAX);
    let reading = FailureStreak::new();
    let read_changes = |latency: &mut Histogram<u64>, changes: &mut u64| {
        while let Some(result) = consumer.poll(Duration::ZERO) {
            match result {
                Ok(message) => {
                    if let Some((_, _, tick, _)) = message.payload().and_then(|p| decode_change(p).ok()) {
                        if tick >= first_event_ms && tick <= last_event_ms.get() {
                            let now = wall_clock_ms();
                            let _ = latency.record(now.saturating_sub(tick).max(1));
                            *changes += 1;
                            if let Some(emitted) = emitted_at(message.payload().unwrap_or_default()) {
                                let _ = in_classifier.borrow_mut().record(emitted.saturating_sub(tick).max(1));
                                let _ = in_delivery.borrow_mut().record(now.saturating_sub(emitted).max(1));
                            }
                        }
                    }
                }
                Err(KafkaError::PartitionEOF(_)) => {}
                Err(e) => {
                    if let Some(failures) = reading.failed() {
                        tracing::warn!(failures, error = %e, "broker-bench: reading changes failed");
                    }
                }
            }
        }
    };
    let mut last_report = Instant::now();
    while started.elapsed() < offer_for {
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            let line = traffic.next_line(wall_clock_ms());
            send(&producer, &config.topics.events, &user_of(&line), &line);
            sent += 1;
        }
        producer.poll(Duration::ZERO);
        read_changes(&mut latency, &mut changes);
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            println!(
                "t={:>3.0}s sent={sent} changes={changes} p50={}ms p99={}ms",
                started.elapsed().as_secs_f64(),
                latency.value_at_quantile(0.5),
                latency.value_at_quantile(0.99)
            );
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let offered_seconds = started.elapsed().as_secs_f64();
    // The watermark passes a tick only once an event `max_out_of_order` later has been
    // read; after the load stops, the last such stretch waits for `idle_timeout` instead.
    let classifier = config.classifier_config()?;
    last_event_ms.set(wall_clock_ms().saturating_sub(classifier.max_out_of_order_ms + classifier.tick_ms));
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| invalid(format!("flushing events: {e}")))?;
    let drain_until = Instant::now() + drain;
    while Instant::now() < drain_until {
        read_changes(&mut latency, &mut changes);
        std::thread::sleep(Duration::from_millis(2));
    }
    println!(
        "broker-bench: offered {rate} events/s, sent {sent} in {offered_seconds:.1}s ({:.0}/s); {changes} changes; \
         latency event→segment-changes p50={}ms p90={}ms p99={}ms max={}ms",
        sent as f64 / offered_seconds,
        latency.value_at_quantile(0.5),
        latency.value_at_quantile(0.9),
        latency.value_at_quantile(0.99),
        latency.max()
    );
    for (part, h) in [
        ("event→emitted (classifier)", in_classifier.borrow()),
        ("emitted→read (broker)", in_delivery.borrow()),
    ] {
        println!(
            "broker-bench:   {part}: p50={}ms p99={}ms max={}ms",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.max()
        );
    }
    Ok(ExitCode::SUCCESS)
}
