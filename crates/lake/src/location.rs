//! Where a table lives: a local directory (the embedded default) or an S3-compatible
//! bucket, chosen by URL.
//!
//! Contract: [`TableLocation::parse`] takes a path (relative or absolute; created if
//! missing) or a `file://` URL. S3-compatible storage (`s3://bucket/prefix`) is not
//! built yet: such a location is refused with that reason, not written elsewhere.
//!
//! ```
//! use segstream_lake::location::TableLocation;
//! let dir = std::env::temp_dir().join("segstream-location-doctest");
//! let local = TableLocation::parse(dir.to_str().unwrap()).unwrap();
//! assert_eq!(local.url.scheme(), "file");
//! assert!(TableLocation::parse("s3://lake/raw").is_err(), "not built yet");
//! assert!(TableLocation::parse("ftp://x/y").is_err());
//! ```

use std::collections::HashMap;

use deltalake::DeltaTableBuilder;

use crate::LakeError;

/// A table's location.
#[derive(Clone, Debug)]
pub struct TableLocation {
    /// The table's URL.
    pub url: url::Url,
    /// Options for the object store (none for a local directory).
    pub storage_options: HashMap<String, String>,
}

impl TableLocation {
    /// Reads a location (see the module contract).
    pub fn parse(text: &str) -> Result<TableLocation, LakeError> {
        let fail = |reason: String| LakeError::Location {
            location: text.to_string(),
            reason,
        };
        let url = match url::Url::parse(text) {
            Ok(url) if url.scheme() == "file" => url,
            Ok(url) if url.scheme() == "s3" => return Err(fail("S3-compatible storage is not built yet; use a local path".into())),
            Ok(url) if url.scheme().len() > 1 => {
                return Err(fail(format!(
                    "the scheme {:?} is not supported (a path, file:// or s3://)",
                    url.scheme()
                )))
            }
            // A plain path (a one-letter "scheme" is a Windows drive).
            _ => {
                std::fs::create_dir_all(text).map_err(|e| fail(format!("cannot create the directory: {e}")))?;
                let absolute = std::fs::canonicalize(text).map_err(|e| fail(e.to_string()))?;
                url::Url::from_directory_path(&absolute).map_err(|()| fail("not an absolute directory".into()))?
            }
        };
        Ok(TableLocation {
            url,
            storage_options: HashMap::new(),
        })
    }

    /// A builder for the table here.
    pub fn builder(&self) -> Result<DeltaTableBuilder, LakeError> {
        DeltaTableBuilder::from_url(self.url.clone())
            .map(|b| b.with_storage_options(self.storage_options.clone()))
            .map_err(|source| LakeError::table(self.url.as_str(), source))
    }
}
