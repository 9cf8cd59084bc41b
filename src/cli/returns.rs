//! `balance-monitor returns import FILE`: the lender's ACH return file into the store,
//! handed to `report::returns`.

use std::path::{Path, PathBuf};

use chrono::Utc;
use clap::Subcommand;

use super::output::Output;
use super::{Failure, runtime};
use crate::config;
use crate::secret::Environment;

pub const EXAMPLES: &str = "\
Examples:
  balance-monitor returns import returns-2026-12-09.csv

The file's header is debit_id,return_code,return_date (R01, R09 and the other Nacha
codes; dates as YYYY-MM-DD). Importing the same file again changes nothing.";

#[derive(Debug, Subcommand)]
pub enum ReturnsCommand {
    /// Import a return file: the good rows are stored, each bad row is named with its
    /// line and column. Exits 1 when any row was not imported.
    Import {
        /// The return file (CSV).
        file: PathBuf,
    },
}

/// `returns import FILE`.
pub(super) fn returns(
    path: &Path,
    env: &Environment,
    command: ReturnsCommand,
    out: &mut Output,
) -> Result<(), Failure> {
    let config = config::load(path, env)?;
    let ReturnsCommand::Import { file } = command;
    let report = runtime()?.block_on(crate::report::returns::import(&config, &file, Utc::now()))?;
    for problem in &report.problems {
        eprintln!("{problem}");
    }
    out.print(&format!("{}\n", report.summary))?;
    match report.problems.len() {
        0 => Ok(()),
        n => Err(Failure::Runtime(anyhow::anyhow!(
            "{} of {} not imported (see above); the other rows were",
            crate::text::count(n, "row"),
            file.display()
        ))),
    }
}
