//! The manual pages and shell completion scripts, generated from the clap definition of
//! the command line, so they never drift from `--help`.
//!
//! `balance-monitor manpage [DIR]` and `balance-monitor completions SHELL` call these;
//! `packaging/build-deb` runs them to put the pages and scripts in the Debian package.
//! This module only renders: it does not know which commands exist or what they do.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

/// The sections of `balance-monitor(1)` that clap cannot produce: what the exit codes,
/// files and environment variables are for.
const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Success."),
    (
        "1",
        "Runtime failure (for run-now: the run did not complete).",
    ),
    (
        "2",
        "Configuration error, or a usage error on the command line. systemd does not \
         restart the service after it (RestartPreventExitStatus=2).",
    ),
];

const FILES: &[(&str, &str)] = &[
    (
        "/etc/balance-monitor/config.yaml",
        "The configuration (the default of --config). Relative paths in it are taken \
         from its directory.",
    ),
    (
        "/var/lib/balance-monitor/balance-monitor.db",
        "The SQLite database (the default of storage.path).",
    ),
    (
        "/etc/credstore/",
        "Where the systemd unit's LoadCredential= lines find the secrets \
         (rightfoot-api-key, smtp-password).",
    ),
    (
        "/usr/share/doc/balance-monitor/config.example.yaml",
        "Every configuration key, with its default and what it does.",
    ),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "BALANCE_MONITOR_CONFIG",
        "The configuration file, as --config.",
    ),
    ("BALANCE_MONITOR_LOG", "The log filter, as --log-level."),
    (
        "CREDENTIALS_DIRECTORY",
        "Set by systemd's LoadCredential=: a relative secret file (api_key_file: NAME) is \
         looked up here first.",
    ),
    (
        "NOTIFY_SOCKET, WATCHDOG_USEC",
        "Set by systemd for a Type=notify unit: run reports readiness and status there, \
         and pings the watchdog every WATCHDOG_USEC/2.",
    ),
];

/// Writes the page of the whole command, `balance-monitor(1)`: clap's sections, then
/// exit status, files and environment.
pub fn write_main_page(command: clap::Command, out: &mut dyn Write) -> io::Result<()> {
    let man = Man::new(command.disable_help_subcommand(true));
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    let mut roff = Roff::default();
    for (heading, entries) in [
        ("EXIT STATUS", EXIT_STATUS),
        ("FILES", FILES),
        ("ENVIRONMENT", ENVIRONMENT),
    ] {
        roff.control("SH", [heading]);
        for (term, text) in entries {
            roff.control("TP", []);
            roff.text([bold(*term)]);
            roff.text([roman(*text)]);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(
        "systemctl(1), journalctl(1), systemd.exec(5), and README.md and \
         config.example.yaml in /usr/share/doc/balance-monitor.",
    )]);
    roff.to_writer(out)?;
    man.render_version_section(out)
}

/// Writes `balance-monitor.1` and one page per visible subcommand
/// (`balance-monitor-run.1`, `balance-monitor-runs-show.1`, ...) into `dir`, and
/// returns their paths.
pub fn write_pages(command: clap::Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let main = dir.join(Man::new(command.clone()).get_filename());
    write_main_page(command.clone(), &mut io::BufWriter::new(create(&main)?))?;
    let mut written = vec![main];
    let mut pending: Vec<clap::Command> = visible_subcommands(&command);
    while let Some(sub) = pending.pop() {
        pending.extend(visible_subcommands(&sub));
        let man = Man::new(sub);
        let path = dir.join(man.get_filename());
        let mut file = io::BufWriter::new(create(&path)?);
        man.render(&mut file)?;
        file.flush()?;
        written.push(path);
    }
    Ok(written)
}

fn visible_subcommands(command: &clap::Command) -> Vec<clap::Command> {
    command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .cloned()
        .collect()
}

fn create(path: &Path) -> io::Result<std::fs::File> {
    std::fs::File::create(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display())))
}

/// Writes the completion script for `shell` (bash, zsh, fish, elvish or PowerShell).
pub fn write_completions(
    shell: clap_complete::Shell,
    mut command: clap::Command,
    out: &mut dyn Write,
) {
    let name = command.get_name().to_string();
    clap_complete::generate(shell, &mut command, name, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn main_page_has_the_extra_sections_and_every_visible_subcommand() {
        let mut out = Vec::new();
        write_main_page(crate::cli::Cli::command(), &mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(page.contains("\n.TH balance-monitor 1 "), "{page}");
        for heading in [
            ".SH SUBCOMMANDS",
            ".SH \"EXIT STATUS\"",
            ".SH FILES",
            ".SH ENVIRONMENT",
            ".SH \"SEE ALSO\"",
            ".SH VERSION",
        ] {
            assert!(page.contains(heading), "{heading} missing:\n{page}");
        }
        assert!(
            page.contains("balance\\-monitor\\-check\\-config(1)"),
            "{page}"
        );
        assert!(
            page.contains("balance\\-monitor\\-manpage(1)"),
            "the manual names the command that prints it:\n{page}"
        );
    }

    #[test]
    fn pages_are_written_for_nested_subcommands_and_not_for_help() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_pages(crate::cli::Cli::command(), dir.path()).unwrap();
        let names: Vec<_> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        for expected in [
            "balance-monitor.1",
            "balance-monitor-run.1",
            "balance-monitor-runs-show.1",
            "balance-monitor-completions.1",
            "balance-monitor-manpage.1",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} not in {names:?}"
            );
        }
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
    }
}
