//! A CSV authorizer list as a run holds it: each valid authorizer's id and where its
//! record is in the file, not the record. The personal data is read again from the
//! file, a chunk at a time, when the chunk is hashed at plan time and when it is sent.
//!
//! [`index_csv`] reads the file once as a stream through the owner-only, bounded read
//! of [`crate::private_file::input`], computing the SHA-256 of every byte as it goes
//! (the [`FileIdentity`]: size, modification time and that hash). Each row is checked
//! exactly as [`super::csv::parse_csv_bytes`] checks it, then reduced to its id and
//! its byte range; the duplicate check runs over the sorted ids. A file that is not
//! UTF-8 is read again from the start as Latin-1, as the whole-file loader decodes it.
//!
//! [`CsvFile::read`] opens the file again, refuses it if its size or modification time
//! differs from the identity, and reads each record at its offset; a record whose id is
//! no longer the one indexed is a change too. It never writes anything: the personal
//! data lives in memory for the chunk being hashed or sent, and nowhere else. Errors
//! name the file and authorizer ids, never a value.

use std::io::{Cursor, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::csv::{Column, build_row, csv_error_message, read_header, reader_builder};
use super::loaded::LoadError;
use super::validate::{AuthorizerValidationError, Rejected, Rejection};
use super::{Authorizer, ListBuilder, Origin, limits, verdict};
use crate::private_file::input::{self, InputFile, InputFileError};

/// The most bytes of adjacent records read in one go.
const READ_AT_ONCE: u64 = 1 << 20;

/// What a plan was read from: the file's size and modification time when it was
/// opened, and the SHA-256 of the bytes read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    pub size: u64,
    pub modified: Option<SystemTime>,
    pub sha256: [u8; 32],
}

/// Where one valid authorizer's record is in the file, and its row (the header is
/// row 1) for messages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Record {
    start: u64,
    len: u32,
    row: u32,
}

/// The file a list was indexed from, and how to read its records again.
#[derive(Debug)]
pub struct CsvFile {
    path: Arc<Path>,
    identity: FileIdentity,
    columns: Vec<Column>,
    latin1: bool,
}

/// Why records could not be read again as they were indexed. Names the file, never a
/// value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListReadError {
    #[error(
        "the authorizers file {} changed since the run was planned ({what}); nothing more is sent under that plan",
        file.display()
    )]
    Changed { file: PathBuf, what: String },
    #[error("cannot read the authorizers file {} again: {message}", file.display())]
    Read { file: PathBuf, message: String },
}

/// A CSV file indexed: the valid authorizers' ids in byte order, one after another
/// (`ids`, each ending at its `id_ends`), each with its record, and what was refused.
pub(crate) struct Indexed {
    pub file: CsvFile,
    pub ids: String,
    pub id_ends: Vec<u32>,
    pub records: Vec<Record>,
    pub rejected: Vec<Rejected>,
    pub warnings: Vec<String>,
}

