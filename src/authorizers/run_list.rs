//! The list a run plans from: the valid authorizers' ids in byte order, each with where
//! its personal data is, the pre-flight rejections and the loader's warnings.
//!
//! Where the personal data is depends on the source:
//!
//! - **A CSV file**: in the file. The list holds ids and byte ranges
//!   ([`super::indexed`]), about 30 bytes an authorizer, and
//!   [`RunList::authorizers`] reads the asked records again, checking that the file is
//!   still the one indexed. A list of a million borrowers is then some 30 MB, and the
//!   personal data is in memory only for the chunk being hashed or sent.
//! - **YAML (a file, or inline in the configuration)**: in memory, as loaded. Those
//!   sources are small by nature (the YAML parser holds the whole document, and the
//!   file is limited to 32 MiB, about 80,000 authorizers; the configuration to 1 MiB),
//!   so re-reading them by offset would save little, and a YAML node has no stable
//!   byte range to re-read.
//!
//! Any list already loaded whole ([`RunList::from_loaded`]) is held the second way: a
//! monitor with `debits` narrows its loaded list first, and plans from what is left.

use std::ops::Range;
use std::path::Path;

use super::indexed::{self, CsvFile, FileIdentity, ListReadError, Record};
use super::loaded::{LoadError, LoadedAuthorizers};
use super::source::AuthorizerSource;
use super::validate::Rejected;
use super::{Authorizer, source};

/// A run's list (see the module documentation). No `Debug`: only ids and counts may be
/// shown, and [`RunList::len`] and [`RunList::id`] give them.
pub struct RunList {
    ids: String,
    id_ends: Vec<u32>,
    records: Records,
    /// Authorizers pre-flight left out, in source order. No personal data.
    pub rejected: Vec<Rejected>,
    /// The loader's warnings (files, rows, keys; never values).
    pub warnings: Vec<String>,
}

enum Records {
    /// In id order, one per id.
    Loaded(Vec<Authorizer>),
    /// In id order, one per id.
    File { file: CsvFile, records: Vec<Record> },
}

impl RunList {
    /// The list of authorizers loaded whole, sorted by id.
    pub fn from_loaded(loaded: LoadedAuthorizers) -> RunList {
        let LoadedAuthorizers {
            mut valid,
            rejected,
            warnings,
        } = loaded;
        // In place: pre-flight left no two with the same id, so an unstable sort is as
        // deterministic as a stable one.
        valid.sort_unstable_by(|a, b| a.id().cmp(b.id()));
        let mut ids = String::new();
        let mut id_ends = Vec::with_capacity(valid.len());
        for authorizer in &valid {
            ids.push_str(authorizer.id());
            id_ends.push(u32::try_from(ids.len()).unwrap_or(u32::MAX));
        }
        RunList {
            ids,
            id_ends,
            records: Records::Loaded(valid),
            rejected,
            warnings,
        }
    }

    /// Valid authorizers.
    pub fn len(&self) -> usize {
        self.id_ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.id_ends.is_empty()
    }

    /// The `index`th id, in byte order.
    pub fn id(&self, index: usize) -> &str {
        indexed::id_of(&self.ids, &self.id_ends, index)
    }

    /// Where `id` is in the list, if it is there.
    pub fn position(&self, id: &str) -> Option<usize> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let middle = (low + high) / 2;
            match self.id(middle).cmp(id) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(middle),
            }
        }
        None
    }

    /// The file the personal data is read from, and what it was when indexed; `None`
    /// for a list held in memory.
    pub fn file(&self) -> Option<(&Path, &FileIdentity)> {
        match &self.records {
            Records::Loaded(_) => None,
            Records::File { file, .. } => Some((file.path(), file.identity())),
        }
    }

    /// The authorizers of `range`, in id order: for a file, read again from it, each
    /// record checked to pass pre-flight again (to plan from).
    pub fn authorizers(&self, range: Range<usize>) -> Result<Vec<Authorizer>, ListReadError> {
        self.read(range, true)
    }

    /// The authorizers at `indexes`, in the order given, read again from a file without
    /// validating them: for bytes the caller checks against a recorded hash.
    pub fn authorizers_at(
        &self,
        indexes: impl ExactSizeIterator<Item = usize>,
    ) -> Result<Vec<Authorizer>, ListReadError> {
        self.read(indexes, false)
    }

    fn read(
        &self,
        indexes: impl ExactSizeIterator<Item = usize>,
        validate: bool,
    ) -> Result<Vec<Authorizer>, ListReadError> {
        match &self.records {
            Records::Loaded(list) => Ok(indexes.map(|index| list[index].clone()).collect()),
            Records::File { file, records } => file.read(
                indexes.map(|index| (self.id(index), records[index])),
                validate,
            ),
        }
    }
}

