//! `balance-monitor demo`: the guided demo, which needs no configuration.
//!
//! The demo itself is `crate::demo`; this file holds its options and hands them over.

use clap::Args;

use super::{Failure, runtime};
use crate::secret::Environment;

pub const EXAMPLES: &str = "\
Examples:
  balance-monitor demo
  balance-monitor demo --dir ./demo --runs 10
  balance-monitor demo --forever                 # until Ctrl-C
  balance-monitor demo --serve                   # then keep the dashboard up";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Write the demo's config, authorizers, database and alerts here (a new or empty
    /// folder); by default a new folder under the temporary directory.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Stop after this many runs.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub runs: u32,
    /// Go on until Ctrl-C.
    #[arg(long)]
    pub forever: bool,
    /// After the last run, keep the dashboard up (on the database the runs left) until
    /// Ctrl-C.
    #[arg(long)]
    pub serve: bool,
}

pub fn demo(args: DemoArgs, env: &Environment) -> Result<(), Failure> {
    let options = crate::demo::DemoOptions {
        dir: args.dir,
        runs: args.runs,
        forever: args.forever,
        serve: args.serve,
    };
    runtime()?
        .block_on(crate::demo::demo(options, env))
        .map_err(Failure::from)
}
