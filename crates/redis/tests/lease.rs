//! Against the real Redis (scripts/test starts it; the test fails without it): a process
//! slot's lease is held by one process at a time, reclaimed by its own holder, taken by
//! another only once lapsed, and its old holder then learns it has lost it.

use std::time::{Duration, Instant};

use segstream_redis::lease::{holder, renew, try_take};
use segstream_redis::Retrying;

const REDIS_URL: &str = "redis://127.0.0.1:6379/";

fn redis() -> Retrying {
    let mut redis = Retrying::new(REDIS_URL).unwrap_or_else(|e| panic!("{e}"));
    if let Err(e) = holder(&mut redis, ("probe", 0)) {
        panic!("no Redis at {REDIS_URL} ({e}): run scripts/services start (scripts/test does)");
    }
    redis
}

/// Polls `check` until it holds (the poll interval is the only pause); how long it took.
fn poll_until(what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

#[test]
fn one_holder_at_a_time_and_a_lapsed_lease_changes_hands() {
    let mut redis = redis();
    let group = format!("lease-{}", std::process::id());
    let slot = (group.as_str(), 0);
    let ok = |result: Result<bool, String>| result.unwrap_or_else(|e| panic!("{e}"));
    assert!(ok(try_take(&mut redis, slot, "primary", 60_000, true)), "free: taken");
    assert!(!ok(try_take(&mut redis, slot, "standby", 300, false)), "held: refused");
    assert!(
        ok(try_take(&mut redis, slot, "primary", 300, true)),
        "its holder restarted: reclaimed"
    );
    assert!(!ok(try_take(&mut redis, slot, "primary", 300, false)), "no reclaim asked");
    assert!(ok(renew(&mut redis, slot, "primary", 300)));
    assert!(!ok(renew(&mut redis, slot, "standby", 300)), "a standby renews nothing");

    // The holder stops renewing: once its lease lapses, the standby takes the slot.
    let waited = poll_until("the lease never lapsed", || {
        ok(try_take(&mut redis, slot, "standby", 60_000, false))
    });
    assert!(waited >= Duration::from_millis(150), "taken before it lapsed");
    assert_eq!(holder(&mut redis, slot).ok().flatten().as_deref(), Some("standby"));
    assert!(!ok(renew(&mut redis, slot, "primary", 300)), "the old holder has lost it");
    assert!(!ok(try_take(&mut redis, slot, "primary", 300, true)), "and cannot reclaim it");

    // A lease that lapses with no one taking it is its holder's again on renewal.
    let other = (group.as_str(), 1);
    assert!(ok(try_take(&mut redis, other, "primary", 50, true)));
    poll_until("the lease never lapsed", || ok(holder(&mut redis, other).map(|h| h.is_none())));
    assert!(ok(renew(&mut redis, other, "primary", 300)), "lapsed, not taken: kept");
}
