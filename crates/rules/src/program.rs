//! The compiled evaluator: a checked condition as a tree of pre-resolved nodes.
//!
//! Contract: [`Program::compile`] turns a [`Typed`] tree into a [`Program`] once;
//! [`Program::eval`] then evaluates it against a [`View`] without allocating (values
//! borrow from the view or from the program's constants) and in time bounded by the
//! checked cost. Constant subtrees are folded at compile time. Missing values follow
//! the semantics in `docs/rules.md`: strict operators propagate them, `&&`/`||` use
//! Kleene logic, `has()` is never missing, and a non-finite double, an integer overflow
//! or a division by zero is missing.

use std::sync::Arc;

use super::ast::BinaryOp;
use super::ir::{Source, StrTest, TNode, Typed};
use super::types::Type;
use super::udf::{UdfBody, UdfRegistry, MAX_UDF_PARAMS};
use super::value::{FieldValue, Value};
use super::view::View;
use segstream_time::whole_years_between;

/// A compiled condition or expression.
#[derive(Clone)]
pub struct Program {
    root: Node,
}

#[derive(Clone)]
enum Node {
    Const(FieldValue),
    Missing,
    Field(Source, usize),
    Has(Source, usize),
    Now,
    Age(usize),
    Not(Box<Node>),
    Neg(Box<Node>),
    /// `a && b && …`, flattened; Kleene logic.
    All(Vec<Node>),
    /// `a || b || …`, flattened; Kleene logic.
    Any(Vec<Node>),
    /// `field OP constant`, the most common comparison, without recursion.
    CompareField(BinaryOp, Source, usize, FieldValue),
    Cond(Box<(Node, Node, Node)>),
    Arith(BinaryOp, Box<(Node, Node)>),
    Compare(BinaryOp, Box<(Node, Node)>),
    InList(Box<Node>, Vec<Node>),
    InValue(Box<(Node, Node)>),
    InKeys(Box<Node>, Vec<FieldValue>),
    MapIndex(Box<Node>, Vec<FieldValue>, Vec<Node>),
    ListLiteralIndex(Vec<Node>, Box<Node>),
    ListIndex(Box<(Node, Node)>),
    StrTest(StrTest, Box<(Node, Node)>),
    Matches(Box<Node>, Arc<regex::Regex>),
    Size(Box<Node>),
    ToInt(Box<Node>),
    ToDouble(Box<Node>),
    Udf(UdfBody, Type, Vec<Node>),
}

impl Node {
    /// Whether the node reads nothing from the view (so it can be folded).
    fn is_constant(&self) -> bool {
        matches!(self, Node::Const(_) | Node::Missing)
    }
}

/// Equality of two values of compatible types (ints and doubles compare numerically).
#[inline]
pub(crate) fn values_equal(a: Value<'_>, b: Value<'_>) -> bool {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Timestamp(x), Value::Timestamp(y)) | (Value::Duration(x), Value::Duration(y)) => x == y,
        (Value::Double(x), Value::Double(y)) => x == y,
        (Value::Int(x), Value::Double(y)) | (Value::Double(y), Value::Int(x)) => x as f64 == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(x), Value::List(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p.as_value(), q.as_value())),
        _ => false,
    }
}

#[inline]
fn order(a: Value<'_>, b: Value<'_>) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) | (Value::Timestamp(x), Value::Timestamp(y)) | (Value::Duration(x), Value::Duration(y)) => {
            Some(x.cmp(&y))
        }
        (Value::Double(x), Value::Double(y)) => x.partial_cmp(&y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[inline]
fn compare<'a>(op: BinaryOp, a: Value<'_>, b: Value<'_>) -> Option<Value<'a>> {
    let result = match op {
        BinaryOp::Eq => values_equal(a, b),
        BinaryOp::Ne => !values_equal(a, b),
        BinaryOp::Lt => order(a, b)?.is_lt(),
        BinaryOp::Le => order(a, b)?.is_le(),
        BinaryOp::Gt => order(a, b)?.is_gt(),
        BinaryOp::Ge => order(a, b)?.is_ge(),
        _ => return None,
    };
    Some(Value::Bool(result))
}

#[inline]
fn finite(d: f64) -> Option<Value<'static>> {
    d.is_finite().then_some(Value::Double(d))
}