impl CsvFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn identity(&self) -> &FileIdentity {
        &self.identity
    }

    fn changed(&self, what: impl Into<String>) -> ListReadError {
        ListReadError::Changed {
            file: self.path.to_path_buf(),
            what: what.into(),
        }
    }

    /// The authorizers of `records` (with the ids they were indexed under), read again
    /// from the file, in the order given.
    ///
    /// With `validate`, each record must pass pre-flight again (a plan hashes only
    /// records that do); without, the caller checks the bytes against a recorded hash.
    pub(crate) fn read<'a>(
        &self,
        records: impl ExactSizeIterator<Item = (&'a str, Record)>,
        validate: bool,
    ) -> Result<Vec<Authorizer>, ListReadError> {
        let unreadable = |error: InputFileError| ListReadError::Read {
            file: self.path.to_path_buf(),
            message: error.to_string(),
        };
        let (file, metadata) =
            input::open_input_file(&self.path, InputFile::AUTHORIZERS_CSV).map_err(unreadable)?;
        if metadata.len() != self.identity.size {
            return Err(self.changed("its size differs"));
        }
        if metadata.modified().ok() != self.identity.modified {
            return Err(self.changed("its modification time differs"));
        }
        let records: Vec<(&str, Record)> = records.collect();
        let mut list = ListBuilder::with_capacity(records.len());
        let mut bytes = Vec::new();
        let mut ignored = Vec::new();
        let mut raw = ::csv::ByteRecord::new();
        let mut next = 0;
        while next < records.len() {
            // Records that follow one another in the file are read in one go.
            let first = next;
            let run_start = records[first].1.start;
            let mut run_end = run_start + u64::from(records[first].1.len);
            next += 1;
            while next < records.len()
                && records[next].1.start == run_end
                && run_end - run_start < READ_AT_ONCE
            {
                run_end += u64::from(records[next].1.len);
                next += 1;
            }
            bytes.resize((run_end - run_start) as usize, 0);
            file.read_exact_at(&mut bytes, run_start).map_err(|_| {
                self.changed(format!(
                    "the record of {:?} cannot be read",
                    records[first].0
                ))
            })?;
            let mut reader = reader_builder().has_headers(false).from_reader(&bytes[..]);
            for &(id, record) in &records[first..next] {
                let moved = || self.changed(format!("the record of {id:?} is not where it was"));
                let fields = match reader.read_byte_record(&mut raw) {
                    Ok(true) => decode_record(&raw, self.latin1),
                    _ => None,
                };
                let ends_where_indexed =
                    reader.position().byte() == record.start + u64::from(record.len) - run_start;
                let fields = fields.filter(|_| ends_where_indexed).ok_or_else(moved)?;
                let origin = Origin::Csv {
                    file: Arc::clone(&self.path),
                    row: u64::from(record.row),
                };
                let (object, metadata) = build_row(&self.columns, &fields, &origin, &mut ignored);
                match object.get("authorizer_unique_id") {
                    Some(serde_json::Value::String(read)) if read == id => {}
                    _ => return Err(moved()),
                }
                if validate && verdict(&object, &metadata).1.is_some() {
                    return Err(
                        self.changed(format!("the record of {id:?} no longer passes pre-flight"))
                    );
                }
                list.push_indexed(object, &metadata, origin);
            }
        }
        Ok(list.finish())
    }
}

/// A record's fields as text: UTF-8, or each byte as the code point of the same
/// number (Latin-1). `None` for a record that is not UTF-8 in a UTF-8 file.
fn decode_record(raw: &::csv::ByteRecord, latin1: bool) -> Option<::csv::StringRecord> {
    if latin1 {
        let fields: Vec<String> = raw
            .iter()
            .map(|field| field.iter().map(|&b| char::from(b)).collect())
            .collect();
        Some(::csv::StringRecord::from(fields))
    } else {
        ::csv::StringRecord::from_byte_record(raw.clone()).ok()
    }
}

/// Reads through, hashing and counting every byte.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.hasher.update(&buffer[..read]);
        self.read += read as u64;
        Ok(read)
    }
}

/// Indexes the CSV authorizers file at `path` (see the module documentation).
pub(crate) fn index_csv(path: &Path) -> Result<Indexed, LoadError> {
    match index_pass(path, false)? {
        Some(indexed) => Ok(indexed),
        None => Ok(index_pass(path, true)?.expect("a Latin-1 pass decodes every record")),
    }
}

fn load_error(error: InputFileError) -> LoadError {
    match error {
        InputFileError::Open { path, source, .. } => LoadError::Read { file: path, source },
        InputFileError::Permission(error) => LoadError::Permission(error),
        other => LoadError::File(other),
    }
}

