//! Questions from the console to every classifier process of a deployment, and their
//! answers: user lookups and dry runs.
//!
//! Contract: a question of kind `kind` (`lookups`, `dry-runs`) is an entry of the
//! stream `segstream:{group}:{kind}` (capped near [`KEPT_QUESTIONS`] entries) with
//! string fields; [`ask`] returns its entry id, which names it. Every classifier process
//! reads the stream from the entry that was last when it started ([`last_question`],
//! then [`questions_after`]) and writes its answer with [`answer`] into the hash
//! `segstream:{group}:{kind}:{question}` (field: the process index, or another name the
//! kind agrees on; value: encoded by the caller), which expires after
//! [`ANSWER_TTL_SECONDS`]. The console reads the hash back ([`answers`]) until it has
//! what it needs. Fields and values are opaque here.

use std::collections::HashMap;
use std::time::Duration;

use crate::Retrying;

/// A question's fields, or its answers, by name.
pub type Fields = HashMap<String, String>;

/// Questions the stream keeps (roughly: trimming is approximate).
pub const KEPT_QUESTIONS: usize = 1_000;
/// How long answers are kept.
pub const ANSWER_TTL_SECONDS: i64 = 60;
/// Questions read at once.
const READ_AT_MOST: usize = 64;

/// The stream of questions of kind `kind` of a deployment (its consumer group).
pub fn stream_key(group: &str, kind: &str) -> String {
    format!("segstream:{group}:{kind}")
}

/// The hash of one question's answers.
pub fn answers_key(group: &str, kind: &str, question: &str) -> String {
    format!("segstream:{group}:{kind}:{question}")
}

/// Asks a question with `fields`; the question's id.
pub fn ask(redis: &mut Retrying, group: &str, kind: &str, fields: &[(&str, &str)]) -> Result<String, String> {
    let mut pipeline = redis::pipe();
    pipeline
        .cmd("XADD")
        .arg(stream_key(group, kind))
        .arg("MAXLEN")
        .arg("~")
        .arg(KEPT_QUESTIONS)
        .arg("*");
    for (name, value) in fields {
        pipeline.arg(*name).arg(*value);
    }
    let (id,): (String,) = redis.query(&pipeline)?;
    Ok(id)
}

/// The id of the newest question (`0-0` when there is none), to read after.
pub fn last_question(redis: &mut Retrying, group: &str, kind: &str) -> Result<String, String> {
    let mut pipeline = redis::pipe();
    pipeline
        .cmd("XREVRANGE")
        .arg(stream_key(group, kind))
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1);
    let (newest,): (Vec<(String, Vec<String>)>,) = redis.query(&pipeline)?;
    Ok(newest.into_iter().next().map_or_else(|| "0-0".to_string(), |(id, _)| id))
}

/// Questions after `after`, as `(id, fields)`, waiting up to `block` for one.
pub fn questions_after(
    redis: &mut Retrying,
    group: &str,
    kind: &str,
    after: &str,
    block: Duration,
) -> Result<Vec<(String, Fields)>, String> {
    let mut pipeline = redis::pipe();
    pipeline
        .cmd("XREAD")
        .arg("COUNT")
        .arg(READ_AT_MOST)
        .arg("BLOCK")
        .arg(block.as_millis() as u64)
        .arg("STREAMS")
        .arg(stream_key(group, kind))
        .arg(after);
    type Reply = Option<Vec<(String, Vec<(String, Vec<String>)>)>>;
    let (reply,): (Reply,) = redis.query(&pipeline)?;
    let entries = reply.into_iter().flatten().flat_map(|(_, entries)| entries);
    Ok(entries
        .map(|(id, fields)| {
            let fields = fields
                .chunks(2)
                .filter_map(|f| Some((f.first()?.clone(), f.get(1)?.clone())))
                .collect();
            (id, fields)
        })
        .collect())
}

/// Writes the answer field `field` of `question`.
pub fn answer(redis: &mut Retrying, group: &str, kind: &str, question: &str, field: &str, value: &str) -> Result<(), String> {
    let key = answers_key(group, kind, question);
    let mut pipeline = redis::pipe();
    pipeline.hset(&key, field, value).ignore().expire(&key, ANSWER_TTL_SECONDS).ignore();
    redis.query::<()>(&pipeline)
}

/// The answers to `question` so far, by field.
pub fn answers(redis: &mut Retrying, group: &str, kind: &str, question: &str) -> Result<Fields, String> {
    let mut pipeline = redis::pipe();
    pipeline.hgetall(answers_key(group, kind, question));
    let (answers,): (Fields,) = redis.query(&pipeline)?;
    Ok(answers)
}
