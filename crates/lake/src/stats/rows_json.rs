//! Stats rows as the JSON objects published to `user-stats`.
//!
//! Contract: [`to_json_rows`] turns a batch of merged stats (a `user` column and one
//! column per [`FIELDS`] entry) into `(user, object)` pairs, each value typed as its
//! `[stats]` field reads it: timestamps as RFC 3339, durations as literals ("1m30s"),
//! lists as arrays (an absent list is empty), and an absent scalar left out.

use deltalake::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Float64Type, Int64Type};
use serde_json::{Map, Value};
use std::sync::Arc;

use super::merge::{FieldKind, FIELDS};
use crate::LakeError;

/// One published stats row: the user and the fields' values.
pub type StatsRow = (String, Map<String, Value>);

/// The batch's rows as published objects.
pub fn to_json_rows(batch: &RecordBatch) -> Result<Vec<StatsRow>, LakeError> {
    let column = |name: &str, to: &DataType| -> Result<ArrayRef, LakeError> {
        let array = batch
            .column_by_name(name)
            .ok_or_else(|| LakeError::Batch(format!("the stats query has no column {name:?}")))?;
        cast(array, to).map_err(|e| LakeError::Batch(format!("stats column {name:?}: {e}")))
    };
    let users = column("user", &DataType::Utf8)?;
    let users = users.as_string::<i32>();
    let mut rows: Vec<StatsRow> = (0..batch.num_rows()).map(|i| (users.value(i).to_string(), Map::new())).collect();
    for (name, kind) in FIELDS {
        let array = column(name, &arrow_type(kind))?;
        for (i, (_, object)) in rows.iter_mut().enumerate() {
            if let Some(value) = json_value(&array, i, kind) {
                object.insert(name.to_string(), value);
            }
        }
    }
    Ok(rows)
}

fn arrow_type(kind: FieldKind) -> DataType {
    let list = |element: DataType| DataType::List(Arc::new(Field::new("item", element, true)));
    match kind {
        FieldKind::Int | FieldKind::Timestamp | FieldKind::Duration => DataType::Int64,
        FieldKind::Double => DataType::Float64,
        FieldKind::Bool => DataType::Boolean,
        FieldKind::Ints => list(DataType::Int64),
        FieldKind::Doubles => list(DataType::Float64),
        FieldKind::Strings => list(DataType::Utf8),
    }
}

fn json_value(array: &ArrayRef, i: usize, kind: FieldKind) -> Option<Value> {
    let is_list = matches!(kind, FieldKind::Ints | FieldKind::Doubles | FieldKind::Strings);
    if array.is_null(i) {
        return is_list.then(|| Value::Array(Vec::new()));
    }
    Some(match kind {
        FieldKind::Int => array.as_primitive::<Int64Type>().value(i).into(),
        FieldKind::Timestamp => segstream_time::format_timestamp(array.as_primitive::<Int64Type>().value(i)).into(),
        FieldKind::Duration => segstream_time::format_duration(array.as_primitive::<Int64Type>().value(i)).into(),
        FieldKind::Double => double(array.as_primitive::<Float64Type>().value(i)),
        FieldKind::Bool => array.as_boolean().value(i).into(),
        FieldKind::Ints | FieldKind::Doubles | FieldKind::Strings => {
            let items = array.as_list::<i32>().value(i);
            Value::Array(
                (0..items.len())
                    .filter(|&j| !items.is_null(j))
                    .map(|j| match kind {
                        FieldKind::Ints => items.as_primitive::<Int64Type>().value(j).into(),
                        FieldKind::Doubles => double(items.as_primitive::<Float64Type>().value(j)),
                        _ => items.as_string::<i32>().value(j).into(),
                    })
                    .collect(),
            )
        }
    })
}

fn double(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}
