//! A Rightfoot-format CSV file → one Rightfoot-shaped JSON object per row.
//!
//! The columns are the `Authorizer` fields flattened (`zip_code` for
//! `address.zip_code`, `date_of_birth` as `MM/DD/YYYY`), plus `meta_*` columns that
//! become per-row metadata with the prefix stripped. An empty cell is an absent
//! field; unknown columns (`user_id`) are ignored. A file that is not UTF-8 is read as
//! Latin-1, with the warning text Rightfoot's page shows. Row numbers count records
//! with the header as row 1.
//!
//! This is the sandbox's own minimal reader: it turns rows into JSON objects so that
//! the same validation as the JSON endpoint can judge them, and does no validation of
//! its own. The daemon's loader (`authorizers::csv`) is a separate, stricter reader of
//! the same format for the lender's files.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The warning Rightfoot adds when it falls back to Latin-1.
pub const LATIN1_WARNING: &str = "File was not UTF-8 encoded and was decoded using Latin-1. Some characters may appear incorrectly. For best results, save your CSV as UTF-8.";

const ADDRESS_COLUMNS: &[&str] = &[
    "street_address_line1",
    "street_address_line2",
    "city",
    "state",
    "zip_code",
    "country",
];
const STRING_COLUMNS: &[&str] = &[
    "authorizer_unique_id",
    "first_name",
    "last_name",
    "phone_number",
    "ssn",
    "ein",
    "account_number",
    "routing_number",
    "debit_card_number",
    "cvv",
];
const INTEGER_COLUMNS: &[&str] = &["expiration_month", "expiration_year"];

/// One data row.
#[derive(Debug)]
pub struct CsvRow {
    /// The header is row 1, the first data row is row 2.
    pub row_number: u64,
    pub object: Map<String, Value>,
    pub metadata: BTreeMap<String, String>,
}

/// A parsed file.
#[derive(Debug)]
pub struct ParsedCsv {
    pub rows: Vec<CsvRow>,
    pub warnings: Vec<String>,
}

/// Why a file cannot be read at all (before any row is judged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("the file is empty")]
    Empty,
    #[error("the header row has no authorizer_unique_id column")]
    NoIdColumn,
    #[error("record {record} cannot be read as csv")]
    Malformed { record: u64 },
}

/// Reads `bytes` as a Rightfoot-format CSV file.
pub fn parse(bytes: &[u8]) -> Result<ParsedCsv, CsvError> {
    let mut warnings = Vec::new();
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => {
            warnings.push(LATIN1_WARNING.to_string());
            bytes.iter().map(|&b| char::from(b)).collect()
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if text.trim().is_empty() {
        return Err(CsvError::Empty);
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|_| CsvError::Malformed { record: 1 })?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if !headers.iter().any(|h| h == "authorizer_unique_id") {
        return Err(CsvError::NoIdColumn);
    }
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let row_number = index as u64 + 2;
        let record = record.map_err(|_| CsvError::Malformed { record: row_number })?;
        let mut object = Map::new();
        let mut address = Map::new();
        let mut metadata = BTreeMap::new();
        for (column, cell) in headers.iter().zip(record.iter()) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            let column = column.as_str();
            if let Some(key) = column.strip_prefix("meta_") {
                metadata.insert(key.to_string(), cell.to_string());
            } else if ADDRESS_COLUMNS.contains(&column) {
                address.insert(column.to_string(), Value::String(cell.to_string()));
            } else if STRING_COLUMNS.contains(&column) {
                object.insert(column.to_string(), Value::String(cell.to_string()));
            } else if INTEGER_COLUMNS.contains(&column) {
                object.insert(column.to_string(), integer_or_text(cell));
            } else if column == "date_of_birth" {
                object.insert(column.to_string(), Value::Object(date_of_birth(cell)));
            }
        }
        if !address.is_empty() {
            object.insert("address".to_string(), Value::Object(address));
        }
        rows.push(CsvRow {
            row_number,
            object,
            metadata,
        });
    }
    Ok(ParsedCsv { rows, warnings })
}

fn integer_or_text(cell: &str) -> Value {
    cell.parse::<i64>()
        .map_or_else(|_| Value::String(cell.to_string()), Value::from)
}

/// `MM/DD/YYYY` → `{month, day, year}`; a missing or unreadable part is left out, so
/// validation reports it as missing.
fn date_of_birth(cell: &str) -> Map<String, Value> {
    let mut date = Map::new();
    let parts: Vec<&str> = cell.split('/').map(str::trim).collect();
    if parts.len() == 3 {
        for (name, part) in ["month", "day", "year"].iter().zip(parts) {
            if let Ok(n) = part.parse::<i64>() {
                date.insert((*name).to_string(), Value::from(n));
            }
        }
    }
    date
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_become_rightfoot_objects_with_metadata() {
        let file = "authorizer_unique_id,zip_code,phone_number,date_of_birth,ssn,account_number,routing_number,expiration_month,meta_customer_ref,user_id\n\
                    A-1,94107,5551234567,01/31/1980,123456789,1234,021000021,7,CR-1,99\n\
                    A-2,,,02//1990,,,,x,,\n";
        let parsed = parse(file.as_bytes()).unwrap();
        assert!(parsed.warnings.is_empty());
        assert_eq!(parsed.rows.len(), 2);
        let first = &parsed.rows[0];
        assert_eq!(first.row_number, 2);
        assert_eq!(
            Value::Object(first.object.clone()),
            json!({
                "authorizer_unique_id": "A-1",
                "address": {"zip_code": "94107"},
                "phone_number": "5551234567",
                "date_of_birth": {"month": 1, "day": 31, "year": 1980},
                "ssn": "123456789",
                "account_number": "1234",
                "routing_number": "021000021",
                "expiration_month": 7
            })
        );
        assert_eq!(first.metadata["customer_ref"], "CR-1");
        let second = &parsed.rows[1];
        assert_eq!(second.row_number, 3);
        assert_eq!(
            Value::Object(second.object.clone()),
            json!({
                "authorizer_unique_id": "A-2",
                "date_of_birth": {"month": 2, "year": 1990},
                "expiration_month": "x"
            })
        );
        assert!(second.metadata.is_empty());
    }

    #[test]
    fn latin1_files_are_read_with_a_warning() {
        let file = b"authorizer_unique_id,first_name,meta_city\nA-1,Ren\xe9e,M\xfcnchen\n";
        let parsed = parse(file).unwrap();
        assert_eq!(parsed.warnings, vec![LATIN1_WARNING.to_string()]);
        assert_eq!(parsed.rows[0].object["first_name"], "Renée");
        assert_eq!(parsed.rows[0].metadata["city"], "München");
    }

    #[test]
    fn unreadable_files_are_refused() {
        assert_eq!(parse(b"").unwrap_err(), CsvError::Empty);
        assert_eq!(parse(b"id,name\n1,x\n").unwrap_err(), CsvError::NoIdColumn);
        assert_eq!(
            parse("\u{feff}authorizer_unique_id\nA\n".as_bytes())
                .unwrap()
                .rows
                .len(),
            1
        );
    }
}
