//! A line tap that writes every input line to a file, for an exact correctness check.
//!
//! Contract: [`LineFile`] writes each tapped line as `partition<TAB>line\n`, in the
//! order each partition was read (lines of different partitions interleave as the
//! workers read them; a partition's own order is kept, because one worker reads it).
//! It is what the classifier was given, with the collector's `received_at`, so a check
//! can replay it through the reference model with the late-event rule and no
//! tolerance (`segstream-harness`, embedded target). Output is buffered;
//! [`LineFile::flush`] writes it out (the demo calls it every second) and reports the
//! first write error, after which nothing more is written. [`Tee`] hands every line to
//! two taps (the lake and this file).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::line_tap::LineTap;

struct Output {
    writer: BufWriter<File>,
    error: Option<String>,
}

/// Every tapped line, to a file.
pub struct LineFile {
    output: Mutex<Output>,
}

impl LineFile {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> Result<LineFile, String> {
        let file = File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(LineFile {
            output: Mutex::new(Output {
                writer: BufWriter::with_capacity(1 << 20, file),
                error: None,
            }),
        })
    }

    /// Writes out what is buffered; the first error seen since the start, if any.
    pub fn flush(&self) -> Result<(), String> {
        let mut output = self.output.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if output.error.is_none() {
            if let Err(e) = output.writer.flush() {
                output.error = Some(e.to_string());
            }
        }
        output.error.clone().map_or(Ok(()), Err)
    }
}

impl LineTap for LineFile {
    fn tap(&self, partition: u32, line: &str) {
        let mut output = self.output.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if output.error.is_some() {
            return;
        }
        if let Err(e) = writeln!(output.writer, "{partition}\t{line}") {
            output.error = Some(e.to_string());
        }
    }
}

/// Two taps in one.
pub struct Tee(pub Arc<dyn LineTap>, pub Arc<dyn LineTap>);

impl LineTap for Tee {
    fn tap(&self, partition: u32, line: &str) {
        self.0.tap(partition, line);
        self.1.tap(partition, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_written_with_their_partition_and_a_tee_feeds_both() {
        let dir = std::env::temp_dir().join(format!("line-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.tsv"), dir.join("b.tsv"));
        let (first, second) = (Arc::new(LineFile::create(&a).unwrap()), Arc::new(LineFile::create(&b).unwrap()));
        let tee = Tee(first.clone(), second.clone());
        tee.tap(3, r#"{"id":"e1"}"#);
        tee.tap(1_048_576, "not\tjson");
        first.flush().unwrap();
        second.flush().unwrap();
        let expected = "3\t{\"id\":\"e1\"}\n1048576\tnot\tjson\n";
        assert_eq!(std::fs::read_to_string(&a).unwrap(), expected);
        assert_eq!(std::fs::read_to_string(&b).unwrap(), expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
