//! Questions about one user, asked from outside the dataflow and answered by the
//! worker that holds the user.
//!
//! Contract: each worker's classify operator in this process [`UserLookups::register`]s
//! with its index and a thread-safe activator; a desk made [`UserLookups::expecting`]
//! `n` workers answers only once `n` have registered (before that, a worker not yet
//! registered could be the one holding the user). [`UserLookups::ask`] posts a user id to
//! every registered worker, wakes their operators and blocks until each has answered or
//! the timeout passes (an error then: a worker is stopped or stalled). A worker
//! answers between steps, from its engine at the last tick it processed
//! ([`UserLookups::answer`]); the answer is the report of the worker that holds the user
//! (`None` if none of this process's workers does; in a cluster each process asks its
//! own, [`UserLookups::workers`] of them). A lookup never enters the dataflow or event time: it costs
//! each worker one atomic load per activation while nothing is asked, and one hash
//! lookup per question. Pure shared memory, no I/O.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use segstream_dataflows::user_lookup::UserLookups;
//! let lookups = Arc::new(UserLookups::default());
//! lookups.register(0, None);
//! let worker = Arc::clone(&lookups);
//! let answering = std::thread::spawn(move || {
//!     let mut seen = 0;
//!     while seen == 0 {
//!         seen = worker.answer(0, seen, |user| None);
//!     }
//! });
//! assert_eq!(lookups.ask("ann", Duration::from_secs(10)), Ok(None));
//! answering.join().unwrap();
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use segstream_model::user_report::UserReport;
use timely::scheduling::SyncActivator;

/// The lookups of one classifier (see the module contract).
#[derive(Default)]
pub struct UserLookups {
    desk: Mutex<Desk>,
    answered: Condvar,
    /// The number of the latest question (0: none yet).
    latest: AtomicU64,
}

#[derive(Default)]
struct Desk {
    /// How many workers must register before questions are answered.
    expected: usize,
    /// The registered workers, with what wakes each.
    workers: BTreeMap<usize, Option<SyncActivator>>,
    open: BTreeMap<u64, Question>,
}

struct Question {
    user: String,
    /// The workers yet to answer.
    waiting: BTreeSet<usize>,
    report: Option<UserReport>,
}

impl UserLookups {
    /// A desk for a process of `workers` workers.
    pub fn expecting(workers: usize) -> UserLookups {
        let lookups = UserLookups::default();
        if let Ok(mut desk) = lookups.desk.lock() {
            desk.expected = workers;
        }
        lookups
    }

    /// Worker `worker` answers lookups; `activator` wakes its operator.
    pub fn register(&self, worker: usize, activator: Option<SyncActivator>) {
        if let Ok(mut desk) = self.desk.lock() {
            desk.workers.insert(worker, activator);
        }
    }

    /// How many workers answer here.
    pub fn workers(&self) -> usize {
        self.desk.lock().map_or(0, |desk| desk.workers.len())
    }

    /// The report of the worker holding `user`, or `None` if no worker does.
    pub fn ask(&self, user: &str, timeout: Duration) -> Result<Option<UserReport>, String> {
        let deadline = Instant::now() + timeout;
        let mut desk = self.desk.lock().map_err(|_| "the lookup desk failed".to_string())?;
        if desk.workers.is_empty() || desk.workers.len() < desk.expected {
            return Err(format!(
                "the classifier is not running yet ({} of {} workers ready)",
                desk.workers.len(),
                desk.expected.max(1)
            ));
        }
        let number = self.latest.fetch_add(1, Ordering::SeqCst) + 1;
        let question = Question {
            user: user.to_string(),
            waiting: desk.workers.keys().copied().collect(),
            report: None,
        };
        desk.open.insert(number, question);
        for activator in desk.workers.values().flatten() {
            // A stopped worker cannot be woken; the deadline reports it.
            let _ = activator.activate();
        }
        loop {
            let done = desk.open.get(&number).is_none_or(|q| q.waiting.is_empty());
            if done {
                return Ok(desk.open.remove(&number).and_then(|q| q.report));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let missing = desk.open.remove(&number).map_or(0, |q| q.waiting.len());
                return Err(format!("{missing} classifier worker(s) did not answer within {timeout:?}"));
            }
            desk = self
                .answered
                .wait_timeout(desk, left)
                .map_err(|_| "the lookup desk failed".to_string())?
                .0;
        }
    }

    /// Worker `worker` answers the questions posted since question `seen` with
    /// `inspect`; returns the latest question number it has now seen.
    pub fn answer(&self, worker: usize, seen: u64, mut inspect: impl FnMut(&str) -> Option<UserReport>) -> u64 {
        let latest = self.latest.load(Ordering::SeqCst);
        if latest == seen {
            return seen;
        }
        if let Ok(mut desk) = self.desk.lock() {
            for question in desk.open.values_mut() {
                if question.waiting.remove(&worker) {
                    if let Some(report) = inspect(&question.user) {
                        question.report = Some(report);
                    }
                }
            }
        }
        self.answered.notify_all();
        latest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_holder_answers_and_a_silent_worker_times_out() {
        let lookups = Arc::new(UserLookups::default());
        lookups.register(0, None);
        lookups.register(1, None);
        assert_eq!(lookups.workers(), 2);
        let worker = Arc::clone(&lookups);
        let report = |user: &str| UserReport {
            user: user.into(),
            as_of_ms: 7,
            worker: 1,
            held: "active".into(),
            segments: Vec::new(),
        };
        let both = std::thread::spawn(move || {
            let (mut seen0, mut seen1) = (0, 0);
            while seen0 == 0 || seen1 == 0 {
                seen0 = worker.answer(0, seen0, |_| None);
                seen1 = worker.answer(1, seen1, |u| Some(report(u)));
            }
        });
        let found = lookups.ask("ann", Duration::from_secs(10));
        assert_eq!(found.map(|r| r.map(|r| (r.user, r.worker))), Ok(Some(("ann".into(), 1))));
        both.join().unwrap_or_else(|_| panic!("the answering thread failed"));
        let unanswered = lookups.ask("bob", Duration::from_millis(50));
        assert_eq!(unanswered, Err("2 classifier worker(s) did not answer within 50ms".into()));
    }

    #[test]
    fn no_answer_comes_before_every_expected_worker_registered() {
        let lookups = UserLookups::expecting(2);
        let not_yet = |lookups: &UserLookups| lookups.ask("ann", Duration::from_secs(1));
        assert_eq!(
            not_yet(&lookups),
            Err("the classifier is not running yet (0 of 2 workers ready)".into())
        );
        lookups.register(0, None);
        assert_eq!(
            not_yet(&lookups),
            Err("the classifier is not running yet (1 of 2 workers ready)".into())
        );
    }
}
