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
    let waited = Instant::now();
    while !ok(try_take(&mut redis, slot, "standby", 60_000, false)) {
        assert!(waited.elapsed() < Duration::from_secs(10), "the lease never lapsed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(waited.elapsed() >= Duration::from_millis(150), "taken before it lapsed");
    assert_eq!(holder(&mut redis, slot).ok().flatten().as_deref(), Some("standby"));
    assert!(!ok(renew(&mut redis, slot, "primary", 300)), "the old holder has lost it");
    assert!(!ok(try_take(&mut redis, slot, "primary", 300, true)), "and cannot reclaim it");

    // A lease that lapses with no one taking it is its holder's again on renewal.
    let other = (group.as_str(), 1);
    assert!(ok(try_take(&mut redis, other, "primary", 50, true)));
    let lapsed = Instant::now();
    while ok(holder(&mut redis, other).map(|h| h.is_some())) {
        assert!(lapsed.elapsed() < Duration::from_secs(10), "the lease never lapsed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(ok(renew(&mut redis, other, "primary", 300)), "lapsed, not taken: kept");
}
