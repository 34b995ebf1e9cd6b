//! The dead-letter store: changes a partner refused for good or that spent their retry
//! budget, one NDJSON file per partner, kept until replayed.
//!
//! Contract: [`DeadLetterStore::append`] writes a batch of [`DeadLetter`]s to
//! `<dir>/<partner>.ndjson` and syncs it to disk before returning, so a change is never
//! finished (and its offset never committed) before its dead letter is durable. Each
//! letter holds the change, its delivery id, the reason, and how many attempts were
//! made. [`DeadLetterStore::take`] moves a partner's letters out for replay (the file is
//! renamed first, so letters written meanwhile go to a new file); a replay appends back
//! the ones that fail again.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::change::{Change, Position};
use crate::ndjson_files::NdjsonFiles;

/// One dead-lettered change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The change's delivery id (the same on a replay).
    pub delivery_id: String,
    /// The partner.
    pub partner: String,
    /// The user.
    pub user: String,
    /// The segment.
    pub segment: String,
    /// `"enter"` or `"exit"`.
    pub change: String,
    /// The change's tick (ms).
    pub time_ms: u64,
    /// Why.
    pub reason: String,
    /// Attempts made.
    pub attempts: u32,
    /// When (wall clock, ms).
    pub at_ms: u64,
}

impl DeadLetter {
    /// The change again, for a replay (its position is the letter's line).
    pub fn change(&self, line: i64) -> Change {
        Change {
            user: self.user.clone(),
            segment: self.segment.clone(),
            tick: self.time_ms,
            entered: self.change == "enter",
            position: Position {
                partition: 0,
                offset: line,
            },
            read_at_ms: segstream_time::wall_clock_ms(),
        }
    }
}

/// The store (see the module contract).
#[derive(Debug)]
pub struct DeadLetterStore {
    files: NdjsonFiles,
}

impl DeadLetterStore {
    /// A store in `dir` (created if needed).
    pub fn open(dir: &Path) -> std::io::Result<DeadLetterStore> {
        Ok(DeadLetterStore {
            files: NdjsonFiles::new(dir)?,
        })
    }

    /// The file of `partner`'s letters.
    pub fn path(&self, partner: &str) -> PathBuf {
        self.files.path(partner)
    }

    /// Appends letters durably.
    pub fn append(&self, partner: &str, letters: &[DeadLetter]) -> std::io::Result<()> {
        self.files.append(partner, letters, true)
    }

    /// Moves `partner`'s letters out of the store and returns them; lines that do not
    /// parse are returned as errors with their line numbers (and kept in the moved file).
    pub fn take(&self, partner: &str) -> Result<(Vec<DeadLetter>, PathBuf), String> {
        let path = self.path(partner);
        let moved = self
            .files
            .dir()
            .join(format!("{partner}.replaying-{}.ndjson", segstream_time::wall_clock_ms()));
        self.files.close(partner);
        match std::fs::rename(&path, &moved) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), moved)),
            Err(e) => return Err(format!("moving {}: {e}", path.display())),
        }
        let file = File::open(&moved).map_err(|e| format!("{}: {e}", moved.display()))?;
        let mut letters = Vec::new();
        for (number, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| format!("{}: {e}", moved.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            let letter = serde_json::from_str(&line).map_err(|e| format!("{}:{}: not a dead letter: {e}", moved.display(), number + 1))?;
            letters.push(letter);
        }
        Ok((letters, moved))
    }

    /// Every letter of `partner` now in the store.
    pub fn read(&self, partner: &str) -> Result<Vec<DeadLetter>, String> {
        let path = self.path(partner);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        BufReader::new(file)
            .lines()
            .enumerate()
            .filter(|(_, line)| line.as_ref().map_or(true, |l| !l.trim().is_empty()))
            .map(|(number, line)| {
                let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
                serde_json::from_str(&line).map_err(|e| format!("{}:{}: not a dead letter: {e}", path.display(), number + 1))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(user: &str) -> DeadLetter {
        DeadLetter {
            delivery_id: format!("d-{user}"),
            partner: "p".into(),
            user: user.into(),
            segment: "s".into(),
            change: "exit".into(),
            time_ms: 5,
            reason: "HTTP 400".into(),
            attempts: 1,
            at_ms: 9,
        }
    }

    #[test]
    fn letters_are_appended_read_and_taken_for_replay() {
        let dir = std::env::temp_dir().join(format!("segstream-dl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = DeadLetterStore::open(&dir).unwrap();
        store.append("p", &[letter("u1"), letter("u2")]).unwrap();
        store.append("p", &[letter("u3")]).unwrap();
        assert_eq!(store.read("p").unwrap().len(), 3);
        let (taken, moved) = store.take("p").unwrap();
        assert_eq!(taken.iter().map(|l| l.user.as_str()).collect::<Vec<_>>(), vec!["u1", "u2", "u3"]);
        assert!(moved.exists());
        assert!(store.read("p").unwrap().is_empty(), "taken letters are gone from the store");
        store.append("p", &[letter("u4")]).unwrap();
        assert_eq!(store.read("p").unwrap(), vec![letter("u4")]);
        assert!(!taken[0].change(0).entered);
        std::fs::write(store.path("q"), "{\"nope\": 1}\n").unwrap();
        assert!(store.read("q").unwrap_err().contains(":1: not a dead letter"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
