//! The durable spool: where acknowledged events wait while the broker cannot take them.
//!
//! Contract: a directory of segment files `spool-<seq>.seg`, each a sequence of frames
//! `[length: u32 LE][crc32 of body: u32 LE][body]`, the body one request's records in a
//! compact binary form: a record count, then per record its topic, key and payload as
//! `[length: u32 LE][bytes]` and its timestamp as `i64 LE` (the payload, already JSON,
//! is stored as it is rather than escaped again). [`Spool::append`] writes one frame and
//! `fsync`s before returning, so an event is acknowledged only once it is on disk;
//! [`Spool::append_group`] does the same for many requests' batches with one `fsync`
//! (group commit, see [`super::group_commit`]). An append refuses with
//! [`SpoolError::Full`] when the spool would exceed its capacity. A segment is sealed
//! when it reaches the segment size, and read back oldest first ([`Spool::oldest`]),
//! then deleted once republished ([`Spool::remove`]). [`Spool::open`] recovers after a
//! crash: a torn or corrupt frame ends its segment — the valid prefix is kept, the
//! rest truncated away and reported. Frames larger than the capacity are refused.
//! [`Spool::can_take_more`] says whether the spool is worth sending to: its last write
//! did not fail and it has room for a few requests (1 MiB, or a quarter of a smaller
//! capacity).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::publish::Record;

/// The room [`Spool::can_take_more`] asks for, at most.
const ROOM_FOR_MORE: u64 = 1 << 20;

/// Bytes of a frame header.
const HEADER: usize = 8;

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool is at capacity: the client must retry later.
    #[error("the spool is full ({used} of {capacity} bytes)")]
    Full {
        /// Bytes in use.
        used: u64,
        /// The capacity.
        capacity: u64,
    },
    /// The disk failed.
    #[error("spool I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// What [`Spool::open`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Segments found.
    pub segments: usize,
    /// Valid frames found.
    pub frames: usize,
    /// Bytes cut off torn or corrupt segment tails.
    pub truncated_bytes: u64,
}

/// A whole frame (see the module contract), header and body built in one buffer.
fn encode_frame(records: &[Record]) -> Vec<u8> {
    let size: usize = records.iter().map(|r| 20 + r.topic.len() + r.key.len() + r.payload.len()).sum();
    let mut body = Vec::with_capacity(HEADER + 4 + size);
    body.extend_from_slice(&[0; HEADER]);
    body.extend_from_slice(&(records.len() as u32).to_le_bytes());
    for record in records {
        for field in [&record.topic, &record.key, &record.payload] {
            body.extend_from_slice(&(field.len() as u32).to_le_bytes());
            body.extend_from_slice(field.as_bytes());
        }
        body.extend_from_slice(&record.timestamp_ms.to_le_bytes());
    }
    let length = (body.len() - HEADER) as u32;
    let crc = crc32fast::hash(&body[HEADER..]);
    body[..4].copy_from_slice(&length.to_le_bytes());
    body[4..HEADER].copy_from_slice(&crc.to_le_bytes());
    body
}

/// Reads a frame body back; `None` if it is not one.
fn decode(body: &[u8]) -> Option<Vec<Record>> {
    let mut at = 0usize;
    let mut take = |n: usize| {
        let bytes = body.get(at..at.checked_add(n)?)?;
        at += n;
        Some(bytes)
    };
    let u32_at = |bytes: &[u8]| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let count = u32_at(take(4)?);
    let mut records = Vec::with_capacity(count.min(body.len()));
    for _ in 0..count {
        let mut text = || {
            let length = u32_at(take(4)?);
            String::from_utf8(take(length)?.to_vec()).ok()
        };
        let (topic, key, payload) = (text()?, text()?, text()?);
        let stamp = take(8)?;
        let timestamp_ms = i64::from_le_bytes([stamp[0], stamp[1], stamp[2], stamp[3], stamp[4], stamp[5], stamp[6], stamp[7]]);
        records.push(Record {
            topic,
            key,
            payload,
            timestamp_ms,
        });
    }
    (at == body.len()).then_some(records)
}

struct Writing {
    seq: u64,
    file: File,
    bytes: u64,
    /// Written since the last `fsync`.
    unsynced: bool,
}

struct State {
    /// Sealed segments, oldest first.
    sealed: VecDeque<u64>,
    writing: Option<Writing>,
    used: u64,
    next_seq: u64,
}

/// A spool directory (see the module contract).
pub struct Spool {
    dir: PathBuf,
    capacity: u64,
    segment_bytes: u64,
    state: Mutex<State>,
    /// The last write failed (a disk error, not a full spool).
    failing: AtomicBool,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("spool-{seq:020}.seg"))
}

/// Reads the valid frames of a segment: `(bodies, valid length, file length)`.
fn read_frames(path: &Path) -> std::io::Result<(Vec<Vec<u8>>, u64, u64)> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut frames = Vec::new();
    let mut at = 0usize;
    while bytes.len() - at >= HEADER {
        let length = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let crc = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]);
        let Some(body) = bytes.get(at + HEADER..at + HEADER + length) else {
            break;
        };
        if crc32fast::hash(body) != crc {
            break;
        }
        frames.push(body.to_vec());
        at += HEADER + length;
    }
    Ok((frames, at as u64, bytes.len() as u64))
}

