//! `Row` and `Values`: a borrowed view of one input row's fields, however the row was read.

use std::borrow::Cow;

/// The values of one field in one row.
///
/// An empty string is null, as in Splunk's CSV where a null field is an empty
/// cell. Multivalue fields keep their order and duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Values<'a> {
    /// Absent or empty.
    Null,
    /// One non-empty value.
    One(&'a [u8]),
    /// Two or more values (empty members already removed).
    Many(Vec<Cow<'a, [u8]>>),
}

impl<'a> Values<'a> {
    /// Builds values from a list, dropping empty members.
    pub(crate) fn from_list(list: Vec<Cow<'a, [u8]>>) -> Values<'a> {
        let mut list: Vec<_> = list.into_iter().filter(|v| !v.is_empty()).collect();
        match list.len() {
            0 => Values::Null,
            1 => match list.pop() {
                Some(Cow::Borrowed(v)) => Values::One(v),
                Some(owned) => Values::Many(vec![owned]),
                None => Values::Null,
            },
            _ => Values::Many(list),
        }
    }

    /// A single value, null when empty.
    pub(crate) fn one(v: &'a [u8]) -> Values<'a> {
        if v.is_empty() {
            Values::Null
        } else {
            Values::One(v)
        }
    }

    /// True when there is no value.
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Values::Null)
    }

    /// Iterates over the values.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let (one, many) = match self {
            Values::Null => (None, &[][..]),
            Values::One(v) => (Some(*v), &[][..]),
            Values::Many(list) => (None, list.as_slice()),
        };
        one.into_iter().chain(many.iter().map(|v| v.as_ref()))
    }

    /// Number of values (0 when null).
    pub(crate) fn len(&self) -> usize {
        match self {
            Values::Null => 0,
            Values::One(_) => 1,
            Values::Many(list) => list.len(),
        }
    }

    /// The value at `i`; empty past the end.
    pub(crate) fn nth(&self, i: usize) -> &[u8] {
        match self {
            Values::Null => &[],
            Values::One(v) => v,
            Values::Many(list) => list.get(i).map_or(&[][..], |v| v.as_ref()),
        }
    }

    /// True when any value satisfies `f`.
    pub(crate) fn any(&self, f: impl Fn(&[u8]) -> bool) -> bool {
        self.iter().any(f)
    }
}

/// One input row. `field` is an index into [`crate::detect::Engine::fields`].
pub trait Row {
    /// The values of the field at `field`.
    fn get(&self, field: usize) -> Values<'_>;
}

/// A row held as owned name/value lists, for offline input formats and tests.
#[derive(Debug, Clone, Default)]
pub(crate) struct OwnedRow {
    /// One entry per engine field, in engine field order.
    pub(crate) values: Vec<Vec<Vec<u8>>>,
}

impl Row for OwnedRow {
    fn get(&self, field: usize) -> Values<'_> {
        match self.values.get(field) {
            None => Values::Null,
            Some(list) => {
                Values::from_list(list.iter().map(|v| Cow::Borrowed(v.as_slice())).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_members_are_dropped_and_a_single_survivor_is_one_value() {
        let v = Values::from_list(vec![Cow::Borrowed(&b""[..]), Cow::Borrowed(&b"a"[..])]);
        assert_eq!(v, Values::One(b"a"));
        assert!(Values::from_list(vec![Cow::Borrowed(&b""[..])]).is_null());
        assert_eq!(Values::one(b"x").iter().count(), 1);
    }
}