#[inline]
fn arith<'a>(op: BinaryOp, a: Value<'a>, b: Value<'a>) -> Option<Value<'a>> {
    use BinaryOp::{Add, Div, Mul, Rem, Sub};
    match (op, a, b) {
        (Add, Value::Int(x), Value::Int(y)) => x.checked_add(y).map(Value::Int),
        (Sub, Value::Int(x), Value::Int(y)) => x.checked_sub(y).map(Value::Int),
        (Mul, Value::Int(x), Value::Int(y)) => x.checked_mul(y).map(Value::Int),
        (Div, Value::Int(x), Value::Int(y)) => x.checked_div(y).map(Value::Int),
        (Rem, Value::Int(x), Value::Int(y)) => x.checked_rem(y).map(Value::Int),
        (Add, Value::Double(x), Value::Double(y)) => finite(x + y),
        (Sub, Value::Double(x), Value::Double(y)) => finite(x - y),
        (Mul, Value::Double(x), Value::Double(y)) => finite(x * y),
        (Div, Value::Double(x), Value::Double(y)) => finite(x / y),
        (Add, Value::Duration(x), Value::Duration(y)) => x.checked_add(y).map(Value::Duration),
        (Sub, Value::Duration(x), Value::Duration(y)) => x.checked_sub(y).map(Value::Duration),
        (Add, Value::Timestamp(x), Value::Duration(y)) | (Add, Value::Duration(y), Value::Timestamp(x)) => {
            x.checked_add(y).map(Value::Timestamp)
        }
        (Sub, Value::Timestamp(x), Value::Duration(y)) => x.checked_sub(y).map(Value::Timestamp),
        (Sub, Value::Timestamp(x), Value::Timestamp(y)) => x.checked_sub(y).map(Value::Duration),
        _ => None,
    }
}

fn value_has_type(value: &Value<'_>, ty: &Type) -> bool {
    matches!(
        (value, ty),
        (Value::Bool(_), Type::Bool)
            | (Value::Int(_), Type::Int)
            | (Value::Double(_), Type::Double)
            | (Value::Str(_), Type::String)
            | (Value::Timestamp(_), Type::Timestamp)
            | (Value::Duration(_), Type::Duration)
            | (Value::List(_), Type::List(_))
    )
}

impl Program {
    /// Compiles a checked tree.
    pub fn compile(typed: &Typed, udfs: &UdfRegistry) -> Program {
        Program {
            root: compile_node(typed, udfs),
        }
    }

    /// Evaluates against a view; `None` is a missing value.
    #[inline]
    pub fn eval<'a>(&'a self, view: &View<'a>) -> Option<Value<'a>> {
        eval(&self.root, view)
    }

    /// Evaluates a condition: `Some(true)`, `Some(false)`, or `None` for missing.
    #[inline]
    pub fn eval_bool(&self, view: &View<'_>) -> Option<bool> {
        eval_bool(&self.root, view)
    }

    /// Evaluates a condition to membership: a missing result is not a member.
    #[inline]
    pub fn matches(&self, view: &View<'_>) -> bool {
        self.eval_bool(view) == Some(true)
    }
}

fn boxed2(a: &Typed, b: &Typed, udfs: &UdfRegistry) -> Box<(Node, Node)> {
    Box::new((compile_node(a, udfs), compile_node(b, udfs)))
}

fn compile_node(t: &Typed, udfs: &UdfRegistry) -> Node {
    let one = |a: &Typed| Box::new(compile_node(a, udfs));
    let many = |items: &[Typed]| items.iter().map(|i| compile_node(i, udfs)).collect::<Vec<_>>();
    let node = match &t.node {
        TNode::Const(v) => return Node::Const(v.clone()),
        TNode::Field(source, slot) => return Node::Field(*source, *slot),
        TNode::Has(source, slot) => return Node::Has(*source, *slot),
        TNode::Now => return Node::Now,
        TNode::Age(slot) => return Node::Age(*slot),
        TNode::Not(a) => Node::Not(one(a)),
        TNode::Neg(a) => Node::Neg(one(a)),
        TNode::And(..) => Node::All(flatten(t, udfs, true)),
        TNode::Or(..) => Node::Any(flatten(t, udfs, false)),
        TNode::Cond(c, a, b) => Node::Cond(Box::new((compile_node(c, udfs), compile_node(a, udfs), compile_node(b, udfs)))),
        TNode::Arith(op, a, b) => Node::Arith(*op, boxed2(a, b, udfs)),
        TNode::Compare(op, a, b) => match (compile_node(a, udfs), compile_node(b, udfs)) {
            (Node::Field(source, slot), Node::Const(c)) => Node::CompareField(*op, source, slot, c),
            (Node::Const(c), Node::Field(source, slot)) => Node::CompareField(mirror(*op), source, slot, c),
            (left, right) => Node::Compare(*op, Box::new((left, right))),
        },
        TNode::InList(x, items) => Node::InList(one(x), many(items)),
        TNode::InValue(x, list) => Node::InValue(boxed2(x, list, udfs)),
        TNode::InMap(x, keys) => Node::InKeys(one(x), keys.clone()),
        TNode::MapIndex(x, keys, values) => Node::MapIndex(one(x), keys.clone(), many(values)),
        TNode::ListLiteralIndex(items, i) => Node::ListLiteralIndex(many(items), one(i)),
        TNode::ListIndex(list, i) => Node::ListIndex(boxed2(list, i, udfs)),
        TNode::StrTest(kind, a, b) => Node::StrTest(*kind, boxed2(a, b, udfs)),
        TNode::Matches(a, re) => Node::Matches(one(a), Arc::clone(re)),
        TNode::Size(a) => Node::Size(one(a)),
        TNode::ToInt(a) => Node::ToInt(one(a)),
        TNode::ToDouble(a) => Node::ToDouble(one(a)),
        TNode::Udf(id, args) => match udfs.get(*id) {
            Some(udf) => Node::Udf(Arc::clone(&udf.body), udf.result.clone(), many(args)),
            None => Node::Missing,
        },
    };
    fold(node)
}

