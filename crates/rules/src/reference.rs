//! A deliberately plain reference interpreter over the checked tree.
//!
//! Contract: [`evaluate`] gives the meaning of a [`Typed`] expression on a [`View`]
//! with owned values and no cleverness (no folding, no borrowing, no shared helpers
//! with the compiled evaluator). Property tests require the compiled [`Program`]
//! (super::program::Program) to agree with it on every expression and view.

use super::ast::BinaryOp;
use super::ir::{Source, StrTest, TNode, Typed};
use super::udf::UdfRegistry;
use super::value::FieldValue;
use super::view::View;
use segstream_time::whole_years_between;

/// The value of `t` on `view`, or `None` when missing.
pub fn evaluate(t: &Typed, view: &View<'_>, udfs: &UdfRegistry) -> Option<FieldValue> {
    use FieldValue as F;
    let ev = |x: &Typed| evaluate(x, view, udfs);
    let ev_bool = |x: &Typed| match evaluate(x, view, udfs) {
        Some(F::Bool(b)) => Some(b),
        _ => None,
    };
    match &t.node {
        TNode::Const(v) => Some(v.clone()),
        TNode::Field(source, slot) => view.field(*source, *slot).cloned(),
        TNode::Has(source, slot) => Some(F::Bool(view.field(*source, *slot).is_some())),
        TNode::Now => Some(F::Timestamp(view.now)),
        TNode::Age(slot) => match view.field(Source::Profile, *slot) {
            Some(F::Timestamp(birth)) => Some(F::Int(whole_years_between(*birth, view.now))),
            _ => None,
        },
        TNode::Not(a) => ev_bool(a).map(|b| F::Bool(!b)),
        TNode::Neg(a) => match ev(a)? {
            F::Int(i) => i.checked_neg().map(F::Int),
            F::Double(d) => Some(F::Double(-d)),
            F::Duration(d) => d.checked_neg().map(F::Duration),
            _ => None,
        },
        TNode::And(a, b) => {
            let (x, y) = (ev_bool(a), ev_bool(b));
            if x == Some(false) || y == Some(false) {
                Some(F::Bool(false))
            } else if x == Some(true) && y == Some(true) {
                Some(F::Bool(true))
            } else {
                None
            }
        }
        TNode::Or(a, b) => {
            let (x, y) = (ev_bool(a), ev_bool(b));
            if x == Some(true) || y == Some(true) {
                Some(F::Bool(true))
            } else if x == Some(false) && y == Some(false) {
                Some(F::Bool(false))
            } else {
                None
            }
        }
        TNode::Cond(c, a, b) => {
            if ev_bool(c)? {
                ev(a)
            } else {
                ev(b)
            }
        }
        TNode::Arith(op, a, b) => arithmetic(*op, ev(a)?, ev(b)?),
        TNode::Compare(op, a, b) => {
            let (x, y) = (ev(a)?, ev(b)?);
            let result = match op {
                BinaryOp::Eq => same(&x, &y),
                BinaryOp::Ne => !same(&x, &y),
                _ => {
                    let ordering = match (&x, &y) {
                        (F::Double(p), F::Double(q)) => p.partial_cmp(q)?,
                        (F::Int(p), F::Int(q)) | (F::Timestamp(p), F::Timestamp(q)) | (F::Duration(p), F::Duration(q)) => p.cmp(q),
                        (F::Str(p), F::Str(q)) => p.as_bytes().cmp(q.as_bytes()),
                        _ => return None,
                    };
                    match op {
                        BinaryOp::Lt => ordering.is_lt(),
                        BinaryOp::Le => ordering.is_le(),
                        BinaryOp::Gt => ordering.is_gt(),
                        _ => ordering.is_ge(),
                    }
                }
            };
            Some(F::Bool(result))
        }
        TNode::InList(x, items) => {
            let x = ev(x)?;
            let values: Vec<Option<FieldValue>> = items.iter().map(ev).collect();
            if values.iter().flatten().any(|v| same(&x, v)) {
                Some(F::Bool(true))
            } else if values.iter().any(Option::is_none) {
                None
            } else {
                Some(F::Bool(false))
            }
        }
        TNode::InValue(x, list) => match (ev(x)?, ev(list)?) {
            (x, F::List(items)) => Some(F::Bool(items.iter().any(|i| same(&x, i)))),
            _ => None,
        },
        TNode::InMap(x, keys) => {
            let x = ev(x)?;
            Some(F::Bool(keys.iter().any(|k| same(&x, k))))
        }
        TNode::MapIndex(x, keys, values) => {
            let x = ev(x)?;
            let at = keys.iter().position(|k| same(&x, k))?;
            ev(&values[at])
        }
        TNode::ListLiteralIndex(items, i) => match ev(i)? {
            F::Int(i) if i >= 0 && (i as usize) < items.len() => ev(&items[i as usize]),
            _ => None,
        },
        TNode::ListIndex(list, i) => match (ev(list)?, ev(i)?) {
            (F::List(items), F::Int(i)) if i >= 0 && (i as usize) < items.len() => Some(items[i as usize].clone()),
            _ => None,
        },
        TNode::StrTest(kind, a, b) => match (ev(a)?, ev(b)?) {
            (F::Str(s), F::Str(p)) => Some(F::Bool(match kind {
                StrTest::StartsWith => s.starts_with(&*p),
                StrTest::EndsWith => s.ends_with(&*p),
                StrTest::Contains => s.contains(&*p),
            })),
            _ => None,
        },
        TNode::Matches(a, re) => match ev(a)? {
            F::Str(s) => Some(F::Bool(re.is_match(&s))),
            _ => None,
        },
        TNode::Size(a) => match ev(a)? {
            F::Str(s) => Some(F::Int(s.len() as i64)),
            F::List(l) => Some(F::Int(l.len() as i64)),
            _ => None,
        },
        TNode::ToInt(a) => match ev(a)? {
            F::Double(d) if d.is_finite() && d.trunc() >= i64::MIN as f64 && d.trunc() < 9_223_372_036_854_775_808.0 => {
                Some(F::Int(d.trunc() as i64))
            }
            _ => None,
        },
        TNode::ToDouble(a) => match ev(a)? {
            F::Int(i) => Some(F::Double(i as f64)),
            F::Double(d) => Some(F::Double(d)),
            _ => None,
        },
        TNode::Udf(id, args) => {
            let udf = udfs.get(*id)?;
            let owned: Vec<FieldValue> = args.iter().map(ev).collect::<Option<_>>()?;
            let borrowed: Vec<_> = owned.iter().map(FieldValue::as_value).collect();
            let out = (udf.body)(&borrowed)?;
            let out = super::value::FieldValue::from_value(out);
            let fits = matches!(
                (&out, &udf.result),
                (F::Bool(_), super::types::Type::Bool)
                    | (F::Int(_), super::types::Type::Int)
                    | (F::Double(_), super::types::Type::Double)
                    | (F::Str(_), super::types::Type::String)
                    | (F::Timestamp(_), super::types::Type::Timestamp)
                    | (F::Duration(_), super::types::Type::Duration)
                    | (F::List(_), super::types::Type::List(_))
            );
            fits.then_some(out)
        }
    }
}