fn lock(state: &Mutex<State>) -> std::io::Result<std::sync::MutexGuard<'_, State>> {
    state.lock().map_err(|_| std::io::Error::other("the spool lock is poisoned"))
}

impl Spool {
    /// The most bytes the spool holds.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Opens (creating) `dir`, recovering what a crash left.
    pub fn open(dir: &Path, capacity: u64, segment_bytes: u64) -> std::io::Result<(Spool, Recovery)> {
        std::fs::create_dir_all(dir)?;
        let mut seqs: Vec<u64> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("spool-")?.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        seqs.sort_unstable();
        let mut recovery = Recovery::default();
        let mut used = 0;
        for &seq in &seqs {
            let path = segment_path(dir, seq);
            let (frames, valid, length) = read_frames(&path)?;
            if valid < length {
                OpenOptions::new().write(true).open(&path)?.set_len(valid)?;
                recovery.truncated_bytes += length - valid;
            }
            recovery.segments += 1;
            recovery.frames += frames.len();
            used += valid;
        }
        let next_seq = seqs.last().map_or(1, |s| s + 1);
        let state = State {
            sealed: seqs.into_iter().collect(),
            writing: None,
            used,
            next_seq,
        };
        Ok((
            Spool {
                dir: dir.to_path_buf(),
                capacity,
                segment_bytes,
                state: Mutex::new(state),
                failing: AtomicBool::new(false),
            },
            recovery,
        ))
    }

    /// Appends one batch and fsyncs (see the module contract).
    pub fn append(&self, records: &[Record]) -> Result<(), SpoolError> {
        self.append_group(&[records])
            .pop()
            .unwrap_or_else(|| Err(SpoolError::Io(std::io::Error::other("no outcome for the batch"))))
    }

    /// Appends several batches, one frame each, with one `fsync` for all of them (group
    /// commit): the outcome of each, `Ok` only once it is on disk. A batch that does not
    /// fit is refused alone; a disk error fails every batch of the group.
    pub fn append_group(&self, batches: &[&[Record]]) -> Vec<Result<(), SpoolError>> {
        let written = self.write_group(batches);
        self.failing.store(written.is_err(), Ordering::Relaxed);
        match written {
            Ok(outcomes) => outcomes,
            Err(e) => batches
                .iter()
                .map(|_| Err(SpoolError::Io(std::io::Error::new(e.kind(), e.to_string()))))
                .collect(),
        }
    }

    fn write_group(&self, batches: &[&[Record]]) -> std::io::Result<Vec<Result<(), SpoolError>>> {
        let mut state = lock(&self.state)?;
        let mut outcomes = Vec::with_capacity(batches.len());
        for records in batches {
            let frame = encode_frame(records);
            let frame_bytes = frame.len() as u64;
            if state.used + frame_bytes > self.capacity {
                outcomes.push(Err(SpoolError::Full {
                    used: state.used,
                    capacity: self.capacity,
                }));
                continue;
            }
            let writing = self.segment_with_room(&mut state)?;
            writing.file.write_all(&frame)?;
            writing.bytes += frame_bytes;
            writing.unsynced = true;
            state.used += frame_bytes;
            outcomes.push(Ok(()));
        }
        if let Some(writing) = state.writing.as_mut().filter(|w| w.unsynced) {
            writing.file.sync_data()?;
            writing.unsynced = false;
        }
        Ok(outcomes)
    }

