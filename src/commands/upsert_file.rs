//! Reading profile or stats upserts from NDJSON for `segstream run`.
//!
//! Contract: each line is an upsert in the file form of `segstream_model::upsert`; a bad
//! line is an error naming its line number and reason (upserts are state, so a partly
//! read file is not used).

use std::io::BufRead;
use std::path::Path;

use segstream_dataflows::classifier::ClassifierConfig;
use segstream_model::event::Row;
use segstream_model::upsert::decode_upsert_line;
use segstream_rules::FieldSet;

use crate::error::CommandError;

/// One upsert: (tick, user, row or delete).
pub type Upsert = (u64, String, Option<Row>);

/// Reads every upsert of a file.
pub fn read_upserts(path: &Path, record: &str, fields: &FieldSet, config: &ClassifierConfig) -> Result<Vec<Upsert>, CommandError> {
    let file = std::fs::File::open(path).map_err(|source| CommandError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut upserts = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| CommandError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let upsert = decode_upsert_line(&line, record, fields)
            .map(|(time, user, row)| (config.tick_of(time), user, row))
            .map_err(|reason| CommandError::Invalid(format!("{}:{}: {reason}", path.display(), number + 1)))?;
        upserts.push(upsert);
    }
    Ok(upserts)
}
