//! Canonical text of a syntax tree.
//!
//! Contract: `Display` for [`Expr`] prints fully parenthesised CEL that parses back to
//! an equal tree (spans aside). Used to key identical count filters and to print
//! generated expressions in tests.

use std::fmt::{self, Display, Formatter};

use super::ast::{Expr, ExprKind, UnaryOp};

/// Writes `text` as a double-quoted CEL string literal.
pub fn write_string_literal(f: &mut Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

fn write_list(f: &mut Formatter<'_>, items: &[Expr]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Int(i) => write!(f, "{i}"),
            ExprKind::Double(d) if d.fract() == 0.0 && d.abs() < 1e15 => write!(f, "{d:.1}"),
            ExprKind::Double(d) => write!(f, "{d:?}"),
            ExprKind::Str(s) => write_string_literal(f, s),
            ExprKind::Bool(b) => write!(f, "{b}"),
            ExprKind::Null => f.write_str("null"),
            ExprKind::Ident(name) => f.write_str(name),
            ExprKind::Select(target, field, _) => write!(f, "{target}.{field}"),
            ExprKind::Call { target, name, args, .. } => {
                if let Some(target) = target {
                    write!(f, "{target}.")?;
                }
                write!(f, "{name}(")?;
                write_list(f, args)?;
                f.write_str(")")
            }
            ExprKind::Index(target, index) => write!(f, "{target}[{index}]"),
            ExprKind::List(items) => {
                f.write_str("[")?;
                write_list(f, items)?;
                f.write_str("]")
            }
            ExprKind::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            ExprKind::Unary(UnaryOp::Not, e) => write!(f, "!({e})"),
            ExprKind::Unary(UnaryOp::Neg, e) => write!(f, "-({e})"),
            ExprKind::Binary(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            ExprKind::Cond(c, a, b) => write!(f, "({c} ? {a} : {b})"),
        }
    }
}
