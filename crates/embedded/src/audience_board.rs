//! Audiences as the console shows them: sizes, moves in the last hour, and a trend.
//!
//! Contract: fed the `sizes` collection's updates ([`AudienceBoard::apply_size`]) and
//! every membership change ([`AudienceBoard::record_change`], with the wall-clock
//! instant it was seen), [`AudienceBoard::sample`] (called at a steady pace) appends
//! each segment's current size to its trend, keeping the newest [`TREND_POINTS`];
//! [`AudienceBoard::audiences`] gives, per segment, the size, the users who entered and
//! left in the hour before `now`, and the trend. Moves are kept in one-minute buckets,
//! so the hourly counts are exact to the minute and memory is bounded by the segments.

use std::collections::{BTreeMap, VecDeque};

use segstream_console::live::{Audience, Trends};

use crate::size_board::SizeBoard;

pub use segstream_console::live::TREND_POINTS;
const MINUTE_MS: u64 = 60_000;
const BUCKETS: u64 = 60;

/// The board (see the module contract).
#[derive(Debug, Default)]
pub struct AudienceBoard {
    sizes: SizeBoard,
    /// Per segment: (minute, entered, left), oldest first.
    moves: BTreeMap<String, VecDeque<(u64, u64, u64)>>,
    trends: Trends,
}

impl AudienceBoard {
    /// Applies one update of the `sizes` collection.
    pub fn apply_size(&mut self, segment: &str, count: isize, diff: isize) {
        self.sizes.apply(segment, count, diff);
    }

    /// Records a user entering (`true`) or leaving a segment at `at_ms`.
    pub fn record_change(&mut self, segment: &str, entered: bool, at_ms: u64) {
        let minute = at_ms / MINUTE_MS;
        // Looked up before inserting: a change is no reason to allocate its segment's name.
        if !self.moves.contains_key(segment) {
            self.moves.insert(segment.to_string(), VecDeque::new());
        }
        let Some(buckets) = self.moves.get_mut(segment) else { return };
        if buckets.back().is_none_or(|(m, _, _)| *m < minute) {
            buckets.push_back((minute, 0, 0));
        }
        if let Some(bucket) = buckets.iter_mut().rev().find(|(m, _, _)| *m <= minute) {
            if entered {
                bucket.1 += 1;
            } else {
                bucket.2 += 1;
            }
        }
        while buckets.front().is_some_and(|(m, _, _)| *m + BUCKETS <= minute) {
            buckets.pop_front();
        }
    }

    /// Appends every segment's current size to its trend.
    pub fn sample(&mut self) {
        let sizes: BTreeMap<String, i64> = self.sizes.top(usize::MAX).into_iter().map(|(s, n)| (s, n as i64)).collect();
        self.trends.sample(&sizes);
    }

    /// The `n` largest segments, largest first.
    pub fn top(&self, n: usize) -> Vec<(String, isize)> {
        self.sizes.top(n)
    }

    /// Every segment with members, moves or a trend, as of `now_ms`.
    pub fn audiences(&self, now_ms: u64) -> Vec<Audience> {
        let sizes: BTreeMap<String, isize> = self.sizes.top(usize::MAX).into_iter().collect();
        let mut segments: Vec<&String> = sizes.keys().chain(self.moves.keys()).chain(self.trends.segments()).collect();
        segments.sort();
        segments.dedup();
        let first_minute = (now_ms / MINUTE_MS).saturating_sub(BUCKETS - 1);
        segments
            .into_iter()
            .map(|segment| {
                let recent = self.moves.get(segment).into_iter().flatten().filter(|(m, _, _)| *m >= first_minute);
                let (entered, left) = recent.fold((0, 0), |(e, l), (_, de, dl)| (e + de, l + dl));
                Audience {
                    segment: segment.clone(),
                    size: sizes.get(segment).copied().unwrap_or(0) as i64,
                    entered_last_hour: Some(entered),
                    exited_last_hour: Some(left),
                    trend: self.trends.of(segment),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_count_for_an_hour_and_trends_keep_the_newest_points() {
        let mut board = AudienceBoard::default();
        let hour = 3_600_000;
        board.record_change("a", true, 10 * hour);
        board.record_change("a", true, 10 * hour + 30 * MINUTE_MS);
        board.record_change("a", false, 10 * hour + 30 * MINUTE_MS);
        let at = |now| board.audiences(now)[0].clone();
        assert_eq!(
            (
                at(10 * hour + 40 * MINUTE_MS).entered_last_hour,
                at(10 * hour + 40 * MINUTE_MS).exited_last_hour
            ),
            (Some(2), Some(1))
        );
        assert_eq!(
            at(11 * hour + 10 * MINUTE_MS).entered_last_hour,
            Some(1),
            "the first move is over an hour old"
        );
        assert_eq!(at(12 * hour).entered_last_hour, Some(0));
        board.apply_size("a", 1, 1);
        for n in 0..(TREND_POINTS as isize + 5) {
            board.apply_size("a", n + 1, -1);
            board.apply_size("a", n + 2, 1);
            board.sample();
        }
        let trend = board.audiences(12 * hour)[0].trend.clone();
        assert_eq!(trend.len(), TREND_POINTS);
        assert_eq!((trend[0], *trend.last().unwrap()), (7, TREND_POINTS as i64 + 6));
        assert_eq!(board.audiences(12 * hour)[0].size, TREND_POINTS as i64 + 6);
    }
}
