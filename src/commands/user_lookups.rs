//! User lookups in a distributed deployment: `segstream classify` answers them,
//! `segstream console` asks.
//!
//! Contract: [`spawn_responder`] follows the deployment's lookup questions
//! ([`super::questions`], kind [`KIND`]) in a classifier process and answers each from
//! this process's workers ([`UserLookups`]) with a [`ProcessAnswer`]: how many workers
//! answered, the report of the one holding the user if any, or why they could not.
//! [`lookup`] (the console) asks, and waits until a process holds the user, until
//! answers cover all the deployment's workers (then nobody holds the user), or until
//! the timeout (an error naming how many answered).

use std::sync::Arc;
use std::time::Duration;

use segstream_dataflows::user_lookup::UserLookups;
use segstream_model::user_report::UserReport;
use segstream_redis::questions::answer;
use segstream_redis::Retrying;
use serde::{Deserialize, Serialize};

use super::questions::{ask_and_wait, spawn_follower, Answers};

/// The kind of question.
const KIND: &str = "lookups";
/// How long this process's workers get to answer.
const WORKERS_TIMEOUT: Duration = Duration::from_secs(3);

/// One process's answer to a question.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProcessAnswer {
    /// The workers of the process that answered.
    pub workers: u64,
    /// The report of the worker holding the user, if one of them does.
    pub report: Option<UserReport>,
    /// Why the workers could not answer.
    pub error: Option<String>,
}

/// Answers lookups from this process's workers until it ends (see the module contract).
pub fn spawn_responder(url: &str, group: &str, process: usize, lookups: Arc<UserLookups>) -> Result<(), String> {
    let owned_group = group.to_string();
    spawn_follower(url, group, KIND, move |redis, question, fields| {
        let local = lookups.ask(fields.get("user").map_or("", String::as_str), WORKERS_TIMEOUT);
        let reply = ProcessAnswer {
            workers: lookups.workers() as u64,
            error: local.as_ref().err().cloned(),
            report: local.ok().flatten(),
        };
        let text = serde_json::to_string(&reply).map_err(|e| format!("encoding an answer: {e}"))?;
        answer(redis, &owned_group, KIND, question, &process.to_string(), &text)
    })
}

/// Asks the deployment's `workers` workers about `user` (see the module contract).
pub fn lookup(
    redis: &mut Retrying,
    group: &str,
    user: &str,
    workers: Option<u64>,
    timeout: Duration,
) -> Result<Option<UserReport>, String> {
    ask_and_wait(redis, (group, KIND), &[("user", user)], timeout, |answers| {
        let mut answered = 0;
        for (process, text) in answers {
            let reply: ProcessAnswer =
                serde_json::from_str(text).map_err(|e| format!("classifier process {process} answered something unreadable: {e}"))?;
            if let Some(report) = reply.report {
                return Ok(Answers::Complete(Some(report)));
            }
            if let Some(error) = reply.error {
                return Err(format!("classifier process {process}: {error}"));
            }
            answered += reply.workers;
        }
        if workers.is_some_and(|all| answered >= all) {
            return Ok(Answers::Complete(None));
        }
        let all = workers.map_or_else(|| "an unknown number of".to_string(), |w| w.to_string());
        Ok(Answers::Missing(format!("{answered} of {all} classifier workers answered")))
    })
}
