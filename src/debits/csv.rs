//! The debits file: `authorizer_unique_id,debit_id,debit_date,amount`, re-read at each
//! run because loan systems rewrite it daily.
//!
//! The file is read once through [`crate::private_file::input`] (a regular file within
//! [`DEBITS_CSV_LIMIT`](crate::private_file::input::DEBITS_CSV_LIMIT), any mode: it holds
//! no personal data) and parsed record by record into one reused buffer, so the only
//! allocations per row are the debit's own two ids. A row is refused, with its line and
//! column, for an unknown authorizer id, a bad date, an amount that is not above zero,
//! or a `debit_id` an earlier row has; the other rows load. Other columns are ignored.

use std::path::Path;

use super::debit::{
    Debit, DebitsError, LoadedDebits, RefusedRow, csv_columns, next_row, parse_amount, parse_date,
};
use crate::private_file::input::{InputFile, read_input_file};

/// The columns a debits file must have, in the order the documentation writes them.
pub const COLUMNS: [&str; 4] = ["authorizer_unique_id", "debit_id", "debit_date", "amount"];

/// Reads the debits file at `path`; `is_known` says whether an authorizer id is on the
/// monitor's list.
pub fn read_file(
    path: &Path,
    is_known: &dyn Fn(&str) -> bool,
) -> Result<LoadedDebits, DebitsError> {
    let bytes = read_input_file(path, InputFile::DEBITS_CSV)?;
    parse(&bytes, path, is_known)
}

/// Parses the bytes of a debits file read from `file`.
pub fn parse(
    bytes: &[u8],
    file: &Path,
    is_known: &dyn Fn(&str) -> bool,
) -> Result<LoadedDebits, DebitsError> {
    let missing = |file, column| DebitsError::MissingColumn { file, column };
    let (mut reader, at) = csv_columns(bytes, file, COLUMNS, missing)?;
    let [id_at, debit_at, date_at, amount_at] = at;
    let mut loaded = LoadedDebits::default();
    // Each debit's line, beside it, for the duplicate check.
    let mut lines: Vec<u64> = Vec::new();
    let mut record = csv::StringRecord::new();
    while let Some(line) = next_row(&mut reader, &mut record, file)? {
        let place = || format!("{}:{line}", file.display());
        let mut refuse = |column: &str, reason: String| {
            loaded.refused.push(RefusedRow {
                place: place(),
                column: column.to_string(),
                reason,
            });
        };
        let field = |index: usize| record.get(index).unwrap_or("").trim();
        let authorizer_id = field(id_at);
        if authorizer_id.is_empty() {
            refuse(COLUMNS[0], "missing authorizer id".to_string());
            continue;
        }
        if !is_known(authorizer_id) {
            refuse(
                COLUMNS[0],
                format!("unknown authorizer id {authorizer_id:?}: not on the monitor's list"),
            );
            continue;
        }
        let debit_id = field(debit_at);
        if debit_id.is_empty() {
            refuse(COLUMNS[1], "missing debit id".to_string());
            continue;
        }
        let date = match parse_date(field(date_at)) {
            Ok(date) => date,
            Err(reason) => {
                refuse(COLUMNS[2], reason);
                continue;
            }
        };
        let amount = match parse_amount(field(amount_at)) {
            Ok(amount) => amount,
            Err(reason) => {
                refuse(COLUMNS[3], reason);
                continue;
            }
        };
        loaded.debits.push(Debit {
            authorizer_id: authorizer_id.to_string(),
            debit_id: debit_id.to_string(),
            date,
            amount,
        });
        lines.push(line);
    }
    refuse_duplicates(&mut loaded, &lines, file);
    Ok(loaded)
}

