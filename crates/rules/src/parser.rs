//! Recursive-descent parser for CEL condition syntax.
//!
//! Contract: [`parse`] returns the syntax tree of a whole condition or the first error
//! with its span. It enforces the size, depth and node-count [`Limits`] while it builds,
//! so no input (a megabyte of text, ten thousand nested parentheses) can exhaust the
//! stack or run long. Grammar (CEL, lowest precedence first):
//!
//! ```text
//! expr    = or ["?" or ":" expr]
//! or      = and {"||" and}
//! and     = rel {"&&" rel}
//! rel     = add {("=="|"!="|"<"|"<="|">"|">="|"in") add}
//! add     = mul {("+"|"-") mul}
//! mul     = unary {("*"|"/"|"%") unary}
//! unary   = {"!"|"-"} member
//! member  = primary {"." IDENT ["(" args ")"] | "[" expr "]"}
//! primary = IDENT ["(" args ")"] | "(" expr ")" | "[" args "]" | "{" entries "}" | literal
//! ```

use super::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use super::error::{RuleError, Span};
use super::lexer::{tokenize, Tok, Token};
use super::limits::Limits;

/// Parses a condition.
///
/// ```
/// use segstream_rules::{parse, Limits};
/// let tree = parse("count(\"ad_watched\", \"10m\") >= 3", &Limits::default());
/// assert!(tree.is_ok());
/// assert_eq!(parse("1 +", &Limits::default()).err().map(|e| e.span.start), Some(3));
/// ```
pub fn parse(text: &str, limits: &Limits) -> Result<Expr, RuleError> {
    if text.len() > limits.max_source_bytes {
        return Err(RuleError::new(
            Span::new(0, 0),
            format!(
                "condition is {} bytes long; the limit is {} bytes",
                text.len(),
                limits.max_source_bytes
            ),
        ));
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        nesting: 0,
        nodes: 0,
        limits: *limits,
    };
    let expr = parser.expr()?;
    match parser.peek() {
        Tok::Eof => Ok(expr),
        _ => Err(parser.unexpected("an operator or the end of the condition")),
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    nesting: u32,
    nodes: usize,
    limits: Limits,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.tokens.get(self.at).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn span(&self) -> Span {
        self.tokens.get(self.at).or(self.tokens.last()).map_or(Span::default(), |t| t.span)
    }

    fn prev_span(&self) -> Span {
        self.tokens.get(self.at.saturating_sub(1)).map_or(Span::default(), |t| t.span)
    }

    fn bump(&mut self) -> Token {
        let token = self.tokens.get(self.at).cloned().unwrap_or(Token {
            tok: Tok::Eof,
            span: self.span(),
        });
        if self.at < self.tokens.len() {
            self.at += 1;
        }
        token
    }

    fn eat(&mut self, punct: &str) -> bool {
        if matches!(self.peek(), Tok::Punct(p) if *p == punct) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punct: &str) -> Result<(), RuleError> {
        if self.eat(punct) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("'{punct}'")))
        }
    }

    fn unexpected(&self, wanted: &str) -> RuleError {
        let found = match self.peek() {
            Tok::Eof => "the end of the condition".to_string(),
            Tok::Ident(name) => format!("'{name}'"),
            Tok::Punct(p) => format!("'{p}'"),
            Tok::In => "'in'".to_string(),
            Tok::Str(_) => "a string".to_string(),
            Tok::Int(_) | Tok::Double(_) => "a number".to_string(),
            Tok::Bool(b) => format!("'{b}'"),
            Tok::Null => "'null'".to_string(),
        };
        RuleError::new(self.span(), format!("expected {wanted}, found {found}"))
    }

    /// Builds a node, enforcing the depth and node-count limits.
    fn node(&mut self, kind: ExprKind, span: Span) -> Result<Expr, RuleError> {
        let child_depth = match &kind {
            ExprKind::Select(e, _, _) | ExprKind::Unary(_, e) => e.depth,
            ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => a.depth.max(b.depth),
            ExprKind::Cond(a, b, c) => a.depth.max(b.depth).max(c.depth),
            ExprKind::Call { target, args, .. } => args
                .iter()
                .map(|a| a.depth)
                .chain(target.iter().map(|t| t.depth))
                .max()
                .unwrap_or(0),
            ExprKind::List(items) => items.iter().map(|a| a.depth).max().unwrap_or(0),
            ExprKind::Map(entries) => entries.iter().map(|(k, v)| k.depth.max(v.depth)).max().unwrap_or(0),
            _ => 0,
        };
        let depth = child_depth + 1;
        if depth > self.limits.max_depth {
            return Err(RuleError::new(
                span,
                format!("expression is nested too deeply (the limit is {} levels)", self.limits.max_depth),
            ));
        }
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(RuleError::new(
                span,
                format!("expression is too large (the limit is {} nodes)", self.limits.max_nodes),
            ));
        }
        Ok(Expr { kind, span, depth })
    }

    fn nested<T>(&mut self, inner: impl FnOnce(&mut Parser) -> Result<T, RuleError>) -> Result<T, RuleError> {
        self.nesting += 1;
        if self.nesting > self.limits.max_depth {
            return Err(RuleError::new(
                self.span(),
                format!("expression is nested too deeply (the limit is {} levels)", self.limits.max_depth),
            ));
        }
        let result = inner(self);
        self.nesting -= 1;
        result
    }

    fn expr(&mut self) -> Result<Expr, RuleError> {
        self.nested(|p| {
            let cond = p.or()?;
            if !p.eat("?") {
                return Ok(cond);
            }
            let then = p.or()?;
            p.expect(":")?;
            let otherwise = p.expr()?;
            let span = cond.span.to(otherwise.span);
            p.node(ExprKind::Cond(Box::new(cond), Box::new(then), Box::new(otherwise)), span)
        })
    }

    fn binary_level(&mut self, ops: &[(&str, BinaryOp)], next: fn(&mut Parser) -> Result<Expr, RuleError>) -> Result<Expr, RuleError> {
        let mut left = next(self)?;
        loop {
            let op = match self.peek() {
                Tok::In => ops.iter().find(|(s, _)| *s == "in").map(|(_, op)| *op),
                Tok::Punct(p) => ops.iter().find(|(s, _)| s == p).map(|(_, op)| *op),
                _ => None,
            };
            let Some(op) = op else { return Ok(left) };
            self.at += 1;
            let right = next(self)?;
            let span = left.span.to(right.span);
            left = self.node(ExprKind::Binary(op, Box::new(left), Box::new(right)), span)?;
        }
    }

    fn or(&mut self) -> Result<Expr, RuleError> {
        self.binary_level(&[("||", BinaryOp::Or)], Parser::and)
    }

    fn and(&mut self) -> Result<Expr, RuleError> {
        self.binary_level(&[("&&", BinaryOp::And)], Parser::relation)
    }

    fn relation(&mut self) -> Result<Expr, RuleError> {
        const OPS: [(&str, BinaryOp); 7] = [
            ("==", BinaryOp::Eq),
            ("!=", BinaryOp::Ne),
            ("<", BinaryOp::Lt),
            ("<=", BinaryOp::Le),
            (">", BinaryOp::Gt),
            (">=", BinaryOp::Ge),
            ("in", BinaryOp::In),
        ];
        self.binary_level(&OPS, Parser::addition)
    }

    fn addition(&mut self) -> Result<Expr, RuleError> {
        self.binary_level(&[("+", BinaryOp::Add), ("-", BinaryOp::Sub)], Parser::multiplication)
    }

    fn multiplication(&mut self) -> Result<Expr, RuleError> {
        self.binary_level(&[("*", BinaryOp::Mul), ("/", BinaryOp::Div), ("%", BinaryOp::Rem)], Parser::unary)
    }

    fn unary(&mut self) -> Result<Expr, RuleError> {
        let mut ops = Vec::new();
        loop {
            let op = if self.eat("!") {
                UnaryOp::Not
            } else if self.eat("-") {
                UnaryOp::Neg
            } else {
                break;
            };
            ops.push((op, self.prev_span()));
            if ops.len() as u32 > self.limits.max_depth {
                return Err(RuleError::new(
                    self.prev_span(),
                    format!("expression is nested too deeply (the limit is {} levels)", self.limits.max_depth),
                ));
            }
        }
        let mut operand = self.member()?;
        while let Some((op, span)) = ops.pop() {
            operand = match (op, &operand.kind) {
                // Fold `-literal` so that the most negative int can be written.
                (UnaryOp::Neg, ExprKind::Int(i)) if operand.depth == 1 => {
                    let folded = i
                        .checked_neg()
                        .ok_or_else(|| RuleError::new(span.to(operand.span), "integer literal out of range"))?;
                    Expr {
                        kind: ExprKind::Int(folded),
                        span: span.to(operand.span),
                        depth: 1,
                    }
                }
                (UnaryOp::Neg, ExprKind::Double(d)) if operand.depth == 1 => Expr {
                    kind: ExprKind::Double(-d),
                    span: span.to(operand.span),
                    depth: 1,
                },
                _ => {
                    let full = span.to(operand.span);
                    self.node(ExprKind::Unary(op, Box::new(operand)), full)?
                }
            };
        }
        Ok(operand)
    }

    fn member(&mut self) -> Result<Expr, RuleError> {
        let mut expr = self.primary()?;
        loop {
            if self.eat(".") {
                let name_token = self.bump();
                let Tok::Ident(name) = name_token.tok else {
                    self.at -= 1;
                    return Err(self.unexpected("a field or method name after '.'"));
                };
                if matches!(self.peek(), Tok::Punct("(")) {
                    let args = self.call_args()?;
                    let span = expr.span.to(self.prev_span());
                    expr = self.node(
                        ExprKind::Call {
                            target: Some(Box::new(expr)),
                            name,
                            name_span: name_token.span,
                            args,
                        },
                        span,
                    )?;
                } else {
                    let span = expr.span.to(name_token.span);
                    expr = self.node(ExprKind::Select(Box::new(expr), name, name_token.span), span)?;
                }
            } else if self.eat("[") {
                let index = self.nested(Parser::expr)?;
                self.expect("]")?;
                let span = expr.span.to(self.prev_span());
                expr = self.node(ExprKind::Index(Box::new(expr), Box::new(index)), span)?;
            } else {
                return Ok(expr);
            }
        }
    }

    fn call_args(&mut self) -> Result<Vec<Expr>, RuleError> {
        self.expect("(")?;
        self.list_until(")", Parser::expr)
    }

    fn list_until<T>(&mut self, close: &str, item: fn(&mut Parser) -> Result<T, RuleError>) -> Result<Vec<T>, RuleError> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(items);
            }
            items.push(self.nested(item)?);
            if !self.eat(",") {
                self.expect(close)?;
                return Ok(items);
            }
        }
    }

    fn map_entry(&mut self) -> Result<(Expr, Expr), RuleError> {
        let key = self.expr()?;
        self.expect(":")?;
        let value = self.expr()?;
        Ok((key, value))
    }

    fn primary(&mut self) -> Result<Expr, RuleError> {
        let token = self.bump();
        let span = token.span;
        let kind = match token.tok {
            Tok::Int(i) => ExprKind::Int(i),
            Tok::Double(d) => ExprKind::Double(d),
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Bool(b) => ExprKind::Bool(b),
            Tok::Null => ExprKind::Null,
            Tok::Ident(name) => {
                if matches!(self.peek(), Tok::Punct("(")) {
                    let args = self.call_args()?;
                    let full = span.to(self.prev_span());
                    return self.node(
                        ExprKind::Call {
                            target: None,
                            name,
                            name_span: span,
                            args,
                        },
                        full,
                    );
                }
                ExprKind::Ident(name)
            }
            Tok::Punct("(") => {
                let inner = self.nested(Parser::expr)?;
                self.expect(")")?;
                return Ok(inner);
            }
            Tok::Punct("[") => {
                let items = self.list_until("]", Parser::expr)?;
                let full = span.to(self.prev_span());
                return self.node(ExprKind::List(items), full);
            }
            Tok::Punct("{") => {
                let entries = self.list_until("}", Parser::map_entry)?;
                let full = span.to(self.prev_span());
                return self.node(ExprKind::Map(entries), full);
            }
            _ => {
                self.at -= 1;
                return Err(self.unexpected("a value, a name or '('"));
            }
        };
        self.node(kind, span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(text: &str) -> String {
        fn show(e: &Expr) -> String {
            match &e.kind {
                ExprKind::Int(i) => i.to_string(),
                ExprKind::Double(d) => format!("{d:?}"),
                ExprKind::Str(s) => format!("{s:?}"),
                ExprKind::Bool(b) => b.to_string(),
                ExprKind::Null => "null".into(),
                ExprKind::Ident(n) => n.clone(),
                ExprKind::Select(t, f, _) => format!("{}.{f}", show(t)),
                ExprKind::Call { target, name, args, .. } => {
                    let args: Vec<String> = args.iter().map(show).collect();
                    match target {
                        Some(t) => format!("{}.{name}({})", show(t), args.join(", ")),
                        None => format!("{name}({})", args.join(", ")),
                    }
                }
                ExprKind::Index(a, b) => format!("{}[{}]", show(a), show(b)),
                ExprKind::List(items) => format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(", ")),
                ExprKind::Map(entries) => format!(
                    "{{{}}}",
                    entries
                        .iter()
                        .map(|(k, v)| format!("{}: {}", show(k), show(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                ExprKind::Unary(UnaryOp::Not, e) => format!("!{}", show(e)),
                ExprKind::Unary(UnaryOp::Neg, e) => format!("-{}", show(e)),
                ExprKind::Binary(op, a, b) => format!("({} {} {})", show(a), op.symbol(), show(b)),
                ExprKind::Cond(a, b, c) => format!("({} ? {} : {})", show(a), show(b), show(c)),
            }
        }
        parse(text, &Limits::default())
            .map(|e| show(&e))
            .unwrap_or_else(|e| format!("error at {}: {}", e.span.start, e.message))
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(shape("a || b && c == 1 + 2 * 3"), "(a || (b && (c == (1 + (2 * 3)))))");
        assert_eq!(shape("1 - 2 - 3"), "((1 - 2) - 3)");
        assert_eq!(shape("a ? b : c ? d : e"), "(a ? b : (c ? d : e))");
        assert_eq!(shape("!a.b(1)[0].c"), "!a.b(1)[0].c");
        assert_eq!(shape("x in [1, 2,]"), "(x in [1, 2])");
        assert_eq!(shape("{'a': 1}[k]"), "{\"a\": 1}[k]");
        assert_eq!(shape("-9223372036854775807"), "-9223372036854775807");
        assert_eq!(shape("--1"), "1");
        assert_eq!(shape("-(1 + 2)"), "-(1 + 2)");
    }

    #[test]
    fn errors_point_at_the_problem() {
        assert_eq!(
            shape("1 +"),
            "error at 3: expected a value, a name or '(', found the end of the condition"
        );
        assert_eq!(shape("f(1 2)"), "error at 4: expected ')', found a number");
        assert_eq!(
            shape("a b"),
            "error at 2: expected an operator or the end of the condition, found 'b'"
        );
        assert_eq!(
            shape("a."),
            "error at 2: expected a field or method name after '.', found the end of the condition"
        );
    }

    #[test]
    fn limits_hold_on_hostile_input() {
        let deep_parens = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(shape(&deep_parens).contains("limit"));
        let deep_not = format!("{}x", "!".repeat(10_000));
        assert!(shape(&deep_not).contains("nested too deeply"));
        let long_chain = vec!["a"; 2000].join(" + ");
        assert!(shape(&long_chain).contains("limit"));
        let huge = "x".repeat(1 << 20);
        assert!(shape(&huge).contains("1048576 bytes long"));
        let wide = format!("[{}]", vec!["1"; 1500].join(","));
        assert!(shape(&wide).contains("too large"));
    }
}
