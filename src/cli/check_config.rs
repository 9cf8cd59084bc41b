//! `balance-monitor check-config`: validate the configuration and print its summary.
//!
//! The validation and the summary's text belong to `config`; this file prints the
//! summary and turns an invalid configuration into exit 2.

use std::path::Path;

use clap::Args;

use super::Failure;
use super::output::Output;
use crate::config;
use crate::secret::Environment;

pub const EXAMPLES: &str = "\
Examples:
  balance-monitor check-config --config /etc/balance-monitor/config.yaml
  balance-monitor check-config --all            # every invalid authorizer, not the first ten
  BALANCE_MONITOR_CONFIG=config.yaml balance-monitor check-config";

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// Also list every invalid authorizer, not only the first ten per monitor.
    #[arg(long)]
    pub all: bool,
}

pub fn check_config(
    path: &Path,
    env: &Environment,
    args: CheckConfigArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let config = config::load(path, env)?;
    let report = crate::config::summary::check(&config, args.all);
    out.print(&report.text)?;
    if report.ok {
        Ok(())
    } else {
        Err(Failure::Config(format!(
            "{}: the authorizer lists above could not be loaded",
            path.display()
        )))
    }
}
