//! The command line: global options and subcommands, parsed by clap, and the dispatch
//! from a parsed command to the library. It is the only module that prints for people.
//!
//! This file holds [`Cli`], the [`Command`] list, [`Failure`] and the dispatch; one
//! file per command family holds that family's options, examples and glue:
//! `check_config.rs`, `run.rs` (`run`, `run-now`), `read.rs` (`history`, `runs`,
//! `export-csv`, `backup`), `calendar.rs`, `debits.rs`, `returns.rs` (`returns import`), `sandbox.rs`, `demo.rs`, `test_alert.rs` and `pages.rs`
//! (`completions`, `manpage`). Every command writes for people through
//! `output::Output`, on which a closed pipe (`| head -1`) ends the output quietly.
//!
//! `main.rs` owns the process: it parses, sets up logging, calls [`run`] and maps a
//! [`Failure`] to an exit code. Nothing here calls `process::exit`.

mod calendar;
mod check_config;
mod debits;
mod demo;
mod init;
mod migrate;
mod operator;
mod output;
mod pages;
mod read;
mod returns;
mod run;
mod sandbox;
mod test_alert;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::ConfigError;
use crate::secret::Environment;

pub use calendar::CalendarArgs;
pub use check_config::CheckConfigArgs;
pub use debits::DebitsArgs;
pub use demo::DemoArgs;
pub use init::InitArgs;
pub use migrate::MigrateArgs;
pub use operator::{AlertsArgs, AlertsCommand, SilenceAddArgs, SilenceCommand, StatusArgs};
pub use read::{BackupArgs, ExportCsvArgs, HistoryArgs, RunsArgs, RunsCommand};
pub use returns::ReturnsCommand;
pub use run::RunNowArgs;
pub use sandbox::SandboxArgs;
pub use test_alert::TestAlertArgs;

pub const DEFAULT_CONFIG: &str = "/etc/balance-monitor/config.yaml";

/// `--version`: the crate version and the git revision `build.rs` found, such as
/// `0.1.0 (git 0123456789ab)`, `0.1.0 (git 0123456789ab-dirty)` or `0.1.0 (git unknown)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("BALANCE_MONITOR_GIT_REVISION"),
    ")"
);

/// The heading of the options every subcommand takes.
const GLOBAL: &str = "Global options";

const EXAMPLES: &str = "\
Examples:
  balance-monitor demo                           # a guided demo, no setup
  balance-monitor --config config.yaml check-config
  balance-monitor --config config.yaml run-now morning-ach

Each subcommand has its own --help with examples. The manual: man balance-monitor
(installed by the package), or balance-monitor manpage | man -l -";

