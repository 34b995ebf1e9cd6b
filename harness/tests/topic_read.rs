//! The exact check's read-back of the events topic against the real broker (needs the
//! local tansu: `scripts/services start`, which `scripts/test` runs): every record of
//! every partition, each partition in its order, read by one consumer per partition.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use segstream_harness::arrivals::read_topic;

const BROKERS: &str = "127.0.0.1:9092";
const PARTITIONS: i32 = 3;
const PER_PARTITION: usize = 2_000;

#[test]
fn the_events_topic_is_read_back_whole_with_each_partition_in_order() {
    let config = segstream_kafka::admin::fresh_deployment(BROKERS, "topic-read", PARTITIONS).unwrap();
    let topic = config.topics.events.clone();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", BROKERS)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let mut sent: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for n in 0..PER_PARTITION {
        for partition in 0..PARTITIONS {
            let line = format!("{{\"partition\":{partition},\"n\":{n}}}");
            let record = BaseRecord::<str, str>::to(&topic).key("k").payload(&line).partition(partition);
            segstream_kafka::send_waiting(&producer, record).unwrap();
            sent.entry(partition as u32).or_default().push(line);
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();

    let mut read: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    read_topic(BROKERS, &topic, Duration::from_secs(120), |partition, line| {
        read.entry(partition).or_default().push(line.to_string())
    })
    .unwrap();
    assert_eq!(read.len(), PARTITIONS as usize, "every partition is read");
    for (partition, lines) in &sent {
        assert_eq!(read[partition].len(), lines.len(), "partition {partition}: every record, once");
        assert_eq!(&read[partition], lines, "partition {partition}: in the order written");
    }
}

#[test]
fn a_topic_that_cannot_be_read_in_time_is_an_error_naming_it() {
    let config = segstream_kafka::admin::fresh_deployment(BROKERS, "topic-read", PARTITIONS).unwrap();
    let topic = config.topics.events.clone();
    let producer: BaseProducer = ClientConfig::new().set("bootstrap.servers", BROKERS).create().unwrap();
    producer
        .send(BaseRecord::<str, str>::to(&topic).key("k").payload("{}").partition(0))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(60)).unwrap();
    let error = read_topic(BROKERS, &topic, Duration::ZERO, |_, _| {}).unwrap_err();
    assert!(error.contains(&topic) && error.contains("in time"), "{error}");
}
