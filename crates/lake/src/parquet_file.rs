//! One Parquet file of a table: its bytes, the columns asked for, and which row groups
//! may hold given keys.
//!
//! Contract: [`fetch`] reads a file the table names through the table's own object
//! store (local or remote alike). [`read_columns`] decodes the named columns of all, or
//! of some, row groups into Arrow batches. [`row_groups_that_may_hold`] asks the Bloom
//! filters of two columns which row groups may hold any of the given key pairs (a row
//! group without filters may hold anything): a late event merging into a large past
//! partition then reads the keys of the few row groups that may clash, not the whole
//! partition. Every failure names the file and says what is wrong with it — a damaged
//! file is a [`LakeError::File`], never a panic.

use std::collections::HashSet;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::datatypes::{Int32Type, Int64Type};
use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::file::properties::ReaderProperties;
use deltalake::parquet::file::reader::FileReader;
use deltalake::parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};
use deltalake::DeltaTable;

use crate::LakeError;

/// A file's bytes, as the table's object store holds them.
pub async fn fetch(table: &DeltaTable, table_name: &str, path: &Path) -> Result<bytes::Bytes, LakeError> {
    let store = table.object_store();
    let failed = |e: deltalake::logstore::object_store::Error| LakeError::table(table_name, e.into());
    store.get(path).await.map_err(failed)?.bytes().await.map_err(failed)
}

/// The `columns` of `file` (all row groups, or `row_groups`), as batches.
pub fn read_columns(
    file: &str,
    bytes: bytes::Bytes,
    columns: &[&str],
    row_groups: Option<Vec<usize>>,
) -> Result<Vec<RecordBatch>, LakeError> {
    let damaged = |e: &dyn std::fmt::Display| LakeError::file(file, e.to_string());
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| damaged(&e))?;
    let missing: Vec<&&str> = columns.iter().filter(|c| builder.schema().field_with_name(c).is_err()).collect();
    if !missing.is_empty() {
        return Err(LakeError::file(file, format!("it has no column {missing:?}")));
    }
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    let builder = builder.with_projection(mask);
    let builder = match row_groups {
        Some(groups) => builder.with_row_groups(groups),
        None => builder,
    };
    builder
        .build()
        .map_err(|e| damaged(&e))?
        .map(|batch| batch.map_err(|e| damaged(&e)))
        .collect()
}

/// The row groups of `file` whose Bloom filters on `columns` may hold one of `keys`.
pub fn row_groups_that_may_hold(
    file: &str,
    bytes: bytes::Bytes,
    columns: [&str; 2],
    keys: &HashSet<(String, String)>,
) -> Result<Vec<usize>, LakeError> {
    let damaged = |e: &dyn std::fmt::Display| LakeError::file(file, e.to_string());
    let options = ReadOptionsBuilder::new()
        .with_reader_properties(ReaderProperties::builder().set_read_bloom_filter(true).build())
        .build();
    let reader = SerializedFileReader::new_with_options(bytes, options).map_err(|e| damaged(&e))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let index = |name: &str| {
        (0..schema.num_columns())
            .find(|i| schema.column(*i).name() == name)
            .ok_or_else(|| LakeError::file(file, format!("it has no column {name:?}")))
    };
    let (first, second) = (index(columns[0])?, index(columns[1])?);
    let mut groups = Vec::new();
    for group in 0..reader.num_row_groups() {
        let row_group = reader.get_row_group(group).map_err(|e| damaged(&e))?;
        let (a, b) = (row_group.get_column_bloom_filter(first), row_group.get_column_bloom_filter(second));
        let may_hold = keys
            .iter()
            .any(|(x, y)| a.is_none_or(|f| f.check(x.as_str())) && b.is_none_or(|f| f.check(y.as_str())));
        if may_hold {
            groups.push(group);
        }
    }
    Ok(groups)
}

/// Typed columns of a batch read from `file`; a column of another type is a damaged file.
pub struct Columns<'a> {
    /// The file (for errors).
    pub file: &'a str,
    /// The batch.
    pub batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    fn column(&self, name: &str) -> Result<&'a dyn Array, LakeError> {
        self.batch
            .column_by_name(name)
            .map(|c| c.as_ref())
            .ok_or_else(|| LakeError::file(self.file, format!("it has no column {name:?}")))
    }

    fn wrong(&self, name: &str, wanted: &str) -> LakeError {
        LakeError::file(self.file, format!("its column {name:?} is not {wanted}"))
    }

    /// A string column.
    pub fn strings(&self, name: &str) -> Result<&'a deltalake::arrow::array::StringArray, LakeError> {
        self.column(name)?.as_string_opt::<i32>().ok_or_else(|| self.wrong(name, "text"))
    }

    /// A 64-bit integer column.
    pub fn longs(&self, name: &str) -> Result<&'a deltalake::arrow::array::Int64Array, LakeError> {
        self.column(name)?
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| self.wrong(name, "a long"))
    }

    /// A 32-bit integer column.
    pub fn ints(&self, name: &str) -> Result<&'a deltalake::arrow::array::Int32Array, LakeError> {
        self.column(name)?
            .as_primitive_opt::<Int32Type>()
            .ok_or_else(|| self.wrong(name, "an int"))
    }

    /// A binary column.
    pub fn binaries(&self, name: &str) -> Result<&'a deltalake::arrow::array::BinaryArray, LakeError> {
        self.column(name)?.as_binary_opt::<i32>().ok_or_else(|| self.wrong(name, "binary"))
    }
}
