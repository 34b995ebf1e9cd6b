//! The user-data cache: `user:<id>:data` in Redis, kept by `segstream cache-sync`.
//!
//! Contract: a hash per user with fields `profile` and `stats`, each the JSON string of
//! the latest upsert (as the case study's cache holds them); a tombstone deletes its
//! field. Every write refreshes the key's TTL, so users who stop changing age out.
//! [`write_upserts`] applies a batch as pipelines, retried until Redis accepts them;
//! [`read_profiles`] reads users' profiles (the activator's identifiers) in one round trip.

use super::Retrying;

/// The key of a user's cached data.
pub fn data_key(user: &str) -> String {
    format!("user:{user}:data")
}

/// One upsert: `(user, field ("profile" or "stats"), JSON or None to delete)`.
pub type Upsert = (String, &'static str, Option<String>);

/// Each user's cached profile JSON (`None` where there is none), in one round trip.
pub fn read_profiles(redis: &mut Retrying, users: &[String]) -> Result<Vec<Option<String>>, String> {
    let mut pipeline = redis::pipe();
    for user in users {
        pipeline.hget(data_key(user), "profile");
    }
    redis.query(&pipeline)
}

/// Writes `upserts` with a TTL of `ttl_seconds` (see the module contract).
pub fn write_upserts(redis: &mut Retrying, upserts: &[Upsert], ttl_seconds: u64, batch: usize) {
    for chunk in upserts.chunks(batch.max(1)) {
        let mut pipeline = redis::pipe();
        for (user, field, value) in chunk {
            let key = data_key(user);
            match value {
                Some(json) => pipeline.hset(&key, *field, json).ignore(),
                None => pipeline.hdel(&key, *field).ignore(),
            };
            pipeline.expire(&key, ttl_seconds as i64).ignore();
        }
        redis.run(&pipeline, "user data cache", |i| {
            chunk.get(i / 2).map_or_else(String::new, |u| data_key(&u.0))
        });
    }
}