/// `==` of the language: ints and doubles compare as numbers; doubles by IEEE equality.
fn same(a: &FieldValue, b: &FieldValue) -> bool {
    use FieldValue as F;
    match (a, b) {
        (F::Int(x), F::Double(y)) | (F::Double(y), F::Int(x)) => *x as f64 == *y,
        (F::Double(x), F::Double(y)) => x == y,
        (F::List(x), F::List(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        _ => a == b,
    }
}

fn arithmetic(op: BinaryOp, a: FieldValue, b: FieldValue) -> Option<FieldValue> {
    use FieldValue as F;
    let double = |d: f64| if d.is_finite() { Some(F::Double(d)) } else { None };
    match (a, b) {
        (F::Int(x), F::Int(y)) => match op {
            BinaryOp::Add => x.checked_add(y),
            BinaryOp::Sub => x.checked_sub(y),
            BinaryOp::Mul => x.checked_mul(y),
            BinaryOp::Div => x.checked_div(y),
            BinaryOp::Rem => x.checked_rem(y),
            _ => None,
        }
        .map(F::Int),
        (F::Double(x), F::Double(y)) => match op {
            BinaryOp::Add => double(x + y),
            BinaryOp::Sub => double(x - y),
            BinaryOp::Mul => double(x * y),
            BinaryOp::Div => double(x / y),
            _ => None,
        },
        (F::Timestamp(x), F::Timestamp(y)) if op == BinaryOp::Sub => x.checked_sub(y).map(F::Duration),
        (F::Timestamp(x), F::Duration(y)) => match op {
            BinaryOp::Add => x.checked_add(y).map(F::Timestamp),
            BinaryOp::Sub => x.checked_sub(y).map(F::Timestamp),
            _ => None,
        },
        (F::Duration(x), F::Timestamp(y)) if op == BinaryOp::Add => x.checked_add(y).map(F::Timestamp),
        (F::Duration(x), F::Duration(y)) => match op {
            BinaryOp::Add => x.checked_add(y).map(F::Duration),
            BinaryOp::Sub => x.checked_sub(y).map(F::Duration),
            _ => None,
        },
        _ => None,
    }
}
