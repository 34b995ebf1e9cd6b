//! User lookups across the processes of a deployment, for the console.
//!
//! Contract: the console [`ask`]s by appending the user id to the stream
//! `segstream:{group}:lookups` (capped near [`KEPT_QUESTIONS`] entries); the entry id
//! it gets back names the question. Every classifier process reads the stream from the
//! entry that was last when it started ([`last_question`], then [`questions_after`]),
//! answers each question through its own workers and writes the answer with
//! [`answer`] into the hash `segstream:{group}:lookup:{question}` (field: the process
//! index; value: the answer, encoded by the caller), which expires after
//! [`ANSWER_TTL_SECONDS`]. The console reads the hash back ([`answers`]) until one
//! process holds the user or all have answered. The values are opaque here.

use std::collections::HashMap;
use std::time::Duration;

use crate::Retrying;

/// Questions the stream keeps (roughly: trimming is approximate).
pub const KEPT_QUESTIONS: usize = 1_000;
/// How long an answer is kept.
pub const ANSWER_TTL_SECONDS: i64 = 60;
/// Questions read at once.
const READ_AT_MOST: usize = 64;

/// The stream of questions of a deployment (its consumer group).
pub fn stream_key(group: &str) -> String {
    format!("segstream:{group}:lookups")
}

/// The hash of one question's answers.
pub fn answers_key(group: &str, question: &str) -> String {
    format!("segstream:{group}:lookup:{question}")
}

/// Asks about `user`; the question's id.
pub fn ask(redis: &mut Retrying, group: &str, user: &str) -> Result<String, String> {
    let mut pipeline = redis::pipe();
    pipeline
        .cmd("XADD")
        .arg(stream_key(group))
        .arg("MAXLEN")
        .arg("~")
        .arg(KEPT_QUESTIONS)
        .arg("*")
        .arg("user")
        .arg(user);
    let (id,): (String,) = redis.query(&pipeline)?;
    Ok(id)
}

/// The id of the newest question (`0-0` when there is none), to read after.
pub fn last_question(redis: &mut Retrying, group: &str) -> Result<String, String> {
    let mut pipeline = redis::pipe();
    pipeline
        .cmd("XREVRANGE")
        .arg(stream_key(group))
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1);
    let (newest,): (Vec<(String, Vec<String>)>,) = redis.query(&pipeline)?;
    Ok(newest.into_iter().next().map_or_else(|| "0-0".to_string(), |(id, _)| id))
}

/// Questions after `after`, as `(id, user)`, waiting up to `block` for one.
pub fn questions_after(redis: &mut Retrying, group: &str, after: &str, block: Duration) -> Result<Vec<(String, String)>, String> {
    let mut pipeline = redis::pipe();
    pipeline
        .cmd("XREAD")
        .arg("COUNT")
        .arg(READ_AT_MOST)
        .arg("BLOCK")
        .arg(block.as_millis() as u64)
        .arg("STREAMS")
        .arg(stream_key(group))
        .arg(after);
    type Reply = Option<Vec<(String, Vec<(String, Vec<String>)>)>>;
    let (reply,): (Reply,) = redis.query(&pipeline)?;
    let entries = reply.into_iter().flatten().flat_map(|(_, entries)| entries);
    Ok(entries
        .map(|(id, fields)| {
            let user = fields.chunks(2).find(|f| f[0] == "user").and_then(|f| f.get(1).cloned());
            (id, user.unwrap_or_default())
        })
        .collect())
}

/// Writes process `process`'s answer to `question`.
pub fn answer(redis: &mut Retrying, group: &str, question: &str, process: usize, value: &str) -> Result<(), String> {
    let key = answers_key(group, question);
    let mut pipeline = redis::pipe();
    pipeline
        .hset(&key, process, value)
        .ignore()
        .expire(&key, ANSWER_TTL_SECONDS)
        .ignore();
    redis.query::<()>(&pipeline)
}

/// The answers to `question` so far, by process.
pub fn answers(redis: &mut Retrying, group: &str, question: &str) -> Result<HashMap<usize, String>, String> {
    let mut pipeline = redis::pipe();
    pipeline.hgetall(answers_key(group, question));
    let (answers,): (HashMap<usize, String>,) = redis.query(&pipeline)?;
    Ok(answers)
}
