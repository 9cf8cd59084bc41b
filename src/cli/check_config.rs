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
  BALANCE_MONITOR_CONFIG=config.yaml balance-monitor check-config
  balance-monitor check-config --online         # also reach Rightfoot, the routes, the database";

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// Also list every invalid authorizer, not only the first ten per monitor.
    #[arg(long)]
    pub all: bool,
    /// Also try each outside dependency (Rightfoot with the key, each route's server,
    /// the database), without checking anyone or sending any alert. Exits 1 when one
    /// cannot be reached.
    #[arg(long)]
    pub online: bool,
}

pub fn check_config(
    path: &Path,
    env: &Environment,
    args: CheckConfigArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    use crate::config::summary;
    let config = config::load(path, env)
        .map_err(|e| Failure::Config(summary::explain_unreadable(e, super::DEFAULT_CONFIG)))?;
    let report = summary::check(&config, args.all);
    out.print(&report.text)?;
    if let Some(message) = summary::failure(&report, &config) {
        out.print(&report.verdict(&config, None))?;
        return Err(Failure::Config(message));
    }
    if args.online {
        let online = super::runtime()?.block_on(crate::daemon::check_online(&config));
        out.print(&format!("\n{}", online.text))?;
        if !online.ok {
            out.print(&report.verdict(&config, Some("cannot reach what is marked ✗")))?;
            return Err(Failure::Runtime(anyhow::anyhow!(
                "the dependencies marked ✗ above cannot be reached or refused access"
            )));
        }
    }
    out.print(&report.verdict(&config, None))?;
    Ok(())
}