/// The operands of a chain of `&&` (or `||`), compiled, left to right.
fn flatten(t: &Typed, udfs: &UdfRegistry, and: bool) -> Vec<Node> {
    match (&t.node, and) {
        (TNode::And(a, b), true) | (TNode::Or(a, b), false) => {
            let mut operands = flatten(a, udfs, and);
            operands.extend(flatten(b, udfs, and));
            operands
        }
        _ => vec![compile_node(t, udfs)],
    }
}

/// The operator with its operands swapped: `c < x` is `x > c`.
fn mirror(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::Le => BinaryOp::Ge,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::Ge => BinaryOp::Le,
        other => other,
    }
}

/// Replaces a node whose children are all constants by its value.
fn fold(node: Node) -> Node {
    let children_constant = match &node {
        Node::Not(a) | Node::Neg(a) | Node::Size(a) | Node::ToInt(a) | Node::ToDouble(a) | Node::Matches(a, _) | Node::InKeys(a, _) => {
            a.is_constant()
        }
        Node::Arith(_, p) | Node::Compare(_, p) | Node::InValue(p) | Node::ListIndex(p) | Node::StrTest(_, p) => {
            p.0.is_constant() && p.1.is_constant()
        }
        Node::All(items) | Node::Any(items) => items.iter().all(Node::is_constant),
        Node::Cond(p) => p.0.is_constant() && p.1.is_constant() && p.2.is_constant(),
        Node::InList(a, items) | Node::MapIndex(a, _, items) | Node::ListLiteralIndex(items, a) => {
            a.is_constant() && items.iter().all(Node::is_constant)
        }
        Node::Udf(_, _, args) => args.iter().all(Node::is_constant),
        _ => false,
    };
    if !children_constant {
        return node;
    }
    match eval(&node, &View::default()) {
        Some(value) => Node::Const(FieldValue::from_value(value)),
        None => Node::Missing,
    }
}

#[inline]
fn eval_bool(node: &Node, view: &View<'_>) -> Option<bool> {
    match eval(node, view) {
        Some(Value::Bool(b)) => Some(b),
        _ => None,
    }
}

