//! User lookups in a distributed deployment: `segstream classify` answers them,
//! `segstream console` asks.
//!
//! Contract: [`spawn_responder`] starts a thread in a classifier process that follows
//! the deployment's lookup questions ([`segstream_redis::user_lookups`]) and answers
//! each from this process's workers ([`UserLookups`]) with a [`ProcessAnswer`]: how
//! many workers answered, the report of the one holding the user if any, or why they
//! could not. [`lookup`] (the console) asks, and waits until a process holds the user,
//! until answers cover all the deployment's workers (then nobody holds the user), or
//! until the timeout (an error naming how many answered).

use std::sync::Arc;
use std::time::{Duration, Instant};

use segstream_dataflows::user_lookup::UserLookups;
use segstream_model::user_report::UserReport;
use segstream_redis::user_lookups::{answer, answers, ask, last_question, questions_after};
use segstream_redis::Retrying;
use serde::{Deserialize, Serialize};

/// How long the responder waits on the stream per read.
const FOLLOW_BLOCK: Duration = Duration::from_secs(1);
/// How long this process's workers get to answer.
const WORKERS_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the console looks for answers.
const ANSWER_POLL: Duration = Duration::from_millis(25);
/// The pause after Redis failed, before the responder tries again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

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

/// Follows and answers questions until the process ends (see the module contract).
pub fn spawn_responder(url: &str, group: &str, process: usize, lookups: Arc<UserLookups>) -> Result<(), String> {
    let mut redis = Retrying::new(url)?;
    let group = group.to_string();
    let follow = move || {
        let mut reported = false;
        let mut cursor: Option<String> = None;
        loop {
            let step = answer_next(&mut redis, &group, process, &lookups, &mut cursor);
            match step {
                Ok(()) => reported = false,
                Err(e) => {
                    if !reported {
                        eprintln!("redis: user lookups: {e}; trying again");
                        reported = true;
                    }
                    std::thread::sleep(RETRY_AFTER);
                }
            }
        }
    };
    std::thread::Builder::new()
        .name("user-lookups".into())
        .spawn(follow)
        .map(|_| ())
        .map_err(|e| format!("starting the user lookup responder: {e}"))
}

/// Reads the next questions (from the newest at start) and answers them.
fn answer_next(
    redis: &mut Retrying,
    group: &str,
    process: usize,
    lookups: &UserLookups,
    cursor: &mut Option<String>,
) -> Result<(), String> {
    let after = match cursor.as_ref() {
        Some(after) => after.clone(),
        None => cursor.insert(last_question(redis, group)?).clone(),
    };
    for (question, user) in questions_after(redis, group, &after, FOLLOW_BLOCK)? {
        let local = lookups.ask(&user, WORKERS_TIMEOUT);
        let reply = ProcessAnswer {
            workers: lookups.workers() as u64,
            error: local.as_ref().err().cloned(),
            report: local.ok().flatten(),
        };
        let text = serde_json::to_string(&reply).map_err(|e| format!("encoding an answer: {e}"))?;
        answer(redis, group, &question, process, &text)?;
        *cursor = Some(question);
    }
    Ok(())
}

/// Asks the deployment's `workers` workers about `user` (see the module contract).
pub fn lookup(
    redis: &mut Retrying,
    group: &str,
    user: &str,
    workers: Option<u64>,
    timeout: Duration,
) -> Result<Option<UserReport>, String> {
    let question = ask(redis, group, user)?;
    let deadline = Instant::now() + timeout;
    loop {
        let mut answered = 0;
        for (process, text) in answers(redis, group, &question)? {
            let reply: ProcessAnswer =
                serde_json::from_str(&text).map_err(|e| format!("classifier process {process} answered something unreadable: {e}"))?;
            if let Some(report) = reply.report {
                return Ok(Some(report));
            }
            if let Some(error) = reply.error {
                return Err(format!("classifier process {process}: {error}"));
            }
            answered += reply.workers;
        }
        if workers.is_some_and(|all| answered >= all) {
            return Ok(None);
        }
        if Instant::now() >= deadline {
            let all = workers.map_or_else(|| "an unknown number of".to_string(), |w| w.to_string());
            return Err(format!("{answered} of {all} classifier workers answered within {timeout:?}"));
        }
        std::thread::sleep(ANSWER_POLL);
    }
}
