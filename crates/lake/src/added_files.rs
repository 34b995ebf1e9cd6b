//! The files a Delta table gained since an earlier version of it.
//!
//! Contract: [`added_since`] lists the data files of the table's loaded snapshot that the
//! snapshot at version `since` did not have (every file without a `since`), each as the
//! caller describes it. Both the curated table (raw files to compact) and the stats job
//! (curated files to tile, tile days to publish) find their new work this way: files
//! are immutable and named once, so a file's path says whether it is new.

use std::collections::HashSet;

use deltalake::kernel::LogicalFileView;
use deltalake::{DeltaTable, DeltaTableError, Path};

use crate::LakeError;

/// The files of `table` not in its version `since` (all of them if none), each
/// `describe`d; `url` names the table in errors.
pub async fn added_since<T>(
    table: &DeltaTable,
    url: &str,
    since: Option<u64>,
    describe: impl Fn(&LogicalFileView) -> T,
) -> Result<Vec<T>, LakeError> {
    let fail = |e: DeltaTableError| LakeError::table(url, e);
    let files = |table: &DeltaTable| -> Result<Vec<LogicalFileView>, LakeError> {
        Ok(table.snapshot().map_err(fail)?.log_data().into_iter().collect())
    };
    let mut now = files(table)?;
    if let Some(since) = since {
        let mut before = table.clone();
        before.load_version(since).await.map_err(fail)?;
        let old: HashSet<Path> = files(&before)?.iter().map(LogicalFileView::object_store_path).collect();
        now.retain(|file| !old.contains(&file.object_store_path()));
    }
    Ok(now.iter().map(describe).collect())
}
