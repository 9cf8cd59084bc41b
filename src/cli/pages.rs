//! `balance-monitor completions SHELL` and `balance-monitor manpage [DIR]`: the shell
//! completions and the manual, rendered by `crate::manual` from the command line's
//! own definition.

use std::path::Path;

use clap::CommandFactory;

use super::output::Output;
use super::{Cli, Failure};

pub const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  balance-monitor completions bash > /usr/share/bash-completion/completions/balance-monitor
  balance-monitor completions zsh > ~/.zfunc/_balance-monitor
  balance-monitor completions fish > ~/.config/fish/completions/balance-monitor.fish";

pub const MANPAGE_EXAMPLES: &str = "\
Examples:
  balance-monitor manpage | man -l -
  balance-monitor manpage target/man             # one page per subcommand, for packages";

/// `completions`: the script to standard output.
pub fn completions(shell: clap_complete::Shell, out: &mut Output) -> Result<(), Failure> {
    // clap_complete panics on a write error; render first, then print.
    let mut script = Vec::new();
    crate::manual::write_completions(shell, Cli::command(), &mut script);
    out.print(&String::from_utf8_lossy(&script))
}

/// `manpage`: the main page to standard output, or every page into `dir`.
pub fn manpage(dir: Option<&Path>, out: &mut Output) -> Result<(), Failure> {
    let cannot = |e| anyhow::Error::new(e).context("cannot write the manual pages");
    match dir {
        None => {
            let mut page = Vec::new();
            crate::manual::write_main_page(Cli::command(), &mut page).map_err(cannot)?;
            out.print(&String::from_utf8_lossy(&page))
        }
        Some(dir) => {
            for path in crate::manual::write_pages(Cli::command(), dir).map_err(cannot)? {
                eprintln!("wrote {}", path.display());
            }
            Ok(())
        }
    }
}
