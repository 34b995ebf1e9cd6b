//! Where the harness sees segment changes arrive: the embedded demo's NDJSON file, or
//! the `segment-changes` topic.
//!
//! Contract: a [`ChangeFeed`] hands over the changes that arrived since the last poll,
//! in arrival order, each decoded from the change record both sinks write
//! (`{"user", "segment", "change": "enter"|"exit", "time_ms", …}`); records that are not
//! changes are counted, not returned. [`NdjsonTail`] follows a file as it grows (it may
//! not exist yet); [`KafkaChanges`] reads every partition of the topic from where its
//! end was when the feed was created, so earlier runs' changes are not counted.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use segstream_model::change::decode_change;

/// One membership change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// The user.
    pub user: String,
    /// The segment.
    pub segment: String,
    /// The tick it is stamped with (ms).
    pub tick_ms: u64,
    /// Entered (`true`) or left.
    pub entered: bool,
}

/// Decodes a change record (the model's one decoder); `None` for anything else.
pub fn parse_change(bytes: &[u8]) -> Option<Change> {
    let (user, segment, tick_ms, entered) = decode_change(bytes).ok()?;
    Some(Change {
        user,
        segment,
        tick_ms,
        entered,
    })
}

/// A source of observed changes (see the module contract).
pub trait ChangeFeed: Send {
    /// Appends what arrived since the last call; returns the undecodable records seen.
    fn poll(&mut self, out: &mut Vec<Change>) -> Result<u64, String>;
}

/// Follows an NDJSON file of changes.
pub struct NdjsonTail {
    path: PathBuf,
    reader: Option<BufReader<File>>,
    partial: String,
}

impl NdjsonTail {
    /// Follows `path` (which may appear later).
    pub fn new(path: PathBuf) -> NdjsonTail {
        NdjsonTail {
            path,
            reader: None,
            partial: String::new(),
        }
    }
}

impl ChangeFeed for NdjsonTail {
    fn poll(&mut self, out: &mut Vec<Change>) -> Result<u64, String> {
        if self.reader.is_none() {
            match File::open(&self.path) {
                Ok(file) => self.reader = Some(BufReader::new(file)),
                Err(_) => return Ok(0),
            }
        }
        let Some(reader) = self.reader.as_mut() else { return Ok(0) };
        let mut bad = 0;
        loop {
            let read = reader
                .read_line(&mut self.partial)
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
            if read == 0 || !self.partial.ends_with('\n') {
                // End of what is written so far; a partial line waits for its end.
                return Ok(bad);
            }
            match parse_change(self.partial.trim_end().as_bytes()) {
                Some(change) => out.push(change),
                None => bad += 1,
            }
            self.partial.clear();
        }
    }
}

/// Reads the changes topic from its end at creation.
pub struct KafkaChanges {
    consumer: BaseConsumer,
}

/// A consumer for hand-assigned partitions of `topic` on `brokers`, and the topic's
/// partition count (an error if it has none). `fetch_wait` is the longest a fetch waits
/// at the broker for records: short for a latency measurement, longer for a bulk reader
/// (fewer, larger fetches).
pub fn topic_reader(brokers: &str, topic: &str, fetch_wait: Duration) -> Result<(BaseConsumer, i32), String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("segstream-harness-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", fetch_wait.as_millis().to_string())
        .create()
        .map_err(|e| format!("kafka consumer: {e}"))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| format!("metadata of {topic}: {e}"))?;
    let partitions = metadata.topics().first().map_or(0, |t| t.partitions().len()) as i32;
    if partitions == 0 {
        return Err(format!("topic {topic} has no partitions (does it exist?)"));
    }
    Ok((consumer, partitions))
}

impl KafkaChanges {
    /// A reader of `topic` on `brokers`, from the topic's current end.
    pub fn new(brokers: &str, topic: &str) -> Result<KafkaChanges, String> {
        let (consumer, partitions) = topic_reader(brokers, topic, Duration::from_millis(10))?;
        let timeout = Duration::from_secs(10);
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            let (_, high) = consumer
                .fetch_watermarks(topic, p, timeout)
                .map_err(|e| format!("end of {topic}/{p}: {e}"))?;
            assignment
                .add_partition_offset(topic, p, Offset::Offset(high))
                .map_err(|e| e.to_string())?;
        }
        consumer.assign(&assignment).map_err(|e| format!("assigning {topic}: {e}"))?;
        Ok(KafkaChanges { consumer })
    }
}

impl ChangeFeed for KafkaChanges {
    fn poll(&mut self, out: &mut Vec<Change>) -> Result<u64, String> {
        let mut bad = 0;
        for _ in 0..10_000 {
            match self.consumer.poll(Duration::ZERO) {
                None => break,
                Some(Ok(message)) => match message.payload().and_then(parse_change) {
                    Some(change) => out.push(change),
                    None => bad += 1,
                },
                Some(Err(e)) => return Err(format!("reading changes: {e}")),
            }
        }
        Ok(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_tail_follows_a_growing_file_and_waits_for_whole_lines() {
        let path = std::env::temp_dir().join(format!("segstream-harness-tail-{}.ndjson", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut tail = NdjsonTail::new(path.clone());
        let mut out = Vec::new();
        assert_eq!(tail.poll(&mut out), Ok(0), "no file yet");
        let mut file = File::create(&path).unwrap();
        write!(
            file,
            "{{\"user\":\"u\",\"segment\":\"s\",\"change\":\"enter\",\"time_ms\":100}}\nnot json\n{{\"user\":\"u\","
        )
        .unwrap();
        file.flush().unwrap();
        assert_eq!(tail.poll(&mut out), Ok(1));
        assert_eq!(out.len(), 1);
        writeln!(file, "\"segment\":\"s\",\"change\":\"exit\",\"time_ms\":200}}").unwrap();
        file.flush().unwrap();
        tail.poll(&mut out).unwrap();
        assert_eq!(
            out[1],
            Change {
                user: "u".into(),
                segment: "s".into(),
                tick_ms: 200,
                entered: false
            }
        );
        std::fs::remove_file(&path).unwrap();
    }
}
