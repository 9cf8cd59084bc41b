//! The lender's own fields of an authorizer (a CSV's `meta_*` columns, a YAML entry's
//! `metadata` mapping), kept compactly: [`Metadata`] for one authorizer, [`Fields`] to
//! read them, and [`MetadataById`] for a whole list.
//!
//! A list of 100,000 borrowers keeps its metadata from the start of a run to the end of
//! the alert judgement after it, so the layout matters. One authorizer's keys and values
//! share one string and one small table of offsets (two allocations however many fields,
//! where a `BTreeMap<String, String>` took an eleven-entry B-tree node and one allocation
//! per key and per value). A list's metadata is four allocations in all, however long
//! the list, so it is cheap to keep and frees in one piece.

use std::fmt;

/// One authorizer's fields, read-only: key → text, keys unique and in byte order, as a
/// `BTreeMap` would hold them. Cheap to copy.
///
/// `Debug` shows the keys only: lender metadata may itself be personal.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fields<'a> {
    /// Every key and value, one after another: `key₀ value₀ key₁ value₁ …`.
    text: &'a str,
    /// Where each key and value of `text` ends: `2i` for key `i`, `2i + 1` for its
    /// value.
    ends: &'a [u32],
}

impl<'a> Fields<'a> {
    /// No fields.
    pub const EMPTY: Fields<'static> = Fields {
        text: "",
        ends: &[],
    };

    /// Fields laid out as [`Metadata`] lays them out: `text` the keys and values one
    /// after another, `ends` where each ends.
    pub(crate) fn new(text: &'a str, ends: &'a [u32]) -> Fields<'a> {
        Fields { text, ends }
    }

    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    pub(crate) fn ends(&self) -> &'a [u32] {
        self.ends
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.ends.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The fields in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a> {
        let fields = *self;
        (0..fields.len()).map(move |i| (fields.part(2 * i), fields.part(2 * i + 1)))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.iter().map(|(key, _)| key)
    }

    /// The value of `key`, if there is one.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let middle = (low + high) / 2;
            match self.part(2 * middle).cmp(key) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(self.part(2 * middle + 1)),
            }
        }
        None
    }

    fn part(&self, index: usize) -> &'a str {
        let start = match index {
            0 => 0,
            _ => self.ends[index - 1] as usize,
        };
        &self.text[start..self.ends[index] as usize]
    }
}

impl fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fields")
            .field("keys", &self.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One authorizer's fields, owned. Read them through [`Metadata::fields`] (or the
/// shortcuts here).
///
/// `Debug` shows the keys only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    text: String,
    ends: Vec<u32>,
}

impl Metadata {
    /// No fields.
    pub const fn new() -> Metadata {
        Metadata {
            text: String::new(),
            ends: Vec::new(),
        }
    }

    /// The fields of `pairs`; a key given twice keeps its last value. Fields past
    /// 4 GiB of text in all are left out (no CSV row comes near).
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Metadata
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut pairs: Vec<(K, V)> = pairs.into_iter().collect();
        // Stable, so of equal keys the last given stays last, and is the one kept.
        pairs.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let mut kept: Vec<(K, V)> = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match kept.last_mut() {
                Some(last) if last.0.as_ref() == pair.0.as_ref() => *last = pair,
                _ => kept.push(pair),
            }
        }
        let length = kept
            .iter()
            .map(|(k, v)| k.as_ref().len() + v.as_ref().len())
            .sum();
        let mut metadata = Metadata {
            text: String::with_capacity(length),
            ends: Vec::with_capacity(kept.len() * 2),
        };
        for (key, value) in &kept {
            let (key, value) = (key.as_ref(), value.as_ref());
            let Ok(end) = u32::try_from(metadata.text.len() + key.len() + value.len()) else {
                break;
            };
            metadata.text.push_str(key);
            metadata.ends.push(end - value.len() as u32);
            metadata.text.push_str(value);
            metadata.ends.push(end);
        }
        metadata
    }

    /// The fields, to read.
    pub fn fields(&self) -> Fields<'_> {
        Fields {
            text: &self.text,
            ends: &self.ends,
        }
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields().len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The fields in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.fields().iter()
    }

    /// The value of `key`, if there is one.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields().get(key)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Metadata {
        Metadata::from_pairs(pairs)
    }
}

