//! Reading rule, schema and view files from disk: the one way every command, the
//! embedded rule watcher, the harness and the benchmarks load rules.
//!
//! Contract: paths are read whole as UTF-8 text with a size limit; a directory means
//! every `*.toml` file directly inside it, in name order. [`load_schema`] and
//! [`load_rules`] compile what they read; every error is a [`FileError`] that names the
//! path, and schema or rule errors carry their located [`Diagnostic`]s for the caller to
//! print like a compiler.

use std::path::{Path, PathBuf};

use crate::{load_rule_files, Diagnostic, Limits, RuleSet, Schema, SegmentDef, SourceText, UdfRegistry};

/// The largest file read (rule files, schemas, views).
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Why files could not be read or compiled.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not UTF-8 text.
    #[error("{path} is not UTF-8 text (is it a binary file?)")]
    NotText {
        /// The path.
        path: PathBuf,
    },
    /// A file is larger than accepted.
    #[error("{path} is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A directory holds no files of the wanted kind.
    #[error("{path} contains no .toml files")]
    NoFiles {
        /// The directory.
        path: PathBuf,
    },
    /// The schema has errors.
    #[error("the schema {path} has {} error(s)", diagnostics.len())]
    Schema {
        /// The schema path.
        path: PathBuf,
        /// Each error, located.
        diagnostics: Vec<Diagnostic>,
    },
    /// The rules have errors.
    #[error("{} problem(s) in the rules", diagnostics.len())]
    Rules {
        /// Each problem, located.
        diagnostics: Vec<Diagnostic>,
    },
}

impl FileError {
    /// The located errors of a schema or rule set (none for the other kinds).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            FileError::Schema { diagnostics, .. } | FileError::Rules { diagnostics } => diagnostics,
            _ => &[],
        }
    }
}

/// A schema with rules compiled against it.
pub struct LoadedRules {
    /// The schema.
    pub schema: Schema,
    /// The compiled rule set.
    pub set: RuleSet,
    /// The segment definitions.
    pub defs: Vec<SegmentDef>,
}

/// Reads one file as text.
pub fn read_text(path: &Path) -> Result<SourceText, FileError> {
    let read_error = |source| FileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > MAX_FILE_BYTES {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    let bytes = std::fs::read(path).map_err(read_error)?;
    let text = String::from_utf8(bytes).map_err(|_| FileError::NotText { path: path.to_path_buf() })?;
    Ok(SourceText {
        name: path.display().to_string(),
        text,
    })
}

/// Reads files and directories of `*.toml` files.
pub fn read_toml_sources(paths: &[PathBuf]) -> Result<Vec<SourceText>, FileError> {
    let mut sources = Vec::new();
    for path in paths {
        if !path.is_dir() {
            sources.push(read_text(path)?);
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|source| FileError::Read {
            path: path.clone(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
            .collect();
        if files.is_empty() {
            return Err(FileError::NoFiles { path: path.clone() });
        }
        files.sort();
        for file in files {
            sources.push(read_text(&file)?);
        }
    }
    Ok(sources)
}

/// Reads and parses the schema.
pub fn load_schema(path: &Path) -> Result<Schema, FileError> {
    let source = read_text(path)?;
    Schema::from_toml(&source.text).map_err(|errors| FileError::Schema {
        path: path.to_path_buf(),
        diagnostics: errors
            .iter()
            .map(|e| Diagnostic::new(&source.name, &source.text, e.span, &e.message))
            .collect(),
    })
}

/// Reads the schema and the rules at `rules` (files or directories) and compiles them.
pub fn load_rules(schema: &Path, rules: &[PathBuf]) -> Result<LoadedRules, FileError> {
    let schema = load_schema(schema)?;
    let sources = read_toml_sources(rules)?;
    let (set, defs) = load_rule_files(&sources, &schema, &UdfRegistry::new(), Limits::default())
        .map_err(|diagnostics| FileError::Rules { diagnostics })?;
    Ok(LoadedRules { schema, set, defs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_rules_load_and_a_missing_file_is_named() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let loaded = load_rules(&root.join("schema.toml"), &[root.join("rules")]).unwrap();
        assert!(loaded.defs.len() >= 40, "{}", loaded.defs.len());
        let missing = load_rules(&root.join("schema.toml"), &[root.join("nope.toml")]).err().unwrap();
        assert!(missing.to_string().contains("nope.toml"), "{missing}");
    }

    #[test]
    fn a_directory_without_rule_files_is_an_error_and_rule_errors_are_located() {
        let dir = std::env::temp_dir().join(format!("segstream-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(
            read_toml_sources(std::slice::from_ref(&dir)),
            Err(FileError::NoFiles { .. })
        ));
        std::fs::write(dir.join("bad.toml"), "[[segment]]\nid = \"x\"\nname = \"X\"\nwhen = \"nope >\"\n").unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        let error = load_rules(&root.join("schema.toml"), std::slice::from_ref(&dir)).err().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!error.diagnostics().is_empty(), "{error}");
        assert!(error.diagnostics()[0].file.ends_with("bad.toml"));
    }
}
