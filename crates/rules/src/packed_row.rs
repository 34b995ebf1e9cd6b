//! A profile or stats row that stores only its present fields.
//!
//! Contract: a [`PackedRow`] holds the same information as a row of one optional value
//! per schema slot (`&[Option<FieldValue>]`): [`PackedRow::get`] answers every slot as
//! the row would (`None` for an absent or out-of-range slot), and
//! [`PackedRow::to_slots`] gives the row back. It keeps a bit per slot and the present
//! values in slot order, so an absent field costs one bit instead of a 24-byte `None`.
//! [`Fields`] is what a [`crate::View`] reads a row through, either form.
//!
//! *Why:* the engine keeps every user's profile and stats; with the example schema (14 +
//! 21 fields) and the generator's users (9 + 8 present) the slot rows cost 888 bytes
//! per user, the packed ones 472 (`tests::a_packed_row_of_the_example_user_costs_less`).

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::value::FieldValue;

/// Which slots are present: one word for up to 64 slots, more on the heap; never a
/// trailing zero word (so equal rows have equal presence, whatever their width).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Presence {
    Word(u64),
    Words(Box<[u64]>),
}

impl Presence {
    fn words(&self) -> &[u64] {
        match self {
            Presence::Word(word) => std::slice::from_ref(word),
            Presence::Words(words) => words,
        }
    }

    /// Where a present slot's value is among the values, or `None` when it is absent.
    #[inline]
    fn index_of(&self, slot: usize) -> Option<usize> {
        let words = self.words();
        let (word, bit) = (slot / 64, slot % 64);
        let here = *words.get(word)?;
        if here & (1 << bit) == 0 {
            return None;
        }
        let before: u32 = words[..word].iter().map(|w| w.count_ones()).sum();
        Some(before as usize + (here & ((1u64 << bit) - 1)).count_ones() as usize)
    }

    /// One past the highest present slot.
    fn end(&self) -> usize {
        let words = self.words();
        words
            .iter()
            .rposition(|w| *w != 0)
            .map_or(0, |i| i * 64 + 64 - words[i].leading_zeros() as usize)
    }
}

/// A row of optional fields that holds only the present ones (see the module contract).
/// Rows compare as their slot rows do (slot by slot, an absent field first).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PackedRow {
    present: Presence,
    values: Box<[FieldValue]>,
}

impl PackedRow {
    /// Packs a row of one optional value per slot.
    pub fn from_slots(slots: &[Option<FieldValue>]) -> PackedRow {
        PackedRow::from_iter_slots(slots.iter().cloned(), slots.len())
    }

    /// Packs a row of one optional value per slot, taking its values.
    pub fn from_owned_slots(slots: Vec<Option<FieldValue>>) -> PackedRow {
        let width = slots.len();
        PackedRow::from_iter_slots(slots.into_iter(), width)
    }

    fn from_iter_slots(slots: impl Iterator<Item = Option<FieldValue>>, width: usize) -> PackedRow {
        let mut words = vec![0u64; width.div_ceil(64).max(1)];
        let mut values = Vec::new();
        for (slot, value) in slots.enumerate() {
            if let Some(value) = value {
                words[slot / 64] |= 1 << (slot % 64);
                values.push(value);
            }
        }
        while words.len() > 1 && words.last() == Some(&0) {
            words.pop();
        }
        let present = match words.as_slice() {
            [word] => Presence::Word(*word),
            _ => Presence::Words(words.into_boxed_slice()),
        };
        PackedRow {
            present,
            values: values.into_boxed_slice(),
        }
    }

    /// The value in a slot, if present.
    #[inline]
    pub fn get(&self, slot: usize) -> Option<&FieldValue> {
        self.present.index_of(slot).and_then(|i| self.values.get(i))
    }

    /// The row as one optional value per slot, `width` slots.
    pub fn to_slots(&self, width: usize) -> Vec<Option<FieldValue>> {
        (0..width).map(|slot| self.get(slot).cloned()).collect()
    }

    /// The number of present fields.
    pub fn present_count(&self) -> usize {
        self.values.len()
    }
}