impl<'a> From<&'a Metadata> for Fields<'a> {
    fn from(metadata: &'a Metadata) -> Fields<'a> {
        metadata.fields()
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("keys", &self.fields().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The metadata of a list's authorizers, by id, in four allocations: the ids one after
/// another in id order, every authorizer's fields one after another, their offsets, and
/// one entry per authorizer. Looked up by halves.
///
/// `Debug` shows the number of authorizers only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MetadataById {
    ids: String,
    text: String,
    ends: Vec<u32>,
    entries: Vec<Entry>,
}

/// Where one authorizer's id, text and offsets end in a [`MetadataById`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    id_end: usize,
    text_end: usize,
    ends_end: usize,
}

impl MetadataById {
    /// The fields of `id`, if the list gave it any.
    pub fn get(&self, id: &str) -> Option<Fields<'_>> {
        let (mut low, mut high) = (0, self.entries.len());
        while low < high {
            let middle = (low + high) / 2;
            match self.id(middle).cmp(id) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(self.fields(middle)),
            }
        }
        None
    }

    /// Authorizers with metadata.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every authorizer's id and fields, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Fields<'_>)> + '_ {
        (0..self.entries.len()).map(|i| (self.id(i), self.fields(i)))
    }

    /// The highest id with fields.
    pub fn last_id(&self) -> Option<&str> {
        self.entries.len().checked_sub(1).map(|last| self.id(last))
    }

    fn previous(&self, index: usize) -> Entry {
        match index {
            0 => Entry {
                id_end: 0,
                text_end: 0,
                ends_end: 0,
            },
            _ => self.entries[index - 1],
        }
    }

    fn id(&self, index: usize) -> &str {
        &self.ids[self.previous(index).id_end..self.entries[index].id_end]
    }

    fn fields(&self, index: usize) -> Fields<'_> {
        let (start, end) = (self.previous(index), self.entries[index]);
        Fields {
            text: &self.text[start.text_end..end.text_end],
            ends: &self.ends[start.ends_end..end.ends_end],
        }
    }

    fn push(&mut self, id: &str, fields: Fields<'_>) {
        self.ids.push_str(id);
        self.text.push_str(fields.text);
        self.ends.extend_from_slice(fields.ends);
        self.entries.push(Entry {
            id_end: self.ids.len(),
            text_end: self.text.len(),
            ends_end: self.ends.len(),
        });
    }

    fn shrink_to_fit(&mut self) {
        self.ids.shrink_to_fit();
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.entries.shrink_to_fit();
    }
}

/// Authorizers without metadata are left out; of an id given twice, the last is kept.
/// Given in id order (as a planned run gives them), the fields are copied once.
impl<'a, K: AsRef<str>, F: Into<Fields<'a>>> FromIterator<(K, F)> for MetadataById {
    fn from_iter<I: IntoIterator<Item = (K, F)>>(entries: I) -> MetadataById {
        let mut packed = MetadataById::default();
        let mut in_order = true;
        for (id, fields) in entries {
            let (id, fields) = (id.as_ref(), fields.into());
            if fields.is_empty() {
                continue;
            }
            if let Some(last) = packed.entries.len().checked_sub(1) {
                in_order &= packed.id(last) < id;
            }
            packed.push(id, fields);
        }
        if !in_order {
            // Sort by id, stably, so that of equal ids the last given is last; keep it.
            let mut order: Vec<usize> = (0..packed.entries.len()).collect();
            order.sort_by(|&a, &b| packed.id(a).cmp(packed.id(b)));
            let mut sorted = MetadataById::default();
            for (at, &index) in order.iter().enumerate() {
                let superseded = order
                    .get(at + 1)
                    .is_some_and(|&next| packed.id(next) == packed.id(index));
                if !superseded {
                    sorted.push(packed.id(index), packed.fields(index));
                }
            }
            packed = sorted;
        }
        packed.shrink_to_fit();
        packed
    }
}

