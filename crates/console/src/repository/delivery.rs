//! Handing the published rule set to the classifiers' channel.
//!
//! Contract: a [`RuleChannel`] takes a whole published set (the compacted rules topic, or
//! the embedded classifier's rule input). [`Repository::deliver`] reads what is
//! published now and hands it over unless the channel already has that rule-set
//! version (or nothing was ever published). One lock orders the hand-overs, so sets
//! reach the channel in version order and a slow send cannot put an older set after a
//! newer one; the state the status line reads ([`DeliveryState`]) has a lock of its own
//! and is never held during a send. A failure (of the channel, or of reading the set)
//! is remembered and shown, never returned: the repository's commit is what makes a
//! publish durable, and the next call (after the next publish, or from the console's
//! retry loop) sends again.

use std::sync::Mutex;

use segstream_rules::snapshot::{RuleFile, RulesSnapshot};
use serde::Serialize;

use super::{Repository, RepositoryError};
use crate::segment_text::join_file;

/// Where published rule sets go.
pub trait RuleChannel: Send + Sync {
    /// Hands over a whole set; `Err` says why it did not arrive.
    fn deliver(&self, snapshot: &RulesSnapshot) -> Result<(), String>;
    /// What it is, for the status page.
    fn describe(&self) -> String;
}

/// What the channel has.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryState {
    /// The rule-set version it last took.
    pub delivered_version: Option<u64>,
    /// When (ms since the epoch).
    pub delivered_at: Option<u64>,
    /// The last failure, cleared by a success.
    pub last_error: Option<String>,
    /// The channel.
    pub channel: String,
}

/// The channel and what it has (see the module contract).
pub struct Delivery {
    channel: std::sync::Arc<dyn RuleChannel>,
    order: Mutex<()>,
    state: Mutex<DeliveryState>,
}

impl Delivery {
    pub(super) fn new(channel: std::sync::Arc<dyn RuleChannel>) -> Delivery {
        let state = DeliveryState {
            channel: channel.describe(),
            ..DeliveryState::default()
        };
        Delivery {
            channel,
            order: Mutex::new(()),
            state: Mutex::new(state),
        }
    }

    /// What the channel has now.
    pub fn state(&self) -> DeliveryState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn update(&self, change: impl FnOnce(&mut DeliveryState)) {
        if let Ok(mut state) = self.state.lock() {
            change(&mut state);
        }
    }
}

impl Repository {
    /// The published set as rule files, labelled with the rule-set version.
    pub fn published_snapshot(&self) -> Result<RulesSnapshot, RepositoryError> {
        let version = self.store.ruleset_version()?;
        let segments = self.store.segments()?;
        let mut files = Vec::new();
        for file in self.store.files()? {
            let mut chunks = Vec::new();
            for row in segments.iter().filter(|s| s.file == file.name && !s.archived) {
                if let Some(published) = row.published {
                    chunks.push(self.text_of(&row.id, published)?.text);
                }
            }
            if !chunks.is_empty() {
                files.push(RuleFile {
                    text: join_file(&file.preamble, chunks.iter().map(String::as_str)),
                    name: file.name,
                });
            }
        }
        Ok(RulesSnapshot {
            published_at: segstream_time::wall_clock_ms(),
            version,
            files,
        })
    }

    /// Hands the published set to the channel if it does not have it (see the module
    /// contract); whether the channel has the current version afterwards.
    pub fn deliver(&self) -> bool {
        // The lock only orders the hand-overs: one that panicked leaves nothing to repair.
        let _in_order = self.delivery.order.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let snapshot = match self.published_snapshot() {
            Ok(snapshot) => snapshot,
            Err(e) => {
                self.delivery
                    .update(|s| s.last_error = Some(format!("reading the published set: {e}")));
                return false;
            }
        };
        // Version 0 was never published: the channel keeps what it has.
        if snapshot.version == 0 || self.delivery.state().delivered_version == Some(snapshot.version) {
            self.delivery.update(|s| s.last_error = None);
            return true;
        }
        let result = self.delivery.channel.deliver(&snapshot);
        let delivered = result.is_ok();
        self.delivery.update(|state| match result {
            Ok(()) => {
                state.delivered_version = Some(snapshot.version);
                state.delivered_at = Some(segstream_time::wall_clock_ms());
                state.last_error = None;
            }
            Err(e) => state.last_error = Some(e),
        });
        delivered
    }
}
