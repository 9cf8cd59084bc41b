//! The command line as a user meets it: `--version`, `--help` (global options under
//! their heading, examples, no option that does not apply), the `sandbox` subcommand as
//! a real process, structured logs, log levels (people's output on stdout, only
//! warnings on stderr by default, no Debug formatting), output into a closed pipe, and
//! exit codes.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use balance_monitor::sandbox::Scenario;

use crate::support::daemon::{API_KEY_ENV, ConfigSpec, MonitorSpec};
use crate::support::gate::{GatedSandbox, sandbox_config};
use crate::support::sandbox::{CsvRow, SANDBOX_KEY, authorizers_csv};
use crate::support::{binary, run_binary, write_file};

#[test]
fn version_and_help_exit_0() {
    let version = Command::new(binary()).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("balance-monitor "));
    let help = Command::new(binary())
        .args(["sandbox", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success());
    assert!(text.contains("What it cannot know"), "{text}");
}

#[test]
fn unknown_subcommand_is_a_usage_error_not_success() {
    let out = Command::new(binary()).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `balance-monitor sandbox` serves Rightfoot's API on the address it prints, writes
/// JSON log lines when asked, and exits 0 on SIGTERM.
#[test]
fn sandbox_subcommand_serves_logs_json_and_stops_on_sigterm() {
    let mut child = Command::new(binary())
        .args([
            "--log-format",
            "json",
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--processing-time",
            "0s",
        ])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut address = None;
    let mut json_log_seen = false;
    let mut line = String::new();
    // Read until both the address line and a JSON log line have appeared; EOF means
    // the process died, which fails the assertions below.
    while address.is_none() || !json_log_seen {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.split("http://").nth(1) {
            address = Some(rest.split_whitespace().next().unwrap().to_string());
        }
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(line.trim()) {
            json_log_seen |= value["message"] == "sandbox listening";
        }
    }
    let address = address.expect("the sandbox printed its address");
    assert!(json_log_seen, "a JSON log line was written");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("http://{address}/v1/balances?batchId=none"))
            .bearer_auth(balance_monitor::sandbox::SANDBOX_DEFAULT_KEY)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(
        status.as_u16(),
        404,
        "an unknown batch is a 404 in the envelope"
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let exit = child.wait().unwrap();
    assert_eq!(exit.code(), Some(0), "SIGTERM is a clean stop");
}

#[test]
fn sandbox_with_a_bad_scenario_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.yaml");
    std::fs::write(&scenario, "authorizers:\n  A-1: [12.345]\n").unwrap();
    let out = Command::new(binary())
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--scenario",
            scenario.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("s.yaml:2:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every subcommand, as `--help` takes it.
const SUBCOMMANDS: [&str; 13] = [
    "check-config",
    "run",
    "run-now",
    "sandbox",
    "history",
    "runs",
    "runs show",
    "export-csv",
    "backup",
    "test-alert",
    "demo",
    "completions",
    "manpage",
];

fn help_of(command: &str) -> String {
    let mut args: Vec<&str> = command.split_whitespace().collect();
    args.push("--help");
    let out = Command::new(binary())
        .args(&args)
        .env_clear()
        .output()
        .unwrap();
    assert!(out.status.success(), "{command} --help: {:?}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

/// The `Global options` section of a help text: its indented lines, up to the next
/// heading.
fn global_section(help: &str) -> String {
    let (_, rest) = help
        .split_once("Global options:\n")
        .unwrap_or_else(|| panic!("no global heading in\n{help}"));
    rest.lines()
        .take_while(|line| line.is_empty() || line.starts_with(' '))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn help_puts_global_options_under_their_heading_with_examples() {
    let top = help_of("");
    let global = global_section(&top);
    for option in ["--config", "--log-format", "--log-level"] {
        assert!(global.contains(option), "{option} is global:\n{top}");
    }
    assert!(top.contains("Examples:"), "{top}");
    assert!(top.contains("man balance-monitor"), "{top}");
    assert!(top.contains("manpage"), "the manual page is listed:\n{top}");
    for command in SUBCOMMANDS {
        let help = help_of(command);
        let examples = help
            .split("Examples:")
            .nth(1)
            .unwrap_or_else(|| panic!("{command} --help has no examples:\n{help}"));
        let name = command.split_whitespace().next().unwrap();
        assert!(
            examples.contains(&format!("balance-monitor {name}")),
            "{command}'s examples use the command:\n{help}"
        );
        assert!(
            global_section(&help).contains("--log-level"),
            "{command}:\n{help}"
        );
        // The options of the command itself are listed before the global ones.
        let (own, _) = help.split_once("Global options:").unwrap();
        assert!(!own.contains("--log-level"), "{command}:\n{help}");
    }
}

/// Regression: `demo --help` listed `--config`, which the demo ignores.
#[test]
fn commands_that_read_no_configuration_do_not_show_config() {
    for command in ["demo", "sandbox", "completions", "manpage"] {
        let help = help_of(command);
        assert!(!help.contains("--config"), "{command} --help:\n{help}");
    }
    for command in ["check-config", "run-now", "history", "export-csv"] {
        assert!(help_of(command).contains("--config"), "{command}");
    }
}

/// A monitor of 400 authorizers against a fresh sandbox, checked once by `run-now`.
struct Checked {
    dir: tempfile::TempDir,
    _sandbox: GatedSandbox,
    run_now: std::process::Output,
}

impl Checked {
    async fn new(extra_args: &[&str]) -> Checked {
        let dir = tempfile::tempdir().unwrap();
        let sandbox =
            GatedSandbox::start(sandbox_config(Duration::ZERO, Scenario::default())).await;
        let rows: Vec<CsvRow> = (0..400)
            .map(|n| CsvRow::bank(format!("P-{n:04}")))
            .collect();
        write_file(
            dir.path(),
            "pipe.csv",
            authorizers_csv(&rows, &[]).as_bytes(),
            0o600,
        );
        ConfigSpec::new(&sandbox.url, &dir.path().join("balance-monitor.db"))
            .poll_interval("100ms")
            .monitor(MonitorSpec::new("pipe", "0 6 * * *", "pipe.csv"))
            .write(dir.path());
        let mut args = vec!["--config", "config.yaml", "run-now", "pipe"];
        args.extend_from_slice(extra_args);
        let path = dir.path().to_path_buf();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let run_now = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_binary(&path, &args, &[(API_KEY_ENV, SANDBOX_KEY)])
        })
        .await
        .unwrap();
        assert!(
            run_now.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&run_now.stdout),
            String::from_utf8_lossy(&run_now.stderr)
        );
        Checked {
            dir,
            _sandbox: sandbox,
            run_now,
        }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// Regression: tracing's INFO lines were mixed into `run-now`'s summary. By default an
/// interactive command writes its summary to stdout and only warnings to stderr.
#[tokio::test(flavor = "multi_thread")]
async fn run_now_prints_for_people_on_stdout_and_logs_only_warnings() {
    let checked = Checked::new(&[]).await;
    let stdout = String::from_utf8_lossy(&checked.run_now.stdout);
    let stderr = String::from_utf8_lossy(&checked.run_now.stderr);
    assert!(stdout.starts_with("run 1 of pipe: complete\n"), "{stdout}");
    for level in ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"] {
        assert!(!stdout.contains(level), "a log line on stdout:\n{stdout}");
    }
    for level in ["TRACE", "DEBUG", "INFO"] {
        assert!(
            !stderr.contains(&format!(" {level} ")),
            "{level} by default:\n{stderr}"
        );
    }
}

/// Regression: logs used Debug formatting (`trigger=Schedule { slot: … }`,
/// `added=["a"]`, `run=Some(3)`). At trace level, no log line shows a Debug shape.
#[tokio::test(flavor = "multi_thread")]
async fn logs_at_trace_level_use_no_debug_formatting() {
    let checked = Checked::new(&["--log-level", "balance_monitor=trace"]).await;
    let stderr = String::from_utf8_lossy(&checked.run_now.stderr);
    assert!(stderr.contains(" INFO "), "logs at trace level:\n{stderr}");
    assert!(stderr.contains("trigger=manual"), "{stderr}");
    for line in stderr.lines() {
        for shape in ["{ ", " }", "Some(", "None", "Schedule {", "[\"", "RunId("] {
            assert!(
                !line.contains(shape),
                "Debug formatting `{shape}` in: {line}"
            );
        }
    }
}

/// Spawns the binary with `args` in `dir`, reads `lines` lines of its stdout (none:
/// the reader is closed before it writes), closes the pipe and waits.
fn into_closed_pipe(dir: &Path, args: &[&str], lines: usize) -> (Option<i32>, String) {
    let mut child = Command::new(binary())
        .current_dir(dir)
        .args(args)
        .env_clear()
        .env(API_KEY_ENV, SANDBOX_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    for _ in 0..lines {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "{args:?} printed");
    }
    // Closed before waiting: an output larger than the pipe's buffer (the bash
    // completions) would otherwise block the child on a reader nobody reads.
    drop(reader);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap().code(), stderr)
}

/// Regression: `check-config | head -8` ended with exit 101, a panic on a closed
/// stdout. Closing the reader (before the first write, and after one line of an output
/// larger than the pipe's buffer) ends each command quietly with exit 0.
#[tokio::test(flavor = "multi_thread")]
async fn output_into_a_closed_pipe_ends_quietly() {
    let checked = Checked::new(&[]).await;
    let config = ["--config", "config.yaml"];
    for command in [
        &["check-config"][..],
        &["history", "P-0001"],
        &["export-csv"],
        &["runs"],
        &["runs", "show", "1"],
        &["completions", "bash"],
    ] {
        let args: Vec<&str> = config.iter().chain(command).copied().collect();
        for lines in [0, 1] {
            let (code, stderr) = into_closed_pipe(checked.dir(), &args, lines);
            assert_eq!(code, Some(0), "{command:?} after {lines} lines: {stderr}");
            assert!(
                stderr.is_empty(),
                "{command:?} after {lines} lines: {stderr}"
            );
        }
    }
}

/// Regression: messages and log lines said "rightfoot". In every string literal of
/// `src/`, the company is "Rightfoot"; module paths (`rightfoot::`), configuration keys
/// (`rightfoot:`, `rightfoot.base_url`) and file names (`rightfoot-api-key`) stay.
#[test]
fn messages_spell_rightfoot_with_a_capital() {
    let mut found = Vec::new();
    let mut pending = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (number, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                // The odd parts of a line split at quotes are inside string literals.
                for literal in line.split('"').skip(1).step_by(2) {
                    if lowercase_name_in(literal) {
                        found.push(format!("{}:{}: {literal}", path.display(), number + 1));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "\"rightfoot\" in messages:\n{found:#?}");
}

/// Whether `literal` uses "rightfoot" as a word of prose (`by rightfoot`, `rightfoot's`),
/// not as a key, a path or a name.
fn lowercase_name_in(literal: &str) -> bool {
    literal.match_indices("rightfoot").any(|(at, word)| {
        let before = literal[..at].chars().next_back();
        let after = literal[at + word.len()..].chars().next();
        let starts_word = before.is_none_or(|c| c == ' ' || c == '(');
        let ends_word = match after {
            None => before.is_some(),
            Some(c) => c == ' ' || c == '\'' || c == ',' || c == ')' || c == ';',
        };
        starts_word && ends_word
    })
}

#[test]
fn the_spelling_check_tells_prose_from_keys() {
    for prose in [
        "rejected by rightfoot",
        "rightfoot's cache",
        "rightfoot answered",
    ] {
        assert!(lowercase_name_in(prose), "{prose}");
    }
    for key in [
        "rightfoot",
        "rightfoot:\n",
        "rightfoot.base_url",
        "rightfoot::client",
    ] {
        assert!(!lowercase_name_in(key), "{key}");
    }
    assert!(!lowercase_name_in("rightfoot-api-key"));
}

/// `balance-monitor calendar --year 2027`: the weekdays FedACH does not settle, with
/// Independence Day observed on Monday 5 July and no closure for the Saturday
/// Christmas; a year out of range is a usage error.
#[test]
fn calendar_prints_the_closed_weekdays_of_a_year() {
    let out = Command::new(binary())
        .args(["calendar", "--year", "2027"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "2027-01-01 New Year's Day",
            "2027-01-18 Birthday of Martin Luther King, Jr.",
            "2027-02-15 Washington's Birthday",
            "2027-05-31 Memorial Day",
            "2027-07-05 Independence Day (observed)",
            "2027-09-06 Labor Day",
            "2027-10-11 Columbus Day",
            "2027-11-11 Veterans Day",
            "2027-11-25 Thanksgiving Day",
        ]
    );
    let bad = Command::new(binary())
        .args(["calendar", "--year", "twenty"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
