//! The console's view of the embedded classifier: published rule sets go into the
//! worker's rule mailbox, and sizes, trends and acknowledgements come back.
//!
//! Contract: [`MailboxChannel`] checks a published snapshot against the schema (a set
//! that does not load is refused with the reason, and the classifier keeps its set) and
//! posts it, with its rule-set version, to the [`RuleMailbox`]. [`EmbeddedLive`] answers
//! the console from the demo's [`AudienceBoard`] and [`RuleAcks`], runs dry runs
//! through [`DryRuns`] and user lookups through [`UserLookups`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use segstream_console::live::{Audience, DryRun, LiveView};
use segstream_console::repository::RuleChannel;
use segstream_dataflows::classifier::metrics::ClassifierMetrics;
use segstream_dataflows::rule_mailbox::{RuleAcks, RuleMailbox};
use segstream_dataflows::user_lookup::UserLookups;
use segstream_model::user_report::UserReport;
use segstream_rules::snapshot::RulesSnapshot;
use segstream_rules::{load_rule_files, Limits, Schema, SegmentDef, UdfRegistry};

use crate::audience_board::AudienceBoard;
use crate::dry_run::DryRuns;

/// Published sets into the classifier's mailbox.
pub struct MailboxChannel {
    /// Where worker 0 takes rule sets from.
    pub mailbox: Arc<RuleMailbox>,
    /// What the rules are checked against.
    pub schema: Arc<Schema>,
}

impl RuleChannel for MailboxChannel {
    fn deliver(&self, snapshot: &RulesSnapshot) -> Result<(), String> {
        let (_, defs) = load_rule_files(&snapshot.sources(), &self.schema, &UdfRegistry::new(), Limits::default()).map_err(|d| {
            let all: Vec<String> = d.iter().map(ToString::to_string).collect();
            format!("the classifier refused the set: {}", all.join("; "))
        })?;
        self.mailbox.post(defs, snapshot.version);
        Ok(())
    }

    fn describe(&self) -> String {
        "the embedded classifier's rule input".into()
    }
}

/// The embedded classifier as the console sees it.
pub struct EmbeddedLive {
    /// Sizes, moves and trends.
    pub board: Arc<Mutex<AudienceBoard>>,
    /// Which version each worker applied.
    pub acks: Arc<RuleAcks>,
    /// Dry runs through the classifier.
    pub dry_runs: Arc<DryRuns>,
    /// The classifier's counters (users held).
    pub metrics: Arc<ClassifierMetrics>,
    /// Questions about single users.
    pub lookups: Arc<UserLookups>,
}

/// How long a dry run may take before the console gives up on it.
pub const DRY_RUN_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a user lookup may take before the console gives up on it.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

impl LiveView for EmbeddedLive {
    fn audiences(&self) -> Vec<Audience> {
        let now = segstream_time::wall_clock_ms();
        self.board.lock().map(|b| b.audiences(now)).unwrap_or_default()
    }

    fn applied(&self) -> Vec<u64> {
        self.acks.applied()
    }

    fn dry_run(&self, draft: &SegmentDef, live: Option<&SegmentDef>) -> Result<DryRun, String> {
        let totals = self.metrics.totals();
        let users = totals.users + totals.dormant_users;
        self.dry_runs.run(draft, live, users, DRY_RUN_TIMEOUT)
    }

    fn lookup(&self, user: &str) -> Result<Option<UserReport>, String> {
        self.lookups.ask(user, LOOKUP_TIMEOUT)
    }
}
