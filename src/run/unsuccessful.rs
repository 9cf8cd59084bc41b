//! The authorizers of one run that got no balance: each rejected one (by the pre-flight
//! check or by Rightfoot at submission), each failed check with its status code and
//! what the code means, and each result not retrieved. Ids only, never personal data.
//!
//! `run-now` prints it under its summary and `runs show` under the run's detail; it
//! reads the store only, like the run's summary in `finish.rs`.

use std::fmt::Write as _;

use crate::domain::{BalanceStatus, RunId};
use crate::store::{RunCheckOutcome, Store, StoreError};

/// At most this many authorizers are listed; the rest are counted.
pub const LISTED: usize = 50;

/// The listing for `run`, or an empty string when every check succeeded.
pub async fn unsuccessful(store: &Store, run: RunId) -> Result<String, StoreError> {
    let checks = store.run_checks(run).await?;
    let mut lines = Vec::new();
    for check in &checks {
        let id = &check.authorizer_unique_id;
        match check.outcome {
            RunCheckOutcome::Retrieved { status_code: 0, .. } => {}
            RunCheckOutcome::Retrieved { status_code, .. } => {
                let status = BalanceStatus::from_code(status_code);
                lines.push(format!("    {id}: failed {status_code} ({})", status.description()));
            }
            RunCheckOutcome::Rejected => lines.push(format!(
                "    {id}: rejected (by the pre-flight check or by Rightfoot; `check-config` names the row and the reason)"
            )),
            RunCheckOutcome::NotRetrieved => {
                lines.push(format!("    {id}: not retrieved (no result by the deadline, or the batch was not sent)"));
            }
        }
    }
    let mut out = String::new();
    if lines.is_empty() {
        return Ok(out);
    }
    let _ = writeln!(out, "  without a balance:         {}", lines.len());
    for line in lines.iter().take(LISTED) {
        let _ = writeln!(out, "{line}");
    }
    if lines.len() > LISTED {
        let _ = writeln!(
            out,
            "    ... and {} more (`export-csv --run {}` has every result)",
            lines.len() - LISTED,
            run.0
        );
    }
    Ok(out)
}
