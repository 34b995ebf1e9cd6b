//! `segstream demo`'s checkpoints: the embedded classifier saves its state as
//! `segstream classify` does, into a local directory.
//!
//! Contract: [`DemoCheckpoints::start`] (none with `--checkpoints off`) starts the part
//! writer and the committer of `classify_checkpoints.rs` on `--checkpoints` and logs
//! where they go. [`DemoCheckpoints::checkpointing`] gives a worker its
//! [`Checkpointing`] (no restore: the demo's traffic is generated live, so there is
//! nothing to replay from a checkpoint's offsets); [`CheckpointRequests::maybe_request`],
//! on worker 0, asks for one every `--checkpoint-every` of event time and hands its
//! tick to the committer, which writes the manifest once every worker's part is
//! written and the demo has recorded its output frontier past the tick as the durable
//! frontier (`ClassifierMetrics::set_durable_frontier`: the demo's changes count as
//! durable once handed to the change file's writer).

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::mpsc::Sender;
use std::sync::Arc;

use segstream_dataflows::classifier::metrics::ClassifierMetrics;
use segstream_dataflows::classifier::source::EventSource;
use segstream_dataflows::dataflow::{Checkpointing, Handles};
use segstream_time::parse_duration;

use super::classify_checkpoints::{save_closure, this_run, Committer, PartJob, PartWriter, Requests};
use crate::error::CommandError;
use segstream_config::CheckpointsSection;

/// Checkpoints the demo keeps.
const KEEP: usize = 2;

/// The demo's checkpoint writer and committer (see the module contract).
pub struct DemoCheckpoints {
    location: PathBuf,
    interval_ms: u64,
    parts: Sender<PartJob>,
    committer: Sender<u64>,
    run: u64,
}

/// Worker 0's schedule of requests, with the committer to tell.
pub struct CheckpointRequests {
    requests: Requests,
    committer: Sender<u64>,
}

impl DemoCheckpoints {
    /// Starts them on `location` every `every` (see the module contract); `None` when
    /// `location` is `off`.
    pub fn start(
        location: &str,
        every: &str,
        workers: usize,
        metrics: &Arc<ClassifierMetrics>,
    ) -> Result<Option<DemoCheckpoints>, CommandError> {
        if location == "off" {
            return Ok(None);
        }
        let interval_ms = parse_duration(every).map_err(|e| CommandError::Invalid(format!("--checkpoint-every: {e}")))? as u64;
        let parts = PartWriter::start(location.to_string()).map_err(CommandError::Invalid)?;
        let committer = Committer::start(location.to_string(), workers, KEEP, Arc::clone(metrics)).map_err(CommandError::Invalid)?;
        let location = PathBuf::from(location);
        tracing::info!(
            "checkpoints: every {every} of event time into {} (a directory per checkpoint, manifest.json last; the newest {KEEP} kept)",
            location.display()
        );
        Ok(Some(DemoCheckpoints {
            location,
            interval_ms,
            parts,
            committer,
            run: this_run(),
        }))
    }

    /// Where the checkpoints go.
    pub fn location(&self) -> &PathBuf {
        &self.location
    }

    /// Worker `index` of `peers`'s part in them, its resume points from `source`.
    pub fn checkpointing<S: EventSource + 'static>(&self, source: Rc<RefCell<S>>, index: usize, peers: usize) -> Checkpointing {
        Checkpointing {
            restore: None,
            save: save_closure(
                (source, Box::new(|_| Default::default())),
                (index, peers, self.run),
                self.parts.clone(),
            ),
        }
    }

    /// Worker 0's requests.
    pub fn requests(&self) -> CheckpointRequests {
        CheckpointRequests {
            requests: Requests::new(self.interval_ms, 0, CheckpointsSection::default().full_every),
            committer: self.committer.clone(),
        }
    }
}

impl CheckpointRequests {
    /// Asks for a checkpoint if one is due at the inputs' tick.
    pub fn maybe_request(&mut self, handles: &mut Handles) {
        if let Some(kind) = self.requests.due(*handles.checkpoints.time()) {
            let at = handles.request_checkpoint(kind);
            // The committer outlives the workers; a send fails only once it has stopped.
            let _ = self.committer.send(at);
        }
    }
}
