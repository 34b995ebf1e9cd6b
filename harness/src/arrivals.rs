//! What the classifier was given: every input line by partition, in each partition's
//! order — the input of the exact correctness check.
//!
//! Contract: [`read_tap_file`] reads the embedded demo's `--tap-lines` file
//! (`partition<TAB>line` per line); [`read_topic`] reads the events topic from its
//! beginning up to the end each partition has when it is called, failing if it cannot
//! get there within `limit`. Each hands every line to `sink` as `(partition, line)`,
//! each partition's lines in their order (what the late-event rule judges), and holds
//! none of them: an hour of input is streamed, not kept. Every line is handed on,
//! whoever it is for: other users' events raise the partition's watermark too.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::changes::topic_reader;

/// Reads a `--tap-lines` file into `sink`.
pub fn read_tap_file(path: &Path, mut sink: impl FnMut(u32, &str)) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for (number, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        let (partition, text) = line
            .split_once('\t')
            .and_then(|(p, text)| Some((p.parse::<u32>().ok()?, text)))
            .ok_or_else(|| format!("{}:{}: not `partition<TAB>line`", path.display(), number + 1))?;
        sink(partition, text);
    }
    Ok(())
}

/// Reads `topic` on `brokers` from its beginning to its current end into `sink`.
pub fn read_topic(brokers: &str, topic: &str, limit: Duration, mut sink: impl FnMut(u32, &str)) -> Result<(), String> {
    let (consumer, partitions) = topic_reader(brokers, topic)?;
    let timeout = Duration::from_secs(10);
    let mut assignment = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(|e| format!("end of {topic}/{p}: {e}"))?;
        if high > low {
            ends.insert(p, high);
        }
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&assignment).map_err(|e| format!("assigning {topic}: {e}"))?;
    let deadline = Instant::now() + limit;
    while !ends.is_empty() {
        if Instant::now() > deadline {
            return Err(format!(
                "{topic}: partitions {:?} not read to their ends within {limit:?}",
                ends.keys()
            ));
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.map_err(|e| format!("reading {topic}: {e}"))?;
        let partition = message.partition();
        let Some(end) = ends.get(&partition).copied() else { continue };
        if message.offset() < end {
            sink(partition as u32, &String::from_utf8_lossy(message.payload().unwrap_or_default()));
        }
        if message.offset() + 1 >= end {
            ends.remove(&partition);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tap_file_keeps_each_partition_in_order_and_a_bad_line_is_named() {
        let dir = std::env::temp_dir().join(format!("arrivals-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tap.tsv");
        std::fs::write(&path, "1\ta\n0\tb\n1\tc\td\n").unwrap();
        let mut arrivals: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        read_tap_file(&path, |p, line| arrivals.entry(p).or_default().push(line.to_string())).unwrap();
        assert_eq!(arrivals[&0], vec!["b".to_string()]);
        assert_eq!(arrivals[&1], vec!["a".to_string(), "c\td".to_string()]);
        std::fs::write(&path, "x\ta\n").unwrap();
        assert!(read_tap_file(&path, |_, _| {}).unwrap_err().contains(":1:"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
