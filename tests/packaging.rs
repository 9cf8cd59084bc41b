//! What the package ships beside the daemon: `--version` with the git revision, the
//! shell completions and man pages the binary generates, and the systemd unit, read as
//! systemd reads it and held to the configuration it runs (`config.example.yaml`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::support::run_binary;

const SUBCOMMANDS: &[&str] = &[
    "check-config",
    "run-now",
    "sandbox",
    "history",
    "runs",
    "export-csv",
    "backup",
    "completions",
];

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn stdout_of(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = run_binary(dir.path(), args, &[]);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn version_names_the_package_version_and_the_git_revision() {
    let line = stdout_of(&["--version"]);
    let prefix = format!("balance-monitor {} (git ", env!("CARGO_PKG_VERSION"));
    let revision = line
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(")\n"))
        .unwrap_or_else(|| panic!("{line:?} is not `{prefix}REVISION)`"));
    // A checkout shows its commit (dirty or not); sources without git show `unknown`.
    let head = Command::new("git")
        .current_dir(repository())
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8(out.stdout).unwrap().trim().to_string());
    match head {
        Some(hash) => assert!(
            revision == hash || revision == format!("{hash}-dirty"),
            "{revision:?} is not HEAD ({hash})"
        ),
        None => assert_eq!(revision, "unknown"),
    }
}

#[test]
fn completions_cover_every_subcommand_in_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout_of(&["completions", shell]);
        for subcommand in SUBCOMMANDS {
            assert!(
                script.contains(subcommand),
                "{shell} completions miss {subcommand}:\n{script}"
            );
        }
        assert!(script.contains("log-format"), "{shell}:\n{script}");
    }
    let dir = tempfile::tempdir().unwrap();
    let bash = dir.path().join("balance-monitor.bash");
    std::fs::write(&bash, stdout_of(&["completions", "bash"])).unwrap();
    let syntax = Command::new("bash").arg("-n").arg(&bash).output().unwrap();
    assert!(
        syntax.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_binary(dir.path(), &["completions", "tcsh"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn manpage_is_roff_naming_the_subcommands_exit_codes_and_files() {
    let page = stdout_of(&["manpage"]);
    assert!(page.contains(".TH balance-monitor 1"), "{page}");
    for subcommand in SUBCOMMANDS {
        // roff escapes every `-`.
        let reference = format!("balance-monitor-{subcommand}(1)").replace('-', "\\-");
        assert!(page.contains(&reference), "{reference} missing:\n{page}");
    }
    for text in [
        ".SH \"EXIT STATUS\"",
        "RestartPreventExitStatus=2",
        "/etc/balance\\-monitor/config.yaml",
    ] {
        assert!(page.contains(text), "{text} missing:\n{page}");
    }
}

#[test]
fn manpage_into_a_directory_writes_a_page_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_binary(dir.path(), &["manpage", dir.path().to_str().unwrap()], &[]);
    assert!(out.status.success(), "{out:?}");
    let pages: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(pages.contains("balance-monitor.1"), "{pages:?}");
    for subcommand in SUBCOMMANDS {
        let name = format!("balance-monitor-{subcommand}.1");
        assert!(pages.contains(&name), "{name} not in {pages:?}");
    }
    assert!(pages.contains("balance-monitor-runs-show.1"), "{pages:?}");
    let run = std::fs::read_to_string(dir.path().join("balance-monitor-run-now.1")).unwrap();
    assert!(run.starts_with(".ie") || run.starts_with(".TH"), "{run}");
    assert!(run.contains("MONITOR"), "{run}");
}

/// The `[Service]` lines of the unit as (key, value), continuation lines joined and
/// comments dropped, in order (a key may repeat).
fn service_section(unit: &str) -> Vec<(String, String)> {
    let mut section = String::new();
    let mut lines = Vec::new();
    let mut pending = String::new();
    for raw in unit.lines() {
        let line = raw.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        let line = std::mem::take(&mut pending) + line;
        if line.starts_with('[') {
            section = line;
            continue;
        }
        if section == "[Service]" {
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("not key=value: {line}"));
            lines.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    lines
}

/// The secret files `config.example.yaml` names as systemd credentials: the values of
/// uncommented `<name>_file:` keys that are bare names, not paths.
fn example_credentials() -> BTreeSet<String> {
    let example = std::fs::read_to_string(repository().join("config.example.yaml")).unwrap();
    example
        .lines()
        .map(|line| line.split('#').next().unwrap().trim())
        .filter_map(|line| line.split_once(':'))
        .filter(|(key, _)| key.ends_with("_file"))
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| !value.is_empty() && !value.contains('/'))
        .collect()
}

#[test]
fn unit_runs_the_daemon_as_a_hardened_notify_service() {
    let unit =
        std::fs::read_to_string(repository().join("systemd/balance-monitor.service")).unwrap();
    let service = service_section(&unit);
    let one = |key: &str| -> &str {
        let values: Vec<&str> = service
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(values.len(), 1, "{key}= should appear once: {values:?}");
        values[0]
    };
    assert_eq!(one("Type"), "notify");
    assert_eq!(
        one("ExecStart"),
        "/usr/bin/balance-monitor run --config /etc/balance-monitor/config.yaml"
    );
    assert_eq!(one("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(one("Restart"), "on-failure");
    // Exit status 2 is a configuration error (main.rs): no restart loop.
    assert_eq!(one("RestartPreventExitStatus"), "2");
    assert!(one("WatchdogSec").ends_with('s'), "{}", one("WatchdogSec"));
    assert_eq!(one("User"), "balance-monitor");
    assert_eq!(one("StateDirectory"), "balance-monitor");
    assert_eq!(one("ConfigurationDirectory"), "balance-monitor");
    // The default database lives in the state directory.
    assert!(
        Path::new(balance_monitor::config::validate::DEFAULT_STORAGE_PATH)
            .starts_with("/var/lib/balance-monitor"),
    );
    for (key, value) in [
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("SystemCallArchitectures", "native"),
        ("UMask", "0077"),
    ] {
        assert_eq!(one(key), value, "{key}");
    }

    let credentials: BTreeSet<String> = service
        .iter()
        .filter(|(k, _)| k == "LoadCredential")
        .map(|(_, v)| v.split(':').next().unwrap().to_string())
        .collect();
    let expected = example_credentials();
    assert_eq!(
        expected,
        BTreeSet::from(["rightfoot-api-key".to_string(), "smtp-password".to_string()])
    );
    assert_eq!(credentials, expected, "LoadCredential= names");
}