    /// The segment being written, sealing a full one (after syncing it) and starting the next.
    fn segment_with_room<'s>(&self, state: &'s mut State) -> std::io::Result<&'s mut Writing> {
        if let Some(full) = state.writing.take_if(|w| w.bytes >= self.segment_bytes) {
            if full.unsynced {
                full.file.sync_data()?;
            }
            state.sealed.push_back(full.seq);
        }
        if state.writing.is_none() {
            let seq = state.next_seq;
            state.next_seq += 1;
            let file = OpenOptions::new().create(true).append(true).open(segment_path(&self.dir, seq))?;
            // The new file's directory entry must survive a crash too.
            File::open(&self.dir)?.sync_all()?;
            state.writing = Some(Writing {
                seq,
                file,
                bytes: 0,
                unsynced: false,
            });
        }
        state.writing.as_mut().ok_or_else(|| std::io::Error::other("no segment to write"))
    }

    /// The oldest segment's batches (sealing the segment being written if it is the only one).
    pub fn oldest(&self) -> std::io::Result<Option<(u64, Vec<Vec<Record>>)>> {
        let mut state = lock(&self.state)?;
        if state.sealed.is_empty() {
            if let Some(done) = state.writing.take() {
                state.sealed.push_back(done.seq);
            }
        }
        let Some(&seq) = state.sealed.front() else { return Ok(None) };
        drop(state);
        let (frames, _, _) = read_frames(&segment_path(&self.dir, seq))?;
        let batches = frames
            .iter()
            .map(|body| {
                decode(body).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("spool segment {seq}: a frame does not decode"),
                    )
                })
            })
            .collect::<std::io::Result<Vec<Vec<Record>>>>()?;
        Ok(Some((seq, batches)))
    }

    /// Deletes a republished segment.
    pub fn remove(&self, seq: u64) -> std::io::Result<()> {
        let path = segment_path(&self.dir, seq);
        let length = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        std::fs::remove_file(&path)?;
        let mut state = lock(&self.state)?;
        state.sealed.retain(|s| *s != seq);
        state.used = state.used.saturating_sub(length);
        Ok(())
    }

    /// Whether more requests can be spooled: the last write did not fail and there is
    /// room for a few (see the module contract).
    pub fn can_take_more(&self) -> bool {
        let used = self.state.lock().map(|s| s.used).unwrap_or(u64::MAX);
        !self.failing.load(Ordering::Relaxed) && self.capacity.saturating_sub(used) >= ROOM_FOR_MORE.min(self.capacity / 4)
    }

    /// `(segments, bytes)` waiting.
    pub fn depth(&self) -> (usize, u64) {
        self.state
            .lock()
            .map(|s| (s.sealed.len() + usize::from(s.writing.is_some()), s.used))
            .unwrap_or_default()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(i: usize) -> Record {
        Record {
            topic: "events".into(),
            key: format!("u{i}"),
            payload: format!("{{\"id\":\"e{i}\"}}"),
            timestamp_ms: i as i64,
        }
    }

    pub(crate) fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("segstream-spool-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn batches_come_back_oldest_first_across_segments_and_restarts() {
        let d = dir("order");
        let (spool, _) = Spool::open(&d, 1 << 20, 100).unwrap();
        for i in 0..5 {
            spool.append(&[record(i)]).unwrap();
        }
        drop(spool);
        let (spool, recovery) = Spool::open(&d, 1 << 20, 100).unwrap();
        assert_eq!((recovery.frames, recovery.truncated_bytes), (5, 0));
        let mut seen = Vec::new();
        while let Some((seq, batches)) = spool.oldest().unwrap() {
            seen.extend(batches.into_iter().flatten().map(|r| r.key));
            spool.remove(seq).unwrap();
        }
        assert_eq!(seen, vec!["u0", "u1", "u2", "u3", "u4"]);
        assert_eq!(spool.depth(), (0, 0));
    }

    #[test]
    fn a_torn_write_keeps_the_valid_prefix() {
        let d = dir("torn");
        let (spool, _) = Spool::open(&d, 1 << 20, 1 << 20).unwrap();
        spool.append(&[record(1)]).unwrap();
        spool.append(&[record(2)]).unwrap();
        drop(spool);
        let path = segment_path(&d, 1);
        let length = std::fs::metadata(&path).unwrap().len();
        // A crash in the middle of the second frame.
        OpenOptions::new().write(true).open(&path).unwrap().set_len(length - 3).unwrap();
        let (spool, recovery) = Spool::open(&d, 1 << 20, 1 << 20).unwrap();
        assert_eq!(recovery.frames, 1);
        assert!(recovery.truncated_bytes > 0);
        let (_, batches) = spool.oldest().unwrap().unwrap();
        assert_eq!(batches, vec![vec![record(1)]]);
        // A flipped byte in a body is caught by the checksum.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let (_, recovery) = Spool::open(&d, 1 << 20, 1 << 20).unwrap();
        assert_eq!(recovery.frames, 0);
    }

    #[test]
    fn frames_read_back_exactly_and_junk_is_refused() {
        let records = vec![
            record(1),
            Record {
                topic: "t".into(),
                key: String::new(),
                payload: "\"quoted\" é".into(),
                timestamp_ms: -5,
            },
        ];
        let frame = encode_frame(&records);
        let body = &frame[HEADER..];
        assert_eq!(frame[..4], (body.len() as u32).to_le_bytes());
        assert_eq!(frame[4..HEADER], crc32fast::hash(body).to_le_bytes());
        assert_eq!(decode(body), Some(records.clone()));
        assert_eq!(decode(&body[..body.len() - 1]), None, "truncated");
        assert_eq!(decode(&[body, &[0]].concat()), None, "trailing bytes");
        assert_eq!(decode(&[255, 255, 255, 255]), None, "a count with nothing behind it");
    }

    #[test]
    fn a_full_spool_refuses() {
        let d = dir("full");
        let (spool, _) = Spool::open(&d, 200, 1 << 20).unwrap();
        spool.append(&[record(1)]).unwrap();
        let mut refused = false;
        for i in 0..10 {
            if let Err(SpoolError::Full { .. }) = spool.append(&[record(i)]) {
                refused = true;
                break;
            }
        }
        assert!(refused, "capacity 200 bytes must run out");
        assert!(spool.depth().1 <= 200);
    }
}
