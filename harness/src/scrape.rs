//! What the classifier itself observed, from its Prometheus endpoints.
//!
//! Contract: [`scrape`] reads `/metrics` of each classifier process and sums the
//! counters the harness reports next to its own: events read, applied, late, duplicate
//! (dropped), sidelined and rejected, and changes; and takes the lowest watermark that
//! is set (a process with nothing to watch reports 0).
//! [`ClassifierCounts::since`] is the difference over a run. [`spool_bytes`] reads the
//! collectors' spool gauges (acknowledged events not yet in the log). An endpoint that
//! does not answer is an error naming it.

use crate::http_client::Connection;

/// The classifier's counters, summed over its processes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassifierCounts {
    /// Records read from the events input.
    pub read: u64,
    /// Events applied to users.
    pub applied: u64,
    /// Events behind the watermark (applied at the current tick).
    pub late: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Events older than the dedup horizon, set aside.
    pub sidelined: u64,
    /// Records that did not decode.
    pub rejected: u64,
    /// Membership changes emitted.
    pub changes: u64,
    /// The lowest watermark over the processes (ms; 0 if none reported).
    pub watermark_ms: u64,
}

impl ClassifierCounts {
    /// The counters' growth since `earlier` (the watermark is this one's).
    pub fn since(&self, earlier: &ClassifierCounts) -> ClassifierCounts {
        ClassifierCounts {
            read: self.read.saturating_sub(earlier.read),
            applied: self.applied.saturating_sub(earlier.applied),
            late: self.late.saturating_sub(earlier.late),
            duplicates: self.duplicates.saturating_sub(earlier.duplicates),
            sidelined: self.sidelined.saturating_sub(earlier.sidelined),
            rejected: self.rejected.saturating_sub(earlier.rejected),
            changes: self.changes.saturating_sub(earlier.changes),
            watermark_ms: self.watermark_ms,
        }
    }
}

/// Adds one exposition text's counters to `counts`.
fn add(counts: &mut ClassifierCounts, text: &str) {
    let mut watermark = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else { continue };
        let Ok(number) = value.trim().parse::<f64>() else { continue };
        let value = number.max(0.0) as u64;
        let name = name.split('{').next().unwrap_or(name);
        match name {
            "segstream_records_read_total" => counts.read += value,
            "segstream_events_applied_total" => counts.applied += value,
            "segstream_events_late_total" => counts.late += value,
            "segstream_events_duplicate_total" => counts.duplicates += value,
            "segstream_events_sidelined_total" => counts.sidelined += value,
            "segstream_events_rejected_total" => counts.rejected += value,
            "segstream_membership_changes_total" => counts.changes += value,
            // A process with nothing to watch reports 0: no watermark, not the epoch.
            "segstream_watermark_timestamp_seconds" if number > 0.0 => {
                let ms = (number * 1000.0).round() as u64;
                watermark = Some(watermark.map_or(ms, |w: u64| w.min(ms)));
            }
            _ => {}
        }
    }
    if let Some(w) = watermark {
        counts.watermark_ms = if counts.watermark_ms == 0 { w } else { counts.watermark_ms.min(w) };
    }
}

/// The exposition text of `/metrics` at `endpoint` (`host:port`); `what` names it in errors.
fn metrics_text(endpoint: &str, what: &str) -> Result<String, String> {
    let (status, text) = Connection::new(endpoint, "")
        .get("/metrics")
        .map_err(|e| format!("{what} metrics at {endpoint}: {e}"))?;
    if status != 200 {
        return Err(format!("{what} metrics at {endpoint}: HTTP {status}"));
    }
    Ok(text)
}

/// Scrapes every endpoint (`host:port`) and sums.
pub fn scrape(endpoints: &[String]) -> Result<ClassifierCounts, String> {
    let mut counts = ClassifierCounts::default();
    for endpoint in endpoints {
        add(&mut counts, &metrics_text(endpoint, "classifier")?);
    }
    Ok(counts)
}

/// The bytes waiting in the spools of the collectors at `endpoints`, summed.
pub fn spool_bytes(endpoints: &[String]) -> Result<u64, String> {
    let mut bytes = 0;
    for endpoint in endpoints {
        let text = metrics_text(endpoint, "collector")?;
        bytes += text
            .lines()
            .filter_map(|line| line.strip_prefix("segstream_collector_spool_bytes "))
            .filter_map(|value| value.trim().parse::<f64>().ok())
            .map(|value| value.max(0.0) as u64)
            .sum::<u64>();
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed_over_processes_and_the_lowest_watermark_kept() {
        let mut counts = ClassifierCounts::default();
        let a = "# HELP x\nsegstream_events_late_total 5\nsegstream_events_duplicate_total 2\nsegstream_watermark_timestamp_seconds{worker=\"0\"} 2.0\nsegstream_watermark_timestamp_seconds{worker=\"1\"} 1.5\n";
        let b =
            "segstream_events_late_total 7\nsegstream_records_read_total 100\nsegstream_watermark_timestamp_seconds 1.8\nnot a metric\n";
        add(&mut counts, "segstream_watermark_timestamp_seconds 0\n");
        add(&mut counts, a);
        add(&mut counts, b);
        assert_eq!(
            (counts.late, counts.duplicates, counts.read, counts.watermark_ms),
            (12, 2, 100, 1500)
        );
        let later = ClassifierCounts {
            late: 20,
            watermark_ms: 9,
            ..counts
        };
        assert_eq!(later.since(&counts).late, 8);
        assert_eq!(later.since(&counts).watermark_ms, 9);
        assert!(scrape(&["127.0.0.1:1".to_string()]).is_err());
        assert!(spool_bytes(&["127.0.0.1:1".to_string()]).is_err());
    }
}
