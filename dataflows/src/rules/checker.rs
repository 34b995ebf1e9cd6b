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
use crate::time;

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
    if typed.ty != Type::Bool {
        return Err(RuleError::new(
            expr.span,
            format!("a condition must be a bool, but this is {}", typed.ty),
        ));
    }
    let cost = static_cost(&typed, checker.env.udfs);
    if cost > checker.env.limits.max_cost {
        return Err(RuleError::new(
            expr.span,
            format!(
                "condition is too costly to evaluate (cost {cost}; the limit is {})",
                checker.env.limits.max_cost
            ),
        ));
    }
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
    fn schema(&self) -> &Schema {
        self.env.schema
    }

    fn expr(&mut self, e: &Expr) -> Result<Typed, RuleError> {
        let span = e.span;
        match &e.kind {
            ExprKind::Int(i) => Ok(constant(FieldValue::Int(*i), Type::Int, span)),
            ExprKind::Double(d) => Ok(constant(FieldValue::Double(*d), Type::Double, span)),
            ExprKind::Str(s) => Ok(constant(FieldValue::Str(s.clone()), Type::String, span)),
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

    /// `profile.f`, `stats.f`, `event.p`, `last("t").p`.
    fn resolve_field(&mut self, target: &Expr, field: &str, field_span: Span) -> Result<(Source, usize, FieldType), RuleError> {
        let record = match &target.kind {
            ExprKind::Ident(name) => name.as_str(),
            ExprKind::Call {
                target: None, name, args, ..
            } if name == "last" => {
                self.require_segment_scope(target.span, "last()")?;
                let [type_arg] = args.as_slice() else {
                    return Err(RuleError::new(
                        target.span,
                        "last() takes one argument: the event type, e.g. last(\"app_opened\").os",
                    ));
                };
                let event_type = self.event_type_arg(type_arg)?;
                let (prop, ft) = self.property(event_type, field, field_span)?;
                let slot = self.env.features.intern(FeatureSpec {
                    event_type,
                    kind: FeatureKind::Last(prop),
                    window_ms: None,
                    filter: None,
                });
                return Ok((Source::Feature, slot, ft));
            }
            _ => {
                let t = self.expr(target)?;
                return Err(RuleError::new(
                    field_span,
                    format!("cannot read field `{field}` of a value of type {}", t.ty),
                ));
            }
        };
        let (source, fields) = match (record, self.scope) {
            ("profile", Scope::Segment) => (Source::Profile, &self.env.schema.profile),
            ("stats", Scope::Segment) => (Source::Stats, &self.env.schema.stats),
            ("event", Scope::Filter(event_type)) => {
                let (prop, ft) = self.property(event_type, field, field_span)?;
                return Ok((Source::Event, prop, ft));
            }
            ("profile" | "stats", Scope::Filter(_)) => {
                return Err(RuleError::new(
                    target.span,
                    "a count filter can only read the event's own properties (event.<property>)",
                ));
            }
            _ => return Err(self.bare_name(record, target.span)),
        };
        match fields.lookup(field) {
            Some((slot, ft)) => Ok((source, slot, ft.clone())),
            None => Err(RuleError::new(
                field_span,
                format!("unknown {record} field `{field}`{}", did_you_mean(field, fields.names())),
            )),
        }
    }

    fn select(&mut self, target: &Expr, field: &str, field_span: Span, span: Span) -> Result<Typed, RuleError> {
        let (source, slot, ft) = self.resolve_field(target, field, field_span)?;
        Ok(typed(ft.ty, TNode::Field(source, slot), span))
    }

    fn property(&self, event_type: usize, name: &str, span: Span) -> Result<(usize, FieldType), RuleError> {
        let props = self
            .schema()
            .event_properties(event_type)
            .ok_or_else(|| RuleError::new(span, "unknown event type"))?;
        match props.lookup(name) {
            Some((slot, ft)) => Ok((slot, ft.clone())),
            None => Err(RuleError::new(
                span,
                format!(
                    "event type {:?} has no property `{name}`{}",
                    self.schema().event_name(event_type),
                    did_you_mean(name, props.names())
                ),
            )),
        }
    }

    fn event_type_arg(&self, arg: &Expr) -> Result<usize, RuleError> {
        let ExprKind::Str(name) = &arg.kind else {
            return Err(RuleError::new(
                arg.span,
                "the event type must be a string literal, e.g. \"ad_watched\"",
            ));
        };
        self.schema().event_type(name).ok_or_else(|| {
            RuleError::new(
                arg.span,
                format!("unknown event type {name:?}{}", did_you_mean(name, self.schema().event_names())),
            )
        })
    }

    fn property_arg(&self, event_type: usize, arg: &Expr) -> Result<(usize, FieldType), RuleError> {
        let ExprKind::Str(name) = &arg.kind else {
            return Err(RuleError::new(arg.span, "the property must be a string literal, e.g. \"amount\""));
        };
        self.property(event_type, name, arg.span)
    }

    fn duration_literal(&self, arg: &Expr, what: &str) -> Result<i64, RuleError> {
        let text = match &arg.kind {
            ExprKind::Str(text) => text,
            ExprKind::Call {
                target: None, name, args, ..
            } if name == "duration" => match args.as_slice() {
                [Expr {
                    kind: ExprKind::Str(text), ..
                }] => text,
                _ => {
                    return Err(RuleError::new(
                        arg.span,
                        "duration() takes one string literal, e.g. duration(\"10m\")",
                    ))
                }
            },
            _ => {
                return Err(RuleError::new(
                    arg.span,
                    format!("{what} must be a duration literal such as \"10m\" or duration(\"1h\")"),
                ))
            }
        };
        time::parse_duration(text).map_err(|reason| RuleError::new(arg.span, reason))
    }

    fn window_arg(&self, arg: &Expr) -> Result<i64, RuleError> {
        let window = self.duration_literal(arg, "the window")?;
        let max = self.env.limits.max_window_ms;
        if window <= 0 {
            return Err(RuleError::new(arg.span, "the window must be longer than zero"));
        }
        if window > max {
            return Err(RuleError::new(
                arg.span,
                format!(
                    "the window is longer than the limit of {}; use stats from the batch layer for longer periods",
                    time::format_duration(max)
                ),
            ));
        }
        Ok(window)
    }

    fn require_segment_scope(&self, span: Span, what: &str) -> Result<(), RuleError> {
        match self.scope {
            Scope::Segment => Ok(()),
            Scope::Filter(_) => Err(RuleError::new(
                span,
                format!("{what} cannot be used inside a count filter, which reads only event.<property>"),
            )),
        }
    }

    fn arity(&self, name: &str, args: &[Expr], allowed: &[usize], usage: &str, span: Span) -> Result<(), RuleError> {
        if allowed.contains(&args.len()) {
            Ok(())
        } else {
            Err(RuleError::new(
                span,
                format!(
                    "{name}() takes {usage}, but {} argument{} given",
                    args.len(),
                    if args.len() == 1 { " was" } else { "s were" }
                ),
            ))
        }
    }

    fn feature(&mut self, ty: Type, spec: FeatureSpec, span: Span) -> Typed {
        let slot = self.env.features.intern(spec);
        typed(ty, TNode::Field(Source::Feature, slot), span)
    }

    fn function(&mut self, name: &str, name_span: Span, args: &[Expr], span: Span) -> Result<Typed, RuleError> {
        if SEGMENTATION_FUNCTIONS.contains(&name) || name == "age" || name == "now" {
            self.require_segment_scope(name_span, &format!("{name}()"))?;
        }
        match name {
            "count" => {
                self.arity(name, args, &[2, 3], "an event type, a window and an optional filter", span)?;
                let event_type = self.event_type_arg(&args[0])?;
                let window = self.window_arg(&args[1])?;
                let filter = match args.get(2) {
                    Some(filter) => Some(self.event_filter(event_type, filter)?),
                    None => None,
                };
                Ok(self.feature(
                    Type::Int,
                    FeatureSpec {
                        event_type,
                        kind: FeatureKind::Count,
                        window_ms: Some(window),
                        filter,
                    },
                    span,
                ))
            }
            "sum" | "min" | "max" | "avg" | "distinct_count" => {
                self.arity(name, args, &[3], "an event type, a property and a window", span)?;
                let event_type = self.event_type_arg(&args[0])?;
                let (prop, ft) = self.property_arg(event_type, &args[1])?;
                let window = self.window_arg(&args[2])?;
                let (kind, ty) = match name {
                    "sum" if ft.ty.is_numeric() => (FeatureKind::Sum(prop), ft.ty),
                    "avg" if ft.ty.is_numeric() => (FeatureKind::Avg(prop), Type::Double),
                    "min" if ft.ty.is_ordered() => (FeatureKind::Min(prop), ft.ty),
                    "max" if ft.ty.is_ordered() => (FeatureKind::Max(prop), ft.ty),
                    "distinct_count" => (FeatureKind::DistinctCount(prop), Type::Int),
                    _ => {
                        return Err(RuleError::new(
                            args[1].span,
                            format!(
                                "{name}() needs a {} property, but this one is {}",
                                if matches!(name, "sum" | "avg") { "numeric" } else { "comparable" },
                                ft.ty
                            ),
                        ))
                    }
                };
                Ok(self.feature(
                    ty,
                    FeatureSpec {
                        event_type,
                        kind,
                        window_ms: Some(window),
                        filter: None,
                    },
                    span,
                ))
            }
            "first_seen" | "last_seen" => {
                self.arity(name, args, &[1], "one argument: the event type", span)?;
                let event_type = self.event_type_arg(&args[0])?;
                let kind = if name == "first_seen" {
                    FeatureKind::FirstSeen
                } else {
                    FeatureKind::LastSeen
                };
                Ok(self.feature(
                    Type::Timestamp,
                    FeatureSpec {
                        event_type,
                        kind,
                        window_ms: None,
                        filter: None,
                    },
                    span,
                ))
            }
            "sequence" => {
                self.arity(
                    name,
                    args,
                    &[3],
                    "two event types and a window, e.g. sequence(\"ad_shown\", \"ad_clicked\", \"5m\")",
                    span,
                )?;
                let first = self.event_type_arg(&args[0])?;
                let then = self.event_type_arg(&args[1])?;
                let window = self.window_arg(&args[2])?;
                Ok(self.feature(
                    Type::Bool,
                    FeatureSpec {
                        event_type: first,
                        kind: FeatureKind::SequenceThen(then),
                        window_ms: Some(window),
                        filter: None,
                    },
                    span,
                ))
            }
            "last" => Err(RuleError::new(
                span,
                "last(...) is an event; read one of its properties, e.g. last(\"app_opened\").os",
            )),
            "age" => {
                self.arity(name, args, &[0], "no arguments", span)?;
                match self.schema().profile.lookup("birthDate") {
                    Some((slot, ft)) if ft.ty == Type::Timestamp => Ok(typed(Type::Int, TNode::Age(slot), span)),
                    _ => Err(RuleError::new(
                        span,
                        "age() needs a profile field `birthDate` of type date in the schema",
                    )),
                }
            }
            "now" => {
                self.arity(name, args, &[0], "no arguments", span)?;
                Ok(typed(Type::Timestamp, TNode::Now, span))
            }
            "duration" => {
                self.arity(name, args, &[1], "one string literal", span)?;
                let ms = self.duration_literal(
                    &Expr {
                        kind: ExprKind::Call {
                            target: None,
                            name: name.into(),
                            name_span,
                            args: args.to_vec(),
                        },
                        span,
                        depth: 2,
                    },
                    "the argument",
                )?;
                Ok(constant(FieldValue::Duration(ms), Type::Duration, span))
            }
            "timestamp" => {
                self.arity(name, args, &[1], "one string literal", span)?;
                let ExprKind::Str(text) = &args[0].kind else {
                    return Err(RuleError::new(
                        args[0].span,
                        "timestamp() takes a string literal, e.g. timestamp(\"2026-01-01T00:00:00Z\")",
                    ));
                };
                let ms = time::parse_timestamp(text).map_err(|reason| RuleError::new(args[0].span, reason))?;
                Ok(constant(FieldValue::Timestamp(ms), Type::Timestamp, span))
            }
            "size" => {
                self.arity(name, args, &[1], "one argument", span)?;
                self.size_of(&args[0], span)
            }
            "int" | "double" => {
                self.arity(name, args, &[1], "one argument", span)?;
                let arg = self.expr(&args[0])?;
                match (name, &arg.ty) {
                    ("int", Type::Int) | ("double", Type::Double) => Ok(arg),
                    ("int", Type::Double) => Ok(typed(Type::Int, TNode::ToInt(Box::new(arg)), span)),
                    ("double", Type::Int) => Ok(promote(arg)),
                    _ => Err(RuleError::new(
                        arg.span,
                        format!("{name}() converts between int and double, but this is {}", arg.ty),
                    )),
                }
            }
            "has" => {
                self.arity(name, args, &[1], "one field, e.g. has(profile.gender)", span)?;
                let ExprKind::Select(target, field, field_span) = &args[0].kind else {
                    return Err(RuleError::new(
                        args[0].span,
                        "has() takes a field, e.g. has(profile.gender) or has(last(\"app_opened\").os)",
                    ));
                };
                let (source, slot, _) = self.resolve_field(target, field, *field_span)?;
                Ok(typed(Type::Bool, TNode::Has(source, slot), span))
            }
            _ => self.udf(name, name_span, args, span),
        }
    }

    fn udf(&mut self, name: &str, name_span: Span, args: &[Expr], span: Span) -> Result<Typed, RuleError> {
        let Some((id, udf)) = self.env.udfs.lookup(name) else {
            let mut known: Vec<&str> = builtin_names().collect();
            known.extend(self.env.udfs.names());
            return Err(RuleError::new(
                name_span,
                format!("unknown function `{name}`{}", did_you_mean(name, known)),
            ));
        };
        let (params, result) = (udf.params.clone(), udf.result.clone());
        if params.len() != args.len() {
            return Err(RuleError::new(
                span,
                format!("{name}() takes {} argument(s), but {} were given", params.len(), args.len()),
            ));
        }
        let checked = args
            .iter()
            .zip(&params)
            .enumerate()
            .map(|(i, (arg, want))| self.expect_type(arg, want, &format!("argument {} of {name}()", i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(typed(result, TNode::Udf(id, checked), span))
    }

    fn event_filter(&mut self, event_type: usize, filter: &Expr) -> Result<EventFilter, RuleError> {
        let outer = std::mem::replace(&mut self.scope, Scope::Filter(event_type));
        let checked = self.expr(filter);
        self.scope = outer;
        let checked = checked?;
        if checked.ty != Type::Bool {
            return Err(RuleError::new(
                filter.span,
                format!("a count filter must be a bool, but this is {}", checked.ty),
            ));
        }
        let cost = static_cost(&checked, self.env.udfs);
        if cost > self.env.limits.max_cost {
            return Err(RuleError::new(
                filter.span,
                format!(
                    "count filter is too costly (cost {cost}; the limit is {})",
                    self.env.limits.max_cost
                ),
            ));
        }
        Ok(EventFilter {
            text: filter.to_string(),
            program: Arc::new(Program::compile(&checked, self.env.udfs)),
        })
    }

    fn size_of(&mut self, arg: &Expr, span: Span) -> Result<Typed, RuleError> {
        let t = self.expr(arg)?;
        match &t.ty {
            Type::String | Type::List(_) => Ok(typed(Type::Int, TNode::Size(Box::new(t)), span)),
            other => Err(RuleError::new(
                t.span,
                format!("size() takes a string or a list, but this is {other}"),
            )),
        }
    }

    fn method(&mut self, target: &Expr, name: &str, name_span: Span, args: &[Expr], span: Span) -> Result<Typed, RuleError> {
        let test = match name {
            "startsWith" => Some(StrTest::StartsWith),
            "endsWith" => Some(StrTest::EndsWith),
            "contains" => Some(StrTest::Contains),
            _ => None,
        };
        match name {
            "size" => {
                self.arity(name, args, &[0], "no arguments when called as a method", span)?;
                self.size_of(target, span)
            }
            "startsWith" | "endsWith" | "contains" | "matches" => {
                self.arity(name, args, &[1], "one string argument", span)?;
                let subject = self.expect_type(target, &Type::String, &format!("the receiver of {name}()"))?;
                if name == "matches" {
                    let ExprKind::Str(pattern) = &args[0].kind else {
                        return Err(RuleError::new(
                            args[0].span,
                            "matches() takes a regular expression literal, e.g. matches(r\"^4\\.\\d+\")",
                        ));
                    };
                    let regex = regex::RegexBuilder::new(pattern).size_limit(1 << 20).build().map_err(|e| {
                        RuleError::new(
                            args[0].span,
                            format!(
                                "invalid regular expression: {}",
                                e.to_string().lines().last().unwrap_or("syntax error")
                            ),
                        )
                    })?;
                    return Ok(typed(Type::Bool, TNode::Matches(Box::new(subject), Arc::new(regex)), span));
                }
                let needle = self.expect_type(&args[0], &Type::String, &format!("the argument of {name}()"))?;
                let kind = test.unwrap_or(StrTest::Contains);
                Ok(typed(Type::Bool, TNode::StrTest(kind, Box::new(subject), Box::new(needle)), span))
            }
            _ => Err(RuleError::new(
                name_span,
                format!(
                    "unknown method `{name}`{}",
                    did_you_mean(name, ["startsWith", "endsWith", "contains", "matches", "size"])
                ),
            )),
        }
    }

    fn standalone_list(&mut self, items: &[Expr], span: Span) -> Result<Typed, RuleError> {
        let (element, items) = self.list_items(items, span)?;
        let constants: Option<Vec<FieldValue>> = items.iter().map(|i| is_const(i).cloned()).collect();
        match constants {
            Some(values) => Ok(constant(FieldValue::List(values), Type::List(Box::new(element)), span)),
            None => Err(RuleError::new(
                span,
                "a list with computed elements can only be used with `in` or an index",
            )),
        }
    }

    fn list_items(&mut self, items: &[Expr], span: Span) -> Result<(Type, Vec<Typed>), RuleError> {
        let mut checked = items.iter().map(|i| self.expr(i)).collect::<Result<Vec<_>, _>>()?;
        let Some(first) = checked.first() else {
            return Err(RuleError::new(span, "an empty list has no element type; remove it or add elements"));
        };
        let element = if checked.iter().any(|t| t.ty == Type::Double) && checked.iter().all(|t| t.ty.is_numeric()) {
            Type::Double
        } else {
            first.ty.clone()
        };
        for item in checked.iter_mut() {
            if item.ty == Type::Int && element == Type::Double {
                *item = promote(item.clone());
            }
            if item.ty != element {
                return Err(RuleError::new(
                    item.span,
                    format!("list elements must all have one type: found {} and {}", element, item.ty),
                ));
            }
        }
        if matches!(element, Type::List(_) | Type::Map(..) | Type::Event(_)) {
            return Err(RuleError::new(span, format!("lists of {element} are not supported")));
        }
        Ok((element, checked))
    }

    fn map_entries(&mut self, entries: &[(Expr, Expr)], span: Span) -> Result<(Type, Vec<FieldValue>, Type, Vec<Typed>), RuleError> {
        let mut keys = Vec::new();
        let mut key_type = None;
        let mut value_exprs = Vec::new();
        for (k, v) in entries {
            let key = self.expr(k)?;
            let Some(value) = is_const(&key)
                .cloned()
                .filter(|_| matches!(key.ty, Type::String | Type::Int | Type::Bool))
            else {
                return Err(RuleError::new(k.span, "map keys must be constant strings, ints or bools"));
            };
            if key_type.get_or_insert(key.ty.clone()) != &key.ty {
                return Err(RuleError::new(k.span, "map keys must all have one type"));
            }
            if keys.contains(&value) {
                return Err(RuleError::new(k.span, "duplicate map key"));
            }
            keys.push(value);
            value_exprs.push(v.clone());
        }
        let Some(key_type) = key_type else {
            return Err(RuleError::new(span, "an empty map has no key type"));
        };
        let (value_type, values) = self.list_items(&value_exprs, span)?;
        Ok((key_type, keys, value_type, values))
    }

    fn index(&mut self, target: &Expr, index: &Expr, span: Span) -> Result<Typed, RuleError> {
        match &target.kind {
            ExprKind::Map(entries) => {
                let (key_type, keys, value_type, values) = self.map_entries(entries, target.span)?;
                let key = self.expect_type(index, &key_type, "the map key")?;
                Ok(typed(value_type, TNode::MapIndex(Box::new(key), keys, values), span))
            }
            ExprKind::List(items) => {
                let (element, items) = self.list_items(items, target.span)?;
                let i = self.expect_type(index, &Type::Int, "a list index")?;
                Ok(typed(element, TNode::ListLiteralIndex(items, Box::new(i)), span))
            }
            _ => {
                let list = self.expr(target)?;
                let Type::List(element) = list.ty.clone() else {
                    return Err(RuleError::new(
                        target.span,
                        format!("only lists and map literals can be indexed, but this is {}", list.ty),
                    ));
                };
                let i = self.expect_type(index, &Type::Int, "a list index")?;
                Ok(typed(*element, TNode::ListIndex(Box::new(list), Box::new(i)), span))
            }
        }
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
                            Ok(constant(FieldValue::Str(format!("{x}{y}")), Type::String, span))
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

    fn membership(&mut self, a: &Expr, b: &Expr, span: Span) -> Result<Typed, RuleError> {
        let element = self.expr(a)?;
        let compatible = |x: &Type, y: &Type| x == y || (x.is_numeric() && y.is_numeric());
        match &b.kind {
            ExprKind::List(items) => {
                let (item_type, items) = self.list_items(items, b.span)?;
                if !compatible(&element.ty, &item_type) {
                    return Err(RuleError::new(
                        span,
                        format!("`in` compares {} with a list of {}", element.ty, item_type),
                    ));
                }
                let (element, items) = if element.ty == Type::Int && item_type == Type::Double {
                    (promote(element), items)
                } else {
                    (element, items)
                };
                let items = if element.ty == Type::Double {
                    items.into_iter().map(|i| if i.ty == Type::Int { promote(i) } else { i }).collect()
                } else {
                    items
                };
                Ok(typed(Type::Bool, TNode::InList(Box::new(element), items), span))
            }
            ExprKind::Map(entries) => {
                let (key_type, keys, _, _) = self.map_entries(entries, b.span)?;
                if element.ty != key_type {
                    return Err(RuleError::new(
                        span,
                        format!("`in` looks up a {} key in a map with {} keys", element.ty, key_type),
                    ));
                }
                Ok(typed(Type::Bool, TNode::InMap(Box::new(element), keys), span))
            }
            _ => {
                let list = self.expr(b)?;
                match &list.ty {
                    Type::List(item) if compatible(&element.ty, item) => {
                        Ok(typed(Type::Bool, TNode::InValue(Box::new(element), Box::new(list)), span))
                    }
                    other => Err(RuleError::new(
                        span,
                        format!(
                            "`in` needs a list or a map literal on the right, with elements like the left side ({}), but this is {other}",
                            element.ty
                        ),
                    )),
                }
            }
        }
    }
}
