//! `from_metadata: { date: next_debit_date, amount: payment_amount }`: one debit per
//! authorizer, taken from two of its `meta_*` fields.
//!
//! An authorizer with neither field (or both blank) has no debit. One with a bad date,
//! an amount that is not above zero, or only one of the two is refused at its own place
//! in the authorizer file, naming the `meta_` column. The debit's id is
//! `<authorizer_unique_id>@<date>`, so the same instalment keeps its id from one run to
//! the next and a return file can name it.

use super::debit::{Debit, LoadedDebits, RefusedRow, parse_amount, parse_date};
use crate::authorizers::Authorizer;

/// The debits the metadata of `authorizers` gives.
pub fn from_metadata(authorizers: &[Authorizer], date_key: &str, amount_key: &str) -> LoadedDebits {
    let mut loaded = LoadedDebits::default();
    for authorizer in authorizers {
        let fields = authorizer.metadata();
        let value = |key: &str| fields.get(key).map(str::trim).filter(|v| !v.is_empty());
        let (date, amount) = (value(date_key), value(amount_key));
        let refuse = |key: &str, reason: String| RefusedRow {
            place: authorizer.origin().to_string(),
            column: format!("meta_{key}"),
            reason,
        };
        let (date, amount) = match (date, amount) {
            (None, None) => continue,
            (Some(date), Some(amount)) => (date, amount),
            (None, Some(_)) => {
                loaded.refused.push(refuse(
                    date_key,
                    "missing date beside an amount".to_string(),
                ));
                continue;
            }
            (Some(_), None) => {
                loaded.refused.push(refuse(
                    amount_key,
                    "missing amount beside a date".to_string(),
                ));
                continue;
            }
        };
        let date = match parse_date(date) {
            Ok(date) => date,
            Err(reason) => {
                loaded.refused.push(refuse(date_key, reason));
                continue;
            }
        };
        let amount = match parse_amount(amount) {
            Ok(amount) => amount,
            Err(reason) => {
                loaded.refused.push(refuse(amount_key, reason));
                continue;
            }
        };
        loaded.debits.push(Debit {
            authorizer_id: authorizer.id().to_string(),
            debit_id: format!("{}@{date}", authorizer.id()),
            date,
            amount,
        });
    }
    loaded
}