/// Checks borrowers' bank balances through Rightfoot on cron schedules, keeps every
/// run in SQLite, and alerts before the ACH cut-off.
#[derive(Debug, Parser)]
#[command(
    name = "balance-monitor",
    version = VERSION,
    about,
    long_about = None,
    after_help = EXAMPLES
)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        env = "BALANCE_MONITOR_CONFIG",
        default_value = DEFAULT_CONFIG,
        help_heading = GLOBAL
    )]
    pub config: PathBuf,

    /// How log lines are written to stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, help_heading = GLOBAL)]
    pub log_format: LogFormat,

    /// Log filter, such as `info`, `debug` or `balance_monitor=debug,warn`. Logs go to
    /// stderr; by default `run` and `sandbox` log at info, every other command at warn.
    #[arg(
        long,
        global = true,
        env = "BALANCE_MONITOR_LOG",
        value_name = "FILTER",
        help_heading = GLOBAL
    )]
    pub log_level: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The log filter: `--log-level` (or `BALANCE_MONITOR_LOG`) when given, otherwise
    /// `info` for the servers (the daemon and the sandbox, whose log is their account)
    /// and `warn` for the commands a person waits on, whose own output goes to stdout.
    pub fn log_filter(&self) -> &str {
        match (&self.log_level, &self.command) {
            (Some(filter), _) => filter,
            (None, Command::Run | Command::Sandbox(_)) => "info",
            (None, _) => "warn",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for journald or a log shipper.
    Json,
}

/// `--config` for the commands that read no configuration: accepted (it may come from
/// `BALANCE_MONITOR_CONFIG` or before the subcommand) but not shown in their help.
fn unused_config() -> clap::Arg {
    clap::Arg::new("config")
        .long("config")
        .hide(true)
        .value_parser(clap::value_parser!(PathBuf))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration and summarise it: authorizers, next fire times,
    /// rules and routes. Exits 0 when it is valid and 2 when it is not.
    #[command(after_help = check_config::EXAMPLES)]
    CheckConfig(CheckConfigArgs),
    /// Write a commented configuration for the built-in sandbox, an authorizer CSV
    /// template (0600) and a secrets folder (0700) into DIR, then print the next
    /// commands. Refuses (exit 1, nothing written) if any of the files exists.
    #[command(after_help = init::EXAMPLES, arg(unused_config()))]
    Init(InitArgs),
    /// Run the daemon: schedules, runs, the HTTP listener, until SIGTERM or SIGINT.
    /// SIGHUP reloads the configuration (a bad one is refused and the old one kept).
    #[command(after_help = run::RUN_EXAMPLES)]
    Run,
    /// Run one monitor now, in the foreground, and print a summary. Recorded like a
    /// scheduled run (trigger `manual`). Exits 0 when the run is complete, 1 otherwise.
    #[command(after_help = run::RUN_NOW_EXAMPLES)]
    RunNow(RunNowArgs),
    /// Run a local simulator of Rightfoot's balance-check API.
    #[command(long_about = crate::sandbox::ABOUT, after_help = sandbox::EXAMPLES, arg(unused_config()))]
    Sandbox(SandboxArgs),
    /// Show one authorizer's checks, newest first, under a sparkline of its balances.
    /// Exits 1 if the authorizer has never been part of a run.
    #[command(after_help = read::HISTORY_EXAMPLES)]
    History(HistoryArgs),
    /// List recent runs, newest first; `runs show RUN_ID` shows one in full.
    #[command(after_help = read::RUNS_EXAMPLES)]
    Runs(RunsArgs),
    /// Write stored results in Rightfoot's CSV export format, streamed. Institution,
    /// Phone, Zip and Creator are empty: the daemon does not know them.
    #[command(after_help = read::EXPORT_CSV_EXAMPLES)]
    ExportCsv(ExportCsvArgs),
    /// Copy the database to DEST while the daemon runs (SQLite's online backup). The
    /// copy is mode 0600 and checked with `PRAGMA integrity_check`.
    #[command(after_help = read::BACKUP_EXAMPLES)]
    Backup(BackupArgs),
    /// Copy an SQLite database into the PostgreSQL database `storage.postgres` names,
    /// then verify each table's row count and checksum on both sides. Refuses a
    /// database that already holds rows unless --force is given.
    #[command(after_help = migrate::EXAMPLES)]
    Migrate(MigrateArgs),
    /// Is the daemon up, and how each monitor stands: last run, next run, firing
    /// alerts, outbox, database size. Exits 0 when healthy, 1 when something needs
    /// attention (a failed last run, a failing route, the daemon down while its systemd
    /// unit is enabled), with the reason on one line.
    #[command(after_help = operator::STATUS_EXAMPLES)]
    Status(StatusArgs),
    /// List the firing alerts by monitor and severity; `alerts show ID` gives one
    /// alert's timeline.
    #[command(after_help = operator::ALERTS_EXAMPLES)]
    Alerts(AlertsArgs),
    /// Silence the notifications about an authorizer for a while: `silence add`,
    /// `silence list`, `silence expire ID`.
    #[command(subcommand, after_help = operator::SILENCE_EXAMPLES)]
    Silence(SilenceCommand),
    /// Send a test digest, marked [TEST], through one route now, and print the
    /// server's answer. Exits 0 when it was delivered, 1 when it was not.
    #[command(after_help = test_alert::EXAMPLES)]
    TestAlert(TestAlertArgs),
    /// A guided demo with no setup: the built-in sandbox and the real daemon on a
    /// time-lapse clock (a weekday every 12 s) with a scripted drop, overdraft, closed
    /// account, unsupported bank, payment at risk and recovery; alerts to .eml files
    /// and a webhook receiver. It writes its own configuration.
    #[command(after_help = demo::EXAMPLES, arg(unused_config()))]
    Demo(DemoArgs),
    /// Each debit's latest decision (send, hold or unknown, with its reason), as a
    /// table, CSV (`--decision send --format csv` is the send file) or JSON.
    #[command(after_help = debits::EXAMPLES)]
    Debits(DebitsArgs),
    /// The lender's ACH returns: `returns import FILE` stores a return file
    /// (`debit_id,return_code,return_date`); two returns in a row hold a borrower's
    /// next debit.
    #[command(subcommand, after_help = returns::EXAMPLES)]
    Returns(ReturnsCommand),
    /// Print the weekdays of a year on which FedACH does not settle (the Federal
    /// Reserve holidays, with a Sunday holiday observed on the Monday after), one per
    /// line as `YYYY-MM-DD name`.
    #[command(after_help = calendar::EXAMPLES, arg(unused_config()))]
    Calendar(CalendarArgs),
    /// Print a shell completion script, for example to
    /// /usr/share/bash-completion/completions/balance-monitor.
    #[command(after_help = pages::COMPLETIONS_EXAMPLES, arg(unused_config()))]
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the manual page in roff, or with DIR write it and one page per
    /// subcommand there (used to build packages).
    #[command(after_help = pages::MANPAGE_EXAMPLES, arg(unused_config()))]
    Manpage {
        /// Write balance-monitor.1 and balance-monitor-SUBCOMMAND.1 files here.
        dir: Option<PathBuf>,
    },
}

/// How a command failed, which decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// The configuration is invalid: exit 2, and systemd does not restart.
    Config(String),
    /// Anything else: exit 1.
    Runtime(anyhow::Error),
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Failure {
        Failure::Config(e.to_string())
    }
}

