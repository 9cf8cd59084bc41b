//! The decisions as CSV: the file `balance-monitor debits --format csv` prints and the
//! dashboard's `/debits.csv` serves (with only the `send` rows, the send file an ACH
//! origination system can take); and as JSON, the items of `debits --format json` and
//! of the read API's `GET /v1/debits`.
//!
//! One column list and one item shape, so the files and the API never drift apart. Nothing here is
//! personal data: ids, dates, amounts, balances, and reasons written from figures.

use serde::Serialize;

use crate::domain::Cents;
use crate::store::StoredDecision;

/// One decision as JSON: money as exact decimal text, times in RFC 3339 UTC.
#[derive(Serialize)]
pub struct DecisionJson<'a> {
    monitor: &'a str,
    run_id: i64,
    debit_id: &'a str,
    authorizer_unique_id: &'a str,
    debit_date: String,
    settles_on: String,
    amount: String,
    balance: Option<String>,
    checked_at: Option<String>,
    decision: &'static str,
    reason: &'a str,
}

impl<'a> From<&'a StoredDecision> for DecisionJson<'a> {
    fn from(row: &'a StoredDecision) -> DecisionJson<'a> {
        let d = &row.decision;
        DecisionJson {
            monitor: &row.monitor,
            run_id: row.run.0,
            debit_id: &d.debit_id,
            authorizer_unique_id: &d.authorizer_unique_id,
            debit_date: d.debit_date.to_string(),
            settles_on: d.settles_on.to_string(),
            amount: d.amount.to_decimal_string(),
            balance: d.balance.map(|b| b.to_decimal_string()),
            checked_at: d
                .checked_at
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            decision: d.decision.as_str(),
            reason: &d.reason,
        }
    }
}

/// The CSV columns, in order.
pub const DECISION_COLUMNS: [&str; 8] = [
    "debit_id",
    "authorizer_unique_id",
    "debit_date",
    "amount",
    "balance",
    "checked_at",
    "decision",
    "reason",
];

/// `rows` as CSV under [`DECISION_COLUMNS`]: money as exact decimal text, times in
/// RFC 3339, an unknown balance or time as an empty cell.
pub fn decisions_csv(rows: &[StoredDecision]) -> Result<String, ::csv::Error> {
    let money = |cents: Option<Cents>| cents.map(|c| c.to_decimal_string()).unwrap_or_default();
    let mut writer = ::csv::WriterBuilder::new().from_writer(Vec::new());
    writer.write_record(DECISION_COLUMNS)?;
    for row in rows {
        let d = &row.decision;
        writer.write_record([
            d.debit_id.as_str(),
            d.authorizer_unique_id.as_str(),
            &d.debit_date.to_string(),
            &d.amount.to_decimal_string(),
            &money(d.balance),
            &d.checked_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            d.decision.as_str(),
            d.reason.as_str(),
        ])?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|error| ::csv::Error::from(error.into_error()))?;
    Ok(String::from_utf8(bytes).expect("the CSV writer writes the UTF-8 it is given"))
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone, Utc};

    use super::*;
    use crate::domain::Decision;
    use crate::store::{DecisionRow, RunId};

    #[test]
    fn a_row_is_exact_and_a_comma_in_a_reason_is_quoted() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 8).unwrap();
        let row = StoredDecision {
            monitor: "ach".into(),
            run: RunId(7),
            decision: DecisionRow {
                debit_id: "D-1".into(),
                authorizer_unique_id: "B-1".into(),
                debit_date: day,
                settles_on: day,
                amount: Cents(12_000),
                decision: Decision::Hold,
                reason: "balance $80.00, below $120.00 + $25.00".into(),
                balance: Some(Cents(8_000)),
                checked_at: Some(Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()),
            },
        };
        let unknown = StoredDecision {
            decision: DecisionRow {
                debit_id: "D-2".into(),
                decision: Decision::Unknown,
                balance: None,
                checked_at: None,
                reason: "not retrieved".into(),
                ..row.decision.clone()
            },
            ..row.clone()
        };
        assert_eq!(
            decisions_csv(&[row, unknown]).unwrap(),
            "debit_id,authorizer_unique_id,debit_date,amount,balance,checked_at,decision,reason\n\
             D-1,B-1,2026-12-08,120.00,80.00,2026-12-07T12:00:00+00:00,hold,\"balance $80.00, below $120.00 + $25.00\"\n\
             D-2,B-1,2026-12-08,120.00,,,unknown,not retrieved\n"
        );
    }
}
