//! The two ends of the console's questions to the classifier processes of a deployment
//! (`segstream_redis::questions`): user lookups and dry runs.
//!
//! Contract: [`spawn_follower`] starts a thread in a classifier process that reads the
//! questions of one kind asked since it started and hands each to `answer` with a
//! connection of its own (Redis errors are reported once per outage and the read is
//! tried again a second later; a question whose handling failed is not retried). A
//! question carries the instant its asker gives up (`deadline_ms`, wall clock); one
//! read after it is skipped, so a backlog never does dead work. [`ask_and_wait`] (the
//! console) asks and reads the answers until `decide` says they are complete, or the
//! timeout passes (an error with `decide`'s account of what is missing). Answers are
//! parts, one per process (fields named by process index): [`parts`] decodes them.

use std::time::{Duration, Instant};

use segstream_time::wall_clock_ms;
use serde::de::DeserializeOwned;

pub use segstream_redis::questions::Fields;
use segstream_redis::questions::{answers, ask, last_question, questions_after};
use segstream_redis::Retrying;

/// How long the follower waits on the stream per read.
const FOLLOW_BLOCK: Duration = Duration::from_secs(1);
/// The pause after Redis failed, before the follower tries again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often the console looks for answers.
const ANSWER_POLL: Duration = Duration::from_millis(25);

/// The field naming when the asker gives up.
const DEADLINE_FIELD: &str = "deadline_ms";

/// Every process's part of the answers (fields named by a process index; others, such
/// as a dry run's `time`, are not parts).
pub fn parts<P: DeserializeOwned>(answers: &Fields) -> Result<Vec<(usize, P)>, String> {
    answers
        .iter()
        .filter_map(|(field, text)| Some((field.parse::<usize>().ok()?, text)))
        .map(|(process, text)| {
            serde_json::from_str(text)
                .map(|part| (process, part))
                .map_err(|e| format!("classifier process {process} answered something unreadable: {e}"))
        })
        .collect()
}

/// Whether parts from `answered` workers cover all `workers` of the deployment (never,
/// when that number is unknown).
pub fn covered(answered: u64, workers: Option<u64>) -> bool {
    workers.is_some_and(|all| answered >= all)
}

/// What is missing, for a timeout's message.
pub fn missing(answered: u64, workers: Option<u64>, what: &str) -> String {
    let all = workers.map_or_else(|| "an unknown number of".to_string(), |w| w.to_string());
    format!("{answered} of {all} classifier workers answered {what}")
}

/// Where a question's answers stand.
pub enum Answers<T> {
    /// Complete: the outcome.
    Complete(T),
    /// Not yet: what is missing, for the timeout's message.
    Missing(String),
}

/// Follows the questions of `kind` until the process ends (see the module contract).
pub fn spawn_follower<F>(url: &str, group: &str, kind: &'static str, mut answer: F) -> Result<(), String>
where
    F: FnMut(&mut Retrying, &str, &Fields) -> Result<(), String> + Send + 'static,
{
    let mut redis = Retrying::new(url)?;
    let group = group.to_string();
    let follow = move || {
        let mut reported = false;
        let mut cursor: Option<String> = None;
        loop {
            let step = (|| {
                let after = match cursor.as_ref() {
                    Some(after) => after.clone(),
                    None => cursor.insert(last_question(&mut redis, &group, kind)?).clone(),
                };
                for (question, fields) in questions_after(&mut redis, &group, kind, &after, FOLLOW_BLOCK)? {
                    cursor = Some(question.clone());
                    let deadline = fields.get(DEADLINE_FIELD).and_then(|d| d.parse::<u64>().ok());
                    if deadline.is_some_and(|d| d < wall_clock_ms()) {
                        continue;
                    }
                    if let Err(e) = answer(&mut redis, &question, &fields) {
                        tracing::warn!(question = %question, error = %e, "{kind}: answering a question failed");
                    }
                }
                Ok::<(), String>(())
            })();
            match step {
                Ok(()) => reported = false,
                Err(e) => {
                    if !reported {
                        tracing::warn!(error = %e, "redis: following {kind} failed; trying again");
                        reported = true;
                    }
                    std::thread::sleep(RETRY_AFTER);
                }
            }
        }
    };
    std::thread::Builder::new()
        .name(kind.into())
        .spawn(follow)
        .map(|_| ())
        .map_err(|e| format!("starting the {kind} follower: {e}"))
}

/// Asks a question of `kind` and waits for `decide` to call its answers complete.
pub fn ask_and_wait<T>(
    redis: &mut Retrying,
    (group, kind): (&str, &str),
    fields: &[(&str, &str)],
    timeout: Duration,
    mut decide: impl FnMut(&Fields) -> Result<Answers<T>, String>,
) -> Result<T, String> {
    let deadline_ms = (wall_clock_ms() + timeout.as_millis() as u64).to_string();
    let mut with_deadline = fields.to_vec();
    with_deadline.push((DEADLINE_FIELD, &deadline_ms));
    let question = ask(redis, group, kind, &with_deadline)?;
    let deadline = Instant::now() + timeout;
    loop {
        match decide(&answers(redis, group, kind, &question)?)? {
            Answers::Complete(outcome) => return Ok(outcome),
            Answers::Missing(missing) if Instant::now() >= deadline => return Err(format!("{missing} within {timeout:?}")),
            Answers::Missing(_) => std::thread::sleep(ANSWER_POLL),
        }
    }
}
