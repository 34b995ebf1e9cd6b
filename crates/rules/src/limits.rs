//! Limits that bound the size and cost of a rule.
//!
//! Contract: a condition that exceeds any limit is rejected when it is saved, with the
//! limit named in the error; anything accepted evaluates in bounded time and stack.

/// The bounds enforced when a condition is parsed and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest condition text in bytes.
    pub max_source_bytes: usize,
    /// Deepest expression tree.
    pub max_depth: u32,
    /// Most expression nodes.
    pub max_nodes: usize,
    /// Highest static cost (see `docs/rules.md`, "Limits").
    pub max_cost: u64,
    /// Longest feature window in milliseconds.
    pub max_window_ms: i64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_source_bytes: 16 * 1024,
            max_depth: 64,
            max_nodes: 1000,
            max_cost: 10_000,
            max_window_ms: 90 * segstream_time::MS_PER_DAY,
        }
    }
}