/// One pass over the file; `None` when a UTF-8 pass meets a record that is not UTF-8.
fn index_pass(path: &Path, latin1: bool) -> Result<Option<Indexed>, LoadError> {
    let kind = InputFile::AUTHORIZERS_CSV;
    let (file, metadata) = input::open_input_file(path, kind).map_err(load_error)?;
    let modified = metadata.modified().ok();
    let mut hashing = Hashing {
        inner: input::read_limited(file, path, kind),
        hasher: Sha256::new(),
        read: 0,
    };
    let read_error = |source: std::io::Error| LoadError::Read {
        file: path.to_path_buf(),
        source,
    };
    // A leading byte-order mark is not part of the first column's name.
    let mut first = [0u8; 3];
    let mut filled = 0;
    while filled < 3 {
        match hashing.read(&mut first[filled..]).map_err(read_error)? {
            0 => break,
            n => filled += n,
        }
    }
    let bom = filled == 3 && first == *b"\xEF\xBB\xBF";
    let (prefix, base): (&[u8], u64) = if bom { (&[], 3) } else { (&first[..filled], 0) };
    let structural = |row: u64, message: String| LoadError::Csv {
        file: path.to_path_buf(),
        row,
        message,
    };
    let mut warnings = Vec::new();
    if latin1 {
        warnings.push(format!(
            "{}: the file is not valid UTF-8; it was decoded as Latin-1",
            path.display()
        ));
    }
    let mut reader = reader_builder().from_reader(Cursor::new(prefix).chain(&mut hashing));
    let raw_header = reader
        .byte_headers()
        .map_err(|e| structural(1, csv_error_message(&e)))?
        .clone();
    let Some(header) = decode_record(&raw_header, latin1) else {
        return Ok(None);
    };
    if header.iter().all(str::is_empty) {
        return Err(structural(1, "the file has no header row".to_string()));
    }
    let columns = read_header(&header, path, &mut warnings).map_err(|m| structural(1, m))?;

    let shared_file: Arc<Path> = path.into();
    let mut ids = String::new();
    let mut id_ends: Vec<u32> = Vec::new();
    let mut records: Vec<Record> = Vec::new();
    // Refused rows by row, and the usable ids among them (the duplicate check counts them).
    let mut rejected: Vec<(u64, Rejected)> = Vec::new();
    let mut rejected_usable: Vec<(String, usize)> = Vec::new();
    let mut rows_read = 0usize;
    let mut raw = ::csv::ByteRecord::new();
    let mut row: u64 = 1;
    loop {
        match reader.read_byte_record(&mut raw) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(structural(row + 1, csv_error_message(&e))),
        }
        row += 1;
        let start = raw.position().map_or(0, |p| p.byte()) + base;
        let end = reader.position().byte() + base;
        let Some(fields) = decode_record(&raw, latin1) else {
            return Ok(None);
        };
        if fields.iter().all(str::is_empty) {
            warnings.push(format!(
                "{} row {row}: the row is empty (skipped)",
                path.display()
            ));
            continue;
        }
        rows_read += 1;
        let origin = Origin::Csv {
            file: Arc::clone(&shared_file),
            row,
        };
        let (object, metadata) = build_row(&columns, &fields, &origin, &mut warnings);
        let (usable_id, refusal) = verdict(&object, &metadata);
        let id = match object.get("authorizer_unique_id") {
            Some(serde_json::Value::String(id)) => id.as_str(),
            _ => "",
        };
        match refusal {
            None => {
                let (Ok(len), Ok(row32), Ok(id_end)) = (
                    u32::try_from(end.saturating_sub(start)),
                    u32::try_from(row),
                    u32::try_from(ids.len() + id.len()),
                ) else {
                    return Err(structural(
                        row,
                        "the file is too large to index".to_string(),
                    ));
                };
                ids.push_str(id);
                id_ends.push(id_end);
                records.push(Record {
                    start,
                    len,
                    row: row32,
                });
            }
            Some(error) => {
                if usable_id {
                    rejected_usable.push((id.to_string(), rejected.len()));
                }
                let id = match limits::id_within_limits(id) {
                    true => id.to_string(),
                    false => String::new(),
                };
                rejected.push((row, Rejected { id, origin, error }));
            }
        }
    }
    drop(reader);
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(read_error)?;
    let identity = FileIdentity {
        size: hashing.read,
        modified,
        sha256: hashing.hasher.finalize().into(),
    };
    let now = std::fs::metadata(path).map_err(read_error)?;
    if now.len() != identity.size || now.modified().ok() != identity.modified {
        return Err(structural(
            row,
            "the file changed while it was being read; nothing was planned from it".to_string(),
        ));
    }
    if rows_read == 0 {
        warnings.push(format!("{}: the file holds no authorizers", path.display()));
    }
    let file = CsvFile {
        path: shared_file,
        identity,
        columns,
        latin1,
    };
    let mut indexed = Indexed {
        file,
        ids,
        id_ends,
        records,
        rejected: Vec::new(),
        warnings,
    };
    sort_and_check_duplicates(&mut indexed, &mut rejected, &rejected_usable);
    rejected.sort_by_key(|(row, _)| *row);
    indexed.rejected = rejected.into_iter().map(|(_, r)| r).collect();
    Ok(Some(indexed))
}

