//! segstream-redis: the Redis connectors, the segmented profile store and the user-data cache.
//!
//! Contract: [`Retrying`] owns one connection and runs a pipeline until Redis accepts
//! it or refuses it for good. A *transient* failure (connection refused or dropped, a
//! timeout, `LOADING`, `TRYAGAIN`, `MASTERDOWN`, `READONLY` during a failover) is
//! reported once, backed off (100 ms doubling to 2 s), reconnected and tried again, so
//! processing elsewhere continues while Redis is down and every write lands once it is
//! back. A *permanent* failure (`WRONGTYPE` and other command errors, `NOPERM`, a wrong
//! password) is not retried: retrying cannot fix it and would stall the writer forever.
//! Redis applies the other commands of a pipeline regardless, so [`Retrying::run`]
//! logs each refused command with its origin (the caller's description of command
//! `i`), counts it in [`Retrying::permanent_errors`] and returns. Every write is
//! idempotent (hash sets and deletes keyed by user), so retrying a partly applied
//! pipeline is safe. `rediss://` URLs use TLS.
#![deny(missing_docs)]

pub mod lease;
pub mod partner_state;
pub mod profile_store;
pub mod questions;
pub mod rules_live;
pub mod segment_moves;
pub mod segment_sizes;
pub mod user_data;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::{ErrorKind, RedisError, RetryMethod};

/// How long connecting and each command may take before it counts as a failure.
/// Refused commands of one pipeline logged one by one; the rest are counted in a line.
const REFUSALS_LOGGED: usize = 3;
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest pause between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A Redis connection that retries until written.
pub struct Retrying {
    client: redis::Client,
    connection: Option<redis::Connection>,
    retries: u64,
    permanent: Arc<AtomicU64>,
}

/// Whether trying again (after a reconnect or a pause) may succeed.
pub fn is_transient(error: &RedisError) -> bool {
    if error.kind() == ErrorKind::AuthenticationFailed {
        return false;
    }
    !matches!(error.retry_method(), RetryMethod::NoRetry)
}

impl Retrying {
    /// A connection to `url` (checked now; connected lazily).
    pub fn new(url: &str) -> Result<Retrying, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis url {url:?}: {e}"))?;
        Ok(Retrying {
            client,
            connection: None,
            retries: 0,
            permanent: Arc::new(AtomicU64::new(0)),
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

    /// The count of commands Redis refused for good, shared (for metrics).
    pub fn permanent_errors(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.permanent)
    }

    /// Runs `pipeline` until Redis accepts it, or refuses it for good (see the module
    /// contract); `origin(i)` names what command `i` of the pipeline was for.
    pub fn run(&mut self, pipeline: &redis::Pipeline, what: &str, origin: impl Fn(usize) -> String) {
        let mut backoff = Duration::from_millis(100);
        let mut reported = false;
        loop {
            let result = self.connect().and_then(|c| pipeline.exec(c));
            match result {
                Ok(()) => {
                    if reported {
                        tracing::info!(retries = self.retries, "redis: {what}: written again");
                    }
                    return;
                }
                Err(e) if is_transient(&e) => {
                    self.connection = None;
                    self.retries += 1;
                    if !reported {
                        tracing::warn!(error = %e, "redis: {what} failed; retrying until Redis is back");
                        reported = true;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => {
                    self.refused(e, what, &origin);
                    return;
                }
            }
        }
    }

    /// Logs and counts a permanent refusal.
    fn refused(&mut self, error: RedisError, what: &str, origin: &impl Fn(usize) -> String) {
        let message = error.to_string();
        match error.into_server_errors() {
            Some(commands) if !commands.is_empty() => {
                // Each by its key, up to a few per pipeline: a store that refuses every
                // key (a wrong type everywhere) must not flood the log.
                for (index, server_error) in commands.iter().take(REFUSALS_LOGGED) {
                    tracing::error!(origin = %origin(*index), error = %server_error, "redis: {what}: refused for good (not retried)");
                }
                if commands.len() > REFUSALS_LOGGED {
                    tracing::error!(
                        more = commands.len() - REFUSALS_LOGGED,
                        "redis: {what}: more commands of this pipeline refused for good"
                    );
                }
                self.permanent.fetch_add(commands.len() as u64, Ordering::Relaxed);
            }
            _ => {
                // Not a command's error (e.g. a wrong password): the whole pipeline failed.
                self.connection = None;
                tracing::error!(error = %message, "redis: {what}: refused for good (not retried)");
                self.permanent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
