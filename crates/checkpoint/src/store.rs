//! The checkpoint store: parts, manifests, the newest intact checkpoint, retention.
//!
//! Contract: see the crate's. Every call blocks on the store's own single-threaded
//! tokio runtime. Objects are written whole (`put` is atomic on a local directory and
//! on S3), so a crash mid-write leaves an object absent, never half there.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};

use crate::layout::{checkpoint_dir, manifest_path, part_path, tick_of_dir, Manifest, PartHeader};
use crate::CheckpointError;

/// A complete checkpoint, read and checked.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// Its manifest.
    pub manifest: Manifest,
    /// Each worker's chain of states, by worker: a full state, then the deltas on it
    /// up to the checkpoint (as [`Manifest::chain`] lists them).
    pub chains: Vec<Vec<Arc<Vec<u8>>>>,
}

/// Where checkpoints are kept (see the crate's contract).
pub struct CheckpointStore {
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
    location: String,
    /// The directory of a local store: deleting a checkpoint's objects leaves its
    /// directory behind there, which [`CheckpointStore::retain`] then removes.
    local: Option<std::path::PathBuf>,
}

fn corrupt(path: &Path, reason: impl ToString) -> CheckpointError {
    CheckpointError::Corrupt {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

impl CheckpointStore {
    /// Opens a location: a directory path or `file://` URL (created if missing), or
    /// `s3://bucket/prefix`.
    pub fn open(location: &str) -> Result<CheckpointStore, CheckpointError> {
        CheckpointStore::open_with(location, &[])
    }

    /// [`CheckpointStore::open`] with S3 settings besides the environment's, by
    /// `object_store`'s names (`aws_endpoint`, `aws_access_key_id`, `aws_region`,
    /// `aws_allow_http`, …). A request to S3 is retried at most 3 times within 15 s, as
    /// the lake's are, so an unreachable bucket is an error, not a hang.
    pub fn open_with(location: &str, options: &[(&str, &str)]) -> Result<CheckpointStore, CheckpointError> {
        let fail = |reason: String| CheckpointError::Location {
            location: location.to_string(),
            reason,
        };
        let mut local = None;
        let store: Arc<dyn ObjectStore> = match url::Url::parse(location) {
            Ok(url) if url.scheme() == "s3" => {
                let retry = RetryConfig {
                    max_retries: 3,
                    retry_timeout: Duration::from_secs(15),
                    ..RetryConfig::default()
                };
                let mut builder = AmazonS3Builder::from_env().with_url(url.as_str()).with_retry(retry);
                for (key, value) in options {
                    let key: AmazonS3ConfigKey = key.parse().map_err(|e| fail(format!("the S3 setting {key:?}: {e}")))?;
                    builder = builder.with_config(key, *value);
                }
                let bucket = builder.build()?;
                let prefix = url.path().trim_matches('/');
                Arc::new(PrefixStore::new(bucket, prefix))
            }
            Ok(url) if url.scheme() == "file" => {
                let path = url.to_file_path().map_err(|()| fail("not a local path".into()))?;
                std::fs::create_dir_all(&path).map_err(|e| fail(format!("cannot create the directory: {e}")))?;
                local = Some(path.clone());
                Arc::new(LocalFileSystem::new_with_prefix(&path)?)
            }
            Ok(url) if url.scheme().len() > 1 => {
                return Err(fail(format!(
                    "the scheme {:?} is not supported (a path, file:// or s3://)",
                    url.scheme()
                )))
            }
            _ => {
                std::fs::create_dir_all(location).map_err(|e| fail(format!("cannot create the directory: {e}")))?;
                local = Some(std::path::PathBuf::from(location));
                Arc::new(LocalFileSystem::new_with_prefix(location)?)
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| fail(format!("starting the store's runtime: {e}")))?;
        Ok(CheckpointStore {
            store,
            runtime,
            location: location.to_string(),
            local,
        })
    }

    /// The location as given.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn put(&self, path: &Path, payload: PutPayload) -> Result<(), CheckpointError> {
        self.runtime.block_on(self.store.put(path, payload))?;
        Ok(())
    }

    /// The object's bytes, or `None` if it does not exist.
    fn get(&self, path: &Path) -> Result<Option<Vec<u8>>, CheckpointError> {
        self.runtime.block_on(async {
            match self.store.get(path).await {
                Ok(found) => Ok(Some(found.bytes().await?.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// The objects directly under `dir` (`None`: the checkpoint directories at the top).
    fn list(&self, dir: Option<&Path>) -> Result<(Vec<Path>, Vec<Path>), CheckpointError> {
        let listed = self.runtime.block_on(self.store.list_with_delimiter(dir))?;
        Ok((listed.common_prefixes, listed.objects.into_iter().map(|o| o.location).collect()))
    }

    /// The ticks of the checkpoints started, newest first.
    fn ticks(&self) -> Result<Vec<u64>, CheckpointError> {
        let (dirs, _) = self.list(None)?;
        let mut ticks: Vec<u64> = dirs.iter().filter_map(|d| d.filename().and_then(tick_of_dir)).collect();
        ticks.sort_unstable_by(|a, b| b.cmp(a));
        Ok(ticks)
    }

    /// Writes one worker's part: the state (the concatenation of `chunks`, written as
    /// they are), then its header (`state_bytes` and `state_crc32` are filled in here);
    /// the header as written.
    pub fn write_part(&self, mut header: PartHeader, chunks: Vec<Vec<u8>>) -> Result<PartHeader, CheckpointError> {
        let mut crc = crc32fast::Hasher::new();
        chunks.iter().for_each(|chunk| crc.update(chunk));
        header.state_bytes = chunks.iter().map(|chunk| chunk.len() as u64).sum();
        header.state_crc32 = crc.finalize();
        let state: PutPayload = chunks.into_iter().map(Bytes::from).collect();
        self.put(&part_path(header.as_of, header.worker, header.workers, false), state)?;
        let json = serde_json::to_vec(&header).map_err(|e| corrupt(&part_path(header.as_of, header.worker, header.workers, true), e))?;
        self.put(&part_path(header.as_of, header.worker, header.workers, true), json.into())?;
        Ok(header)
    }

    /// A part's header, or `None` if it is not written.
    fn header(&self, as_of: u64, worker: usize, workers: usize) -> Result<Option<PartHeader>, CheckpointError> {
        let path = part_path(as_of, worker, workers, true);
        let Some(bytes) = self.get(&path)? else { return Ok(None) };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| corrupt(&path, e))
    }

    /// The earlier parts a delta `head` builds on, newest first, back to a full part: a
    /// `Corrupt` error if one is missing or of another run (the chain is broken).
    fn links(&self, head: &PartHeader) -> Result<Vec<PartHeader>, CheckpointError> {
        let mut links: Vec<PartHeader> = Vec::new();
        let mut next = head.base;
        while let Some(base) = next {
            let newer = links.last().unwrap_or(head);
            let path = part_path(base, head.worker, head.workers, true);
            let link = self
                .header(base, head.worker, head.workers)?
                .filter(|link| link.run == head.run && link.as_of == base && base < newer.as_of)
                .ok_or_else(|| corrupt(&path, format!("the delta as of {} builds on it, and it is not there", newer.as_of)))?;
            next = link.base;
            links.push(link);
        }
        Ok(links)
    }

    /// Writes the manifest of the checkpoint as of `as_of` if all `workers` parts are
    /// written; the manifest, or `None` while parts are missing; a `Corrupt` error if a
    /// part's chain is broken (the checkpoint can never complete).
    pub fn commit(&self, as_of: u64, workers: usize, written_ms: u64) -> Result<Option<Manifest>, CheckpointError> {
        let mut parts = Vec::with_capacity(workers);
        let mut links = Vec::new();
        for worker in 0..workers {
            let Some(head) = self.header(as_of, worker, workers)? else {
                return Ok(None);
            };
            links.extend(self.links(&head)?);
            parts.push(head);
        }
        let points = parts
            .iter()
            .flat_map(|p| p.points.iter().map(|(k, v)| (*k, *v)))
            .collect::<BTreeMap<_, _>>();
        let side_points = parts.iter().flat_map(|p| p.side_points.clone()).collect();
        let manifest = Manifest {
            as_of,
            workers,
            parts,
            links,
            points,
            side_points,
            written_ms,
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| corrupt(&manifest_path(as_of), e))?;
        self.put(&manifest_path(as_of), json.into())?;
        Ok(Some(manifest))
    }

    /// The checkpoint as of `as_of` if it is complete and intact (see the crate's contract).
    fn read(&self, as_of: u64) -> Result<Checkpoint, CheckpointError> {
        let path = manifest_path(as_of);
        let bytes = self
            .get(&path)?
            .ok_or_else(|| corrupt(&path, "no manifest: the checkpoint was not finished"))?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e))?;
        let mut chains = Vec::with_capacity(manifest.workers);
        for worker in 0..manifest.workers {
            let mut chain = Vec::new();
            for part in manifest.chain(worker) {
                let path = part_path(part.as_of, worker, manifest.workers, false);
                let state = self.get(&path)?.ok_or_else(|| corrupt(&path, "missing"))?;
                if !manifest.check(part.as_of, worker, &state) {
                    return Err(corrupt(&path, "its size or CRC-32 is not the manifest's"));
                }
                chain.push(Arc::new(state));
            }
            if chain.is_empty() {
                return Err(corrupt(&path, format!("no part of worker {worker}")));
            }
            chains.push(chain);
        }
        Ok(Checkpoint { manifest, chains })
    }

    /// The newest complete, intact checkpoint (see the crate's contract); those skipped
    /// are logged with the reason.
    pub fn latest(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        for as_of in self.ticks()? {
            match self.read(as_of) {
                Ok(checkpoint) => return Ok(Some(checkpoint)),
                Err(e @ CheckpointError::Corrupt { .. }) => {
                    tracing::warn!(location = %self.location, as_of, error = %e, "checkpoints: skipping an unusable checkpoint");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Deletes every checkpoint but the newest `keep` complete ones, the earlier parts
    /// their chains read, and those begun after the newest complete one (being
    /// written, their chains going back through it); how many were deleted.
    pub fn retain(&self, keep: usize) -> Result<usize, CheckpointError> {
        let mut complete = 0;
        let mut deleted = 0;
        let mut read_by_kept: BTreeSet<u64> = BTreeSet::new();
        for as_of in self.ticks()? {
            let manifest = self.get(&manifest_path(as_of))?;
            let finished = manifest.is_some();
            let in_progress = complete == 0 && !finished;
            if in_progress || (finished && complete < keep) {
                match manifest.map(|bytes| serde_json::from_slice::<Manifest>(&bytes)) {
                    Some(Ok(manifest)) => read_by_kept.extend(manifest.ticks()),
                    // Unreadable, it is never restored from: it keeps nothing.
                    Some(Err(e)) => tracing::warn!(as_of, error = %e, "checkpoints: an unreadable manifest"),
                    None => {}
                }
                complete += usize::from(finished);
                continue;
            }
            if read_by_kept.contains(&as_of) {
                continue;
            }
            let dir = checkpoint_dir(as_of);
            let (_, objects) = self.list(Some(&dir))?;
            // The manifest first: a checkpoint half deleted is never taken for complete.
            let (manifest, rest): (Vec<Path>, Vec<Path>) = objects.into_iter().partition(|o| *o == manifest_path(as_of));
            for object in manifest.iter().chain(&rest) {
                self.runtime.block_on(self.store.delete(object))?;
            }
            if let Some(root) = &self.local {
                // Empty now; a file someone put there keeps it, which is no error.
                let _ = std::fs::remove_dir(root.join(dir.as_ref()));
            }
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Every object of the store (for tests and operators).
    pub fn objects(&self) -> Result<Vec<Path>, CheckpointError> {
        Ok(self
            .runtime
            .block_on(self.store.list(None).try_collect::<Vec<_>>())?
            .into_iter()
            .map(|o| o.location)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use segstream_dataflows::classifier::emitted::ResumePoint;

    use super::*;

    fn scratch(name: &str) -> String {
        let dir = std::env::temp_dir().join(format!("segstream-checkpoint-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.to_string_lossy().into_owned()
    }

    fn header(as_of: u64, worker: usize, workers: usize) -> PartHeader {
        let point = ResumePoint {
            offset: 100 * worker as i64 + as_of as i64,
            seen_before: Some(as_of),
        };
        PartHeader {
            as_of,
            worker,
            workers,
            points: [(worker as u32, point)].into_iter().collect(),
            side_points: [(format!("profiles/{worker}"), point)].into_iter().collect(),
            state_bytes: 0,
            state_crc32: 0,
            base: None,
            run: 1,
        }
    }

    fn write(store: &CheckpointStore, as_of: u64, workers: usize) -> Result<Option<Manifest>, CheckpointError> {
        for worker in 0..workers {
            store.write_part(header(as_of, worker, workers), vec![format!("state {as_of} {worker}").into_bytes()])?;
        }
        store.commit(as_of, workers, 7)
    }

    #[test]
    fn the_newest_complete_intact_checkpoint_is_taken() -> Result<(), CheckpointError> {
        let location = scratch("latest");
        let store = CheckpointStore::open(&location)?;
        assert!(store.latest()?.is_none(), "nothing yet");
        let first = write(&store, 1_000, 2)?.ok_or_else(|| corrupt(&Path::from("1000"), "not committed"))?;
        assert_eq!(first.points.len(), 2, "both workers' partitions");
        assert_eq!(first.side_points.len(), 2, "both workers' side partitions");
        write(&store, 2_000, 2)?;
        let latest = store.latest()?.map(|c| (c.manifest.as_of, c.chains));
        assert_eq!(
            latest,
            Some((
                2_000,
                vec![vec![Arc::new(b"state 2000 0".to_vec())], vec![Arc::new(b"state 2000 1".to_vec())]]
            ))
        );

        // A checkpoint one part short is not committed, and not taken.
        store.write_part(header(3_000, 0, 2), vec![b"half".to_vec()])?;
        assert!(store.commit(3_000, 2, 7)?.is_none());
        assert_eq!(store.latest()?.map(|c| c.manifest.as_of), Some(2_000));

        // A corrupt part: the one before is taken.
        std::fs::write(
            std::path::Path::new(&location).join(part_path(2_000, 1, 2, false).as_ref()),
            b"state 2000 X",
        )?;
        assert_eq!(store.latest()?.map(|c| c.manifest.as_of), Some(1_000));
        Ok(())
    }

    #[test]
    fn retention_keeps_the_newest_complete_and_the_one_being_written() -> Result<(), CheckpointError> {
        let root = scratch("retain");
        let store = CheckpointStore::open(&root)?;
        for as_of in [1_000, 2_000, 3_000, 4_000] {
            write(&store, as_of, 1)?;
        }
        store.write_part(header(5_000, 0, 2), vec![b"being".to_vec(), b" written".to_vec()])?;
        assert_eq!(store.retain(2)?, 2);
        let dirs: std::collections::BTreeSet<String> = store
            .objects()?
            .iter()
            .filter_map(|o| o.parts().next().map(|p| p.as_ref().to_string()))
            .collect();
        let kept: Vec<u64> = dirs.iter().filter_map(|d| tick_of_dir(d)).collect();
        assert_eq!(kept, vec![3_000, 4_000, 5_000]);
        let on_disk: Vec<u64> = std::fs::read_dir(&root)?
            .filter_map(|entry| tick_of_dir(entry.ok()?.file_name().to_str()?))
            .collect::<std::collections::BTreeSet<u64>>()
            .into_iter()
            .collect();
        assert_eq!(
            on_disk,
            vec![3_000, 4_000, 5_000],
            "the deleted checkpoints' directories are gone too"
        );
        assert_eq!(store.latest()?.map(|c| c.manifest.as_of), Some(4_000));
        Ok(())
    }

    /// Writes worker 0's part as of `as_of` (of 1 worker), a delta on `base` of `run`.
    fn write_delta(store: &CheckpointStore, as_of: u64, base: Option<u64>, run: u64) -> Result<(), CheckpointError> {
        let header = PartHeader {
            base,
            run,
            ..header(as_of, 0, 1)
        };
        store.write_part(header, vec![format!("state {as_of}").into_bytes()])?;
        Ok(())
    }

    /// A checkpoint of deltas reads its whole chain; retention keeps the parts the
    /// kept checkpoints read; a chain with a link missing or of another run never
    /// commits.
    #[test]
    fn deltas_read_and_keep_their_chain() -> Result<(), CheckpointError> {
        let store = CheckpointStore::open(&scratch("chain"))?;
        write_delta(&store, 1_000, None, 1)?;
        write_delta(&store, 2_000, Some(1_000), 1)?;
        // 3,000 is never committed (another worker skipped it, say); 4,000 builds on it.
        write_delta(&store, 3_000, Some(2_000), 1)?;
        write_delta(&store, 4_000, Some(3_000), 1)?;
        for as_of in [1_000, 2_000, 4_000] {
            assert!(store.commit(as_of, 1, 7)?.is_some(), "{as_of}");
        }
        let latest = store.latest()?.ok_or_else(|| corrupt(&Path::from("-"), "none"))?;
        let chain: Vec<Vec<u8>> = latest.chains.concat().iter().map(|s| s.to_vec()).collect();
        let expected: Vec<Vec<u8>> = [1_000, 2_000, 3_000, 4_000].map(|t| format!("state {t}").into_bytes()).into();
        assert_eq!(chain, expected);
        assert_eq!(store.retain(1)?, 0, "4,000 reads every one");
        write_delta(&store, 5_000, None, 1)?;
        store.commit(5_000, 1, 7)?;
        assert_eq!(store.retain(1)?, 4, "5,000 is full");

        // A link of another run (a part left at the same path by an earlier process):
        // the chain is broken, not mixed.
        write_delta(&store, 6_000, Some(5_000), 1)?;
        write_delta(&store, 7_000, Some(6_000), 2)?;
        assert!(matches!(store.commit(7_000, 1, 7), Err(CheckpointError::Corrupt { .. })));
        // A corrupt link: the checkpoint is skipped for the one before.
        write_delta(&store, 8_000, Some(6_000), 1)?;
        store.commit(8_000, 1, 7)?;
        assert_eq!(store.latest()?.map(|c| c.manifest.as_of), Some(8_000));
        let root = std::path::PathBuf::from(store.location());
        std::fs::write(root.join(part_path(6_000, 0, 1, false).as_ref()), b"state 6000 X")?;
        assert_eq!(store.latest()?.map(|c| c.manifest.as_of), Some(5_000));
        Ok(())
    }

    #[test]
    fn a_location_of_another_scheme_is_refused() {
        assert!(matches!(
            CheckpointStore::open("ftp://host/x"),
            Err(CheckpointError::Location { .. })
        ));
    }
}
