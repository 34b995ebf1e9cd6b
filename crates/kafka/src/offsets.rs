//! Where a restart without a checkpoint resumes.
//!
//! Contract: [`resume_offset`] picks where a partition restarts: the earlier of its
//! committed offset and the offset at `F − rewind`. Which offsets are safe to commit is
//! `segstream_dataflows::classifier::emitted` (shared with checkpoints' resume points).

/// Where a partition resumes: the earlier of the committed offset and the offset found
/// for the rewound time; the beginning when neither is known.
pub fn resume_offset(committed: Option<i64>, at_rewound_time: Option<i64>) -> Option<i64> {
    match (committed, at_rewound_time) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_takes_the_earlier_known_offset() {
        assert_eq!(resume_offset(Some(50), Some(40)), Some(40));
        assert_eq!(resume_offset(Some(30), Some(40)), Some(30));
        assert_eq!(resume_offset(None, Some(40)), Some(40));
        assert_eq!(resume_offset(None, None), None);
    }
}
