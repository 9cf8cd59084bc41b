//! An uploaded CSV file → accepted authorizer ids (with `meta_*` metadata) and
//! rejected rows, as `POST /v1/balance_requests/csv` reports them.
//!
//! Reading and validating the file is not done here: it is
//! [`crate::authorizers::csv::parse_csv_bytes`], the loader the daemon uses for the
//! lender's own files, so an upload that the sandbox accepts is one the daemon would
//! submit, row for row. This module adds what the API reports and the loader does not:
//! Rightfoot's Latin-1 warning text (the loader's own warnings are for the lender and
//! are not part of the API's answer) and each rejected row's `account_type`. It keeps
//! ids and metadata only; the loaded authorizers, with their personal data, are
//! dropped when it returns.

use std::collections::HashMap;
use std::path::Path;

use crate::authorizers::Origin;
use crate::authorizers::csv::parse_csv_bytes;
use crate::authorizers::source::LoadError;

use super::models::FailedAuthorizer;
use super::state::Accepted;

/// The warning Rightfoot adds when it falls back to Latin-1 (from its CSV page).
pub const LATIN1_WARNING: &str = "File was not UTF-8 encoded and was decoded using Latin-1. Some characters may appear incorrectly. For best results, save your CSV as UTF-8.";

/// How the upload is named in error messages.
const UPLOAD_NAME: &str = "the uploaded file";

/// An upload reduced to what the sandbox keeps and reports.
#[derive(Debug, Default)]
pub struct ParsedUpload {
    pub accepted: Vec<Accepted>,
    /// In row order, each with its `row_number` (the header is row 1).
    pub failed: Vec<FailedAuthorizer>,
    pub warnings: Vec<String>,
}

impl ParsedUpload {
    /// Data rows read (blank rows are not counted).
    pub fn rows(&self) -> usize {
        self.accepted.len() + self.failed.len()
    }
}

/// Reads an uploaded file. An error is a file that cannot be read as a whole (no
/// header, no `authorizer_unique_id` column, a row with the wrong number of cells).
pub fn parse(bytes: &[u8]) -> Result<ParsedUpload, LoadError> {
    let loaded = parse_csv_bytes(bytes, Path::new(UPLOAD_NAME))?;
    let debit_rows = debit_card_rows(bytes);
    let accepted = loaded
        .valid
        .iter()
        .map(|authorizer| Accepted {
            authorizer_id: authorizer.id().to_string(),
            metadata: authorizer
                .metadata()
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        })
        .collect();
    let failed = loaded
        .rejected
        .iter()
        .map(|rejected| {
            let row = match &rejected.origin {
                Origin::Csv { row, .. } => Some(*row),
                Origin::Yaml { .. } => None,
            };
            FailedAuthorizer {
                authorizer_unique_id: (!rejected.id.is_empty()).then(|| rejected.id.clone()),
                error: rejected.error.to_string(),
                account_type: match row.and_then(|r| debit_rows.get(&r)) {
                    Some(true) => "DEBIT_CARD",
                    _ => "ACCOUNT_NUMBER",
                },
                row_number: row,
            }
        })
        .collect();
    let warnings = if std::str::from_utf8(without_bom(bytes)).is_err() {
        vec![LATIN1_WARNING.to_string()]
    } else {
        Vec::new()
    };
    Ok(ParsedUpload {
        accepted,
        failed,
        warnings,
    })
}

fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Per row number (counted as the loader counts them), whether the row gives a debit
/// card number and no account number. Only the cells' emptiness is looked at.
fn debit_card_rows(bytes: &[u8]) -> HashMap<u64, bool> {
    let bytes = without_bom(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let Ok(header) = reader.headers() else {
        return HashMap::new();
    };
    let position = |name: &str| header.iter().position(|h| h == name);
    let (card, account) = (position("debit_card_number"), position("account_number"));
    let filled = |record: &csv::StringRecord, at: Option<usize>| {
        at.and_then(|i| record.get(i))
            .is_some_and(|c| !c.is_empty())
    };
    let mut rows = HashMap::new();
    let mut row: u64 = 1;
    for record in reader.records() {
        row += 1;
        let Ok(record) = record else { break };
        rows.insert(row, filled(&record, card) && !filled(&record, account));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "authorizer_unique_id,zip_code,phone_number,date_of_birth,ssn,account_number,routing_number,debit_card_number,cvv,expiration_month,expiration_year,meta_customer_ref\n";

    #[test]
    fn rows_are_accepted_or_rejected_with_row_numbers_and_account_types() {
        let file = format!(
            "{HEADER}\
             A-1,94107,5551234567,01/31/1980,123456789,1234,021000021,,,,,CR-1\n\
             A-2,94107,5551234567,01/31/1980,123456789,,,4111111111111111,12,12,2030,\n\
             ,94107,5551234567,01/31/1980,123456789,1234,021000021,,,,,\n"
        );
        let parsed = parse(file.as_bytes()).unwrap();
        assert!(parsed.warnings.is_empty());
        assert_eq!(parsed.rows(), 3);
        assert_eq!(parsed.accepted.len(), 1);
        assert_eq!(parsed.accepted[0].authorizer_id, "A-1");
        assert_eq!(parsed.accepted[0].metadata["customer_ref"], "CR-1");
        assert_eq!(
            parsed.failed,
            vec![
                FailedAuthorizer {
                    authorizer_unique_id: Some("A-2".into()),
                    error: "Invalid CVV for authorizer(s). Must be 3 or 4 digits.".into(),
                    account_type: "DEBIT_CARD",
                    row_number: Some(3),
                },
                FailedAuthorizer {
                    authorizer_unique_id: None,
                    error: "Missing authorizer unique ID for authorizer(s).".into(),
                    account_type: "ACCOUNT_NUMBER",
                    row_number: Some(4),
                },
            ]
        );
    }

    #[test]
    fn latin1_files_get_rightfoots_warning() {
        let file = b"authorizer_unique_id,first_name\nA-1,Ren\xe9e\n";
        let parsed = parse(file).unwrap();
        assert_eq!(parsed.warnings, vec![LATIN1_WARNING.to_string()]);
        let utf8 =
            parse("\u{feff}authorizer_unique_id,first_name\nA-1,Renée\n".as_bytes()).unwrap();
        assert!(utf8.warnings.is_empty());
    }

    #[test]
    fn unreadable_files_are_refused_whole() {
        for file in [
            &b""[..],
            b"id,name\n1,x\n",
            b"authorizer_unique_id,zip_code\nA,1,2\n",
        ] {
            let error = parse(file).unwrap_err().to_string();
            assert!(error.starts_with("the uploaded file row "), "{error}");
        }
    }
}
