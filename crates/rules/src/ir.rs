//! The checked, typed form of a condition.
//!
//! Contract: a [`Typed`] tree is well-typed by construction (the checker built it):
//! names are resolved to slots, implicit int→double promotions are explicit
//! [`TNode::ToDouble`] nodes, every segmentation function is a feature slot, and every
//! regex is compiled. Both the compiled evaluator and the reference interpreter take
//! this tree; they agree on every input (tested by property tests).

use std::sync::Arc;

use super::ast::BinaryOp;
use super::error::Span;
use super::types::Type;
use super::value::FieldValue;

/// Where a field's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The user's profile.
    Profile,
    /// The user's historical stats.
    Stats,
    /// A per-user real-time feature slot.
    Feature,
    /// The event being filtered (inside a count filter only).
    Event,
}

/// String predicates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StrTest {
    /// `s.startsWith(p)`
    StartsWith,
    /// `s.endsWith(p)`
    EndsWith,
    /// `s.contains(p)`
    Contains,
}

/// A typed expression.
#[derive(Clone, Debug)]
pub struct Typed {
    /// Its static type.
    pub ty: Type,
    /// What it computes.
    pub node: TNode,
    /// The text it came from.
    pub span: Span,
}

/// Typed expression kinds.
#[derive(Clone, Debug)]
pub enum TNode {
    /// A constant.
    Const(FieldValue),
    /// A field slot of a source.
    Field(Source, usize),
    /// `has(...)` of a field slot: never missing.
    Has(Source, usize),
    /// `now()`.
    Now,
    /// `age()`: whole years from the profile date slot to `now()`.
    Age(usize),
    /// `!x`
    Not(Box<Typed>),
    /// `-x` (int or double or duration).
    Neg(Box<Typed>),
    /// `a && b`, Kleene logic.
    And(Box<Typed>, Box<Typed>),
    /// `a || b`, Kleene logic.
    Or(Box<Typed>, Box<Typed>),
    /// `c ? a : b`.
    Cond(Box<Typed>, Box<Typed>, Box<Typed>),
    /// Arithmetic (`+ - * / %`) on operands whose types the checker has matched.
    Arith(BinaryOp, Box<Typed>, Box<Typed>),
    /// Comparison (`== != < <= > >=`) of two operands of the same type.
    Compare(BinaryOp, Box<Typed>, Box<Typed>),
    /// `x in [a, b, …]` on a list literal.
    InList(Box<Typed>, Vec<Typed>),
    /// `x in list` on a list-valued expression.
    InValue(Box<Typed>, Box<Typed>),
    /// `k in {…}` on a map literal (constant keys).
    InMap(Box<Typed>, Vec<FieldValue>),
    /// `{k: v, …}[key]` on a map literal (constant keys).
    MapIndex(Box<Typed>, Vec<FieldValue>, Vec<Typed>),
    /// `[a, b][i]` on a list literal.
    ListLiteralIndex(Vec<Typed>, Box<Typed>),
    /// `list[i]` on a list-valued expression.
    ListIndex(Box<Typed>, Box<Typed>),
    /// `s.startsWith(p)` and friends.
    StrTest(StrTest, Box<Typed>, Box<Typed>),
    /// `s.matches(re)` with the regex compiled once.
    Matches(Box<Typed>, Arc<regex::Regex>),
    /// `size(x)` of a string (bytes) or a list-valued expression.
    Size(Box<Typed>),
    /// `int(double)`, truncating toward zero; missing if out of range.
    ToInt(Box<Typed>),
    /// `double(int)`, also inserted for implicit promotion.
    ToDouble(Box<Typed>),
    /// A user-defined function call.
    Udf(usize, Vec<Typed>),
}

impl Typed {
    /// Calls `visit` on every node of the tree, parents first.
    pub fn walk(&self, visit: &mut dyn FnMut(&Typed)) {
        visit(self);
        match &self.node {
            TNode::Const(_) | TNode::Field(..) | TNode::Has(..) | TNode::Now | TNode::Age(_) => {}
            TNode::Not(a)
            | TNode::Neg(a)
            | TNode::InMap(a, _)
            | TNode::Matches(a, _)
            | TNode::Size(a)
            | TNode::ToInt(a)
            | TNode::ToDouble(a) => a.walk(visit),
            TNode::And(a, b)
            | TNode::Or(a, b)
            | TNode::Arith(_, a, b)
            | TNode::Compare(_, a, b)
            | TNode::InValue(a, b)
            | TNode::ListIndex(a, b)
            | TNode::StrTest(_, a, b) => {
                a.walk(visit);
                b.walk(visit);
            }
            TNode::Cond(a, b, c) => {
                a.walk(visit);
                b.walk(visit);
                c.walk(visit);
            }
            TNode::InList(a, items) | TNode::MapIndex(a, _, items) | TNode::ListLiteralIndex(items, a) => {
                a.walk(visit);
                items.iter().for_each(|i| i.walk(visit));
            }
            TNode::Udf(_, args) => args.iter().for_each(|a| a.walk(visit)),
        }
    }
}
