//! `balance-monitor debits`: each debit's latest decision, and `debits report`: how the
//! decisions held up against the returns; both handed to `report::debits`.

use std::path::Path;

use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};

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
  balance-monitor debits --monitor ach-precheck --decision hold,unknown --format json
  balance-monitor debits report --from 2026-11-01 --to 2026-11-30";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DebitsArgs {
    #[command(subcommand)]
    pub report: Option<DebitsCommand>,
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

#[derive(Debug, Subcommand)]
pub enum DebitsCommand {
    /// How the decisions held up: the debits settling from --from through --to sent,
    /// held and unknown, and those sent then returned for insufficient funds (R01, R09)
    /// or otherwise.
    Report {
        /// The first settlement date (YYYY-MM-DD).
        #[arg(long, value_parser = parse_date_arg)]
        from: NaiveDate,
        /// The last settlement date (YYYY-MM-DD).
        #[arg(long, value_parser = parse_date_arg)]
        to: NaiveDate,
        /// Only this monitor's debits.
        #[arg(long)]
        monitor: Option<String>,
    },
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
    if let Some(DebitsCommand::Report { from, to, monitor }) = args.report {
        runtime()?.block_on(crate::report::debits::report(
            &config,
            from,
            to,
            monitor,
            &mut std::io::stdout(),
        ))?;
        return Ok(());
    }
    let format = match args.format {
        FormatArg::Table => DebitsFormat::Table,
        FormatArg::Csv => DebitsFormat::Csv,
        FormatArg::Json => DebitsFormat::Json,
    };
    let query = DecisionQuery {
        settles_on: args.date,
        monitor: args.monitor,
        authorizer: None,
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
