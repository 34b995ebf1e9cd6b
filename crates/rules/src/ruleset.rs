//! A compiled, consistent set of segments: the unit the classifier evaluates.
//!
//! Contract: [`RuleSet::compile`] checks every definition (consistency of the set and
//! each condition against the schema), shares identical features across segments, and
//! returns either the compiled set or every error, each naming its segment and field.
//! A compiled segment records what it reads, so a change to one feature re-evaluates
//! only the segments that read it ([`RuleSet::readers_of_feature`]).

use super::checker::{check_condition, static_cost, CheckEnv};
use super::error::Span;
use super::features::{FeatureRegistry, FeatureSpec};
use super::ir::{Source, TNode, Typed};
use super::limits::Limits;
use super::program::Program;
use super::schema::Schema;
use super::segment::{validate_definitions, DefField, SegmentDef};
use super::udf::UdfRegistry;
use super::view::View;

/// What a compiled condition reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// Feature slots, ascending.
    pub features: Vec<usize>,
    /// Profile field slots, ascending.
    pub profile: Vec<usize>,
    /// Stats field slots, ascending.
    pub stats: Vec<usize>,
    /// Whether it reads `now()` (directly or through `age()`), so its value can change
    /// with time alone.
    pub now: bool,
}

impl Reads {
    fn of(typed: &Typed) -> Reads {
        let mut reads = Reads::default();
        typed.walk(&mut |t| match &t.node {
            TNode::Field(source, slot) | TNode::Has(source, slot) => match source {
                Source::Feature => reads.features.push(*slot),
                Source::Profile => reads.profile.push(*slot),
                Source::Stats => reads.stats.push(*slot),
                Source::Event => {}
            },
            TNode::Age(slot) => {
                reads.profile.push(*slot);
                reads.now = true;
            }
            TNode::Now => reads.now = true,
            _ => {}
        });
        for list in [&mut reads.features, &mut reads.profile, &mut reads.stats] {
            list.sort_unstable();
            list.dedup();
        }
        reads
    }
}

/// One compiled segment.
#[derive(Clone)]
pub struct CompiledSegment {
    /// Its definition.
    pub def: SegmentDef,
    /// The checked condition.
    pub condition: Typed,
    /// The compiled condition.
    pub program: Program,
    /// What the condition reads.
    pub reads: Reads,
    /// Its static cost.
    pub cost: u64,
}

/// An error compiling a set: which segment, which field, where inside the condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentError {
    /// Index of the definition.
    pub segment: usize,
    /// Which field.
    pub field: DefField,
    /// Span inside the condition text, for condition errors.
    pub condition_span: Option<Span>,
    /// Why.
    pub message: String,
}

/// A compiled set of segments.
#[derive(Clone)]
pub struct RuleSet {
    segments: Vec<CompiledSegment>,
    features: FeatureRegistry,
    readers: Vec<Vec<usize>>,
}

impl RuleSet {
    /// Checks and compiles a set of definitions.
    pub fn compile(schema: &Schema, defs: &[SegmentDef], udfs: &UdfRegistry, limits: Limits) -> Result<RuleSet, Vec<SegmentError>> {
        let mut errors: Vec<SegmentError> = validate_definitions(defs)
            .into_iter()
            .map(|e| SegmentError {
                segment: e.segment,
                field: e.field,
                condition_span: None,
                message: e.message,
            })
            .collect();
        let mut features = FeatureRegistry::default();
        let mut segments = Vec::with_capacity(defs.len());
        for (i, def) in defs.iter().enumerate() {
            let mut env = CheckEnv {
                schema,
                udfs,
                features: &mut features,
                limits,
            };
            match check_condition(&def.when, &mut env) {
                Ok(condition) => segments.push(CompiledSegment {
                    def: def.clone(),
                    program: Program::compile(&condition, udfs),
                    reads: Reads::of(&condition),
                    cost: static_cost(&condition, udfs),
                    condition,
                }),
                Err(e) => errors.push(SegmentError {
                    segment: i,
                    field: DefField::When,
                    condition_span: Some(e.span),
                    message: e.message,
                }),
            }
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.segment);
            return Err(errors);
        }
        let mut readers = vec![Vec::new(); features.specs().len()];
        for (i, segment) in segments.iter().enumerate() {
            for &slot in &segment.reads.features {
                readers[slot].push(i);
            }
        }
        Ok(RuleSet {
            segments,
            features,
            readers,
        })
    }

    /// The compiled segments, in definition order.
    pub fn segments(&self) -> &[CompiledSegment] {
        &self.segments
    }

    /// The features the set needs, by slot.
    pub fn features(&self) -> &[FeatureSpec] {
        self.features.specs()
    }

    /// The segments (indices) that read a feature slot.
    pub fn readers_of_feature(&self, slot: usize) -> &[usize] {
        self.readers.get(slot).map_or(&[], Vec::as_slice)
    }

    /// Evaluates every segment's condition on a view: `Some(true)`, `Some(false)`, or
    /// `None` when missing.
    pub fn evaluate<'a>(&'a self, view: &'a View<'a>) -> impl Iterator<Item = (&'a CompiledSegment, Option<bool>)> + 'a {
        self.segments.iter().map(move |s| (s, s.program.eval_bool(view)))
    }
}
