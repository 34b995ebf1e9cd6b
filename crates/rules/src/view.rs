//! The per-user view a rule is evaluated against.
//!
//! Contract: a [`View`] borrows the user's state indexed by slot: profile and stats
//! fields in schema order (as slot rows or [`PackedRow`](crate::PackedRow)s), features in the rule set's feature-slot order, and (for
//! count filters) the properties of one event. A slot that is absent or out of range is
//! a missing value, never a panic. A host that evaluates many conditions on one view
//! computes `age()` once with [`View::with_age`].

use super::ir::Source;
use super::packed_row::Fields;
use super::value::FieldValue;

/// Borrowed state of one user at one time.
#[derive(Clone, Copy, Debug, Default)]
pub struct View<'a> {
    /// The event time being evaluated (epoch ms; the end of the current tick).
    pub now: i64,
    /// Profile fields by slot.
    pub profile: Fields<'a>,
    /// Stats fields by slot.
    pub stats: Fields<'a>,
    /// Feature values by slot.
    pub features: &'a [Option<FieldValue>],
    /// The filtered event's properties by slot (count filters only).
    pub event: &'a [Option<FieldValue>],
    /// `age()`, computed once by the host ([`View::with_age`]); `None` computes it when read.
    pub age: Option<i64>,
}

impl<'a> View<'a> {
    /// The same view with `age()` computed once from the profile's date slot `birth_slot`.
    pub fn with_age(mut self, birth_slot: Option<usize>) -> View<'a> {
        if let Some(FieldValue::Timestamp(birth)) = birth_slot.and_then(|slot| self.profile.get(slot)) {
            self.age = Some(segstream_time::whole_years_between(*birth, self.now));
        }
        self
    }

    /// The value in a slot of a source, if present.
    #[inline]
    pub fn field(&self, source: Source, slot: usize) -> Option<&'a FieldValue> {
        match source {
            Source::Profile => self.profile.get(slot),
            Source::Stats => self.stats.get(slot),
            Source::Feature => self.features.get(slot).and_then(Option::as_ref),
            Source::Event => self.event.get(slot).and_then(Option::as_ref),
        }
    }
}
