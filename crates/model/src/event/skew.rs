//! Clock-skew correction of event times.
//!
//! Contract: a device whose clock is wrong by Δ stamps both `client_time` and `sent_at`
//! with the same Δ, so `received_at − (sent_at − client_time)` removes it. The result is
//! clamped to at most `received_at + future_tolerance`, so no device can push event time
//! (and with it the watermark) into the future. Saturating arithmetic: never panics.

/// The corrected event time in epoch ms.
///
/// ```
/// use segstream_model::event::skew::corrected_event_time;
/// // The device clock is 1 h fast: it says 11:00:00 for an event and sent it at 11:00:05;
/// // the collector received it at 10:00:06 (true time).
/// let hour = 3_600_000;
/// assert_eq!(corrected_event_time(11 * hour, 11 * hour + 5_000, 10 * hour + 6_000, 60_000), 10 * hour + 1_000);
/// // An event stamped long after it was sent would land in the future: it is clamped.
/// assert_eq!(corrected_event_time(48 * hour, 10 * hour, 10 * hour, 60_000), 10 * hour + 60_000);
/// ```
pub fn corrected_event_time(client_time: i64, sent_at: i64, received_at: i64, future_tolerance_ms: i64) -> i64 {
    let delay = sent_at.saturating_sub(client_time);
    received_at
        .saturating_sub(delay)
        .min(received_at.saturating_add(future_tolerance_ms))
}
