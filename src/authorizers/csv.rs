//! Rightfoot's CSV upload format, the format lenders keep their authorizer lists in.
//!
//! This module owns reading that format into the same Rightfoot-shaped wire objects
//! the YAML loader builds: decoding (UTF-8 with or without a BOM, else Latin-1 with a
//! warning), the header (the [`COLUMNS`] plus any `meta_*` column), and one
//! authorizer per data row. It does not own validation ([`super::validate`]), the
//! permission-checked read ([`super::loaded`]) or the choice of format (made by the
//! loader that dispatches on the file's extension). The sandbox's
//! `POST /v1/balance_requests/csv` reuses [`parse_csv_bytes`].
//!
//! # Rows and cells
//!
//! - Rows are counted as Rightfoot counts them: the header is row 1, the first data
//!   row is row 2. Rows are CSV records, so a quoted cell spanning lines is one row,
//!   and blank lines are skipped without being counted.
//! - Cells are trimmed of surrounding whitespace; an empty cell means the field is
//!   absent. A row whose cells are all empty is skipped with a warning.
//! - The address cells are nested under `address`; `date_of_birth` (`MM/DD/YYYY`,
//!   also `M/D/YYYY`) is split into integer `day`, `month` and `year`;
//!   `expiration_month` and `expiration_year` become integers when they are digits.
//!   A date of birth that is not a real date in that form makes the row fail
//!   validation (as a missing date, day, month or year) and adds a warning naming
//!   the row and the column.
//! - A `meta_<key>` column becomes metadata `<key>`; other unknown columns are
//!   ignored with a warning.
//! - A row with more or fewer cells than the header, a duplicated column, or a header
//!   without `authorizer_unique_id` (a file whose first row is data, most likely) is a
//!   structural error for the whole file: with shifted columns, an SSN could be sent
//!   as a phone number.
//!
//! No warning or error includes a cell's value.

use std::path::Path;

use serde_json::{Map, Value};

use super::fields;
use super::loaded::{self, LoadError, LoadedAuthorizers, printable_name};
use super::validate;
use super::{ListBuilder, Metadata, Origin};
use crate::private_file::input::InputFile;

/// The columns of Rightfoot's CSV upload, in its order (see [`super::fields`]).
pub use super::fields::CSV_COLUMNS as COLUMNS;

const META_PREFIX: &str = "meta_";

/// Loads a CSV authorizers file, refusing it first if others can read it.
pub fn load_csv_file(path: &Path) -> Result<LoadedAuthorizers, LoadError> {
    let bytes = loaded::read_private_file(path, InputFile::AUTHORIZERS_CSV)?;
    parse_csv_bytes(&bytes, path)
}

/// Parses CSV bytes in Rightfoot's upload format; `file` names the source in
/// origins, warnings and errors (an upload's file name, for the sandbox).
pub fn parse_csv_bytes(bytes: &[u8], file: &Path) -> Result<LoadedAuthorizers, LoadError> {
    let mut warnings = Vec::new();
    let text = decode(bytes, file, &mut warnings);
    let structural = |row: u64, message: String| LoadError::Csv {
        file: file.to_path_buf(),
        row,
        message,
    };

    let mut reader = reader_builder().from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| structural(1, csv_error_message(&e)))?
        .clone();
    if header.iter().all(str::is_empty) {
        return Err(structural(1, "the file has no header row".to_string()));
    }
    let columns = read_header(&header, file, &mut warnings).map_err(|m| structural(1, m))?;

    // One row a line, near enough (a quoted cell may hold a line break): sized once,
    // rather than doubled and copied as a long list grows. No usable row is shorter
    // than 16 bytes, which bounds what a file of blank lines could reserve.
    let lines = text.bytes().filter(|&b| b == b'\n').count();
    let mut authorizers = ListBuilder::with_capacity(lines.min(text.len() / 16));
    let shared_file: std::sync::Arc<Path> = file.into();
    let mut row: u64 = 1;
    for record in reader.records() {
        row += 1;
        let record = record.map_err(|e| structural(row, csv_error_message(&e)))?;
        if record.iter().all(str::is_empty) {
            warnings.push(format!(
                "{} row {row}: the row is empty (skipped)",
                file.display()
            ));
            continue;
        }
        let origin = Origin::Csv {
            file: shared_file.clone(),
            row,
        };
        let (object, metadata) = build_row(&columns, &record, &origin, &mut warnings);
        authorizers.push(object, &metadata, origin);
    }
    let authorizers = authorizers.finish();
    if authorizers.is_empty() {
        warnings.push(format!("{}: the file holds no authorizers", file.display()));
    }
    Ok(loaded::finish(authorizers, warnings))
}

