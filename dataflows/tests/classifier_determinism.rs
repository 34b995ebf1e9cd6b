//! The classifier against the oracle: for random inputs within the out-of-order bound,
//! the timely dataflow's change stream equals the brute-force oracle's exactly, for any
//! arrival permutation, duplication, batching, partitioning and worker count (1, 2, 4);
//! with late events (some behind the dedup horizon), it equals the oracle's late-event
//! rule — each judged by its own partition's watermark — for any batching and worker
//! count.

mod classifier_common;

use classifier_common::cases::*;
use classifier_common::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use segstream_dataflows::classifier::metrics::ClassifierMetrics;

fn equals_the_oracle_on_every_worker_count(case: &Case, budget: usize) -> Result<(), TestCaseError> {
    let expected = oracle(&case.scenario);
    let partitions = partitioned(&case.arrivals);
    for workers in [1, 2, 4] {
        let actual = run_dataflow(&case.scenario, partitions.clone(), workers, budget).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&actual, &expected, "workers {}", workers);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_dataflow_equals_the_oracle_for_any_arrival_and_worker_count(case in case(false), budget in 1usize..20) {
        equals_the_oracle_on_every_worker_count(&case, budget)?;
    }

    #[test]
    fn late_events_apply_at_their_partitions_watermark_for_any_worker_count(case in case(true), budget in 1usize..20) {
        equals_the_oracle_on_every_worker_count(&case, budget)?;
    }
}

/// The metrics of running `cases` cases drawn deterministically from `strategy`, summed.
fn summed_metrics(strategy: impl Strategy<Value = Case>, cases: usize) -> ClassifierMetrics {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let total = ClassifierMetrics::default();
    for _ in 0..cases {
        let case = strategy
            .new_tree(&mut runner)
            .map(|tree| tree.current())
            .unwrap_or_else(|e| panic!("{e}"));
        let shared = shared(schema(), case.scenario.config, 7);
        let metrics = std::sync::Arc::clone(&shared.metrics);
        run_dataflow_with(shared, &case.scenario, partitioned(&case.arrivals), 2).unwrap_or_else(|e| panic!("{e}"));
        for (sum, one) in [
            (&total.late, &metrics.late),
            (&total.sidelined, &metrics.sidelined),
            (&total.evictions, &metrics.evictions),
        ] {
            ClassifierMetrics::add(sum, ClassifierMetrics::get(one));
        }
    }
    total
}

/// The late cases exercise what they claim: over a fixed run of cases, events are
/// late and some are sidelined.
#[test]
fn the_late_cases_hold_late_and_sidelined_events() {
    let total = summed_metrics(case(true), 32);
    let (late, sidelined) = (ClassifierMetrics::get(&total.late), ClassifierMetrics::get(&total.sidelined));
    assert!(late >= 20 && sidelined >= 3, "late {late}, sidelined {sidelined}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Eviction loses nothing a rule without unwindowed features can see: the change
    /// stream, sticky and exclusive memberships included, still equals the oracle's,
    /// which never forgets a user.
    #[test]
    fn evicting_idle_users_changes_nothing_rules_without_unwindowed_features_see(case in case_with_eviction(), budget in 1usize..20) {
        equals_the_oracle_on_every_worker_count(&case, budget)?;
    }
}

#[test]
fn the_eviction_cases_evict() {
    let evicted = ClassifierMetrics::get(&summed_metrics(case_with_eviction(), 16).evictions);
    assert!(evicted >= 20, "evicted {evicted}");
}
