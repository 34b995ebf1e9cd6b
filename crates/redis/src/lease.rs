//! Which process runs each classifier process slot of a deployment: a lease in Redis.
//!
//! Contract: the key `segstream:{group}:classifier-lease:{process}` holds the name of
//! the process that runs slot `process`, with a time to live. [`try_take`] sets it to
//! `owner` when no one holds it, or (`reclaim`) when it already names `owner` — a
//! process restarted under its own name takes its slot back at once — and says whether
//! `owner` holds it now. [`renew`] extends it while it names `owner`, takes it again if
//! it has lapsed with no one else taking it, and says whether `owner` still holds it: a
//! `false` means another process (a standby) has taken the slot, and the caller must
//! stop. [`holder`] reads who holds it. Each is one atomic script on the server, so two
//! processes never both hold a slot. Calls are tried once; the caller retries.

use crate::Retrying;

/// Takes the lease when free or (ARGV[3] = 1) when it already names the owner.
const TAKE: &str = r"
local holder = redis.call('get', KEYS[1])
if holder == false or (ARGV[3] == '1' and holder == ARGV[1]) then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0";

/// Extends the lease while it names the owner, or takes it again once lapsed.
const RENEW: &str = r"
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then
  redis.call('pexpire', KEYS[1], ARGV[2])
  return 1
end
if holder == false then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0";

/// The key of a deployment's (consumer group's) process slot.
pub fn key(group: &str, process: usize) -> String {
    format!("segstream:{group}:classifier-lease:{process}")
}

fn eval(redis: &mut Retrying, script: &str, key: &str, args: (&str, u64, bool)) -> Result<bool, String> {
    let mut pipeline = redis::pipe();
    pipeline
        .cmd("EVAL")
        .arg(script)
        .arg(1)
        .arg(key)
        .arg(args.0)
        .arg(args.1)
        .arg(u8::from(args.2));
    let (held,): (i64,) = redis.query(&pipeline)?;
    Ok(held == 1)
}

/// Takes slot `process` for `owner` for `ttl_ms` if free (or, `reclaim`, if `owner`
/// holds it); whether `owner` holds it now.
pub fn try_take(redis: &mut Retrying, (group, process): (&str, usize), owner: &str, ttl_ms: u64, reclaim: bool) -> Result<bool, String> {
    eval(redis, TAKE, &key(group, process), (owner, ttl_ms, reclaim))
}

/// Extends `owner`'s lease on slot `process` by `ttl_ms` (see the module contract);
/// whether `owner` still holds it.
pub fn renew(redis: &mut Retrying, (group, process): (&str, usize), owner: &str, ttl_ms: u64) -> Result<bool, String> {
    eval(redis, RENEW, &key(group, process), (owner, ttl_ms, false))
}

/// Who holds slot `process`, if anyone.
pub fn holder(redis: &mut Retrying, (group, process): (&str, usize)) -> Result<Option<String>, String> {
    let mut pipeline = redis::pipe();
    pipeline.get(key(group, process));
    let (holder,): (Option<String>,) = redis.query(&pipeline)?;
    Ok(holder)
}