/// How every reader of the format is set up: a header row, every row as long as it,
/// cells trimmed.
pub(super) fn reader_builder() -> ::csv::ReaderBuilder {
    let mut builder = ::csv::ReaderBuilder::new();
    builder
        .has_headers(true)
        .flexible(false)
        .trim(::csv::Trim::All);
    builder
}

/// UTF-8 (a leading BOM dropped), or else Latin-1, with a warning.
fn decode<'a>(
    bytes: &'a [u8],
    file: &Path,
    warnings: &mut Vec<String>,
) -> std::borrow::Cow<'a, str> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        // Borrowed: a list of 100,000 borrowers is not copied to be read.
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => {
            warnings.push(format!(
                "{}: the file is not valid UTF-8; it was decoded as Latin-1",
                file.display()
            ));
            // Latin-1 maps each byte to the code point of the same number.
            std::borrow::Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect())
        }
    }
}

/// What a column holds.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Column {
    /// A Rightfoot column, by its wire name.
    Field(&'static str),
    /// A `meta_<key>` column.
    Meta(String),
    /// An unknown or unnamed column, ignored.
    Ignored,
}

pub(super) fn read_header(
    header: &::csv::StringRecord,
    file: &Path,
    warnings: &mut Vec<String>,
) -> Result<Vec<Column>, String> {
    let mut columns = Vec::with_capacity(header.len());
    let mut seen: Vec<&str> = Vec::new();
    for (index, raw) in header.iter().enumerate() {
        let number = index + 1;
        let name = if raw.eq_ignore_ascii_case("date_of_birth (MM/DD/YYYY)") {
            "date_of_birth"
        } else {
            raw
        };
        let shown = |name: &str| match printable_name(name) {
            Some(name) => format!("column {number} (`{name}`)"),
            None => format!("column {number}"),
        };
        let column = if let Some(field) = COLUMNS.iter().find(|c| **c == name) {
            Column::Field(field)
        } else if let Some(key) = name.strip_prefix(META_PREFIX) {
            if key.is_empty() {
                warnings.push(format!(
                    "{} row 1: {} has no metadata name after `meta_` (ignored)",
                    file.display(),
                    shown(name)
                ));
                Column::Ignored
            } else {
                Column::Meta(key.to_string())
            }
        } else if name.is_empty() {
            warnings.push(format!(
                "{} row 1: column {number} has no name (ignored)",
                file.display()
            ));
            Column::Ignored
        } else {
            let mut warning = format!("{} row 1: unknown {}", file.display(), shown(name));
            if printable_name(name).is_some()
                && let Some(best) = crate::yaml::did_you_mean(name, &COLUMNS)
            {
                warning.push_str(&format!(", did you mean `{best}`?"));
            }
            warning.push_str(" (ignored)");
            warnings.push(warning);
            Column::Ignored
        };
        if column != Column::Ignored {
            if seen.contains(&name) {
                return Err(format!("{} appears twice", shown(name)));
            }
            seen.push(name);
        }
        columns.push(column);
    }
    if !columns.contains(&Column::Field("authorizer_unique_id")) {
        return Err(
            "the header has no `authorizer_unique_id` column; the first row must name the columns"
                .to_string(),
        );
    }
    Ok(columns)
}

