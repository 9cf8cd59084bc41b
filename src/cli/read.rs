//! The read side at the terminal: `history`, `runs`, `runs show`, `export-csv` and
//! `backup`.
//!
//! The questions to the store and the rendering belong to `report`; this file holds
//! the options, loads the configuration, and hands `report` the standard output.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::output::Output;
use super::{Failure, runtime};
use crate::config;
use crate::secret::Environment;

pub const HISTORY_EXAMPLES: &str = "\
Examples:
  balance-monitor history B-1001
  balance-monitor history B-1001 --since 2026-11-01 --limit 50
  balance-monitor history B-1001 --json | jq '.checks[0]'";

pub const RUNS_EXAMPLES: &str = "\
Examples:
  balance-monitor runs
  balance-monitor runs --monitor morning-ach --limit 5
  balance-monitor runs show 42";

pub const EXPORT_CSV_EXAMPLES: &str = "\
Examples:
  balance-monitor export-csv --run 42 -o run-42.csv
  balance-monitor export-csv --monitor morning-ach --since 2026-11-01 > november.csv
  balance-monitor export-csv --batch 3f0c7a52-9d1e-4b8a-a6a4-2b1e5c0d9f10";

pub const BACKUP_EXAMPLES: &str = "\
Examples:
  balance-monitor backup /var/backups/balance-monitor.db
  balance-monitor backup /var/backups/balance-monitor.db --force   # replace yesterday's";

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The authorizer's `authorizer_unique_id`.
    pub authorizer_id: String,
    /// Show at most this many runs.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Only runs started on or after this date (`2025-03-01`, midnight UTC) or time
    /// (RFC 3339).
    #[arg(long, value_name = "DATE", value_parser = parse_instant)]
    pub since: Option<DateTime<Utc>>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub show: Option<RunsCommand>,
    /// Only the runs of this monitor.
    #[arg(long)]
    pub monitor: Option<String>,
    /// Show at most this many runs.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One run in full: timings, counts by status, cache, alerts and notifications.
    #[command(after_help = "Examples:\n  balance-monitor runs show 42")]
    Show {
        /// The run's number, as `runs` lists it.
        run_id: i64,
    },
}

#[derive(Debug, Args)]
pub struct ExportCsvArgs {
    /// Only this run's results.
    #[arg(long, value_name = "RUN_ID", conflicts_with_all = ["batch", "monitor"])]
    pub run: Option<i64>,
    /// Only these Rightfoot batch ids (repeatable).
    #[arg(long = "batch", value_name = "ID", num_args = 1.., conflicts_with = "monitor")]
    pub batch: Vec<String>,
    /// Only this monitor's results.
    #[arg(long)]
    pub monitor: Option<String>,
    /// Only results timestamped on or after this date or time.
    #[arg(long, value_name = "DATE", value_parser = parse_instant)]
    pub since: Option<DateTime<Utc>>,
    /// Only results timestamped before this date or time.
    #[arg(long, value_name = "DATE", value_parser = parse_instant)]
    pub until: Option<DateTime<Utc>>,
    /// Write to FILE (atomically, mode 0600) instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy.
    pub dest: PathBuf,
    /// Replace DEST if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `2025-03-01` (midnight UTC) or an RFC 3339 time such as `2025-03-01T09:00:00-05:00`.
fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| {
            format!("{text:?} is neither a date (2025-03-01) nor an RFC 3339 time (2025-03-01T09:00:00Z)")
        })
}

pub fn history(
    path: &Path,
    env: &Environment,
    args: HistoryArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let config = config::load(path, env)?;
    let options = crate::report::HistoryOptions {
        authorizer_id: args.authorizer_id,
        limit: args.limit,
        since: args.since,
        json: args.json,
    };
    runtime()?.block_on(crate::report::history(&config, &options, out))?;
    Ok(())
}

pub fn runs(
    path: &Path,
    env: &Environment,
    args: RunsArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let config = config::load(path, env)?;
    match args.show {
        Some(RunsCommand::Show { run_id }) => runtime()?.block_on(crate::report::run_show(
            &config,
            crate::domain::RunId(run_id),
            out,
        ))?,
        None => runtime()?.block_on(crate::report::runs(
            &config,
            args.monitor.as_deref(),
            args.limit,
            out,
        ))?,
    }
    Ok(())
}

pub fn export_csv(path: &Path, env: &Environment, args: ExportCsvArgs) -> Result<(), Failure> {
    use crate::report::{ExportOutput, ExportSelection};
    let config = config::load(path, env)?;
    let selection = match (args.run, args.batch.is_empty(), args.monitor) {
        (Some(run), _, _) => ExportSelection::Run(crate::domain::RunId(run)),
        (None, false, _) => ExportSelection::RightfootBatches(args.batch),
        (None, true, Some(monitor)) => ExportSelection::Monitor(monitor),
        (None, true, None) => ExportSelection::All,
    };
    let output = args
        .output
        .clone()
        .map_or(ExportOutput::Stdout, ExportOutput::File);
    let rows = runtime()?.block_on(crate::report::export_csv(
        &config, selection, args.since, args.until, output,
    ))?;
    if let Some(path) = args.output {
        eprintln!(
            "exported {} to {}",
            crate::text::count(rows, "result"),
            path.display()
        );
    }
    Ok(())
}

pub fn backup(path: &Path, env: &Environment, args: BackupArgs) -> Result<(), Failure> {
    let config = config::load(path, env)?;
    let options = crate::store::BackupOptions {
        replace: if args.force {
            crate::private_file::Replace::Allow
        } else {
            crate::private_file::Replace::Refuse
        },
        ..crate::store::BackupOptions::default()
    };
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (path, bytes) = runtime()?.block_on(crate::report::backup(
        &config,
        &args.dest,
        options,
        move |step| {
            if terminal && step.pages_total > 0 {
                let done = step.pages_total - step.pages_remaining;
                eprint!("\rcopied {}%", done * 100 / step.pages_total);
            }
        },
    ))?;
    if terminal {
        eprintln!();
    }
    eprintln!(
        "backed up {} to {}",
        crate::text::count(bytes, "byte"),
        path.display()
    );
    Ok(())
}
