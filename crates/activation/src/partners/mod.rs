//! The partner kinds: how a batch of changes becomes requests, and what each answer
//! means. One file per kind; each is pure (requests in, verdicts out) and is tested
//! without a network. The pipeline (`crate::pipeline`) sends the requests.

pub mod audience_api;
pub mod segment_events;
pub mod webhook;

use crate::change::Change;
use crate::http::{PartnerRequest, PartnerResponse};
use crate::retry::{parse_retry_after, verdict_of_status, Verdict};

/// One change ready for a partner: its stable delivery id, the user's identifier as the
/// partner wants it, and the partner's audience id for the segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The change.
    pub change: Change,
    /// Its delivery id.
    pub delivery_id: String,
    /// The identifier (normalised and hashed).
    pub identifier: String,
    /// The partner's audience id.
    pub audience: String,
}

/// The outcome of one request for its items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every item is delivered.
    Delivered,
    /// Delivered except these items (index into the request's items, reason).
    PartlyRejected(Vec<(usize, String)>),
    /// Nothing is delivered; try again.
    Retry {
        /// Why.
        reason: String,
        /// The partner's `Retry-After`.
        after: Option<std::time::Duration>,
    },
    /// The partner refused the request as a whole.
    Rejected(String),
}

/// A request and the items (indices into the batch) it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The request.
    pub request: PartnerRequest,
    /// Which items of the batch it carries, in order.
    pub items: Vec<usize>,
}

/// The outcome of a plain answer: the status decides for all items.
pub fn outcome_of_status(response: &PartnerResponse) -> Outcome {
    match verdict_of_status(response.status, parse_retry_after(response.retry_after.as_deref()), &response.body) {
        Verdict::Delivered => Outcome::Delivered,
        Verdict::Retry { reason, after } => Outcome::Retry { reason, after },
        Verdict::Reject(reason) => Outcome::Rejected(reason),
    }
}

/// `"enter"` or `"exit"`.
pub fn change_word(change: &Change) -> &'static str {
    if change.entered {
        "enter"
    } else {
        "exit"
    }
}
