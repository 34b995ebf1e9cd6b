//! Dead letters through librdkafka's delivery reports: one the broker acknowledges
//! releases its offset; one that fails at delivery (after it was queued) is counted
//! and keeps holding its offset, so no consumer commits past the bad record. The
//! acknowledged case needs the local tansu (`scripts/services start`, which
//! `scripts/test` runs).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use segstream_kafka::dead_letter::{DeadLetters, Origin};

const BROKERS: &str = "127.0.0.1:9092";

fn origin(offset: i64) -> Origin<'static> {
    Origin {
        topic: "events",
        partition: 2,
        offset,
        key: Some(b"u1"),
        payload: Some(b"{not json"),
    }
}

/// Polls `done` every 20 ms for up to 60 s.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_letter_that_fails_at_delivery_is_counted_and_keeps_holding_its_offset() {
    // Nothing listens on port 1: the letter is queued, then its delivery times out.
    let mut client = rdkafka::ClientConfig::new();
    client
        .set("bootstrap.servers", "127.0.0.1:1")
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "300");
    let letters = DeadLetters::with_client(client, "dead-letter").unwrap();
    letters.send(&origin(77), "bad JSON", 0);
    assert_eq!(letters.sent(), 1, "queued: the refusal comes later, at delivery");
    wait_until("the delivery fails", || letters.counts().failed.load(Ordering::Relaxed) == 1);
    assert_eq!(letters.counts().delivered.load(Ordering::Relaxed), 0);
    assert_eq!(letters.holding("events", 2), Some(77), "the failed letter holds its offset");
    assert_eq!(letters.commit_bound("events", 2, 500), 77, "commits stop at the held offset");
}

#[test]
fn a_letter_the_broker_acknowledges_releases_its_offset() {
    let config = segstream_kafka::admin::fresh_deployment(BROKERS, "dead-letter-delivery", 1).unwrap();
    let letters = DeadLetters::connect(&config, &config.topics.dead_letter).unwrap();
    letters.send(&origin(12), "bad JSON", 0);
    letters.send(&origin(40), "bad JSON", 0);
    letters.flush(Duration::from_secs(60)).unwrap();
    wait_until("both letters are acknowledged", || {
        letters.counts().delivered.load(Ordering::Relaxed) == 2
    });
    assert_eq!(letters.counts().failed.load(Ordering::Relaxed), 0);
    assert_eq!(letters.holding("events", 2), None, "nothing held once acknowledged");
    assert_eq!(letters.commit_bound("events", 2, 500), 500);
}
