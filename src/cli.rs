//! The command line: global options and subcommands, parsed by clap, and the dispatch
//! from a parsed command to the library.
//!
//! `main.rs` owns the process: it parses, sets up logging, calls [`run`] and maps a
//! [`Failure`] to an exit code. Nothing here calls `process::exit`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, ConfigError};
use crate::secret::Environment;

pub const DEFAULT_CONFIG: &str = "/etc/balance-monitor/config.yaml";

/// Checks borrowers' bank balances through Rightfoot on cron schedules, keeps every
/// run in SQLite, and alerts before the ACH cut-off.
#[derive(Debug, Parser)]
#[command(name = "balance-monitor", version, about, long_about = None)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "BALANCE_MONITOR_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,

    /// How log lines are written to stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter, such as `info`, `debug` or `balance_monitor=debug,warn`.
    #[arg(
        long,
        global = true,
        env = "BALANCE_MONITOR_LOG",
        default_value = "info"
    )]
    pub log_level: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for journald or a log shipper.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration and summarise it: authorizers, next fire times,
    /// rules and routes. Exits 0 when it is valid and 2 when it is not.
    CheckConfig(CheckConfigArgs),
}

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// Also list every invalid authorizer, not only the first ten per monitor.
    #[arg(long)]
    pub all: bool,
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

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Runtime(e)
    }
}

/// Runs a parsed command. `env` is the process environment, read once in `main`.
pub fn run(cli: Cli, env: Environment) -> Result<(), Failure> {
    match cli.command {
        Command::CheckConfig(args) => {
            let config = config::load(&cli.config, &env)?;
            let report = crate::config::summary::check(&config, args.all);
            print!("{}", report.text);
            if report.ok {
                Ok(())
            } else {
                Err(Failure::Config(format!(
                    "{}: the authorizer lists above could not be loaded",
                    cli.config.display()
                )))
            }
        }
    }
}
