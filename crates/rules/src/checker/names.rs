//! Resolving names and literal arguments: fields of `profile`, `stats`, `event` and
//! `last(...)`, event types and properties, windows and durations, and scope rules.

use super::*;

impl Checker<'_, '_> {
    /// `profile.f`, `stats.f`, `event.p`, `last("t").p`.
    pub(super) fn resolve_field(&mut self, target: &Expr, field: &str, field_span: Span) -> Result<(Source, usize, FieldType), RuleError> {
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

    pub(super) fn select(&mut self, target: &Expr, field: &str, field_span: Span, span: Span) -> Result<Typed, RuleError> {
        let (source, slot, ft) = self.resolve_field(target, field, field_span)?;
        Ok(typed(ft.ty, TNode::Field(source, slot), span))
    }

    pub(super) fn property(&self, event_type: usize, name: &str, span: Span) -> Result<(usize, FieldType), RuleError> {
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

    pub(super) fn event_type_arg(&self, arg: &Expr) -> Result<usize, RuleError> {
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

    pub(super) fn property_arg(&self, event_type: usize, arg: &Expr) -> Result<(usize, FieldType), RuleError> {
        let ExprKind::Str(name) = &arg.kind else {
            return Err(RuleError::new(arg.span, "the property must be a string literal, e.g. \"amount\""));
        };
        self.property(event_type, name, arg.span)
    }

    pub(super) fn duration_literal(&self, arg: &Expr, what: &str) -> Result<i64, RuleError> {
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

    pub(super) fn window_arg(&self, arg: &Expr) -> Result<i64, RuleError> {
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

    pub(super) fn require_segment_scope(&self, span: Span, what: &str) -> Result<(), RuleError> {
        match self.scope {
            Scope::Segment => Ok(()),
            Scope::Filter(_) => Err(RuleError::new(
                span,
                format!("{what} cannot be used inside a count filter, which reads only event.<property>"),
            )),
        }
    }
}
