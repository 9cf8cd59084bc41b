//! `balance-monitor debits`: each debit's latest decision, handed to `report::debits`.

use std::path::Path;

use chrono::NaiveDate;
use clap::{Args, ValueEnum};

use super::{Failure, runtime};
use crate::config;
use crate::domain::Decision;
use crate::report::debits::DebitsFormat;
use crate::secret::Environment;
use crate::store::DecisionQuery;

pub const EXAMPLES: &str = "\
Examples:
  balance-monitor debits --date 2026-12-08
  balance-monitor debits --date 2026-12-08 --decision send --format csv > send.csv
  balance-monitor debits --monitor ach-precheck --decision hold,unknown --format json";

#[derive(Debug, Args)]
pub struct DebitsArgs {
    /// Only debits settling on this date (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date_arg)]
    pub date: Option<NaiveDate>,
    /// Only this monitor's debits.
    #[arg(long)]
    pub monitor: Option<String>,
    /// Only these decisions, comma-separated: send, hold, unknown.
    #[arg(long, value_delimiter = ',', value_parser = parse_decision_arg)]
    pub decision: Vec<Decision>,
    /// How to print: an aligned table, CSV (the send file), or JSON.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Table,
    Csv,
    Json,
}

fn parse_date_arg(text: &str) -> Result<NaiveDate, String> {
    crate::debits::parse_date(text)
}

fn parse_decision_arg(text: &str) -> Result<Decision, String> {
    Decision::parse(text.trim())
        .ok_or_else(|| format!("{text:?} is not a decision: use send, hold or unknown"))
}

/// `debits`.
pub(super) fn debits(path: &Path, env: &Environment, args: DebitsArgs) -> Result<(), Failure> {
    let config = config::load(path, env)?;
    let format = match args.format {
        FormatArg::Table => DebitsFormat::Table,
        FormatArg::Csv => DebitsFormat::Csv,
        FormatArg::Json => DebitsFormat::Json,
    };
    let query = DecisionQuery {
        settles_on: args.date,
        monitor: args.monitor,
    };
    runtime()?.block_on(crate::report::debits::debits(
        &config,
        query,
        &args.decision,
        format,
        &mut std::io::stdout(),
    ))?;
    Ok(())
}
