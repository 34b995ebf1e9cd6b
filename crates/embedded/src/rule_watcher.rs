//! Watching rule files for edits.
//!
//! Contract: [`RuleWatcher::check`] looks at the rule files' modification times; when they
//! changed since the last look it loads and checks them against the schema and, if
//! valid, posts the new set to the [`RuleMailbox`] (as rule-set version 0: files have none); if not, it prints the errors and
//! posts nothing, so the set in force stays.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use segstream_dataflows::live::RuleMailbox;
use segstream_rules::files::load_rules;

/// The last seen state of the rule files.
pub struct RuleWatcher {
    last: Vec<(PathBuf, Option<SystemTime>)>,
}

fn stamps(paths: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>)> {
    let mut files = Vec::new();
    for path in paths {
        match std::fs::read_dir(path) {
            Ok(entries) => files.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "toml")),
            ),
            Err(_) => files.push(path.clone()),
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let modified = std::fs::metadata(&f).and_then(|m| m.modified()).ok();
            (f, modified)
        })
        .collect()
}

impl RuleWatcher {
    /// A watcher that has seen the files as they are now.
    pub fn new(paths: &[PathBuf]) -> RuleWatcher {
        RuleWatcher { last: stamps(paths) }
    }

    /// Posts the rules if the files changed and are valid.
    pub fn check(&mut self, schema: &Path, paths: &[PathBuf], mailbox: &RuleMailbox) {
        let now = stamps(paths);
        if now == self.last {
            return;
        }
        self.last = now;
        match load_rules(schema, paths) {
            Ok(loaded) => mailbox.post(loaded.defs, 0),
            Err(e) => {
                let diagnostics: Vec<String> = e.diagnostics().iter().map(ToString::to_string).collect();
                tracing::error!(error = %e, diagnostics = %diagnostics.join("\n"), "rules: the edited rules were not applied");
            }
        }
    }
}
