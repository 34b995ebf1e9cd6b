//! Loading the partners file for a command, printing its errors like a compiler.

use std::collections::BTreeSet;
use std::path::Path;

use segstream_activation::config::{load_partners, PartnerConfig, PartnerKind};
use segstream_rules::SegmentDef;

use crate::error::CommandError;

/// The checked partners of `path`, against the segments of `defs`; errors are printed.
pub fn load_checked_partners(path: &Path, defs: &[SegmentDef]) -> Result<Vec<PartnerConfig>, CommandError> {
    let known: BTreeSet<String> = defs.iter().map(|d| d.id.clone()).collect();
    load_partners(path, Some(&known)).map_err(|diagnostics| printed(path, &diagnostics))
}

/// The error, after printing the diagnostics like a compiler.
fn printed(path: &Path, diagnostics: &[segstream_rules::Diagnostic]) -> CommandError {
    diagnostics.iter().for_each(|d| super::report::diagnostic(&d.to_string()));
    CommandError::Invalid(format!("{} problem(s) in {}", diagnostics.len(), path.display()))
}

/// The webhook partners' secrets, for a local partner that verifies signatures.
pub fn webhook_secrets(partners: &[PartnerConfig]) -> std::collections::HashMap<String, String> {
    partners
        .iter()
        .filter(|p| p.kind == PartnerKind::Webhook)
        .map(|p| (p.id.clone(), p.secret.expose().to_string()))
        .collect()
}

/// The partners of `path` for the demo, which may run other rules than the file was
/// written for: a mapped segment the rules do not define is reported and ignored (it
/// can never change), and any other problem fails as in [`load_checked_partners`].
pub fn load_demo_partners(path: &Path, defs: &[SegmentDef]) -> Result<Vec<PartnerConfig>, CommandError> {
    let partners = load_partners(path, None).map_err(|diagnostics| printed(path, &diagnostics))?;
    let known: BTreeSet<&str> = defs.iter().map(|d| d.id.as_str()).collect();
    for partner in &partners {
        let unknown: Vec<&str> = partner.segments.keys().map(String::as_str).filter(|s| !known.contains(s)).collect();
        if !unknown.is_empty() {
            tracing::warn!(
                "{}: partner {} maps segments these rules do not define, ignored: {}",
                path.display(),
                partner.id,
                unknown.join(", ")
            );
        }
    }
    Ok(partners)
}
