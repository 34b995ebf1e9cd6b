//! Segment sizes of a distributed deployment, for the console.
//!
//! Contract: every classifier worker keeps the sizes of the segments the `sizes`
//! collection routes to it, and writes the ones that changed to the hash
//! `segstream:{group}:sizes` (segment → members; a segment with no size left is
//! removed). A segment lives on one worker, so the workers never write the same field.
//! A write is tried once ([`try_write`]); the caller (a writer thread) retries. The
//! console reads the hash back with [`read`].

use std::collections::HashMap;

use crate::Retrying;

/// The hash of a deployment (its consumer group).
pub fn key(group: &str) -> String {
    format!("segstream:{group}:sizes")
}

/// Writes changed sizes once (`None`: the segment has no size any more).
pub fn try_write(redis: &mut Retrying, group: &str, changes: &[(String, Option<i64>)]) -> Result<(), String> {
    let mut pipeline = redis::pipe();
    for (segment, size) in changes {
        match size {
            Some(size) => pipeline.hset(key(group), segment, *size).ignore(),
            None => pipeline.hdel(key(group), segment).ignore(),
        };
    }
    redis.query::<()>(&pipeline)
}

/// Every segment's size.
pub fn read(redis: &mut Retrying, group: &str) -> Result<HashMap<String, i64>, String> {
    let mut pipeline = redis::pipe();
    pipeline.hgetall(key(group));
    let (sizes,): (HashMap<String, i64>,) = redis.query(&pipeline)?;
    Ok(sizes)
}
