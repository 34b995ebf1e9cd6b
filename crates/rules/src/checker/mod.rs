//! Type checker: turns a parsed condition into a [`Typed`] tree, or an error with its
//! span and reason.
//!
//! Contract: names resolve against the [`Schema`] (profile, stats, event types and
//! their properties) and the [`UdfRegistry`]; every segmentation function becomes a
//! feature slot in the shared [`FeatureRegistry`]; int meets double by an explicit
//! promotion; string concatenation is folded at check time (evaluation never
//! allocates); regexes are compiled here; and the static cost is bounded by
//! [`Limits::max_cost`]. Unknown names get a "did you mean" hint.

use std::sync::Arc;

use super::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use super::error::{RuleError, Span};
use super::features::{EventFilter, FeatureKind, FeatureRegistry, FeatureSpec};
use super::ir::{Source, StrTest, TNode, Typed};
use super::limits::Limits;
use super::parser::parse;
use super::program::Program;
use super::schema::Schema;
use super::suggest::did_you_mean;
use super::types::{FieldType, Type};
use super::udf::{builtin_names, UdfRegistry, SEGMENTATION_FUNCTIONS};
use super::value::FieldValue;
use segstream_time as time;

mod collections;
mod functions;
mod names;

/// What a condition may read.
#[derive(Clone, Copy)]
enum Scope {
    /// A segment condition: profile, stats, features, `now()`.
    Segment,
    /// A count filter over one event type: only `event.<prop>` and constants.
    Filter(usize),
}

/// Everything the checker needs besides the text.
pub struct CheckEnv<'a> {
    /// The declared schema.
    pub schema: &'a Schema,
    /// Host-defined functions.
    pub udfs: &'a UdfRegistry,
    /// The feature slots shared by a rule set; new features are added here.
    pub features: &'a mut FeatureRegistry,
    /// Size and cost limits.
    pub limits: Limits,
}

/// Parses and checks a segment condition, which must be a bool.
pub fn check_condition(text: &str, env: &mut CheckEnv<'_>) -> Result<Typed, RuleError> {
    let expr = parse(text, &env.limits)?;
    let mut checker = Checker {
        env,
        scope: Scope::Segment,
    };
    let typed = checker.expr(&expr)?;
    checker.bounded_predicate(&typed, expr.span, "condition")?;
    Ok(typed)
}

/// The static cost of evaluating a tree once (see `docs/rules.md`, "Limits").
pub fn static_cost(typed: &Typed, udfs: &UdfRegistry) -> u64 {
    let mut cost = 0u64;
    typed.walk(&mut |t| {
        cost += match &t.node {
            TNode::StrTest(..) => 4,
            TNode::Matches(..) => 20,
            TNode::InList(_, items) => 1 + items.len() as u64,
            TNode::InValue(..) => 16,
            TNode::InMap(_, keys) | TNode::MapIndex(_, keys, _) => 1 + keys.len() as u64,
            TNode::Udf(id, _) => udfs.get(*id).map_or(1, |u| u.cost.max(1)),
            _ => 1,
        };
    });
    cost
}

struct Checker<'e, 'a> {
    env: &'e mut CheckEnv<'a>,
    scope: Scope,
}

fn typed(ty: Type, node: TNode, span: Span) -> Typed {
    Typed { ty, node, span }
}

fn constant(value: FieldValue, ty: Type, span: Span) -> Typed {
    typed(ty, TNode::Const(value), span)
}

/// Wraps an int operand in a promotion to double.
fn promote(t: Typed) -> Typed {
    let span = t.span;
    typed(Type::Double, TNode::ToDouble(Box::new(t)), span)
}

/// Brings two operands to a common type if one is int and the other double.
fn unify_numeric(a: Typed, b: Typed) -> (Typed, Typed) {
    match (&a.ty, &b.ty) {
        (Type::Int, Type::Double) => (promote(a), b),
        (Type::Double, Type::Int) => (a, promote(b)),
        _ => (a, b),
    }
}

fn is_const(t: &Typed) -> Option<&FieldValue> {
    match &t.node {
        TNode::Const(v) => Some(v),
        _ => None,
    }
}

