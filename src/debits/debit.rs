//! A debit as the lender's loan system schedules it ([`Debit`]), what loading a list of
//! them gives ([`LoadedDebits`]: the debits and the rows refused, each with its place
//! and column) and why a list could not be loaded at all ([`DebitsError`]).
//!
//! The files of `debits` all build on this one; it builds on none of them.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::domain::Cents;
use crate::private_file::input::InputFileError;

/// One scheduled debit. It holds no personal data: the lender's own ids, a date and
/// an amount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Debit {
    pub authorizer_id: String,
    pub debit_id: String,
    /// The date the lender scheduled; a closed date settles on the next business day.
    pub date: NaiveDate,
    /// Above zero.
    pub amount: Cents,
}

/// A row left out of the list, with where it is and why. One refused row does not stop
/// a run; the run reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedRow {
    /// `file:line` for a debits file, or the authorizer's own place (`file row N`,
    /// `file:line:column`) for `from_metadata`.
    pub place: String,
    /// The column (or metadata key) at fault.
    pub column: String,
    pub reason: String,
}

impl std::fmt::Display for RefusedRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: column {}: {}", self.place, self.column, self.reason)
    }
}

/// A monitor's debits as one load found them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadedDebits {
    /// In the order the source gave them.
    pub debits: Vec<Debit>,
    /// In the order found.
    pub refused: Vec<RefusedRow>,
}

/// Why the list could not be read at all (a single bad row is a [`RefusedRow`]).
#[derive(Debug, thiserror::Error)]
pub enum DebitsError {
    #[error(transparent)]
    File(#[from] InputFileError),
    #[error("debits file {} is not UTF-8 text (first bad byte at offset {offset})", file.display())]
    NotUtf8 { file: PathBuf, offset: usize },
    #[error("debits file {} has no `{column}` column; its header must name authorizer_unique_id,debit_id,debit_date,amount", file.display())]
    MissingColumn { file: PathBuf, column: &'static str },
    #[error("returns file {} has no `{column}` column; its header must name debit_id,return_code,return_date", file.display())]
    MissingReturnColumn { file: PathBuf, column: &'static str },
    #[error("file {} line {line}: {message}", file.display())]
    Csv {
        file: PathBuf,
        line: u64,
        message: String,
    },
}

/// A CSV file's reader and where each of `columns` is in its header: the text must be
/// UTF-8, and a missing column is `missing(file, column)`.
pub(super) fn csv_columns<'a, const N: usize>(
    bytes: &'a [u8],
    file: &Path,
    columns: [&'static str; N],
    missing: fn(PathBuf, &'static str) -> DebitsError,
) -> Result<(csv::Reader<&'a [u8]>, [usize; N]), DebitsError> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(DebitsError::NotUtf8 {
            file: file.to_path_buf(),
            offset: e.valid_up_to(),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header = reader.headers().map_err(|e| csv_error(e, file))?.clone();
    let mut at = [0usize; N];
    for (slot, column) in at.iter_mut().zip(columns) {
        *slot = header
            .iter()
            .position(|h| h.trim() == column)
            .ok_or_else(|| missing(file.to_path_buf(), column))?;
    }
    Ok((reader, at))
}

/// Reads the next row that is not blank into `record`, and returns its line.
pub(super) fn next_row(
    reader: &mut csv::Reader<&[u8]>,
    record: &mut csv::StringRecord,
    file: &Path,
) -> Result<Option<u64>, DebitsError> {
    while reader.read_record(record).map_err(|e| csv_error(e, file))? {
        if !record.iter().all(|field| field.trim().is_empty()) {
            return Ok(Some(record.position().map_or(0, csv::Position::line)));
        }
    }
    Ok(None)
}

fn csv_error(e: csv::Error, file: &Path) -> DebitsError {
    DebitsError::Csv {
        file: file.to_path_buf(),
        line: e.position().map_or(1, csv::Position::line),
        message: e.to_string(),
    }
}

/// `YYYY-MM-DD`, the one date format of the debits.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let text = text.trim();
    let well_formed = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    let parsed = well_formed
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten();
    parsed.ok_or_else(|| format!("invalid date {text:?}: expected YYYY-MM-DD, such as 2026-12-08"))
}

/// An amount above zero, exact to the cent.
pub fn parse_amount(text: &str) -> Result<Cents, String> {
    match Cents::parse(text) {
        Ok(amount) if amount > Cents::ZERO => Ok(amount),
        Ok(amount) if amount < Cents::ZERO => Err(format!(
            "negative amount {}: a debit takes money, so its amount is above 0.00",
            amount.to_decimal_string()
        )),
        Ok(_) => Err("amount 0.00: a debit's amount is above 0.00".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_iso_and_real() {
        assert_eq!(
            parse_date("2026-12-08"),
            Ok(NaiveDate::from_ymd_opt(2026, 12, 8).unwrap())
        );
        for bad in ["2026-02-30", "12/08/2026", "2026-1-08", "", "2026-12-08x"] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_are_above_zero() {
        assert_eq!(parse_amount("180.00"), Ok(Cents(18_000)));
        assert!(
            parse_amount("-5.00")
                .unwrap_err()
                .starts_with("negative amount -5.00")
        );
        assert!(parse_amount("0").unwrap_err().starts_with("amount 0.00"));
        assert!(
            parse_amount("ten")
                .unwrap_err()
                .starts_with("invalid amount")
        );
    }
}
