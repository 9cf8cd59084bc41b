//! The authorizers of one run that got no balance: each rejected one (by the pre-flight
//! check or by Rightfoot at submission), each failed check with its status code and
//! what the code means, and each result not retrieved. Ids only, never personal data.
//!
//! `run-now` prints it under its summary and `runs show` under the run's detail; it
//! reads the store only, like the run's summary in `finish.rs`.

use std::fmt::Write as _;

use crate::domain::{BalanceStatus, RunId};
use crate::store::{RunCheck, RunCheckOutcome, Store, StoreError};

/// At most this many authorizers are listed; the rest are counted.
pub const LISTED: usize = 50;

/// The listing for `run`, or an empty string when every check succeeded, read from the
/// store (`runs show`).
pub async fn unsuccessful(store: &Store, run: RunId) -> Result<String, StoreError> {
    Ok(listing(run, &store.run_checks(run).await?))
}

/// The listing of a run's `checks` (`run-now` has them from the judgement, which read
/// them already): the first [`LISTED`] authorizers without a balance, then how many more.
pub fn listing(run: RunId, checks: &[RunCheck]) -> String {
    let mut listing = Listing::default();
    listing.add(checks);
    listing.finish(run)
}

/// [`listing`] built a page of checks at a time, in id order: it keeps the first
/// [`LISTED`] lines and a count.
#[derive(Debug, Default)]
pub struct Listing {
    listed: Vec<String>,
    total: usize,
}

impl Listing {
    /// Counts, and lists while there is room, the checks without a balance.
    pub fn add(&mut self, checks: &[RunCheck]) {
        for check in checks {
            let id = &check.authorizer_unique_id;
            let line = match check.outcome {
                RunCheckOutcome::Retrieved { status_code: 0, .. } => continue,
                RunCheckOutcome::Retrieved { status_code, .. } => {
                    let status = BalanceStatus::from_code(status_code);
                    format!("    {id}: failed {status_code} ({})", status.description())
                }
                RunCheckOutcome::Rejected => format!(
                    "    {id}: rejected (by the pre-flight check or by Rightfoot; `check-config` names the row and the reason)"
                ),
                RunCheckOutcome::NotRetrieved => format!(
                    "    {id}: not retrieved (no result by the deadline, or the batch was not sent)"
                ),
            };
            self.total += 1;
            if self.listed.len() < LISTED {
                self.listed.push(line);
            }
        }
    }

    /// The listing of `run`, or an empty string when every check had a balance.
    pub fn finish(self, run: RunId) -> String {
        let Listing { listed, total } = self;
        let mut out = String::new();
        if total == 0 {
            return out;
        }
        let _ = writeln!(out, "  without a balance:         {total}");
        for line in &listed {
            let _ = writeln!(out, "{line}");
        }
        if total > LISTED {
            let _ = writeln!(
                out,
                "    ... and {} more (`export-csv --run {}` has every result)",
                total - LISTED,
                run.0
            );
        }
        out
    }
}
