//! What the running classifiers tell the console: audience sizes and trends, and which
//! rule-set version each worker has applied.
//!
//! Contract: a [`LiveView`] is read by the API on every request, off the async threads
//! (it may ask a store such as Redis, briefly). `applied` lists, per classifier worker,
//! the highest rule-set version it has applied (0: none from the repository yet); the
//! console shows "live on N of M workers at vK" from it. [`NoLive`] is the view of a console that sees no
//! classifier (it says so rather than showing zeros as sizes).
//!
//! `dry_run` evaluates a draft against every user's current state in the running
//! classifier and compares it with the live version, at one event time it names; it
//! blocks until the classifier has answered (the API runs it off the async threads).
//! `lookup` reports one user as the classifier worker holding them sees them (their
//! segments, and what each condition reads), `None` when no worker holds the user; it
//! blocks likewise.

use segstream_model::user_report::UserReport;
use segstream_rules::SegmentDef;
use serde::Serialize;

/// One segment's audience as the classifiers see it now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Audience {
    /// The segment.
    pub segment: String,
    /// Members now.
    pub size: i64,
    /// Users who entered in the last hour (`None`: this deployment does not count them).
    pub entered_last_hour: Option<u64>,
    /// Users who left in the last hour (`None`: not counted).
    pub exited_last_hour: Option<u64>,
    /// Sizes sampled at a steady pace, oldest first (for a sparkline).
    pub trend: Vec<i64>,
}

/// Trend points kept per segment.
pub const TREND_POINTS: usize = 60;

/// Size samples per segment for sparklines: each [`Trends::sample`] appends every
/// segment's size (0 for one that had a size before and has none now), keeping the
/// newest [`TREND_POINTS`]; a segment without a size whose kept points are all 0 is
/// forgotten (a deleted segment does not linger).
#[derive(Clone, Debug, Default)]
pub struct Trends {
    points: std::collections::BTreeMap<String, std::collections::VecDeque<i64>>,
}

impl Trends {
    /// Appends the current `sizes`.
    pub fn sample(&mut self, sizes: &std::collections::BTreeMap<String, i64>) {
        let segments: std::collections::BTreeSet<String> = sizes.keys().chain(self.points.keys()).cloned().collect();
        for segment in segments {
            let trend = self.points.entry(segment.clone()).or_default();
            trend.push_back(sizes.get(&segment).copied().unwrap_or(0));
            if trend.len() > TREND_POINTS {
                trend.pop_front();
            }
        }
        self.points
            .retain(|segment, trend| sizes.contains_key(segment) || trend.iter().any(|p| *p != 0));
    }

    /// A segment's samples, oldest first.
    pub fn of(&self, segment: &str) -> Vec<i64> {
        self.points.get(segment).map(|t| t.iter().copied().collect()).unwrap_or_default()
    }

    /// The segments sampled.
    pub fn segments(&self) -> impl Iterator<Item = &String> {
        self.points.keys()
    }
}

/// What a dry run found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DryRun {
    /// The event time (tick, ms since the epoch) the counts are exact at.
    pub as_of_ms: u64,
    /// Users the classifier held.
    pub users: u64,
    /// Users the draft matches.
    pub matched: u64,
    /// Users the draft matches and the live version does not.
    pub entering: u64,
    /// Users the live version matches and the draft does not.
    pub exiting: u64,
    /// Up to [`DRY_RUN_SAMPLE`] users the draft matches.
    pub sample: Vec<String>,
    /// What the counts do not model, if anything.
    pub caveat: Option<String>,
}

impl DryRun {
    /// Adds the counts of another part of the users at the same time (workers hold
    /// disjoint users, so counts add up); the sample keeps the first users by id.
    pub fn absorb(&mut self, part: DryRun) {
        self.as_of_ms = self.as_of_ms.max(part.as_of_ms);
        self.users += part.users;
        self.matched += part.matched;
        self.entering += part.entering;
        self.exiting += part.exiting;
        self.sample.extend(part.sample);
        self.sample.sort();
        self.sample.truncate(DRY_RUN_SAMPLE);
    }
}

/// How many matching users a dry run names.
pub const DRY_RUN_SAMPLE: usize = 20;

/// What the classifiers show (see the module contract).
pub trait LiveView: Send + Sync {
    /// Every segment with members or recent moves.
    fn audiences(&self) -> Vec<Audience>;
    /// Per worker, the rule-set version it has applied.
    fn applied(&self) -> Vec<u64>;
    /// Evaluates `draft` against every user now, compared with `live` (the version in
    /// force, if any).
    fn dry_run(&self, draft: &SegmentDef, live: Option<&SegmentDef>) -> Result<DryRun, String>;
    /// One user as the worker holding them sees them now.
    fn lookup(&self, user: &str) -> Result<Option<UserReport>, String>;
}

/// No classifier in sight.
pub struct NoLive;

impl LiveView for NoLive {
    fn audiences(&self) -> Vec<Audience> {
        Vec::new()
    }

    fn applied(&self) -> Vec<u64> {
        Vec::new()
    }

    fn dry_run(&self, _: &SegmentDef, _: Option<&SegmentDef>) -> Result<DryRun, String> {
        Err("this console sees no running classifier to evaluate the draft against".into())
    }

    fn lookup(&self, _: &str) -> Result<Option<UserReport>, String> {
        Err("this console sees no running classifier to ask about users".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn parts_of_a_dry_run_add_up_and_keep_the_first_users_as_the_sample() {
        let part = |users: u64, matched: u64, sample: &[&str]| DryRun {
            as_of_ms: 500,
            users,
            matched,
            entering: matched,
            exiting: 1,
            sample: sample.iter().map(|s| s.to_string()).collect(),
            caveat: None,
        };
        let mut total = DryRun::default();
        total.absorb(part(10, 2, &["u9", "u3"]));
        let many: Vec<String> = (10..40).map(|i| format!("v{i}")).collect();
        total.absorb(part(20, 30, &many.iter().map(String::as_str).collect::<Vec<_>>()));
        assert_eq!(
            (total.as_of_ms, total.users, total.matched, total.entering, total.exiting),
            (500, 30, 32, 32, 2)
        );
        assert_eq!(total.sample.len(), DRY_RUN_SAMPLE);
        assert_eq!(&total.sample[..3], ["u3", "u9", "v10"]);
    }

    #[test]
    fn a_segment_gone_for_a_whole_trend_is_forgotten() {
        let mut trends = Trends::default();
        trends.sample(&BTreeMap::from([("a".to_string(), 3)]));
        for _ in 0..TREND_POINTS - 1 {
            trends.sample(&BTreeMap::new());
        }
        assert_eq!(trends.of("a").first(), Some(&3), "one non-zero point keeps it");
        trends.sample(&BTreeMap::new());
        assert!(trends.of("a").is_empty());
        assert_eq!(trends.segments().count(), 0);
    }
}
