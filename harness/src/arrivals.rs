//! What the classifier was given: every input line by partition, in each partition's
//! order — the input of the exact correctness check.
//!
//! Contract: [`read_tap_file`] reads the embedded demo's `--tap-lines` file
//! (`partition<TAB>line` per line). A [`Follower`] reads the events topic from its
//! beginning while the load runs, one consumer per partition, spooling each partition's
//! lines to a file of its own; [`Follower::finish`] reads on to the end each partition
//! has when it is called, failing if it cannot get there within its limit, then replays
//! the spool. Each hands every line to `sink` as `(partition, line)`, each partition's
//! lines in their order (what the late-event rule judges), and holds none of them in
//! memory: an hour of input is streamed. Every line is handed on, whoever it is for:
//! other users' events raise the partition's watermark too.
//!
//! Why follow rather than read the topic once the load is over: tansu 0.6 answers a
//! fetch with a query that sums the sizes of every record from the fetch offset to the
//! partition's end before it cuts the batch (`record_fetch.sql`), so a fetch costs the
//! records behind it, not the batch. Reading an hour's topic (14.4M records, 6 GB) from
//! offset 0 after a soak ran at 1.6 MB/s and did not finish in an hour
//! (docs/benchmarks.md); a reader at the tail pays for a few batches per fetch.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
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

/// The longest a follower's fetch waits at the broker for new records. tansu answers
/// a fetch only after this long (it sleeps between its polls of the store), so at the
/// tail a partition costs it about ten fetches a second.
const FOLLOW_FETCH_WAIT: Duration = Duration::from_millis(100);

/// What a follower's readers share with [`Follower::finish`].
#[derive(Default)]
struct Control {
    /// Set by `finish`: read on to each partition's end as of then, by this instant.
    finish_by: OnceLock<Instant>,
    /// Set when the follower is dropped unfinished, or a reader failed: stop now.
    cancel: AtomicBool,
}

/// Reads a topic into a spool while the load runs (see the module contract).
pub struct Follower {
    topic: String,
    spool: PathBuf,
    control: Arc<Control>,
    readers: Vec<JoinHandle<Result<(), String>>>,
}

impl Follower {
    /// Starts one reader per partition of `topic` on `brokers`, each from the
    /// partition's beginning, spooling to a file in the directory `spool` (created,
    /// and removed with the follower).
    pub fn start(brokers: &str, topic: &str, spool: &Path) -> Result<Follower, String> {
        let (_, partitions) = topic_reader(brokers, topic, FOLLOW_FETCH_WAIT)?;
        std::fs::create_dir_all(spool).map_err(|e| format!("{}: {e}", spool.display()))?;
        let mut follower = Follower {
            topic: topic.to_string(),
            spool: spool.to_path_buf(),
            control: Arc::new(Control::default()),
            readers: Vec::new(),
        };
        for partition in 0..partitions {
            let path = follower.partition_file(partition);
            let (brokers, topic, control) = (brokers.to_string(), topic.to_string(), Arc::clone(&follower.control));
            let reader = std::thread::Builder::new()
                .name(format!("follow-{partition}"))
                .spawn(move || follow_partition(&brokers, &topic, partition, &path, &control))
                .map_err(|e| format!("starting a reader of {}/{partition}: {e}", follower.topic))?;
            follower.readers.push(reader);
        }
        Ok(follower)
    }

    /// Reads each partition on to its end as of this call, failing if one is not there
    /// within `limit`, then hands every line read to `sink`, partition by partition.
    pub fn finish(mut self, limit: Duration, mut sink: impl FnMut(u32, &str)) -> Result<(), String> {
        // Set once, here: `finish` takes the follower.
        let _ = self.control.finish_by.set(Instant::now() + limit);
        let readers = std::mem::take(&mut self.readers);
        let partitions = readers.len();
        let mut outcome = Ok(());
        for (partition, reader) in readers.into_iter().enumerate() {
            let read = reader
                .join()
                .unwrap_or_else(|_| Err(format!("the reader of {}/{partition} panicked", self.topic)));
            if let (Err(e), Ok(())) = (read, &outcome) {
                self.control.cancel.store(true, Ordering::Relaxed);
                outcome = Err(e);
            }
        }
        outcome?;
        for partition in 0..partitions {
            replay_spool(&self.partition_file(partition as i32), partition as u32, &mut sink)?;
        }
        Ok(())
    }

    fn partition_file(&self, partition: i32) -> PathBuf {
        self.spool.join(format!("{partition}.lines"))
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.control.cancel.store(true, Ordering::Relaxed);
        for reader in self.readers.drain(..) {
            // A reader's outcome no longer matters to anyone.
            let _ = reader.join();
        }
        // Best effort: a spool left behind is only disk.
        let _ = std::fs::remove_dir_all(&self.spool);
    }
}

/// Reads one partition of `topic` from its beginning into the file `spool`, a line per
/// record, until `control` says stop: at once (cancel), or once the partition's end as
/// of `finish` is read (an error if that is not done by its deadline). A consumer error
/// while following (a frozen or restarting broker) is retried; the last one is named if
/// the deadline passes.
fn follow_partition(brokers: &str, topic: &str, partition: i32, spool: &Path, control: &Control) -> Result<(), String> {
    let (consumer, _) = topic_reader(brokers, topic, FOLLOW_FETCH_WAIT)?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .map_err(|e| e.to_string())?;
    consumer
        .assign(&assignment)
        .map_err(|e| format!("assigning {topic}/{partition}: {e}"))?;
    let file = File::create(spool).map_err(|e| format!("{}: {e}", spool.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    // The offset after the last record spooled; the partition's end as of `finish`.
    let (mut read_to, mut end) = (0_i64, None);
    let mut last_error = None;
    loop {
        if control.cancel.load(Ordering::Relaxed) {
            return Ok(());
        }
        if let Some(&deadline) = control.finish_by.get() {
            if end.is_none() {
                match consumer.fetch_watermarks(topic, partition, Duration::from_secs(10)) {
                    // An empty partition (or one emptied by retention) has nothing to read.
                    Ok((low, high)) => end = Some(if high <= low { read_to } else { high }),
                    Err(e) => last_error = Some(e.to_string()),
                }
            }
            if end.is_some_and(|end| read_to >= end) {
                return out.flush().map_err(|e| format!("{}: {e}", spool.display()));
            }
            if Instant::now() > deadline {
                let end = end.map_or("unknown".to_string(), |end| end.to_string());
                let why = last_error.map_or(String::new(), |e| format!("; last error: {e}"));
                return Err(format!(
                    "{topic}/{partition}: not read to its end ({end}) in time: at {read_to}{why}"
                ));
            }
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => last_error = Some(e.to_string()),
            Some(Ok(message)) if end.is_none_or(|end| message.offset() < end) => {
                let payload = message.payload().unwrap_or_default();
                if payload.contains(&b'\n') {
                    return Err(format!(
                        "{topic}/{partition} at {}: a record with a line break cannot be spooled as a line",
                        message.offset()
                    ));
                }
                out.write_all(payload)
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(|e| format!("{}: {e}", spool.display()))?;
                read_to = message.offset() + 1;
            }
            Some(Ok(_)) => {}
        }
    }
}

/// Hands each line of a partition's spool to `sink`.
fn replay_spool(path: &Path, partition: u32, sink: &mut impl FnMut(u32, &str)) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if read == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        sink(partition, &String::from_utf8_lossy(&line));
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
