//! The collector's per-write-key rate limit against `governor`, the well-kept crate that
//! would replace it: the time to judge one request.
//!
//! - `segstream`: what the collector does per request: [`RateLimits::before_reading`]
//!   (a peek before the body is read) and [`RateLimits::take`] of its 100 events, with
//!   `Instant::now()` read for each, as the handler does.
//! - `governor_keyed`: governor's keyed limiter (`DashMap` store, quanta clock)
//!   `check_key_n` of 100 cells, the nearest it has: it cannot peek without taking, so it
//!   cannot refuse a request before its body is read without charging for it.
//!
//! Each runs with one key and with 10,000 keys visited in turn, all admitted (the
//! common case; a refusal does the same work).
//!
//! Run: `cargo bench -p segstream-collector --bench rate_limit`.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use governor::{Quota, RateLimiter};
use segstream_collector::rate_limit::{RateLimits, Verdict};

/// Events per request.
const BATCH: u64 = 100;
/// A rate no loop here exceeds (governor's largest: its quotas are `u32` per second).
const RATE: u64 = u32::MAX as u64;

fn keys(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("write-key-{i:06}").into_bytes()).collect()
}

fn rate_limit_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limit");
    group.throughput(Throughput::Elements(1));
    for key_count in [1, 10_000] {
        let keys = keys(key_count);
        let ours = RateLimits::new(RATE, RATE);
        let mut turn = 0;
        group.bench_function(format!("segstream/{key_count}_keys"), |b| {
            b.iter(|| {
                turn = (turn + 1) % keys.len();
                let key = &keys[turn];
                let before = ours.before_reading(key, Instant::now());
                let taken = ours.take(key, BATCH, Instant::now());
                assert!(before == Verdict::Admitted && taken == Verdict::Admitted);
                black_box(taken)
            })
        });
        let quota = Quota::per_second(NonZeroU32::new(RATE as u32).unwrap_or(NonZeroU32::MIN));
        let theirs = RateLimiter::keyed(quota);
        let cells = NonZeroU32::new(BATCH as u32).unwrap_or(NonZeroU32::MIN);
        let mut turn = 0;
        group.bench_function(format!("governor_keyed/{key_count}_keys"), |b| {
            b.iter(|| {
                turn = (turn + 1) % keys.len();
                let verdict = theirs.check_key_n(&keys[turn], cells);
                assert!(matches!(verdict, Ok(Ok(()))));
                black_box(verdict.is_ok())
            })
        });
    }
    group.finish();
}

criterion_group!(rate_limit_group, rate_limit_bench);
criterion_main!(rate_limit_group);
