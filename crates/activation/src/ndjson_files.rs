//! Append-only NDJSON files, one per name in a directory: the dead-letter store's and
//! the local partner's receipts.
//!
//! Contract: [`NdjsonFiles::append`] serialises each item as one JSON line and appends
//! the batch with one write to `<dir>/<name>.ndjson` (created on first use, kept open),
//! then, when asked, syncs it to disk before returning. [`NdjsonFiles::close`] forgets an
//! open file (before it is moved away).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A directory of append-only NDJSON files (see the module contract).
#[derive(Debug)]
pub struct NdjsonFiles {
    dir: PathBuf,
    open: Mutex<HashMap<String, File>>,
}

impl NdjsonFiles {
    /// Files in `dir` (created if needed).
    pub fn new(dir: &Path) -> std::io::Result<NdjsonFiles> {
        std::fs::create_dir_all(dir)?;
        Ok(NdjsonFiles {
            dir: dir.to_path_buf(),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The file of `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.ndjson"))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `items` to `name`'s file, synced to disk first when `sync`.
    pub fn append<T: serde::Serialize>(&self, name: &str, items: &[T], sync: bool) -> std::io::Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for item in items {
            text.push_str(&serde_json::to_string(item).map_err(std::io::Error::other)?);
            text.push('\n');
        }
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !open.contains_key(name) {
            let file = OpenOptions::new().create(true).append(true).open(self.path(name))?;
            open.insert(name.to_string(), file);
        }
        let Some(file) = open.get_mut(name) else {
            return Err(std::io::Error::other("the file was not opened"));
        };
        file.write_all(text.as_bytes())?;
        if sync {
            file.sync_data()?;
        }
        Ok(())
    }

    /// Forgets `name`'s open file (the next append reopens the path).
    pub fn close(&self, name: &str) {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(name);
    }
}
