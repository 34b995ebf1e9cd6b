//! Writing membership changes as NDJSON.
//!
//! Contract: one JSON object per line — `{"time", "time_ms", "user", "segment", "change":
//! "enter"|"exit", "emitted_at"}` with RFC 3339 times; `emitted_at` is the wall clock
//! when the change left the classifier. Lines are buffered, and flushed by
//! [`ChangeWriter::flush`] or, at most every 100 ms, by [`ChangeWriter::flush_if_due`]
//! (so a reader following the file sees a change within a tenth of a second of its
//! emission); write errors are kept and reported, never panicked on.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// How often [`ChangeWriter::flush_if_due`] flushes.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

use segstream_model::change::change_json;

/// An NDJSON file of membership changes.
pub struct ChangeWriter {
    out: BufWriter<File>,
    error: Option<std::io::Error>,
    written: u64,
    flushed_at: Instant,
}

impl ChangeWriter {
    /// Creates (truncates) the file, and its directory if needed.
    pub fn create(path: &Path) -> std::io::Result<ChangeWriter> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        Ok(ChangeWriter {
            out: BufWriter::new(File::create(path)?),
            error: None,
            written: 0,
            flushed_at: Instant::now(),
        })
    }

    /// Appends one change.
    pub fn write(&mut self, user: &str, segment: &str, tick: u64, diff: isize, emitted_at_ms: u64) {
        if self.error.is_some() {
            return;
        }
        let line = change_json(user, segment, tick, diff > 0, emitted_at_ms);
        match writeln!(self.out, "{line}") {
            Ok(()) => self.written += 1,
            Err(e) => self.error = Some(e),
        }
    }

    /// Flushes if the last flush is 100 ms old or older.
    pub fn flush_if_due(&mut self) -> Result<u64, String> {
        if self.flushed_at.elapsed() < FLUSH_EVERY {
            return Ok(self.written);
        }
        self.flush()
    }

    /// Flushes buffered lines; returns the first write error, if any.
    pub fn flush(&mut self) -> Result<u64, String> {
        self.flushed_at = Instant::now();
        if let Err(e) = self.out.flush() {
            self.error.get_or_insert(e);
        }
        match &self.error {
            Some(e) => Err(e.to_string()),
            None => Ok(self.written),
        }
    }
}
