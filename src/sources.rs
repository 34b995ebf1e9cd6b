//! Reading rule, schema and view files from disk.
//!
//! Contract: paths are read whole as UTF-8 text with a size limit; a directory means
//! every `*.toml` file directly inside it, in name order. Errors name the path.

use std::path::{Path, PathBuf};

use segstream_dataflows::rules::SourceText;

use crate::error::CommandError;

/// The largest file read (rule files, schemas, views).
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Reads one file as text.
pub fn read_text(path: &Path) -> Result<SourceText, CommandError> {
    let read_error = |source| CommandError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > MAX_FILE_BYTES {
        return Err(CommandError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(|source| CommandError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| CommandError::NotText { path: path.to_path_buf() })?;
    Ok(SourceText {
        name: path.display().to_string(),
        text,
    })
}

/// Reads files and directories of `*.toml` files.
pub fn read_toml_sources(paths: &[PathBuf]) -> Result<Vec<SourceText>, CommandError> {
    let mut sources = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|source| CommandError::Read {
                path: path.clone(),
                source,
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
                .collect();
            if files.is_empty() {
                return Err(CommandError::NoFiles { path: path.clone() });
            }
            files.sort();
            for file in files {
                sources.push(read_text(&file)?);
            }
        } else {
            sources.push(read_text(path)?);
        }
    }
    Ok(sources)
}
