//! The payment calendar's records ([`DebitLedger`]): each run's decision about each
//! debit due in it, and the lender's ACH returns.
//!
//! A decision row is what `balance-monitor debits` and the read API show, and what
//! ties a debit id to its authorizer, so that a return (which names only the debit)
//! counts against the right borrower. The store keeps the rows and answers questions
//! about them; which decision a debit gets is `debits::decide`'s business. Nothing here
//! is personal data: ids, dates, amounts, a reason written from figures.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::BoxFuture;

use super::error::StoreError;
use super::types::RunId;
use crate::domain::{Cents, Decision};

/// One debit's decision in one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionRow {
    pub debit_id: String,
    pub authorizer_unique_id: String,
    pub debit_date: NaiveDate,
    pub settles_on: NaiveDate,
    pub amount: Cents,
    pub decision: Decision,
    pub reason: String,
    pub balance: Option<Cents>,
    pub checked_at: Option<DateTime<Utc>>,
}

/// One row of the lender's ACH return file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReturn {
    pub debit_id: String,
    /// A Nacha return code, `R01`…`R99`.
    pub return_code: String,
    pub return_date: NaiveDate,
}

/// A return already stored for the same debit with another code or date: the stored
/// one stays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnConflict {
    pub debit_id: String,
    pub stored_code: String,
    pub stored_date: NaiveDate,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReturnImport {
    /// Returns stored now.
    pub added: usize,
    /// Returns found stored already, identical.
    pub unchanged: usize,
    pub conflicts: Vec<ReturnConflict>,
}

/// Which stored decisions to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecisionQuery {
    /// Only debits settling on this date.
    pub settles_on: Option<NaiveDate>,
    /// Only this monitor's.
    pub monitor: Option<String>,
    /// Only this authorizer's.
    pub authorizer: Option<String>,
}

/// A debit's latest decision, with its monitor and run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDecision {
    pub monitor: String,
    pub run: RunId,
    pub decision: DecisionRow,
}

/// How the decisions about the debits settling in a range held up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecisionTally {
    pub send: u64,
    pub hold: u64,
    pub unknown: u64,
    /// Sent, then returned for insufficient or uncollected funds (R01, R09).
    pub sent_returned_for_funds: u64,
    /// Sent, then returned with another code.
    pub sent_returned_otherwise: u64,
}

/// Decisions and returns.
pub trait DebitLedger: Send + Sync {
    /// Stores `run`'s decisions in one transaction; a debit decided again in the same
    /// run (the recheck phase) replaces its earlier row.
    fn record_decisions(
        &self,
        run: RunId,
        decisions: Vec<DecisionRow>,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// `run`'s decisions, by authorizer id then debit id.
    fn run_decisions(&self, run: RunId) -> BoxFuture<'_, Result<Vec<DecisionRow>, StoreError>>;

    /// Each debit's latest decision (of its monitor's latest run that decided it), by
    /// monitor, settlement date, authorizer id and debit id.
    fn latest_decisions(
        &self,
        query: DecisionQuery,
    ) -> BoxFuture<'_, Result<Vec<StoredDecision>, StoreError>>;

    /// The latest decisions about the debits settling from `from` through `through`
    /// (of `monitor`, or of every monitor), counted with the returns of those sent.
    fn decision_tally(
        &self,
        from: NaiveDate,
        through: NaiveDate,
        monitor: Option<String>,
    ) -> BoxFuture<'_, Result<DecisionTally, StoreError>>;

    /// Stores the returns not stored yet, in one transaction; a debit already returned
    /// keeps its stored return. Importing the same rows twice changes nothing.
    fn import_returns(
        &self,
        returns: Vec<NewReturn>,
        imported_at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<ReturnImport, StoreError>>;

    /// For each of `authorizers`, how many of its latest sent debits settling before
    /// `settled_before`, newest first by settlement date, came back in a row (an
    /// authorizer with none is absent). A debit counts as sent when its latest decision
    /// was `send` or it was returned.
    fn returns_in_a_row(
        &self,
        authorizers: Vec<String>,
        settled_before: NaiveDate,
    ) -> BoxFuture<'_, Result<BTreeMap<String, u32>, StoreError>>;
}

impl DecisionTally {
    /// Counts one debit's latest decision, with the code of its return if it came back.
    pub(super) fn add(&mut self, decision: Decision, return_code: Option<&str>) {
        match decision {
            Decision::Send => self.send += 1,
            Decision::Hold => self.hold += 1,
            Decision::Unknown => self.unknown += 1,
        }
        match (decision, return_code) {
            (Decision::Send, Some("R01" | "R09")) => self.sent_returned_for_funds += 1,
            (Decision::Send, Some(_)) => self.sent_returned_otherwise += 1,
            _ => {}
        }
    }
}

impl ReturnImport {
    /// Counts `new` against the return `stored` for its debit (code and date), if any;
    /// `true` when it is to be stored.
    pub(super) fn add(&mut self, new: &NewReturn, stored: Option<(String, NaiveDate)>) -> bool {
        match stored {
            None => {
                self.added += 1;
                true
            }
            Some((code, date)) if code == new.return_code && date == new.return_date => {
                self.unchanged += 1;
                false
            }
            Some((stored_code, stored_date)) => {
                self.conflicts.push(ReturnConflict {
                    debit_id: new.debit_id.clone(),
                    stored_code,
                    stored_date,
                });
                false
            }
        }
    }
}

/// How many debits came back in a row, from an authorizer's debits newest first as
/// `(sent, returned)`: debits never sent are passed over, the first sent one that stayed
/// ends the count.
pub(super) fn returned_in_a_row(debits: impl IntoIterator<Item = (bool, bool)>) -> u32 {
    let mut in_a_row = 0u32;
    for (sent, returned) in debits {
        if !sent {
            continue;
        }
        if !returned {
            break;
        }
        in_a_row += 1;
    }
    in_a_row
}