impl Checker<'_, '_> {
    /// Checks that a checked `what` (a condition, a count filter) is a bool within the
    /// cost limit.
    fn bounded_predicate(&self, typed: &Typed, span: Span, what: &str) -> Result<(), RuleError> {
        if typed.ty != Type::Bool {
            return Err(RuleError::new(span, format!("a {what} must be a bool, but this is {}", typed.ty)));
        }
        let cost = static_cost(typed, self.env.udfs);
        let limit = self.env.limits.max_cost;
        if cost > limit {
            return Err(RuleError::new(
                span,
                format!("{what} is too costly to evaluate (cost {cost}; the limit is {limit})"),
            ));
        }
        Ok(())
    }

    fn schema(&self) -> &Schema {
        self.env.schema
    }

    fn expr(&mut self, e: &Expr) -> Result<Typed, RuleError> {
        let span = e.span;
        match &e.kind {
            ExprKind::Int(i) => Ok(constant(FieldValue::Int(*i), Type::Int, span)),
            ExprKind::Double(d) => Ok(constant(FieldValue::Double(*d), Type::Double, span)),
            ExprKind::Str(s) => Ok(constant(FieldValue::Str(s.as_str().into()), Type::String, span)),
            ExprKind::Bool(b) => Ok(constant(FieldValue::Bool(*b), Type::Bool, span)),
            ExprKind::Null => Err(RuleError::new(
                span,
                "null is not supported; use has(field) to test whether a field is set",
            )),
            ExprKind::Ident(name) => Err(self.bare_name(name, span)),
            ExprKind::Select(target, field, field_span) => self.select(target, field, *field_span, span),
            ExprKind::Call {
                target: Some(target),
                name,
                name_span,
                args,
            } => self.method(target, name, *name_span, args, span),
            ExprKind::Call {
                target: None,
                name,
                name_span,
                args,
            } => self.function(name, *name_span, args, span),
            ExprKind::Index(target, index) => self.index(target, index, span),
            ExprKind::List(items) => self.standalone_list(items, span),
            ExprKind::Map(_) => Err(RuleError::new(
                span,
                "a map literal can only be indexed (m[key]) or tested with `in`",
            )),
            ExprKind::Unary(op, operand) => self.unary(*op, operand, span),
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, span),
            ExprKind::Cond(c, a, b) => {
                let c = self.expect_type(c, &Type::Bool, "the condition of `? :`")?;
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                let (a, b) = unify_numeric(a, b);
                if a.ty != b.ty {
                    return Err(RuleError::new(
                        span,
                        format!("the branches of `? :` have different types: {} and {}", a.ty, b.ty),
                    ));
                }
                if matches!(a.ty, Type::Event(_) | Type::Map(..)) {
                    return Err(RuleError::new(span, format!("`? :` cannot choose between values of type {}", a.ty)));
                }
                Ok(typed(a.ty.clone(), TNode::Cond(Box::new(c), Box::new(a), Box::new(b)), span))
            }
        }
    }

    fn expect_type(&mut self, e: &Expr, want: &Type, what: &str) -> Result<Typed, RuleError> {
        let t = self.expr(e)?;
        if &t.ty == want {
            Ok(t)
        } else if *want == Type::Double && t.ty == Type::Int {
            Ok(promote(t))
        } else {
            Err(RuleError::new(t.span, format!("{what} must be {want}, but this is {}", t.ty)))
        }
    }

    fn bare_name(&self, name: &str, span: Span) -> RuleError {
        match (name, self.scope) {
            ("profile" | "stats", _) => RuleError::new(
                span,
                format!(
                    "`{name}` is a record; read one of its fields, e.g. {name}.{}",
                    self.example_field(name)
                ),
            ),
            ("event", Scope::Filter(_)) => RuleError::new(span, "`event` is a record; read one of its properties, e.g. event.amount"),
            ("event", Scope::Segment) => RuleError::new(
                span,
                "`event` can only be used inside a count filter, e.g. count(\"purchase\", \"7d\", event.amount > 5.0)",
            ),
            _ => RuleError::new(
                span,
                format!("unknown name `{name}`{}", did_you_mean(name, ["profile", "stats", "event"])),
            ),
        }
    }

    fn example_field(&self, record: &str) -> String {
        let fields = if record == "profile" {
            &self.schema().profile
        } else {
            &self.schema().stats
        };
        fields.names().next().unwrap_or("name").to_string()
    }

    fn unary(&mut self, op: UnaryOp, operand: &Expr, span: Span) -> Result<Typed, RuleError> {
        let t = self.expr(operand)?;
        match (op, &t.ty) {
            (UnaryOp::Not, Type::Bool) => Ok(typed(Type::Bool, TNode::Not(Box::new(t)), span)),
            (UnaryOp::Neg, Type::Int | Type::Double | Type::Duration) => Ok(typed(t.ty.clone(), TNode::Neg(Box::new(t)), span)),
            (UnaryOp::Not, other) => Err(RuleError::new(t.span, format!("`!` needs a bool, but this is {other}"))),
            (UnaryOp::Neg, other) => Err(RuleError::new(
                t.span,
                format!("`-` needs a number or a duration, but this is {other}"),
            )),
        }
    }

    fn binary(&mut self, op: BinaryOp, a: &Expr, b: &Expr, span: Span) -> Result<Typed, RuleError> {
        if op == BinaryOp::In {
            return self.membership(a, b, span);
        }
        if matches!(op, BinaryOp::And | BinaryOp::Or) {
            let what = format!("each side of `{}`", op.symbol());
            let (l, r) = (self.expect_type(a, &Type::Bool, &what)?, self.expect_type(b, &Type::Bool, &what)?);
            let node = if op == BinaryOp::And {
                TNode::And(Box::new(l), Box::new(r))
            } else {
                TNode::Or(Box::new(l), Box::new(r))
            };
            return Ok(typed(Type::Bool, node, span));
        }
        let (l, r) = unify_numeric(self.expr(a)?, self.expr(b)?);
        let mismatch = || RuleError::new(span, format!("`{}` cannot be applied to {} and {}", op.symbol(), l.ty, r.ty));
        let result = match op {
            BinaryOp::Eq | BinaryOp::Ne => {
                if l.ty != r.ty || matches!(l.ty, Type::List(_) | Type::Map(..) | Type::Event(_)) {
                    return Err(mismatch());
                }
                return Ok(typed(Type::Bool, TNode::Compare(op, Box::new(l), Box::new(r)), span));
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                if l.ty != r.ty || !l.ty.is_ordered() {
                    return Err(mismatch());
                }
                return Ok(typed(Type::Bool, TNode::Compare(op, Box::new(l), Box::new(r)), span));
            }
            BinaryOp::Add => match (&l.ty, &r.ty) {
                (Type::String, Type::String) => {
                    return match (is_const(&l), is_const(&r)) {
                        (Some(FieldValue::Str(x)), Some(FieldValue::Str(y))) => {
                            Ok(constant(FieldValue::Str(format!("{x}{y}").into()), Type::String, span))
                        }
                        _ => Err(RuleError::new(
                            span,
                            "strings can only be concatenated when both are constants (conditions never allocate)",
                        )),
                    }
                }
                (Type::Int, Type::Int) | (Type::Double, Type::Double) | (Type::Duration, Type::Duration) => l.ty.clone(),
                (Type::Timestamp, Type::Duration) | (Type::Duration, Type::Timestamp) => Type::Timestamp,
                _ => return Err(mismatch()),
            },
            BinaryOp::Sub => match (&l.ty, &r.ty) {
                (Type::Int, Type::Int) | (Type::Double, Type::Double) | (Type::Duration, Type::Duration) => l.ty.clone(),
                (Type::Timestamp, Type::Timestamp) => Type::Duration,
                (Type::Timestamp, Type::Duration) => Type::Timestamp,
                _ => return Err(mismatch()),
            },
            BinaryOp::Mul | BinaryOp::Div => match (&l.ty, &r.ty) {
                (Type::Int, Type::Int) | (Type::Double, Type::Double) => l.ty.clone(),
                _ => return Err(mismatch()),
            },
            BinaryOp::Rem => match (&l.ty, &r.ty) {
                (Type::Int, Type::Int) => Type::Int,
                _ => return Err(mismatch()),
            },
            BinaryOp::And | BinaryOp::Or | BinaryOp::In => return Err(mismatch()),
        };
        Ok(typed(result, TNode::Arith(op, Box::new(l), Box::new(r)), span))
    }
}
