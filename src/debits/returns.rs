//! The lender's ACH return file: `debit_id,return_code,return_date`, one row per
//! returned debit, with Nacha return codes (`R01` insufficient funds, `R09` uncollected
//! funds, and the others, `R01`…`R99`).
//!
//! A row is refused, with its line and column, for a missing debit id, a code that is
//! not `R` and two digits, a bad date, or a debit id an earlier row has; the other rows
//! are returned for the store to import. The file holds no personal data.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;

use super::debit::{DebitsError, RefusedRow, csv_columns, next_row, parse_date};
use crate::private_file::input::{InputFile, read_input_file};

/// The columns a return file must have.
pub const RETURN_COLUMNS: [&str; 3] = ["debit_id", "return_code", "return_date"];

/// Return codes that mean the money was not there: insufficient funds (R01) and
/// uncollected funds (R09). `debits report` counts these against a `send` decision.
pub const INSUFFICIENT_FUNDS_CODES: [&str; 2] = ["R01", "R09"];

/// One returned debit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnRow {
    pub debit_id: String,
    pub return_code: String,
    pub return_date: NaiveDate,
}

/// What a return file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadedReturns {
    pub returns: Vec<ReturnRow>,
    pub refused: Vec<RefusedRow>,
}

/// Reads the return file at `path`.
pub fn read_returns_file(path: &Path) -> Result<LoadedReturns, DebitsError> {
    let bytes = read_input_file(path, InputFile::RETURNS_CSV)?;
    parse_returns(&bytes, path)
}

/// Whether `code` is a Nacha return code: `R` and two digits, not `R00`.
pub fn is_return_code(code: &str) -> bool {
    let bytes = code.as_bytes();
    bytes.len() == 3
        && bytes[0] == b'R'
        && bytes[1..].iter().all(u8::is_ascii_digit)
        && code != "R00"
}

/// Parses the bytes of a return file read from `file`.
pub fn parse_returns(bytes: &[u8], file: &Path) -> Result<LoadedReturns, DebitsError> {
    let missing = |file, column| DebitsError::MissingReturnColumn { file, column };
    let (mut reader, at) = csv_columns(bytes, file, RETURN_COLUMNS, missing)?;
    let [debit_at, code_at, date_at] = at;
    let mut loaded = LoadedReturns::default();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    while let Some(line) = next_row(&mut reader, &mut record, file)? {
        let field = |index: usize| record.get(index).unwrap_or("").trim();
        let mut refuse = |column: &str, reason: String| {
            loaded.refused.push(RefusedRow {
                place: format!("{}:{line}", file.display()),
                column: column.to_string(),
                reason,
            });
        };
        let debit_id = field(debit_at);
        if debit_id.is_empty() {
            refuse(RETURN_COLUMNS[0], "missing debit id".to_string());
            continue;
        }
        let code = field(code_at);
        if !is_return_code(code) {
            refuse(
                RETURN_COLUMNS[1],
                format!("invalid return code {code:?}: expected a Nacha code such as R01"),
            );
            continue;
        }
        let return_date = match parse_date(field(date_at)) {
            Ok(date) => date,
            Err(reason) => {
                refuse(RETURN_COLUMNS[2], reason);
                continue;
            }
        };
        if let Some(first) = first_line.get(debit_id) {
            refuse(
                RETURN_COLUMNS[0],
                format!("duplicate debit id {debit_id:?} (first on line {first})"),
            );
            continue;
        }
        first_line.insert(debit_id.to_string(), line);
        loaded.returns.push(ReturnRow {
            debit_id: debit_id.to_string(),
            return_code: code.to_string(),
            return_date,
        });
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_rows_load_and_bad_rows_are_refused_with_line_and_column() {
        let loaded = parse_returns(
            b"debit_id,return_code,return_date\n\
              D-1,R01,2026-12-10\n\
              D-2,r01,2026-12-10\n\
              D-3,R09,12/10/2026\n\
              ,R01,2026-12-10\n\
              D-1,R01,2026-12-10\n\
              D-4,R00,2026-12-10\n\
              D-5, R09 ,2026-12-11\n",
            Path::new("returns.csv"),
        )
        .unwrap();
        let refused: Vec<String> = loaded.refused.iter().map(ToString::to_string).collect();
        assert_eq!(
            refused,
            [
                "returns.csv:3: column return_code: invalid return code \"r01\": expected a Nacha code such as R01",
                "returns.csv:4: column return_date: invalid date \"12/10/2026\": expected YYYY-MM-DD, such as 2026-12-08",
                "returns.csv:5: column debit_id: missing debit id",
                "returns.csv:6: column debit_id: duplicate debit id \"D-1\" (first on line 2)",
                "returns.csv:7: column return_code: invalid return code \"R00\": expected a Nacha code such as R01",
            ]
        );
        let ids: Vec<(&str, &str)> = loaded
            .returns
            .iter()
            .map(|r| (r.debit_id.as_str(), r.return_code.as_str()))
            .collect();
        assert_eq!(ids, [("D-1", "R01"), ("D-5", "R09")]);
    }

    #[test]
    fn a_file_without_a_column_is_an_error() {
        let error = parse_returns(
            b"debit_id,return_date\nD-1,2026-12-10\n",
            Path::new("r.csv"),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("no `return_code` column"),
            "{error}"
        );
    }
}
