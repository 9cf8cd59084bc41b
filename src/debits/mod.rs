//! The payment calendar's lists and judgement: a monitor's debits, which of them are
//! due in a run, and the send/hold/unknown decision about each.
//!
//! - `debit.rs`: [`Debit`], [`LoadedDebits`] (the debits and the refused rows, each
//!   with its place and column), [`DebitsError`], and the date and amount rules.
//! - `csv.rs`: the debits file, re-read at each run.
//! - `from_metadata.rs`: one debit per authorizer from two `meta_*` fields.
//! - `plan.rs`: [`DueWindow`] and [`due_debits`]: the debits settling within
//!   `due_within` business days of the run's local date, and the authorizers to check.
//! - `decide.rs`: [`decide`], the pure decision with its reason.
//! - `returns.rs`: the lender's ACH return file (`debit_id,return_code,return_date`).
//! - `send_file.rs`: the stored decisions as CSV, for the command and the dashboard.
//!
//! The files are layered: `debit` first, then `csv`, `from_metadata`, `plan`,
//! `decide`, `returns` and `send_file`, none of which uses another. Debits hold no personal data (ids, dates,
//! amounts), so nothing here needs the authorizers' personal fields: the list is asked
//! only for ids, metadata and places. This module reads the debits file and the return
//! file and nothing else; it does not talk to Rightfoot or the store (`send_file` only
//! formats the store's decision rows).

mod csv;
mod debit;
mod decide;
mod from_metadata;
mod plan;
mod returns;
mod send_file;

use std::collections::HashSet;

use crate::authorizers::Authorizer;
use crate::config::model::DebitSource;

pub use csv::COLUMNS;
pub use debit::{Debit, DebitsError, LoadedDebits, RefusedRow, parse_amount, parse_date};
pub use decide::{
    DecisionRules, Evidence, Observation, Outcome, RETURNS_IN_A_ROW_TO_HOLD, TWO_RETURNS, Verdict,
    decide,
};
pub use plan::{DueDebit, DueWindow, authorizers_to_check, due_debits};
pub use returns::{
    INSUFFICIENT_FUNDS_CODES, LoadedReturns, RETURN_COLUMNS, ReturnRow, is_return_code,
    parse_returns, read_returns_file,
};
pub use send_file::{DECISION_COLUMNS, DecisionJson, decisions_csv};

/// Loads a monitor's debits from `source`, against the monitor's valid `authorizers`:
/// a debit for an authorizer not on the list is refused.
pub fn load(source: &DebitSource, authorizers: &[Authorizer]) -> Result<LoadedDebits, DebitsError> {
    match source {
        DebitSource::Csv(path) => {
            let known: HashSet<&str> = authorizers.iter().map(Authorizer::id).collect();
            csv::read_file(path, &|id| known.contains(id))
        }
        DebitSource::FromMetadata { date, amount } => {
            Ok(from_metadata::from_metadata(authorizers, date, amount))
        }
    }
}

/// Parses debits file bytes as if read from `file` (for tests and benchmarks).
pub fn parse_csv(
    bytes: &[u8],
    file: &std::path::Path,
    is_known: &dyn Fn(&str) -> bool,
) -> Result<LoadedDebits, DebitsError> {
    csv::parse(bytes, file, is_known)
}
