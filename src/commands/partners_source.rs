//! Loading the partners file for a command, printing its errors like a compiler.

use std::collections::BTreeSet;
use std::path::Path;

use segstream_activation::config::{load_partners, PartnerConfig, PartnerKind};
use segstream_rules::SegmentDef;

use crate::error::CommandError;

/// The checked partners of `path`, against the segments of `defs`; errors are printed.
pub fn load_checked_partners(path: &Path, defs: &[SegmentDef]) -> Result<Vec<PartnerConfig>, CommandError> {
    let known: BTreeSet<String> = defs.iter().map(|d| d.id.clone()).collect();
    load_partners(path, Some(&known)).map_err(|diagnostics| {
        diagnostics.iter().for_each(|d| eprintln!("{d}\n"));
        CommandError::Invalid(format!("{} problem(s) in {}", diagnostics.len(), path.display()))
    })
}

/// The webhook partners' secrets, for a local partner that verifies signatures.
pub fn webhook_secrets(partners: &[PartnerConfig]) -> std::collections::HashMap<String, String> {
    partners
        .iter()
        .filter(|p| p.kind == PartnerKind::Webhook)
        .map(|p| (p.id.clone(), p.secret.expose().to_string()))
        .collect()
}
