//! segstream-redis: the Redis connectors, the segmented profile store and the user-data cache.
//!
//! Contract: [`Retrying`] owns one connection and runs a pipeline until Redis accepts
//! it: on failure it reports the outage once, backs off (100 ms doubling to 2 s),
//! reconnects and tries again, so callers see every write succeed eventually and
//! processing elsewhere continues while Redis is down. Every write is idempotent
//! (hash sets and deletes keyed by user), so retrying a partly applied pipeline is safe.
//! `rediss://` URLs use TLS.
#![deny(missing_docs)]

pub mod partner_state;
pub mod profile_store;
pub mod questions;
pub mod rules_live;
pub mod segment_moves;
pub mod segment_sizes;
pub mod user_data;

use std::time::Duration;

/// How long connecting and each command may take before it counts as a failure.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest pause between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A Redis connection that retries until written.
pub struct Retrying {
    client: redis::Client,
    connection: Option<redis::Connection>,
    retries: u64,
}

impl Retrying {
    /// A connection to `url` (checked now; connected lazily).
    pub fn new(url: &str) -> Result<Retrying, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis url {url:?}: {e}"))?;
        Ok(Retrying {
            client,
            connection: None,
            retries: 0,
        })
    }

    fn connect(&mut self) -> redis::RedisResult<&mut redis::Connection> {
        if self.connection.is_none() {
            let connection = self.client.get_connection_with_timeout(IO_TIMEOUT)?;
            connection.set_read_timeout(Some(IO_TIMEOUT))?;
            connection.set_write_timeout(Some(IO_TIMEOUT))?;
            self.connection = Some(connection);
        }
        match self.connection.as_mut() {
            Some(connection) => Ok(connection),
            None => Err(redis::RedisError::from((redis::ErrorKind::Io, "not connected"))),
        }
    }

    /// Runs a read-only `pipeline` once and returns its answers (a failure drops the
    /// connection, so the next call reconnects; reads are not retried here).
    pub fn query<T: redis::FromRedisValue>(&mut self, pipeline: &redis::Pipeline) -> Result<T, String> {
        let result = self.connect().and_then(|c| pipeline.query(c));
        if result.is_err() {
            self.connection = None;
        }
        result.map_err(|e| e.to_string())
    }

    /// Runs `pipeline` until Redis accepts it.
    pub fn run(&mut self, pipeline: &redis::Pipeline, what: &str) {
        let mut backoff = Duration::from_millis(100);
        let mut reported = false;
        loop {
            let result = self.connect().and_then(|c| pipeline.exec(c));
            match result {
                Ok(()) => {
                    if reported {
                        eprintln!("redis: {what}: written again after {} retries", self.retries);
                    }
                    return;
                }
                Err(e) => {
                    self.connection = None;
                    self.retries += 1;
                    if !reported {
                        eprintln!("redis: {what}: {e}; retrying until Redis is back");
                        reported = true;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}
