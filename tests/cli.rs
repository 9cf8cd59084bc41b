//! The command line as a user meets it: `--version`, `--help`, the `sandbox`
//! subcommand as a real process, structured logs, and exit codes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::binary;

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
