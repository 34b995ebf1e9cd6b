//! Where a partition holds its first record at or after a time, through the local tansu
//! (`scripts/services start`, which `scripts/test` runs): a time after every record of a
//! partition gives its end, not its start (tansu answers offset 0 there), so a reader
//! seeking by time never reads a whole partition it has no records of.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::producer::{BaseRecord, Producer};
use segstream_kafka::admin::{assign_from_time, fresh_deployment, offsets_at_time};

const BROKERS: &str = "127.0.0.1:9092";

#[test]
fn a_time_after_every_record_of_a_partition_gives_its_end() {
    let config = fresh_deployment(BROKERS, "offsets-at-time", 2).unwrap();
    let topic = config.topics.changes.clone();
    let producer = segstream_kafka::producer(&config).unwrap();
    for (partition, stamp) in [(0, 1_000), (0, 2_000), (0, 3_000), (1, 5_000)] {
        let record = BaseRecord::to(&topic).partition(partition).key("u").payload("{}").timestamp(stamp);
        segstream_kafka::send_waiting(&producer, record).unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    let consumer = segstream_kafka::consumer(&config, "offsets-at-time").unwrap();
    let at = |from_ms: i64| -> BTreeMap<i32, i64> {
        let starts = offsets_at_time(&consumer, &topic, &[0, 1], from_ms).unwrap();
        starts.into_iter().map(|(p, (start, _))| (p, start)).collect()
    };
    assert_eq!(at(0), BTreeMap::from([(0, 0), (1, 0)]), "before every record: the starts");
    assert_eq!(
        at(2_000),
        BTreeMap::from([(0, 1), (1, 0)]),
        "a record at the time itself is included"
    );
    assert_eq!(at(2_500), BTreeMap::from([(0, 2), (1, 0)]));
    assert_eq!(
        at(4_000),
        BTreeMap::from([(0, 3), (1, 0)]),
        "partition 0 has nothing at 4000: its end"
    );
    assert_eq!(at(9_000), BTreeMap::from([(0, 3), (1, 1)]), "after every record: the ends");
    let (ends, assigned) = assign_from_time(&consumer, &topic, 9_000).unwrap();
    assert_eq!(ends, BTreeMap::from([(0, 3), (1, 1)]));
    assert_eq!(assigned, 0, "nothing to read after every record");
    let (_, assigned) = assign_from_time(&consumer, &topic, 2_500).unwrap();
    assert_eq!(assigned, 2);
}
