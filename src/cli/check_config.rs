//! `balance-monitor check-config`: validate the configuration and print its summary.
//!
//! The validation and the summary's text belong to `config`; this file prints the
//! summary, then each monitor's debits as a run would read them (rows refused with
//! their place and column), and turns an invalid configuration, or a debits file that
//! cannot be read, into exit 2.

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
    let mut report = summary::check(&config, args.all);
    out.print(&report.text)?;
    let (debits_text, debits_ok) = debits_files(&config, args.all);
    out.print(&debits_text)?;
    report.ok &= debits_ok;
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

/// How many refused debit rows are listed per monitor unless `--all` is given.
const REFUSED_SHOWN: usize = 10;

/// For each monitor with `debits`: the debits as a run would read them now, with the
/// rows refused and where; `false` when a debits file cannot be read at all.
fn debits_files(config: &config::Config, all: bool) -> (String, bool) {
    use std::fmt::Write as _;
    let mut text = String::new();
    let mut ok = true;
    for monitor in &config.monitors {
        let Some(debits) = &monitor.debits else {
            continue;
        };
        let Ok(loaded) =
            crate::authorizers::source::load_source(&monitor.authorizers, &config.file)
        else {
            continue; // The summary has said why the list cannot be loaded.
        };
        match crate::debits::load(&debits.source, &loaded.valid) {
            Ok(read) => {
                let _ = writeln!(
                    text,
                    "\nmonitor {} debits: {} read, {} refused",
                    monitor.name,
                    read.debits.len(),
                    read.refused.len()
                );
                let shown = if all {
                    read.refused.len()
                } else {
                    REFUSED_SHOWN
                };
                for refused in read.refused.iter().take(shown) {
                    let _ = writeln!(text, "  refused: {refused}");
                }
                if read.refused.len() > shown {
                    let _ = writeln!(
                        text,
                        "  and {} more (--all lists every one)",
                        read.refused.len() - shown
                    );
                }
            }
            Err(error) => {
                ok = false;
                let _ = writeln!(text, "\nmonitor {} debits: error: {error}", monitor.name);
            }
        }
    }
    (text, ok)
}