fn eval<'a>(node: &'a Node, view: &View<'a>) -> Option<Value<'a>> {
    match node {
        Node::Const(v) => Some(v.as_value()),
        Node::Missing => None,
        Node::Field(source, slot) => view.field(*source, *slot).map(FieldValue::as_value),
        Node::Has(source, slot) => Some(Value::Bool(view.field(*source, *slot).is_some())),
        Node::Now => Some(Value::Timestamp(view.now)),
        Node::Age(slot) => match (view.age, view.field(Source::Profile, *slot)) {
            (Some(age), _) => Some(Value::Int(age)),
            (None, Some(FieldValue::Timestamp(birth))) => Some(Value::Int(whole_years_between(*birth, view.now))),
            _ => None,
        },
        Node::Not(a) => eval_bool(a, view).map(|b| Value::Bool(!b)),
        Node::Neg(a) => match eval(a, view)? {
            Value::Int(i) => i.checked_neg().map(Value::Int),
            Value::Double(d) => Some(Value::Double(-d)),
            Value::Duration(d) => d.checked_neg().map(Value::Duration),
            _ => None,
        },
        Node::All(operands) => {
            let mut missing = false;
            for operand in operands {
                match eval_bool(operand, view) {
                    Some(false) => return Some(Value::Bool(false)),
                    Some(true) => {}
                    None => missing = true,
                }
            }
            (!missing).then_some(Value::Bool(true))
        }
        Node::Any(operands) => {
            let mut missing = false;
            for operand in operands {
                match eval_bool(operand, view) {
                    Some(true) => return Some(Value::Bool(true)),
                    Some(false) => {}
                    None => missing = true,
                }
            }
            (!missing).then_some(Value::Bool(false))
        }
        Node::CompareField(op, source, slot, constant) => compare(*op, view.field(*source, *slot)?.as_value(), constant.as_value()),
        Node::Cond(triple) => match eval_bool(&triple.0, view)? {
            true => eval(&triple.1, view),
            false => eval(&triple.2, view),
        },
        Node::Arith(op, pair) => arith(*op, eval(&pair.0, view)?, eval(&pair.1, view)?),
        Node::Compare(op, pair) => compare(*op, eval(&pair.0, view)?, eval(&pair.1, view)?),
        Node::InList(..)
        | Node::InValue(..)
        | Node::InKeys(..)
        | Node::MapIndex(..)
        | Node::ListLiteralIndex(..)
        | Node::ListIndex(..)
        | Node::Udf(..) => eval_collection(node, view),
        Node::StrTest(kind, pair) => match (eval(&pair.0, view)?, eval(&pair.1, view)?) {
            (Value::Str(s), Value::Str(p)) => Some(Value::Bool(match kind {
                StrTest::StartsWith => s.starts_with(p),
                StrTest::EndsWith => s.ends_with(p),
                StrTest::Contains => s.contains(p),
            })),
            _ => None,
        },
        Node::Matches(a, re) => match eval(a, view)? {
            Value::Str(s) => Some(Value::Bool(re.is_match(s))),
            _ => None,
        },
        Node::Size(a) => match eval(a, view)? {
            Value::Str(s) => Some(Value::Int(s.len() as i64)),
            Value::List(l) => Some(Value::Int(l.len() as i64)),
            _ => None,
        },
        Node::ToInt(a) => match eval(a, view)? {
            Value::Double(d) if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&d) => Some(Value::Int(d.trunc() as i64)),
            Value::Int(i) => Some(Value::Int(i)),
            _ => None,
        },
        Node::ToDouble(a) => match eval(a, view)? {
            Value::Int(i) => Some(Value::Double(i as f64)),
            Value::Double(d) => Some(Value::Double(d)),
            _ => None,
        },
    }
}

/// Lists, maps and user-defined functions: kept out of [`eval`] so its stack frame stays
/// small on the hot path.
#[inline(never)]
fn eval_collection<'a>(node: &'a Node, view: &View<'a>) -> Option<Value<'a>> {
    match node {
        Node::InList(x, items) => {
            let x = eval(x, view)?;
            let mut saw_missing = false;
            for item in items {
                match eval(item, view) {
                    Some(v) if values_equal(x, v) => return Some(Value::Bool(true)),
                    Some(_) => {}
                    None => saw_missing = true,
                }
            }
            (!saw_missing).then_some(Value::Bool(false))
        }
        Node::InValue(pair) => {
            let x = eval(&pair.0, view)?;
            let Value::List(list) = eval(&pair.1, view)? else { return None };
            Some(Value::Bool(list.iter().any(|item| values_equal(x, item.as_value()))))
        }
        Node::InKeys(x, keys) => {
            let x = eval(x, view)?;
            Some(Value::Bool(keys.iter().any(|k| values_equal(x, k.as_value()))))
        }
        Node::MapIndex(x, keys, values) => {
            let x = eval(x, view)?;
            let at = keys.iter().position(|k| values_equal(x, k.as_value()))?;
            eval(values.get(at)?, view)
        }
        Node::ListLiteralIndex(items, i) => match eval(i, view)? {
            Value::Int(i) => eval(items.get(usize::try_from(i).ok()?)?, view),
            _ => None,
        },
        Node::ListIndex(pair) => match (eval(&pair.0, view)?, eval(&pair.1, view)?) {
            (Value::List(list), Value::Int(i)) => list.get(usize::try_from(i).ok()?).map(FieldValue::as_value),
            _ => None,
        },
        Node::Udf(body, result, args) => {
            let mut values = [Value::Bool(false); MAX_UDF_PARAMS];
            for (slot, arg) in values.iter_mut().zip(args) {
                *slot = eval(arg, view)?;
            }
            let out = body(&values[..args.len().min(MAX_UDF_PARAMS)])?;
            value_has_type(&out, result).then_some(out)
        }
        _ => None,
    }
}
