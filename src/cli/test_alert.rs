//! `balance-monitor test-alert ROUTE`: send a test digest through one route now.
//!
//! The digest and its delivery belong to `alerting` and `notify`; this file finds the
//! route by name (with a suggestion for a typo) and prints the server's answer.

use std::path::Path;

use clap::Args;

use super::output::Output;
use super::{Failure, runtime};
use crate::config;
use crate::secret::Environment;

pub const EXAMPLES: &str = "\
Examples:
  balance-monitor test-alert ops-email
  balance-monitor --config /etc/balance-monitor/config.yaml test-alert los-webhook";

#[derive(Debug, Args)]
pub struct TestAlertArgs {
    /// The route's name under `routes:`.
    pub route: String,
}

pub fn test_alert(
    path: &Path,
    env: &Environment,
    args: TestAlertArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let config = config::load(path, env)?;
    let Some(route) = config.routes.get(&args.route) else {
        let names: Vec<&str> = config.routes.keys().map(String::as_str).collect();
        let hint = match crate::yaml::did_you_mean(&args.route, &names) {
            Some(best) => format!(", did you mean `{best}`?"),
            None if names.is_empty() => " (no routes are configured)".to_string(),
            None => format!(" (configured: {})", names.join(", ")),
        };
        return Err(Failure::Config(format!(
            "{}: no route named `{}`{hint}",
            path.display(),
            args.route
        )));
    };
    match runtime()?.block_on(crate::alerting::send_test(
        route,
        config.http.public_url.as_ref(),
    )) {
        Ok(delivered) => out.print(&format!(
            "test notification sent through {}: {delivered}\n",
            route.name
        )),
        Err(error) => Err(Failure::Runtime(
            anyhow::Error::new(error).context("the test notification was not delivered"),
        )),
    }
}
