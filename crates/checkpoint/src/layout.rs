//! What a checkpoint's objects hold and where they are.
//!
//! Contract: a part's header ([`PartHeader`]) and the manifest ([`Manifest`]) are JSON;
//! paths are `<as_of, 20 digits>/part-<worker, 4 digits>-of-<workers, 4 digits>.state`
//! (`.json` for the header) and `<as_of>/manifest.json`, so that listing the location
//! gives checkpoints in time order. [`Manifest::check`] says whether a part's bytes are
//! the ones the manifest lists. A part may be a delta on the same worker's part of an
//! earlier checkpoint ([`PartHeader::base`]); a manifest lists, besides each worker's
//! part, every earlier part its chain goes back through to a full one
//! ([`Manifest::links`]), so it names every object a restore reads.

use std::collections::BTreeMap;

use object_store::path::Path;
use segstream_dataflows::classifier::emitted::ResumePoint;
use serde::{Deserialize, Serialize};

/// One worker's part of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartHeader {
    /// The checkpoint's tick.
    pub as_of: u64,
    /// The worker that wrote it, among `workers`.
    pub worker: usize,
    /// Every worker of the deployment.
    pub workers: usize,
    /// Where each partition the worker read resumes.
    pub points: BTreeMap<u32, ResumePoint>,
    /// Where each side-table partition the worker read resumes, by name
    /// (`profiles/<p>`, `stats/<p>`); a partition without one is read from its start.
    #[serde(default)]
    pub side_points: BTreeMap<String, ResumePoint>,
    /// The state's size in bytes.
    pub state_bytes: u64,
    /// The state's CRC-32.
    pub state_crc32: u32,
    /// The tick of the part (same worker, same run) this one is a delta on; `None`: a
    /// full state.
    #[serde(default)]
    pub base: Option<u64>,
    /// The run of the process that wrote it: a chain is of one run's parts only (a
    /// part another run left at the same path is not a link).
    #[serde(default)]
    pub run: u64,
}

/// A complete checkpoint: written once every part is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The checkpoint's tick.
    pub as_of: u64,
    /// Every worker of the deployment that wrote it.
    pub workers: usize,
    /// Every part, by worker.
    pub parts: Vec<PartHeader>,
    /// The earlier parts the deltas among `parts` build on, back to a full part.
    #[serde(default)]
    pub links: Vec<PartHeader>,
    /// Where each partition resumes (the union of the parts').
    pub points: BTreeMap<u32, ResumePoint>,
    /// Where each side-table partition resumes (the union of the parts').
    #[serde(default)]
    pub side_points: BTreeMap<String, ResumePoint>,
    /// When it was written (wall clock, ms).
    pub written_ms: u64,
}

impl Manifest {
    /// Whether `state` is the state of `worker`'s part as of `as_of` as listed.
    pub fn check(&self, as_of: u64, worker: usize, state: &[u8]) -> bool {
        self.parts.iter().chain(&self.links).any(|part| {
            (part.as_of, part.worker) == (as_of, worker)
                && part.state_bytes == state.len() as u64
                && part.state_crc32 == crc32fast::hash(state)
        })
    }

    /// `worker`'s chain: its parts from a full one to its part of this checkpoint, in
    /// order.
    pub fn chain(&self, worker: usize) -> Vec<&PartHeader> {
        let mut chain: Vec<&PartHeader> = self.parts.iter().chain(&self.links).filter(|p| p.worker == worker).collect();
        chain.sort_by_key(|p| p.as_of);
        chain
    }

    /// The ticks of every checkpoint directory it reads from.
    pub fn ticks(&self) -> impl Iterator<Item = u64> + '_ {
        self.parts.iter().chain(&self.links).map(|p| p.as_of)
    }
}

/// The directory of the checkpoint as of `as_of`.
pub fn checkpoint_dir(as_of: u64) -> Path {
    Path::from(format!("{as_of:020}"))
}

/// The tick of a checkpoint directory's name.
pub fn tick_of_dir(name: &str) -> Option<u64> {
    (name.len() == 20).then(|| name.parse().ok()).flatten()
}

/// The path of a part's state, or (`header`) its header.
pub fn part_path(as_of: u64, worker: usize, workers: usize, header: bool) -> Path {
    let extension = if header { "json" } else { "state" };
    checkpoint_dir(as_of).join(format!("part-{worker:04}-of-{workers:04}.{extension}"))
}

/// The path of a checkpoint's manifest.
pub fn manifest_path(as_of: u64) -> Path {
    checkpoint_dir(as_of).join("manifest.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_sort_by_tick_and_name_their_part() {
        assert_eq!(
            part_path(1_700_000_000_000, 2, 12, false).as_ref(),
            "00000001700000000000/part-0002-of-0012.state"
        );
        assert_eq!(manifest_path(5).as_ref(), "00000000000000000005/manifest.json");
        assert_eq!(tick_of_dir("00000001700000000000"), Some(1_700_000_000_000));
        assert_eq!(tick_of_dir("tmp"), None);
        assert!(checkpoint_dir(99).as_ref() < checkpoint_dir(100).as_ref());
    }
}
