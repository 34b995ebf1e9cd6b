//! Where a table lives: a local directory (the embedded default) or an S3-compatible
//! bucket, chosen by URL.
//!
//! Contract: [`TableLocation::parse`] takes a path (relative or absolute; created if
//! missing), a `file://` URL, or `s3://bucket/prefix`. An S3 location is configured the
//! way AWS tools are, by the environment: `AWS_ENDPOINT_URL` (an S3-compatible server;
//! without it, AWS), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint; [`TableLocation::with_option`] sets
//! one explicitly. Commits rely on the store's conditional put (`If-None-Match`), so two
//! writers never overwrite each other's log entry. A request is retried at most
//! [`S3_MAX_RETRIES`] times within [`S3_RETRY_TIMEOUT`], so an unreachable bucket is an
//! error within that time, not a hang.
//!
//! ```
//! use segstream_lake::location::TableLocation;
//! let dir = std::env::temp_dir().join("segstream-location-doctest");
//! let local = TableLocation::parse(dir.to_str().unwrap()).unwrap();
//! assert_eq!(local.url.scheme(), "file");
//! let bucket = TableLocation::parse("s3://lake/raw").unwrap();
//! assert_eq!(bucket.storage_options["max_retries"], "3");
//! assert!(TableLocation::parse("ftp://x/y").is_err());
//! ```

use std::collections::HashMap;

use deltalake::DeltaTableBuilder;

use crate::LakeError;

/// How often a failed request to an S3 store is retried.
pub const S3_MAX_RETRIES: usize = 3;
/// How long a request to an S3 store is retried at most.
pub const S3_RETRY_TIMEOUT: &str = "15s";

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
            Ok(url) if url.scheme() == "s3" => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(fail("an S3 location names its bucket: s3://bucket/prefix".into()));
                }
                deltalake::aws::register_handlers(None);
                let options = [
                    ("max_retries", S3_MAX_RETRIES.to_string()),
                    ("retry_timeout", S3_RETRY_TIMEOUT.into()),
                ];
                return Ok(TableLocation {
                    url,
                    storage_options: options.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                });
            }
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

    /// The same location with the store option `key` set to `value` (for an S3 store:
    /// `aws_endpoint`, `aws_access_key_id`, `aws_allow_http`, …).
    pub fn with_option(mut self, key: &str, value: &str) -> TableLocation {
        self.storage_options.insert(key.to_string(), value.to_string());
        self
    }

    /// A builder for the table here.
    pub fn builder(&self) -> Result<DeltaTableBuilder, LakeError> {
        DeltaTableBuilder::from_url(self.url.clone())
            .map(|b| b.with_storage_options(self.storage_options.clone()))
            .map_err(|source| LakeError::table(self.url.as_str(), source))
    }
}
