//! The rules console inside `segstream demo`.
//!
//! Contract: [`start`] opens the demo's rules repository (filled from `--rules` when
//! new), serves the console with the embedded classifier's rule mailbox as its channel
//! and the demo's audience board and acknowledgements as its live view, prints where
//! it is and how to sign in, and returns the rule set in force with its version: the
//! demo starts its classifier with that set, so the repository, not the files, decides
//! (edits made in the console last across runs). With `--console off` or
//! `--watch-rules` (the files decide) it returns `None` and the demo runs the files'
//! rules. A console that cannot listen is reported; the demo goes on.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use segstream_console::api::ApiState;
use segstream_dataflows::classifier::metrics::ClassifierMetrics;
use segstream_dataflows::rule_mailbox::{RuleAcks, RuleMailbox};
use segstream_dataflows::user_lookup::UserLookups;
use segstream_embedded::audience_board::AudienceBoard;
use segstream_embedded::console_link::{EmbeddedLive, MailboxChannel};
use segstream_embedded::dry_run::DryRuns;
use segstream_rules::{load_rule_files, Limits, Schema, SegmentDef, UdfRegistry};

use super::console_setup::{open_repository, serve, tokens};
use crate::cli::DemoArgs;
use crate::error::CommandError;

/// What the console shares with the demo's classifier.
pub struct ConsoleLink {
    /// Rule sets into worker 0.
    pub mailbox: Arc<RuleMailbox>,
    /// Sizes and trends.
    pub board: Arc<Mutex<AudienceBoard>>,
    /// Which version each worker applied.
    pub acks: Arc<RuleAcks>,
    /// Dry runs through the classifier.
    pub dry_runs: Arc<DryRuns>,
    /// The classifier's counters.
    pub metrics: Arc<ClassifierMetrics>,
    /// Questions about single users.
    pub lookups: Arc<UserLookups>,
}

/// Starts the console (see the module contract).
pub fn start(
    args: &DemoArgs,
    schema: &Arc<Schema>,
    link: &ConsoleLink,
    stop: &Arc<AtomicBool>,
) -> Result<Option<(Vec<SegmentDef>, u64)>, CommandError> {
    let Some(listen) = args.console.listen.0 else {
        return Ok(None);
    };
    if args.watch_rules {
        tracing::info!("console: off (--watch-rules: the rule files decide the rules in force)");
        return Ok(None);
    }
    let (tokens, admin_token) = tokens(&args.console, true)?;
    let channel = Arc::new(MailboxChannel {
        mailbox: Arc::clone(&link.mailbox),
        schema: Arc::clone(schema),
    });
    let repository = open_repository(&args.console.db, Arc::clone(schema), channel, &args.rules)?;
    let snapshot = repository
        .published_snapshot()
        .map_err(|e| CommandError::Invalid(format!("the rules repository: {e}")))?;
    let (_, defs) = load_rule_files(&snapshot.sources(), schema, &UdfRegistry::new(), Limits::default()).map_err(|d| {
        let all: Vec<String> = d.iter().map(ToString::to_string).collect();
        CommandError::Invalid(format!(
            "the rules in {} no longer check against the schema: {}",
            args.console.db.display(),
            all.join("; ")
        ))
    })?;
    let state = ApiState {
        repository,
        tokens: Arc::new(tokens),
        live: Arc::new(EmbeddedLive {
            board: Arc::clone(&link.board),
            acks: Arc::clone(&link.acks),
            dry_runs: Arc::clone(&link.dry_runs),
            metrics: Arc::clone(&link.metrics),
            lookups: Arc::clone(&link.lookups),
        }),
    };
    let bound = match serve(state, listen, Arc::clone(stop)) {
        Ok(bound) => bound,
        Err(e) => {
            tracing::warn!("the demo runs without its console: {e}");
            return Ok(Some((defs, snapshot.version)));
        }
    };
    let sign_in = match admin_token {
        Some(token) => format!("sign in with token {token}"),
        None if args.console.insecure => "open to everyone (--insecure)".to_string(),
        None => format!(
            "tokens from {}",
            args.console
                .tokens
                .as_deref()
                .map_or("?".into(), |p: &Path| p.display().to_string())
        ),
    };
    // To standard output, not the log: the line can carry the admin token, which must
    // not travel into a log pipeline.
    println!(
        "console: http://{bound}/ ({sign_in}); rules repository {} at rule-set v{}",
        args.console.db.display(),
        snapshot.version
    );
    Ok(Some((defs, snapshot.version)))
}
