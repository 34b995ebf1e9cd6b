//! Opening a segstream table: create it if missing, refuse it if it is something else.
//!
//! Contract: [`open_or_create`] opens the Delta table at a location, or creates it with
//! the given name, columns and partition columns when there is none ([`open_existing`]
//! refuses an empty location instead); an existing table
//! whose columns (names, types, nullability), partitioning or name differ is refused
//! with [`LakeError::WrongTable`] saying what differs: writing into it would mix two
//! things.

use deltalake::kernel::StructField;
use deltalake::{DeltaTable, DeltaTableError};

use crate::location::TableLocation;
use crate::LakeError;

/// What a segstream table is: its kind (for errors), name, columns and partitioning.
pub struct TableShape<'a> {
    /// "raw" or "curated".
    pub kind: &'static str,
    /// The table's name in its metadata.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<StructField>,
    /// Its partition columns, outermost first.
    pub partitions: &'a [&'a str],
}

/// Opens the table at `location`, creating it with `shape` if there is none.
pub async fn open_or_create(location: &TableLocation, shape: &TableShape<'_>) -> Result<DeltaTable, LakeError> {
    open(location, shape, true).await
}

/// Opens the table at `location`; none there is an error.
pub async fn open_existing(location: &TableLocation, shape: &TableShape<'_>) -> Result<DeltaTable, LakeError> {
    open(location, shape, false).await
}

async fn open(location: &TableLocation, shape: &TableShape<'_>, create: bool) -> Result<DeltaTable, LakeError> {
    let url = location.url.to_string();
    let table_error = |source: DeltaTableError| LakeError::table(&url, source);
    let mut table = location.builder()?.build().map_err(table_error)?;
    let table = match table.load().await {
        Ok(()) => table,
        Err(DeltaTableError::NotATable(_)) if !create => {
            return Err(LakeError::WrongTable {
                location: url.clone(),
                kind: shape.kind,
                reason: "there is no table there".into(),
            })
        }
        Err(DeltaTableError::NotATable(_)) => table
            .create()
            .with_table_name(shape.name.clone())
            .with_columns(shape.columns.clone())
            .with_partition_columns(shape.partitions.iter().copied())
            .await
            .map_err(table_error)?,
        Err(source) => return Err(table_error(source)),
    };
    check(&table, &url, shape)?;
    Ok(table)
}

fn check(table: &DeltaTable, url: &str, shape: &TableShape<'_>) -> Result<(), LakeError> {
    let snapshot = table.snapshot().map_err(|e| LakeError::table(url, e))?;
    let describe = |f: &StructField| format!("{} {:?}{}", f.name(), f.data_type(), if f.is_nullable() { "" } else { " not null" });
    let found: Vec<String> = snapshot.schema().fields().map(describe).collect();
    let wanted: Vec<String> = shape.columns.iter().map(describe).collect();
    let metadata = snapshot.metadata();
    let partitioned: Vec<&str> = metadata.partition_columns().iter().map(String::as_str).collect();
    let name = metadata.name().unwrap_or_default();
    let reason = if found != wanted {
        format!("its columns are {found:?}")
    } else if partitioned != shape.partitions {
        format!("it is partitioned by {partitioned:?}")
    } else if name != shape.name {
        format!("it is the table {name:?}, not {:?}", shape.name)
    } else {
        return Ok(());
    };
    Err(LakeError::WrongTable {
        location: url.to_string(),
        kind: shape.kind,
        reason,
    })
}
