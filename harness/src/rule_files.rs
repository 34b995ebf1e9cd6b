//! Reading a schema and rule files from disk, for the harness and the benchmarks.
//!
//! Contract: [`load`] reads the schema file and every `*.toml` file of each rule
//! location (a file, or a directory read in name order), and compiles them; any problem
//! is an error naming the file.

use std::path::{Path, PathBuf};

use segstream_dataflows::rules::{load_rule_files, Limits, RuleSet, Schema, SegmentDef, SourceText, UdfRegistry};

/// A schema with the rules compiled against it.
pub struct Loaded {
    /// The schema.
    pub schema: Schema,
    /// The compiled rule set.
    pub set: RuleSet,
    /// The segment definitions.
    pub defs: Vec<SegmentDef>,
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The rule files of `location`: itself, or its `*.toml` files in name order.
fn files(location: &Path) -> Result<Vec<PathBuf>, String> {
    if !location.is_dir() {
        return Ok(vec![location.to_path_buf()]);
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(location)
        .map_err(|e| format!("{}: {e}", location.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Loads `schema` and the rules at `locations` (see the module contract).
pub fn load(schema: &Path, locations: &[PathBuf]) -> Result<Loaded, String> {
    let schema = Schema::from_toml(&read(schema)?).map_err(|errors| {
        let reasons: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
        format!("{}: {}", schema.display(), reasons.join("; "))
    })?;
    let mut sources = Vec::new();
    for location in locations {
        for path in files(location)? {
            sources.push(SourceText {
                name: path.display().to_string(),
                text: read(&path)?,
            });
        }
    }
    let (set, defs) = load_rule_files(&sources, &schema, &UdfRegistry::new(), Limits::default()).map_err(|d| {
        format!(
            "{} problem(s) in the rules: {}",
            d.len(),
            d.first().map(ToString::to_string).unwrap_or_default()
        )
    })?;
    Ok(Loaded { schema, set, defs })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_rules_load_and_a_missing_file_is_named() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("configs");
        let loaded = load(&root.join("schema.toml"), &[root.join("rules")]).unwrap();
        assert!(loaded.defs.len() >= 40, "{}", loaded.defs.len());
        let missing = load(&root.join("schema.toml"), &[root.join("nope.toml")]).err().unwrap_or_default();
        assert!(missing.contains("nope.toml"), "{missing}");
    }
}