impl fmt::Debug for MetadataById {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataById")
            .field("authorizers", &self.entries.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn fields_come_back_sorted_by_key_with_the_last_of_a_repeated_key() {
        let metadata = Metadata::from_pairs([
            ("payment_amount", "125.50"),
            ("loan_id", "L-1"),
            ("", "blank key"),
            ("loan_id", "L-2"),
            ("note", ""),
        ]);
        assert_eq!(metadata.len(), 4);
        assert_eq!(
            metadata.iter().collect::<Vec<_>>(),
            [
                ("", "blank key"),
                ("loan_id", "L-2"),
                ("note", ""),
                ("payment_amount", "125.50")
            ]
        );
        assert_eq!(metadata.get("loan_id"), Some("L-2"));
        assert_eq!(metadata.get("note"), Some(""));
        assert_eq!(metadata.get(""), Some("blank key"));
        assert_eq!(metadata.get("loan"), None);
        assert_eq!(metadata.get("zzz"), None);
    }

    #[test]
    fn lookups_agree_with_a_map_over_many_keys() {
        let pairs: Vec<(String, String)> = (0..40)
            .rev()
            .map(|i| (format!("k{i:02}"), format!("value {i} é")))
            .collect();
        let metadata: Metadata = pairs.iter().cloned().collect();
        let map: BTreeMap<String, String> = pairs.into_iter().collect();
        assert!(
            metadata
                .iter()
                .eq(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        );
        for probe in ["k00", "k17", "k39", "k40", "k", "a", "z"] {
            assert_eq!(
                metadata.get(probe),
                map.get(probe).map(String::as_str),
                "{probe}"
            );
        }
    }

    #[test]
    fn empty_metadata_has_no_fields_and_debug_shows_keys_only() {
        let empty = Metadata::new();
        assert!(empty.is_empty() && empty.iter().next().is_none() && empty.get("a").is_none());
        assert_eq!(empty, Metadata::default());
        assert_eq!(empty.fields(), Fields::EMPTY);
        let shown = format!("{:?}", Metadata::from_pairs([("loan_id", "L-secret")]));
        assert!(
            shown.contains("loan_id") && !shown.contains("L-secret"),
            "{shown}"
        );
        let list: MetadataById = [("A-1", &Metadata::from_pairs([("loan_id", "L-secret")]))]
            .into_iter()
            .collect();
        let shown = format!("{list:?}");
        assert!(
            !shown.contains("L-secret") && !shown.contains("A-1"),
            "{shown}"
        );
    }

    /// A list's metadata, built from ids in any order, with repeats and empties,
    /// answers every lookup as a map of the same entries would.
    #[test]
    fn a_list_answers_as_a_map_whatever_the_order() {
        let one = |i: usize| {
            Metadata::from_pairs((0..i % 4).map(|k| (format!("key{k}"), format!("value {i}.{k}"))))
        };
        for ids in [
            (0..200).collect::<Vec<usize>>(),
            (0..200).rev().collect(),
            (0..200).map(|i| (i * 7919) % 211).collect(),
            vec![5, 3, 5, 1, 3, 3, 9],
        ] {
            let entries: Vec<(String, Metadata)> = ids
                .iter()
                .enumerate()
                .map(|(at, &i)| (format!("A-{i:04}"), one(i + at)))
                .collect();
            let list: MetadataById = entries.iter().map(|(id, m)| (id, m)).collect();
            let map: BTreeMap<&str, &Metadata> = entries
                .iter()
                .filter(|(_, m)| !m.is_empty())
                .map(|(id, m)| (id.as_str(), m))
                .collect();
            assert_eq!(list.len(), map.len());
            assert!(
                list.iter()
                    .map(|(id, fields)| (id, fields.iter().collect::<Vec<_>>()))
                    .eq(map
                        .iter()
                        .map(|(id, m)| (*id, m.iter().collect::<Vec<_>>())))
            );
            for i in 0..215 {
                let id = format!("A-{i:04}");
                assert_eq!(
                    list.get(&id),
                    map.get(id.as_str()).map(|m| m.fields()),
                    "{id}"
                );
            }
        }
    }
}
