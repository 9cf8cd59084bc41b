//! `balance-monitor init [DIR]`: a configuration to start from, an authorizer CSV
//! template and a secrets folder, with the right modes; the files themselves are
//! `config::init`'s.

use std::path::PathBuf;

use clap::Args;

use super::Failure;
use super::output::Output;

pub const EXAMPLES: &str = "\
Examples:
  balance-monitor init ./bm            # then: cd ./bm and follow the three commands it prints
  balance-monitor init                 # into the current folder
  balance-monitor init /etc/balance-monitor";

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to write into (created if missing; refused if it already holds any
    /// of the files).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

pub fn init(args: InitArgs, out: &mut Output) -> Result<(), Failure> {
    let written = crate::config::init::init(&args.dir).map_err(anyhow::Error::new)?;
    out.print(&written.to_string())?;
    Ok(())
}