impl Ord for PackedRow {
    fn cmp(&self, other: &Self) -> Ordering {
        let end = self.present.end().max(other.present.end());
        (0..end)
            .map(|slot| self.get(slot).cmp(&other.get(slot)))
            .find(|order| order.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for PackedRow {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A row as a view reads it: one optional value per slot, or packed.
#[derive(Clone, Copy, Debug)]
pub enum Fields<'a> {
    /// One optional value per slot.
    Slots(&'a [Option<FieldValue>]),
    /// Only the present values ([`PackedRow`]).
    Packed(&'a PackedRow),
}

impl Default for Fields<'_> {
    fn default() -> Self {
        Fields::Slots(&[])
    }
}

impl<'a> Fields<'a> {
    /// The value in a slot, if present; `None` also for a slot out of range.
    #[inline]
    pub fn get(self, slot: usize) -> Option<&'a FieldValue> {
        match self {
            Fields::Slots(slots) => slots.get(slot).and_then(Option::as_ref),
            Fields::Packed(row) => row.get(slot),
        }
    }
}

impl<'a> From<&'a [Option<FieldValue>]> for Fields<'a> {
    fn from(slots: &'a [Option<FieldValue>]) -> Self {
        Fields::Slots(slots)
    }
}

impl<'a> From<&'a Vec<Option<FieldValue>>> for Fields<'a> {
    fn from(slots: &'a Vec<Option<FieldValue>>) -> Self {
        Fields::Slots(slots)
    }
}

impl<'a> From<&'a PackedRow> for Fields<'a> {
    fn from(row: &'a PackedRow) -> Self {
        Fields::Packed(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::mem::size_of;

    fn value() -> impl Strategy<Value = Option<FieldValue>> {
        prop_oneof![
            Just(None),
            any::<i64>().prop_map(|i| Some(FieldValue::Int(i))),
            any::<bool>().prop_map(|b| Some(FieldValue::Bool(b))),
            "[a-z]{0,6}".prop_map(|s| Some(FieldValue::Str(s.into()))),
        ]
    }

    proptest! {
        /// Every slot, in range or not, reads the same packed as unpacked, for rows
        /// narrower and wider than one presence word.
        #[test]
        fn a_packed_row_answers_every_slot_as_the_row(row in prop::collection::vec(value(), 0..150)) {
            let packed = PackedRow::from_slots(&row);
            for slot in 0..row.len() + 70 {
                prop_assert_eq!(packed.get(slot), row.get(slot).and_then(Option::as_ref));
                prop_assert_eq!(Fields::from(&packed).get(slot), Fields::from(&row).get(slot));
            }
            prop_assert_eq!(packed.to_slots(row.len()), row.clone());
            prop_assert_eq!(PackedRow::from_owned_slots(row.clone()), packed.clone());
            prop_assert_eq!(packed.present_count(), row.iter().flatten().count());
        }

        /// Rows of one width order and compare equal packed as they do unpacked.
        #[test]
        fn packed_rows_order_as_their_rows(
            a in prop::collection::vec(value(), 70),
            b in prop::collection::vec(value(), 70),
        ) {
            let (pa, pb) = (PackedRow::from_slots(&a), PackedRow::from_slots(&b));
            prop_assert_eq!(pa.cmp(&pb), a.cmp(&b));
            prop_assert_eq!(pa == pb, a == b);
        }
    }

    #[test]
    fn a_row_that_differs_in_one_late_slot_orders_by_it() {
        let mut a = vec![None; 100];
        let mut b = a.clone();
        a[80] = Some(FieldValue::Int(1));
        b[80] = Some(FieldValue::Int(2));
        assert!(PackedRow::from_slots(&a) < PackedRow::from_slots(&b));
        assert!(PackedRow::from_slots(&[]) < PackedRow::from_slots(&b));
        assert_eq!(PackedRow::from_slots(&vec![None; 100]), PackedRow::from_slots(&[]));
    }

    #[test]
    fn a_packed_row_of_the_example_user_costs_less() {
        // Inline sizes plus the values' blocks, strings left out (the same in both).
        let slot_row = |width: usize| size_of::<Vec<Option<FieldValue>>>() + width * size_of::<Option<FieldValue>>();
        let packed_row = |present: usize| size_of::<PackedRow>() + present * size_of::<FieldValue>();
        assert_eq!(size_of::<PackedRow>(), 32);
        assert_eq!(size_of::<Option<PackedRow>>(), 32);
        assert_eq!(slot_row(14) + slot_row(21), 888);
        assert_eq!(packed_row(9) + packed_row(8), 472);
    }
}
