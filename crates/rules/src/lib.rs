//! segstream-rules: the rule language. CEL-syntax segment conditions, typed against a
//! schema, compiled once into an allocation-free evaluator with a bounded cost.
//!
//! Pipeline: text → [`parse`] (syntax tree, limits enforced) → checker (types,
//! names, features; [`check_condition`]) → [`Program`] (compiled evaluator). A set of
//! segment definitions compiles as a [`RuleSet`]; files load with
//! [`load_rule_files`], from disk with [`files`]. Semantics are specified in
//! `docs/rules.md`.
//!
//! Contract: pure computation over texts (only [`files`] reads the disk); no timely or
//! differential. The `reference` feature adds `reference_evaluate`, the plain
//! interpreter that property tests hold the compiled evaluator to; production builds
//! leave it off.
#![deny(missing_docs)]

mod ast;
mod checker;
mod error;
mod feature_reference;
mod features;
pub mod files;
mod ir;
mod lexer;
mod limits;
mod loader;
mod packed_row;
mod parser;
mod printer;
mod program;
#[cfg(feature = "reference")]
mod reference;
mod ruleset;
mod sample_view;
mod schema;
mod segment;
pub mod snapshot;
mod suggest;
mod types;
mod udf;
mod value;
mod view;

pub use ast::{BinaryOp, Expr, ExprKind, UnaryOp};
pub use checker::{check_condition, static_cost, CheckEnv};
pub use error::{line_col, Diagnostic, LineCol, RuleError, Span};
pub use feature_reference::{compute_features, dedup_by_id, tick_of, ObservedEvent};
pub use features::{EventFilter, FeatureKind, FeatureRegistry, FeatureSpec};
pub use ir::{Source, TNode, Typed};
pub use limits::Limits;
pub use loader::{load_rule_files, SourceText};
pub use packed_row::{Fields, PackedRow};
pub use parser::parse;
pub use program::Program;
#[cfg(feature = "reference")]
pub use reference::evaluate as reference_evaluate;
pub use ruleset::{CompiledSegment, Reads, RuleSet, SegmentError};
pub use sample_view::SampleView;
pub use schema::{FieldSet, Schema, SchemaError};
pub use segment::{is_valid_id, parse_rule_file, validate_definitions, DefField, DefSpans, DefinitionError, SegmentDef, SegmentKind};
pub use types::{FieldType, Type};
pub use udf::{Udf, UdfBody, UdfRegistry, MAX_UDF_PARAMS, OTHER_BUILTINS, SEGMENTATION_FUNCTIONS};
pub use value::{FieldValue, Value};
pub use view::View;