impl From<crate::daemon::DaemonError> for Failure {
    fn from(e: crate::daemon::DaemonError) -> Failure {
        match e {
            crate::daemon::DaemonError::Config(message) => Failure::Config(message),
            crate::daemon::DaemonError::Runtime(error) => Failure::Runtime(error),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Runtime(e)
    }
}

/// Runs a parsed command. `env` is the process environment, read once in `main`.
pub fn run(cli: Cli, env: Environment) -> Result<(), Failure> {
    let path = cli.config.as_path();
    let out = &mut output::Output::stdout();
    let done = match cli.command {
        Command::CheckConfig(args) => check_config::check_config(path, &env, args, out),
        Command::Init(args) => init::init(args, out),
        Command::Run => run::run(path, &env),
        Command::RunNow(args) => run::run_now(path, &env, args, out),
        Command::Sandbox(args) => sandbox::sandbox(args, &env),
        Command::History(args) => read::history(path, &env, args, out),
        Command::Runs(args) => read::runs(path, &env, args, out),
        Command::ExportCsv(args) => read::export_csv(path, &env, args),
        Command::Backup(args) => read::backup(path, &env, args),
        Command::Migrate(args) => migrate::migrate(path, &env, args, out),
        Command::Status(args) => operator::status(path, &env, args),
        Command::Alerts(args) => operator::alerts(path, &env, args),
        Command::Silence(command) => operator::silence(path, &env, command),
        Command::TestAlert(args) => test_alert::test_alert(path, &env, args, out),
        Command::Demo(args) => demo::demo(args, &env),
        Command::Calendar(args) => calendar::calendar(args, out),
        Command::Debits(args) => debits::debits(path, &env, args),
        Command::Returns(command) => returns::returns(path, &env, command, out),
        Command::Completions { shell } => pages::completions(shell, out),
        Command::Manpage { dir } => pages::manpage(dir.as_deref(), out),
    };
    out.quiet_if_closed(done)
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::Runtime(anyhow::Error::new(e).context("cannot start the async runtime"))
        })
}
