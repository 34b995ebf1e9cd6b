//! What each ad partner was handed: `partner:<id>:<user>` in Redis, and which segments
//! its audiences hold whole: `partner-mapping:<id>`.
//!
//! Contract: a hash per (partner, user), field = segment, value = the tick of the newest
//! change handed to the partner for it; every write refreshes a TTL of `ttl_seconds`, so
//! users who stop changing age out. [`latest`] reads many in one round trip;
//! [`record`] writes a batch as one pipeline (retried until Redis accepts it).
//! [`mapped_segments`] and [`set_mapped_segments`] read and write the partner's set of
//! segments (no TTL: it lives as long as the partner's consumer group).

use super::Retrying;

/// The key of a partner's state of a user.
pub fn state_key(partner: &str, user: &str) -> String {
    format!("partner:{partner}:{user}")
}

/// The newest tick handed per `(user, segment)`.
pub fn latest(redis: &mut Retrying, partner: &str, keys: &[(String, String)]) -> Result<Vec<Option<u64>>, String> {
    let mut pipeline = redis::pipe();
    for (user, segment) in keys {
        pipeline.hget(state_key(partner, user), segment);
    }
    redis.query(&pipeline)
}

/// Records `(user, segment, tick)` as handed.
pub fn record(redis: &mut Retrying, partner: &str, changes: &[(String, String, u64)], ttl_seconds: u64) {
    let mut pipeline = redis::pipe();
    for (user, segment, tick) in changes {
        let key = state_key(partner, user);
        pipeline.hset(&key, segment, *tick).ignore();
        pipeline.expire(&key, ttl_seconds as i64).ignore();
    }
    redis.run(&pipeline, "partner state", |i| {
        changes.get(i / 2).map_or_else(String::new, |c| state_key(partner, &c.0))
    });
}

/// The key of the segments whose whole membership a partner was given.
pub fn mapping_key(partner: &str) -> String {
    format!("partner-mapping:{partner}")
}

/// The segments whose whole membership `partner` was given, if that was ever recorded.
pub fn mapped_segments(redis: &mut Retrying, partner: &str) -> Result<Option<Vec<String>>, String> {
    let mut pipeline = redis::pipe();
    pipeline.smembers(mapping_key(partner)).exists(mapping_key(partner));
    let (members, exists): (Vec<String>, bool) = redis.query(&pipeline)?;
    Ok(exists.then_some(members))
}

/// Records `segments` as the ones whose whole membership `partner` was given (at least
/// one; an empty set cannot be told from none in Redis).
pub fn set_mapped_segments(redis: &mut Retrying, partner: &str, segments: &[String]) -> Result<(), String> {
    let key = mapping_key(partner);
    let mut pipeline = redis::pipe();
    pipeline.atomic().del(&key).ignore();
    if !segments.is_empty() {
        pipeline.sadd(&key, segments).ignore();
    }
    redis.query::<()>(&pipeline)
}
