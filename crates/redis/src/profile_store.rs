//! The segmented profile store: `user:<id>:segments` in Redis.
//!
//! Contract: a hash per user, field = segment id, value = the event time (ms) at which
//! the user entered it; an exit deletes the field. [`write_changes`] applies changes in
//! the order given (time order per user) as pipelines of at most `batch` commands, each
//! retried until Redis accepts it or refuses a command for good (logged with the user's
//! key and counted, [`super::Retrying`]). Re-applying a suffix of the
//! change stream after a restart converges to the same hash.

use super::Retrying;

/// The key of a user's segments.
pub fn segments_key(user: &str) -> String {
    format!("user:{user}:segments")
}

/// One change for the store: `(user, segment, tick, entered)`.
pub type StoreChange = (String, String, u64, bool);

/// Writes `changes` (see the module contract).
pub fn write_changes(redis: &mut Retrying, changes: &[StoreChange], batch: usize) {
    for chunk in changes.chunks(batch.max(1)) {
        let mut pipeline = redis::pipe();
        for (user, segment, tick, entered) in chunk {
            let key = segments_key(user);
            if *entered {
                pipeline.hset(key, segment, *tick).ignore();
            } else {
                pipeline.hdel(key, segment).ignore();
            }
        }
        redis.run(&pipeline, "profile store", |i| {
            chunk.get(i).map_or_else(String::new, |c| segments_key(&c.0))
        });
    }
}