/// The wire object and metadata for one data row.
pub(super) fn build_row(
    columns: &[Column],
    record: &::csv::StringRecord,
    origin: &Origin,
    warnings: &mut Vec<String>,
) -> (Map<String, Value>, Metadata) {
    let mut object = Map::new();
    let mut address = Map::new();
    let mut metadata: Vec<(&str, &str)> = Vec::new();
    for (column, cell) in columns.iter().zip(record.iter()) {
        if cell.is_empty() {
            continue;
        }
        match column {
            Column::Ignored => {}
            Column::Meta(key) => {
                metadata.push((key, cell));
            }
            Column::Field(name) if fields::ADDRESS.contains(name) => {
                address.insert(name.to_string(), Value::from(cell));
            }
            Column::Field("date_of_birth") => {
                let date = parse_date_of_birth(cell);
                if validate::check_date_of_birth_object(&date).is_err() {
                    warnings.push(format!(
                        "{origin}: column date_of_birth is not a real date in MM/DD/YYYY form; the row is rejected"
                    ));
                }
                if !date.is_empty() {
                    object.insert("date_of_birth".to_string(), Value::Object(date));
                }
            }
            Column::Field(name @ ("expiration_month" | "expiration_year")) => {
                let value = match cell.parse::<u64>() {
                    Ok(n) if cell.bytes().all(|b| b.is_ascii_digit()) => Value::from(n),
                    _ => Value::from(cell),
                };
                object.insert(name.to_string(), value);
            }
            Column::Field(name) => {
                object.insert(name.to_string(), Value::from(cell));
            }
        }
    }
    if !address.is_empty() {
        object.insert("address".to_string(), Value::Object(address));
    }
    (object, Metadata::from_pairs(metadata))
}

/// `MM/DD/YYYY` → `{day, month, year}`. A part that is not digits of the right length
/// is left out (validation then reports it missing); a cell that is not three
/// slash-separated parts gives an empty object.
fn parse_date_of_birth(cell: &str) -> Map<String, Value> {
    let mut date = Map::new();
    let parts: Vec<&str> = cell.split('/').map(str::trim).collect();
    let [month, day, year] = parts.as_slice() else {
        return date;
    };
    for (key, part, lengths) in [
        ("day", day, 1..=2),
        ("month", month, 1..=2),
        ("year", year, 4..=4),
    ] {
        if lengths.contains(&part.len())
            && part.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = part.parse::<u64>()
        {
            date.insert(key.to_string(), Value::from(n));
        }
    }
    date
}

/// A structural CSV error described by its kind, never by the text it was reading.
pub(super) fn csv_error_message(error: &::csv::Error) -> String {
    match error.kind() {
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("the row has {len} fields, the header has {expected_len}"),
        ::csv::ErrorKind::Io(e) => format!("cannot read the CSV: {e}"),
        _ => "the row is not valid CSV".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn date_of_birth_parts() {
        let parse = |cell| Value::Object(parse_date_of_birth(cell));
        assert_eq!(
            parse("11/23/1947"),
            json!({"day": 23, "month": 11, "year": 1947})
        );
        assert_eq!(
            parse("1/5/1970"),
            json!({"day": 5, "month": 1, "year": 1970})
        );
        assert_eq!(parse("11/xx/1947"), json!({"month": 11, "year": 1947}));
        assert_eq!(parse("011/23/1947"), json!({"day": 23, "year": 1947}));
        assert_eq!(parse("11/23/47"), json!({"day": 23, "month": 11}));
        assert_eq!(parse("1947-11-23"), json!({}));
        assert_eq!(parse("11/23/1947/1"), json!({}));
    }

    #[test]
    fn expiration_cells_become_integers_when_they_are_digits() {
        let text =
            "authorizer_unique_id,expiration_month,expiration_year\nA,09,2031\nB,Sept,31.0\n";
        let loaded = parse_csv_bytes(text.as_bytes(), Path::new("x.csv")).unwrap();
        assert_eq!(loaded.rejected.len(), 2);
        // The rows lack everything else; look at their wire objects directly.
        let mut reader = ::csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let header = reader.headers().unwrap().clone();
        let mut warnings = Vec::new();
        let columns = read_header(&header, Path::new("x.csv"), &mut warnings).unwrap();
        let origin = Origin::Csv {
            file: Path::new("x.csv").into(),
            row: 2,
        };
        let rows: Vec<Value> = reader
            .records()
            .map(|r| Value::Object(build_row(&columns, &r.unwrap(), &origin, &mut warnings).0))
            .collect();
        assert_eq!(
            rows,
            [
                json!({"authorizer_unique_id": "A", "expiration_month": 9, "expiration_year": 2031}),
                json!({"authorizer_unique_id": "B", "expiration_month": "Sept", "expiration_year": "31.0"}),
            ]
        );
        assert!(warnings.is_empty());
    }
}
