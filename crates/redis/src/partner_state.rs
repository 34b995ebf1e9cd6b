//! What each ad partner was handed: `partner:<id>:<user>` in Redis.
//!
//! Contract: a hash per (partner, user), field = segment, value = the tick of the newest
//! change handed to the partner for it; every write refreshes a TTL of `ttl_seconds`, so
//! users who stop changing age out. [`latest`] reads many in one round trip;
//! [`record`] writes a batch as one pipeline (retried until Redis accepts it).

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
    redis.run(&pipeline, "partner state");
}