/// Refuses every debit whose `debit_id` an earlier line has, keeping the first.
fn refuse_duplicates(loaded: &mut LoadedDebits, lines: &[u64], file: &Path) {
    let mut order: Vec<usize> = (0..loaded.debits.len()).collect();
    order.sort_unstable_by(|a, b| {
        loaded.debits[*a]
            .debit_id
            .cmp(&loaded.debits[*b].debit_id)
            .then(a.cmp(b))
    });
    let mut duplicate = vec![false; loaded.debits.len()];
    let mut refused = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let original = order[start];
        let id = &loaded.debits[original].debit_id;
        let mut end = start + 1;
        while end < order.len() && loaded.debits[order[end]].debit_id == *id {
            let next = order[end];
            duplicate[next] = true;
            refused.push((
                lines[next],
                RefusedRow {
                    place: format!("{}:{}", file.display(), lines[next]),
                    column: COLUMNS[1].to_string(),
                    reason: format!(
                        "duplicate debit id {id:?} (first on line {})",
                        lines[original]
                    ),
                },
            ));
            end += 1;
        }
        start = end;
    }
    if refused.is_empty() {
        return;
    }
    refused.sort_by_key(|(line, _)| *line);
    loaded
        .refused
        .extend(refused.into_iter().map(|(_, row)| row));
    let mut index = 0;
    loaded.debits.retain(|_| {
        let keep = !duplicate[index];
        index += 1;
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Cents;

    fn known(id: &str) -> bool {
        matches!(id, "A-1" | "A-2" | "A-3")
    }

    fn load(text: &str) -> LoadedDebits {
        parse(text.as_bytes(), Path::new("debits.csv"), &known).expect("a debits file")
    }

    #[test]
    fn reads_the_four_columns_in_any_order_and_ignores_others() {
        let loaded = load(
            "debit_id,amount,note,debit_date,authorizer_unique_id\n\
             D-1,180.00,weekly,2026-12-08,A-1\n\
             \n\
             D-2, 45.5 ,,2026-12-25,A-2\n",
        );
        assert_eq!(loaded.refused, []);
        let summary: Vec<(String, String, String, Cents)> = loaded
            .debits
            .iter()
            .map(|d| {
                (
                    d.authorizer_id.clone(),
                    d.debit_id.clone(),
                    d.date.to_string(),
                    d.amount,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "A-1".into(),
                    "D-1".into(),
                    "2026-12-08".into(),
                    Cents(18_000)
                ),
                (
                    "A-2".into(),
                    "D-2".into(),
                    "2026-12-25".into(),
                    Cents(4_550)
                ),
            ]
        );
    }

    #[test]
    fn bad_rows_are_refused_with_line_and_column_and_the_rest_load() {
        let loaded = load(
            "authorizer_unique_id,debit_id,debit_date,amount\n\
             A-1,D-1,2026-12-08,180.00\n\
             A-9,D-2,2026-12-08,10.00\n\
             A-2,D-3,2026-02-30,10.00\n\
             A-2,D-4,2026-12-09,-10.00\n\
             A-3,D-1,2026-12-10,20.00\n\
             A-3,D-5,2026-12-10,20.00\n\
             A-3,D-1,2026-12-11,20.00\n\
             A-3,,2026-12-11,20.00\n",
        );
        let refused: Vec<String> = loaded.refused.iter().map(ToString::to_string).collect();
        assert_eq!(
            refused,
            [
                "debits.csv:3: column authorizer_unique_id: unknown authorizer id \"A-9\": not on the monitor's list",
                "debits.csv:4: column debit_date: invalid date \"2026-02-30\": expected YYYY-MM-DD, such as 2026-12-08",
                "debits.csv:5: column amount: negative amount -10.00: a debit takes money, so its amount is above 0.00",
                "debits.csv:9: column debit_id: missing debit id",
                "debits.csv:6: column debit_id: duplicate debit id \"D-1\" (first on line 2)",
                "debits.csv:8: column debit_id: duplicate debit id \"D-1\" (first on line 2)",
            ]
        );
        let ids: Vec<&str> = loaded.debits.iter().map(|d| d.debit_id.as_str()).collect();
        assert_eq!(ids, ["D-1", "D-5"]);
    }

    #[test]
    fn a_file_without_a_column_or_not_utf8_is_an_error_naming_it() {
        let missing = parse(
            b"authorizer_unique_id,debit_id,amount\nA-1,D-1,1.00\n",
            Path::new("debits.csv"),
            &known,
        )
        .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "debits file debits.csv has no `debit_date` column; its header must name authorizer_unique_id,debit_id,debit_date,amount"
        );
        let latin1 = parse(
            b"authorizer_unique_id,debit_id,debit_date,amount\nA-1,D\xe9,2026-12-08,1.00\n",
            Path::new("debits.csv"),
            &known,
        )
        .unwrap_err();
        assert!(latin1.to_string().contains("not UTF-8"), "{latin1}");
    }
}
