//! What the stats job last published: a marker file in the tile table's directory.
//!
//! Contract: `_segstream_published.json` holds the tile table's version and the day the
//! published stats were as of. Delta ignores files whose names start with `_`, so the
//! marker is invisible to readers and to vacuum. It is written after every publish with
//! one `put` (atomic on the local filesystem and on S3). A missing marker means nothing
//! was published; a damaged one is an error, never read as "nothing".

use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::object_store::{ObjectStoreExt, PutPayload};
use deltalake::DeltaTable;
use serde::{Deserialize, Serialize};

use crate::LakeError;

const MARKER: &str = "_segstream_published.json";

/// What was last published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// The tile table's version the stats were merged from.
    pub tiles_version: u64,
    /// The day they were as of.
    pub as_of: String,
}

fn error(url: &str, reason: String) -> LakeError {
    LakeError::File {
        file: format!("{}/{MARKER}", url.trim_end_matches('/')),
        reason,
    }
}

/// The marker of the tile table (none if nothing was published).
pub async fn read(tiles: &DeltaTable, url: &str) -> Result<Option<Published>, LakeError> {
    let store = tiles.log_store().object_store(None);
    match store.get(&Path::from(MARKER)).await {
        Ok(found) => {
            let bytes = found.bytes().await.map_err(|e| error(url, e.to_string()))?;
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| error(url, format!("damaged: {e}")))
        }
        Err(deltalake::logstore::object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(error(url, e.to_string())),
    }
}

/// Records `published` as what was last published.
pub async fn write(tiles: &DeltaTable, url: &str, published: &Published) -> Result<(), LakeError> {
    let store = tiles.log_store().object_store(None);
    let bytes = serde_json::to_vec(published).map_err(|e| error(url, e.to_string()))?;
    store
        .put(&Path::from(MARKER), PutPayload::from(bytes))
        .await
        .map_err(|e| error(url, e.to_string()))?;
    Ok(())
}
