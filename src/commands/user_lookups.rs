//! User lookups in a distributed deployment: `segstream classify` answers them,
//! `segstream console` asks.
//!
//! Contract: [`spawn_responder`] follows the deployment's lookup questions
//! ([`super::questions`], kind [`KIND`]) in a classifier process and answers each from
//! this process's workers ([`UserLookups`]) with a [`ProcessAnswer`]: how many workers
//! answered, the report of the one holding the user if any, or why they could not.
//! [`lookup`] (the console) asks, and waits until a process holds the user (its report
//! wins over other processes' failures), until answers cover all the deployment's
//! workers (then nobody holds the user), or until the timeout (an error naming how many
//! answered and why others could not).

use std::sync::Arc;
use std::time::Duration;

use segstream_dataflows::user_lookup::UserLookups;
use segstream_model::user_report::UserReport;
use segstream_redis::questions::answer;
use segstream_redis::Retrying;
use serde::{Deserialize, Serialize};

use super::questions::{ask_and_wait, covered, missing, parts, spawn_follower, Answers};

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
        let parts: Vec<(usize, ProcessAnswer)> = parts(answers)?;
        // The holder's report wins over any other process's failure.
        if let Some(report) = parts.iter().find_map(|(_, part)| part.report.clone()) {
            return Ok(Answers::Complete(Some(report)));
        }
        let answered = parts.iter().filter(|(_, p)| p.error.is_none()).map(|(_, p)| p.workers).sum();
        if covered(answered, workers) {
            return Ok(Answers::Complete(None));
        }
        let failures: Vec<String> = parts
            .iter()
            .filter_map(|(process, p)| p.error.as_ref().map(|e| format!("; process {process}: {e}")))
            .collect();
        Ok(Answers::Missing(format!(
            "{}{}",
            missing(answered, workers, "the lookup"),
            failures.concat()
        )))
    })
}
