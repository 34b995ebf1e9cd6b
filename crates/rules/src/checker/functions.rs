//! Checking function and method calls: the segmentation functions (each becomes a
//! feature slot), the other built-ins, string methods, and user-defined functions.

use super::*;

impl Checker<'_, '_> {
    pub(super) fn arity(&self, name: &str, args: &[Expr], allowed: &[usize], usage: &str, span: Span) -> Result<(), RuleError> {
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

    pub(super) fn feature(&mut self, ty: Type, spec: FeatureSpec, span: Span) -> Typed {
        let slot = self.env.features.intern(spec);
        typed(ty, TNode::Field(Source::Feature, slot), span)
    }

    pub(super) fn function(&mut self, name: &str, name_span: Span, args: &[Expr], span: Span) -> Result<Typed, RuleError> {
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

    pub(super) fn udf(&mut self, name: &str, name_span: Span, args: &[Expr], span: Span) -> Result<Typed, RuleError> {
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

    pub(super) fn event_filter(&mut self, event_type: usize, filter: &Expr) -> Result<EventFilter, RuleError> {
        let outer = std::mem::replace(&mut self.scope, Scope::Filter(event_type));
        let checked = self.expr(filter);
        self.scope = outer;
        let checked = checked?;
        self.bounded_predicate(&checked, filter.span, "count filter")?;
        Ok(EventFilter {
            text: filter.to_string(),
            program: Arc::new(Program::compile(&checked, self.env.udfs)),
        })
    }

    pub(super) fn size_of(&mut self, arg: &Expr, span: Span) -> Result<Typed, RuleError> {
        let t = self.expr(arg)?;
        match &t.ty {
            Type::String | Type::List(_) => Ok(typed(Type::Int, TNode::Size(Box::new(t)), span)),
            other => Err(RuleError::new(
                t.span,
                format!("size() takes a string or a list, but this is {other}"),
            )),
        }
    }

    pub(super) fn method(&mut self, target: &Expr, name: &str, name_span: Span, args: &[Expr], span: Span) -> Result<Typed, RuleError> {
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
}
