//! The two ends of the console's questions to the classifier processes of a deployment
//! (`segstream_redis::questions`): user lookups and dry runs.
//!
//! Contract: [`spawn_follower`] starts a thread in a classifier process that reads the
//! questions of one kind asked since it started and hands each to `answer` with a
//! connection of its own (Redis errors are reported once per outage and the read is
//! tried again a second later; a question whose handling failed is not retried).
//! [`ask_and_wait`] (the console) asks and reads the answers until `decide` says they
//! are complete, or the timeout passes (an error with `decide`'s account of what is
//! missing).

use std::time::{Duration, Instant};

pub use segstream_redis::questions::Fields;
use segstream_redis::questions::{answers, ask, last_question, questions_after};
use segstream_redis::Retrying;

/// How long the follower waits on the stream per read.
const FOLLOW_BLOCK: Duration = Duration::from_secs(1);
/// The pause after Redis failed, before the follower tries again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often the console looks for answers.
const ANSWER_POLL: Duration = Duration::from_millis(25);

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
                    if let Err(e) = answer(&mut redis, &question, &fields) {
                        eprintln!("{kind}: question {question}: {e}");
                    }
                }
                Ok::<(), String>(())
            })();
            match step {
                Ok(()) => reported = false,
                Err(e) => {
                    if !reported {
                        eprintln!("redis: following {kind}: {e}; trying again");
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
    let question = ask(redis, group, kind, fields)?;
    let deadline = Instant::now() + timeout;
    loop {
        match decide(&answers(redis, group, kind, &question)?)? {
            Answers::Complete(outcome) => return Ok(outcome),
            Answers::Missing(missing) if Instant::now() >= deadline => return Err(format!("{missing} within {timeout:?}")),
            Answers::Missing(_) => std::thread::sleep(ANSWER_POLL),
        }
    }
}
