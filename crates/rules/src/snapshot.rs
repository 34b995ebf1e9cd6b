//! A published rule set: the `segment-rules` record, one whole set of rule files.
//!
//! Contract: `{"published_at", "version", "files": [{"name", "text"}]}`; `published_at`
//! is milliseconds since the epoch; `version` is the rules repository's rule-set version
//! (0 when published from files, which have none; absent reads as 0); the files load with [`crate::load_rule_files`] through
//! [`RulesSnapshot::sources`]. Every publisher and every reader uses this type.

use serde::{Deserialize, Serialize};

use crate::SourceText;

/// A published rule set.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RulesSnapshot {
    /// When it was published (ms since the epoch).
    pub published_at: u64,
    /// The repository's rule-set version (0: published from files).
    #[serde(default)]
    pub version: u64,
    /// The rule files.
    pub files: Vec<RuleFile>,
}

/// One rule file of a snapshot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RuleFile {
    /// Its name (path relative to where it was published from).
    pub name: String,
    /// Its TOML text.
    pub text: String,
}

impl RulesSnapshot {
    /// The files as rule-loader sources.
    pub fn sources(&self) -> Vec<SourceText> {
        self.files
            .iter()
            .map(|f| SourceText {
                name: f.name.clone(),
                text: f.text.clone(),
            })
            .collect()
    }
}
