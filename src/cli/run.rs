//! `balance-monitor run` (the daemon) and `run-now MONITOR` (one run in the
//! foreground).
//!
//! Both are `daemon`'s: this file chooses run-now's progress display, prints its
//! summary and its alerts, and turns a run that did not complete into exit 1.

use std::path::Path;

use clap::Args;

use super::output::Output;
use super::{Failure, runtime};
use crate::secret::Environment;

pub const RUN_EXAMPLES: &str = "\
Examples:
  balance-monitor --config /etc/balance-monitor/config.yaml run
  balance-monitor run --log-format json          # one JSON object per log line, for journald
  systemctl reload balance-monitor               # SIGHUP: reload the configuration";

pub const RUN_NOW_EXAMPLES: &str = "\
Examples:
  balance-monitor run-now morning-ach
  balance-monitor --config /etc/balance-monitor/config.yaml run-now morning-ach
  balance-monitor run-now morning-ach --log-level info   # with the daemon's log lines";

#[derive(Debug, Args)]
pub struct RunNowArgs {
    /// The monitor to run, by name.
    pub monitor: String,
}

/// `run`: the daemon, until SIGTERM or SIGINT.
pub fn run(path: &Path, env: &Environment) -> Result<(), Failure> {
    runtime()?
        .block_on(crate::daemon::run(path, env))
        .map_err(Failure::from)
}

/// `run-now MONITOR`. A closed stdout does not change the exit code: it is the run's.
pub fn run_now(
    path: &Path,
    env: &Environment,
    args: RunNowArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let progress = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        crate::daemon::Progress::Bar
    } else {
        crate::daemon::Progress::Lines
    };
    let runtime = runtime()?;
    let report = runtime.block_on(crate::daemon::run_now(path, env, &args.monitor, progress));
    // The run has stopped at a durable step and the store is closed: an idle worker
    // thread must not hold up the exit after Ctrl-C.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    let report = report.map_err(Failure::from)?;
    out.print(&crate::daemon::render_summary(&report.summary))?;
    out.print(&crate::daemon::render_alerts(&report))?;
    let summary = report.summary;
    if crate::daemon::is_complete(&summary) {
        Ok(())
    } else {
        Err(Failure::Runtime(anyhow::anyhow!(
            "run {} of {} ended {}",
            summary.run.0,
            summary.monitor,
            summary.state.as_str()
        )))
    }
}
