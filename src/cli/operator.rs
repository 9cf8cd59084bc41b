//! The operator's commands: `status`, `alerts` (and `alerts show ID`) and `silence add`,
//! `list` and `expire`: their arguments, and the dispatch into `report` (which does the
//! work and renders it) and `alerting::silences` (what a silence is).

use std::path::Path;

use chrono::Utc;
use clap::{Args, Subcommand};

use super::sandbox::parse_duration_arg;
use super::{Failure, runtime};
use crate::config;
use crate::secret::Environment;

pub const STATUS_EXAMPLES: &str = "\
Examples:
  balance-monitor status
  balance-monitor status --json
  balance-monitor --config /etc/balance-monitor/config.yaml status || echo 'needs attention'";

pub const ALERTS_EXAMPLES: &str = "\
Examples:
  balance-monitor alerts
  balance-monitor alerts --all --monitor morning-ach --severity critical
  balance-monitor alerts show 17";

pub const SILENCE_EXAMPLES: &str = "\
Examples:
  balance-monitor silence add --authorizer A-1001 --rule below_payment --for 14d --comment 'payment plan'
  balance-monitor silence list
  balance-monitor silence expire 3";

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub show: Option<AlertsCommand>,
    /// Resolved alerts too.
    #[arg(long)]
    pub all: bool,
    /// Only this monitor's alerts.
    #[arg(long)]
    pub monitor: Option<String>,
    /// Only alerts of this severity.
    #[arg(long, value_parser = ["critical", "warning", "info"])]
    pub severity: Option<String>,
    /// Only this rule's alerts: a kind (`below_payment`) or one rule (`balance_below#2`).
    #[arg(long)]
    pub rule: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// One alert's timeline: fired, each notification and its delivery, resolved.
    Show {
        /// The alert's number, as `alerts` lists it.
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Silence an authorizer's alerts (of one monitor, of one rule) for a while, and
    /// print the silence's id. Its alerts still fire and resolve, marked silenced, but
    /// no route is notified until the silence ends.
    Add(SilenceAddArgs),
    /// The silences in force or still to come.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// End a silence now. Alerts it held that are still firing go out with the next
    /// run's digests.
    Expire {
        /// The silence's id, as `silence add` printed it.
        id: i64,
    },
}

#[derive(Debug, Args)]
pub struct SilenceAddArgs {
    /// The authorizer's `authorizer_unique_id`.
    #[arg(long)]
    pub authorizer: String,
    /// Only this monitor's alerts (every monitor's by default).
    #[arg(long)]
    pub monitor: Option<String>,
    /// Only this rule's alerts: a kind (`below_payment`) or one rule (`balance_below#2`).
    #[arg(long)]
    pub rule: Option<String>,
    /// How long, such as `14d`, `36h` (at most 366 days).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration_arg)]
    pub duration: std::time::Duration,
    /// Why, for whoever reads `silence list` (runs of four or more digits are removed).
    #[arg(long, default_value = "")]
    pub comment: String,
}

/// `balance-monitor status`: exit 1 with the reason when something needs attention.
pub(super) fn status(path: &Path, env: &Environment, args: StatusArgs) -> Result<(), Failure> {
    let config = config::load(path, env)?;
    let status = runtime()?.block_on(crate::report::status::status(
        &config,
        args.json,
        Utc::now(),
        &mut std::io::stdout(),
    ))?;
    match status.healthy() {
        true => Ok(()),
        false => Err(Failure::Runtime(anyhow::anyhow!(
            "needs attention: {}",
            status.reason()
        ))),
    }
}

/// `balance-monitor alerts` and `alerts show ID`.
pub(super) fn alerts(path: &Path, env: &Environment, args: AlertsArgs) -> Result<(), Failure> {
    let config = config::load(path, env)?;
    let out = &mut std::io::stdout();
    let now = Utc::now();
    match args.show {
        Some(AlertsCommand::Show { id }) => {
            runtime()?.block_on(crate::report::alerts::show(&config, id, now, out))?
        }
        None => {
            let options = crate::report::alerts::AlertsOptions {
                all: args.all,
                monitor: args.monitor,
                severity: args.severity,
                rule: args.rule,
                json: args.json,
            };
            runtime()?.block_on(crate::report::alerts::alerts(&config, &options, now, out))?
        }
    }
    Ok(())
}

/// `balance-monitor silence add|list|expire`.
pub(super) fn silence(
    path: &Path,
    env: &Environment,
    command: SilenceCommand,
) -> Result<(), Failure> {
    use crate::report::silences;
    let config = config::load(path, env)?;
    let now = Utc::now();
    match command {
        SilenceCommand::Add(args) => {
            let request = crate::alerting::silences::SilenceRequest {
                authorizer: args.authorizer,
                monitor: args.monitor,
                rule: args.rule,
                duration: chrono::Duration::from_std(args.duration)
                    .unwrap_or(chrono::Duration::MAX),
                comment: args.comment,
            };
            let by = crate::alerting::silences::operator(env);
            let added = runtime()?.block_on(silences::add(
                &config,
                request,
                by,
                now,
                &mut std::io::stdout(),
            ))?;
            eprintln!("{}", silences::describe(&added));
        }
        SilenceCommand::List { json } => {
            runtime()?.block_on(silences::list(&config, now, json, &mut std::io::stdout()))?
        }
        SilenceCommand::Expire { id } => {
            match runtime()?.block_on(silences::expire(&config, id, now))? {
                (_, true) => println!("silence {id} expired"),
                (_, false) => println!("silence {id} had already ended"),
            }
        }
    }
    Ok(())
}
