//! The exact check's read of the events topic against the real broker (needs the local
//! tansu: `scripts/services start`, which `scripts/test` runs): a follower started
//! before some of the records and finished after them hands on every record of every
//! partition, once, each partition in its order; one that cannot reach the end in time
//! fails naming the topic; its spool goes with it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use segstream_harness::arrivals::Follower;

const BROKERS: &str = "127.0.0.1:9092";
const PARTITIONS: i32 = 3;
const PER_PARTITION: usize = 2_000;

fn producer() -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap()
}

/// Sends lines `from..to` to every partition, in order, and says what went where.
fn send(producer: &BaseProducer, topic: &str, (from, to): (usize, usize), sent: &mut BTreeMap<u32, Vec<String>>) {
    for n in from..to {
        for partition in 0..PARTITIONS {
            let line = format!("{{\"partition\":{partition},\"n\":{n}}}");
            let record = BaseRecord::<str, str>::to(topic).key("k").payload(&line).partition(partition);
            segstream_kafka::send_waiting(producer, record).unwrap();
            sent.entry(partition as u32).or_default().push(line);
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

fn spool(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("topic-read-{name}-{}", std::process::id()))
}

#[test]
fn a_follower_hands_on_every_record_once_with_each_partition_in_order() {
    let config = segstream_kafka::admin::fresh_deployment(BROKERS, "topic-read", PARTITIONS).unwrap();
    let topic = config.topics.events.clone();
    let producer = producer();
    let mut sent = BTreeMap::new();
    // Records from before the follower starts, and records it follows as they arrive.
    send(&producer, &topic, (0, PER_PARTITION / 2), &mut sent);
    let spool = spool("whole");
    let follower = Follower::start(BROKERS, &topic, &spool).unwrap();
    send(&producer, &topic, (PER_PARTITION / 2, PER_PARTITION), &mut sent);

    let mut read: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    follower
        .finish(Duration::from_secs(120), |partition, line| {
            read.entry(partition).or_default().push(line.to_string())
        })
        .unwrap();
    assert_eq!(read.len(), PARTITIONS as usize, "every partition is read");
    for (partition, lines) in &sent {
        assert_eq!(read[partition].len(), lines.len(), "partition {partition}: every record, once");
        assert_eq!(&read[partition], lines, "partition {partition}: in the order written");
    }
    assert!(!spool.exists(), "the spool is removed once read");
}

#[test]
fn a_follower_that_cannot_reach_the_end_in_time_is_an_error_naming_the_topic() {
    let config = segstream_kafka::admin::fresh_deployment(BROKERS, "topic-read", 1).unwrap();
    let topic = config.topics.events.clone();
    let producer = producer();
    // 16 MiB in one partition: tansu serves at most 1 MiB per fetch and answers a
    // follower's fetch no sooner than its 100 ms wait, so a follower finished at once,
    // with no time left, cannot be at the end yet.
    let line = format!("{{\"pad\":\"{}\"}}", "x".repeat(4 * 1024));
    for _ in 0..4 * 1024 {
        let record = BaseRecord::<str, str>::to(&topic).key("k").payload(&line).partition(0);
        segstream_kafka::send_waiting(&producer, record).unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    let spool = spool("late");
    let follower = Follower::start(BROKERS, &topic, &spool).unwrap();
    let error = follower.finish(Duration::ZERO, |_, _| {}).unwrap_err();
    assert!(error.contains(&topic) && error.contains("in time"), "{error}");
    assert!(!spool.exists(), "the spool is removed on failure too");
}