/// Loads a monitor's list for a run: a CSV file indexed, any other source loaded whole.
pub fn load_run_list(source: &AuthorizerSource, config_file: &Path) -> Result<RunList, LoadError> {
    match source {
        AuthorizerSource::Csv(path) => {
            let indexed = indexed::index_csv(path)?;
            Ok(RunList {
                ids: indexed.ids,
                id_ends: indexed.id_ends,
                records: Records::File {
                    file: indexed.file,
                    records: indexed.records,
                },
                rejected: indexed.rejected,
                warnings: indexed.warnings,
            })
        }
        other => source::load_source(other, config_file).map(RunList::from_loaded),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorizers::csv::{COLUMNS, parse_csv_bytes};
    use crate::authorizers::wire;

    fn row(id: &str, ssn: &str) -> String {
        format!(
            "{id},Ada,Lovelace,1 Main St,,Springfield,MI,49007,US,5558671309,02/01/1970,{ssn},,90871234565,021000021,,,,"
        )
    }

    fn write(dir: &Path, text: &str) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("list.csv");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// The indexed list gives what the whole-file loader gives: the same valid ids in
    /// the same order, the same bodies, the same rejections and warnings.
    #[test]
    fn an_indexed_file_reads_as_the_loaded_one() {
        let mut text = format!("\u{feff}{},meta_loan,unknown", COLUMNS.join(","));
        for line in [
            format!("{},L-1,x", row("c", "318527946")),
            format!("{},L-2,x", row("a", "318527946")),
            format!("{},,x", row("dup", "318527946")),
            format!("{},,x", row("b", "12")),
            format!("{},,x", row("dup", "318527946")),
            format!("{},,x", row("bad", "1")),
            format!("{},,x", row("bad", "318527946")),
            String::new(),
            format!("\"Zoë\",{},L-3,x", &row("x", "318527946")[2..]),
        ] {
            text.push('\n');
            text.push_str(&line);
        }
        for latin1 in [false, true] {
            let mut text = text.clone().into_bytes();
            if latin1 {
                // One byte that is not UTF-8 makes the whole file Latin-1.
                let at = text.windows(8).position(|w| w == b"Lovelace").unwrap();
                text[at + 5] = 0xE1;
            }
            let dir = tempfile::tempdir().unwrap();
            let path = std::fs::canonicalize(dir.path()).unwrap().join("list.csv");
            std::fs::write(&path, &text).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            let loaded = RunList::from_loaded(parse_csv_bytes(&text, &path).unwrap());
            let indexed = load_run_list(&AuthorizerSource::Csv(path.clone()), &path).unwrap();
            assert!(indexed.file().is_some());
            assert_eq!(indexed.len(), loaded.len());
            let ids = |list: &RunList| {
                (0..list.len())
                    .map(|i| list.id(i).to_string())
                    .collect::<Vec<_>>()
            };
            assert_eq!(ids(&indexed), ids(&loaded));
            assert_eq!(indexed.rejected, loaded.rejected);
            assert_eq!(indexed.warnings, loaded.warnings);
            let body = |list: &RunList| {
                wire::request_body(&list.authorizers(0..list.len()).unwrap(), None)
            };
            assert_eq!(body(&indexed), body(&loaded));
            let read = indexed.authorizers(0..indexed.len()).unwrap();
            let a = indexed.position("a").unwrap();
            assert_eq!(read[a].id(), "a");
            assert_eq!(read[a].metadata().get("loan"), Some("L-2"));
            assert_eq!(indexed.position("c"), Some(a + 1));
            assert_eq!(indexed.position("d"), None);
        }
    }

    #[test]
    fn a_changed_file_is_not_read_under_the_old_index() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{}\n{}\n{}\n",
            COLUMNS.join(","),
            row("a", "318527946"),
            row("b", "318527946")
        );
        let path = write(dir.path(), &text);
        let list = load_run_list(&AuthorizerSource::Csv(path.clone()), &path).unwrap();
        let (_, identity) = list.file().unwrap();
        assert_eq!(identity.size, text.len() as u64);
        list.authorizers(0..2).unwrap();

        // Longer: the size tells.
        write(dir.path(), &text.replace("318527946", "3185279460"));
        let error = list.authorizers(0..1).unwrap_err().to_string();
        assert!(
            error.contains("changed since the run was planned (its size differs)"),
            "{error}"
        );
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(!error.contains("318527946"), "{error}");

        // As long, another id in the record's place, the same size and time: the
        // record tells.
        let swapped = text.replace("\na,", "\nz,");
        std::fs::write(&path, &text).unwrap();
        let list = load_run_list(&AuthorizerSource::Csv(path.clone()), &path).unwrap();
        let planned = list.file().unwrap().1.modified.unwrap();
        std::fs::write(&path, &swapped).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(planned)
            .unwrap();
        let error = list.authorizers(0..1).unwrap_err().to_string();
        assert!(
            error.contains("the record of \"a\" is not where it was"),
            "{error}"
        );
        // The other record is unchanged, and may be read.
        assert_eq!(list.authorizers(1..2).unwrap()[0].id(), "b");
    }
}
