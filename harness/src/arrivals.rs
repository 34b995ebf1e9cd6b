//! What the classifier was given: every input line by partition, in each partition's
//! order — the input of the exact correctness check.
//!
//! Contract: [`read_tap_file`] reads the embedded demo's `--tap-lines` file
//! (`partition<TAB>line` per line); [`read_topic`] reads the events topic from its
//! beginning up to the end each partition has when it is called, failing if it cannot
//! get there within `limit`. Each hands every line to `sink` as `(partition, line)`,
//! each partition's lines in their order (what the late-event rule judges), and holds
//! none of them: an hour of input is streamed, not kept (the topic is read with one
//! consumer per partition, in parallel). Every line is handed on,
//! whoever it is for: other users' events raise the partition's watermark too.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

/// Lines read ahead of `sink`, across all partitions (bounds the memory of a fast
/// reader feeding a slow check).
const READ_AHEAD: usize = 65_536;

/// A line read from the topic, or why reading stopped.
type Read = Result<(u32, Vec<u8>), String>;

/// Reads `topic` on `brokers` from its beginning to its current end into `sink`.
///
/// Each partition is read by its own consumer on its own thread (one consumer fetching
/// every partition in turn read the 14M records of a 30-minute soak from tansu too
/// slowly to finish within the limit); `sink` runs on the calling thread, in each
/// partition's order.
pub fn read_topic(brokers: &str, topic: &str, limit: Duration, mut sink: impl FnMut(u32, &str)) -> Result<(), String> {
    let (_, partitions) = topic_reader(brokers, topic)?;
    let deadline = Instant::now() + limit;
    let (sender, lines) = std::sync::mpsc::sync_channel::<Read>(READ_AHEAD);
    // Set on the first error, so the other readers stop at their next poll.
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    let mut outcome = Ok(());
    for partition in 0..partitions {
        let (owned_brokers, owned_topic) = (brokers.to_string(), topic.to_string());
        let (sender, stop) = (sender.clone(), Arc::clone(&stop));
        let reader = std::thread::Builder::new().name(format!("read-{partition}")).spawn(move || {
            if let Err(e) = read_partition(&owned_brokers, &owned_topic, partition, (deadline, &stop), &sender) {
                // The receiver may be gone already (an earlier error ended the read).
                let _ = sender.send(Err(e));
            }
        });
        match reader {
            Ok(reader) => readers.push(reader),
            Err(e) => {
                outcome = Err(format!("starting a reader of {topic}/{partition}: {e}"));
                break;
            }
        }
    }
    drop(sender);
    if outcome.is_ok() {
        for line in &lines {
            match line {
                Ok((partition, payload)) => sink(partition, &String::from_utf8_lossy(&payload)),
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    // Dropping the receiver makes a reader blocked on a full channel stop too.
    drop(lines);
    for reader in readers {
        if reader.join().is_err() && outcome.is_ok() {
            outcome = Err(format!("a reader of {topic} panicked"));
        }
    }
    outcome
}

/// Reads one partition of `topic` from its beginning to its end at the call, sending
/// each record's payload to `lines`. Stops early, without error, if `lines` is closed
/// or `stop` is set; with an error past `deadline`.
fn read_partition(
    brokers: &str,
    topic: &str,
    partition: i32,
    (deadline, stop): (Instant, &AtomicBool),
    lines: &std::sync::mpsc::SyncSender<Read>,
) -> Result<(), String> {
    let (consumer, _) = topic_reader(brokers, topic)?;
    let (low, end) = consumer
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .map_err(|e| format!("end of {topic}/{partition}: {e}"))?;
    if end <= low {
        return Ok(());
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .map_err(|e| e.to_string())?;
    consumer
        .assign(&assignment)
        .map_err(|e| format!("assigning {topic}/{partition}: {e}"))?;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{topic}/{partition}: not read to its end ({end}) in time"));
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.map_err(|e| format!("reading {topic}/{partition}: {e}"))?;
        if message.offset() < end
            && lines
                .send(Ok((partition as u32, message.payload().unwrap_or_default().to_vec())))
                .is_err()
        {
            return Ok(());
        }
        if message.offset() + 1 >= end {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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