/// Sorts the valid ids, and refuses every authorizer whose usable id appears more than
/// once among the valid and refused rows, as [`super::validate::preflight`] does.
fn sort_and_check_duplicates(
    indexed: &mut Indexed,
    rejected: &mut Vec<(u64, Rejected)>,
    rejected_usable: &[(String, usize)],
) {
    let (ids, ends) = (&indexed.ids, &indexed.id_ends);
    let mut order: Vec<u32> = (0..ends.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        id_of(ids, ends, a as usize)
            .cmp(id_of(ids, ends, b as usize))
            .then(a.cmp(&b))
    });
    let mut refused_ids: std::collections::HashMap<&str, usize> = Default::default();
    for (id, _) in rejected_usable {
        *refused_ids.entry(id.as_str()).or_default() += 1;
    }
    let duplicate_error = Rejection::Api(AuthorizerValidationError::DuplicateUniqueId);
    let mut sorted_ids = String::with_capacity(ids.len());
    let mut sorted_ends = Vec::with_capacity(ends.len());
    let mut sorted_records = Vec::with_capacity(ends.len());
    let mut duplicated_refused: Vec<&str> = Vec::new();
    let mut index = 0;
    while index < order.len() {
        let id = id_of(ids, ends, order[index] as usize);
        let mut next = index + 1;
        while next < order.len() && id_of(ids, ends, order[next] as usize) == id {
            next += 1;
        }
        let refused_too = refused_ids.get(id).copied().unwrap_or(0);
        if next - index > 1 || refused_too > 0 {
            for &position in &order[index..next] {
                let record = indexed.records[position as usize];
                let origin = Origin::Csv {
                    file: Arc::clone(&indexed.file.path),
                    row: u64::from(record.row),
                };
                rejected.push((
                    u64::from(record.row),
                    Rejected {
                        id: id.to_string(),
                        origin,
                        error: duplicate_error,
                    },
                ));
            }
            if refused_too > 0 {
                duplicated_refused.push(id);
            }
        } else {
            sorted_ids.push_str(id);
            sorted_ends.push(sorted_ids.len() as u32);
            sorted_records.push(indexed.records[order[index] as usize]);
        }
        index = next;
    }
    for (id, at) in rejected_usable {
        if refused_ids[id.as_str()] > 1 || duplicated_refused.contains(&id.as_str()) {
            rejected[*at].1.error = duplicate_error;
        }
    }
    sorted_ids.shrink_to_fit();
    indexed.ids = sorted_ids;
    indexed.id_ends = sorted_ends;
    indexed.records = sorted_records;
}

/// The id of entry `index` of ids laid out as [`Indexed`] lays them out.
pub(crate) fn id_of<'a>(ids: &'a str, ends: &[u32], index: usize) -> &'a str {
    let start = match index {
        0 => 0,
        _ => ends[index - 1] as usize,
    };
    &ids[start..ends[index] as usize]
}
