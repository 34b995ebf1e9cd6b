//! Checking list and map literals, indexing, and `in`.

use super::*;

impl Checker<'_, '_> {
    pub(super) fn standalone_list(&mut self, items: &[Expr], span: Span) -> Result<Typed, RuleError> {
        let (element, items) = self.list_items(items, span)?;
        let constants: Option<Vec<FieldValue>> = items.iter().map(|i| is_const(i).cloned()).collect();
        match constants {
            Some(values) => Ok(constant(FieldValue::List(values.into()), Type::List(Box::new(element)), span)),
            None => Err(RuleError::new(
                span,
                "a list with computed elements can only be used with `in` or an index",
            )),
        }
    }

    pub(super) fn list_items(&mut self, items: &[Expr], span: Span) -> Result<(Type, Vec<Typed>), RuleError> {
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

    pub(super) fn map_entries(
        &mut self,
        entries: &[(Expr, Expr)],
        span: Span,
    ) -> Result<(Type, Vec<FieldValue>, Type, Vec<Typed>), RuleError> {
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

    pub(super) fn index(&mut self, target: &Expr, index: &Expr, span: Span) -> Result<Typed, RuleError> {
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

    pub(super) fn membership(&mut self, a: &Expr, b: &Expr, span: Span) -> Result<Typed, RuleError> {
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
