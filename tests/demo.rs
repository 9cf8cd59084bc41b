//! `balance-monitor demo`, as a newcomer runs it: the real binary, no configuration, no
//! network beyond loopback, its default five runs on the time-lapse clock. It must
//! finish in under 60 s without ever leaving the terminal silent for more than 3 s,
//! print each run's account and the alerts it announced, deliver them as 8bit `.eml`
//! files and pretty-printed webhook payloads named `<run-id>-<route>`, leave a database
//! the read-side commands can open, and keep the made-up personal data out of
//! everything it prints.

use std::io::{BufRead as _, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use crate::support::run_binary;

/// The demo's stdout lines, its stderr and its status.
struct Output {
    lines: Vec<String>,
    stderr: String,
    status: std::process::ExitStatus,
}

fn run_demo(scratch: &std::path::Path, args: &[&str]) -> Output {
    use std::process::Stdio;
    let started = Instant::now();
    let mut child = std::process::Command::new(crate::support::binary())
        .args(args)
        .current_dir(scratch)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the balance-monitor binary runs");
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let stdout = child.stdout.take().unwrap();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = send.send(line.unwrap());
        }
    });
    // A demo that hangs fails the test after two minutes instead of holding it.
    let limit = started + Duration::from_secs(120);
    let mut lines = Vec::new();
    loop {
        match receive.recv_timeout(limit.saturating_duration_since(Instant::now())) {
            Ok(line) => lines.push(line),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("the demo did not finish within 2 minutes: {lines:?}");
            }
        }
    }
    Output {
        lines,
        status: child.wait().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_demo_runs_the_daemon_and_shows_what_happened() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("demo");
    let output = run_demo(scratch.path(), &["demo", "--dir", dir.to_str().unwrap()]);
    let mut stdout = String::new();
    for line in &output.lines {
        stdout.push_str(line);
        stdout.push('\n');
    }
    let stderr = &output.stderr;
    assert!(output.status.success(), "{stdout}\n{stderr}");

    // Each run's account, with the alerts of the scenario's weekdays.
    for day in ["run 1 · Mon ", "run 2 · Tue ", "run 5 · Fri "] {
        assert!(stdout.contains(day), "missing {day:?} in\n{stdout}");
    }
    for line in [
        "fired    critical B-1004  check_failed",
        "fired    critical B-1005  below_payment",
        "fired    warning  B-1005  balance_below",
        "fired    critical B-1002  below_payment",
        "fired    warning  B-1002  drop_percent",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
    assert!(
        stdout.contains(
            "5 run(s); 10 of 10 notification(s) delivered: 5 .eml file(s), 5 webhook payload(s)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("History of B-1002"), "{stdout}");
    assert!(stdout.contains("runs show 5"), "{stdout}");

    // What it wrote: private personal data, alerts to open, a database to explore.
    let csv = std::fs::metadata(dir.join("authorizers.csv")).unwrap();
    assert_eq!(csv.permissions().mode() & 0o777, 0o600);
    let folder = std::fs::metadata(&dir).unwrap();
    assert_eq!(folder.permissions().mode() & 0o777, 0o700);
    // One email and one webhook payload a run, named after the run and the route.
    let mails = files(&dir.join("mail"));
    let named = |route: &str, extension: &str| -> Vec<String> {
        (1..=5)
            .map(|run| format!("{run}-{route}.{extension}"))
            .collect()
    };
    assert_eq!(mails, named("collections-email", "eml"));
    let subjects: Vec<String> = mails
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join("mail").join(name)).unwrap();
            // 8bit UTF-8, readable as it is.
            assert!(text.contains("Content-Transfer-Encoding: 8bit"), "{text}");
            assert!(!text.contains("quoted-printable"), "{text}");
            text.lines()
                .find_map(|line| line.strip_prefix("Subject: "))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        subjects,
        [
            "2 critical, 1 warning: morning-ach [balance-monitor]",
            "3 critical, 2 warning: morning-ach [balance-monitor]",
            "5 critical, 3 warning, 2 resolved: morning-ach [balance-monitor]",
            "5 critical, 1 warning, 2 resolved: morning-ach [balance-monitor]",
            "2 critical, 4 resolved: morning-ach [balance-monitor]",
        ]
    );
    let first = std::fs::read_to_string(dir.join("mail").join(&mails[0])).unwrap();
    assert!(
        first.contains("balance $95.00 is below the payment of $120.00"),
        "{first}"
    );
    let payloads = files(&dir.join("webhook"));
    assert_eq!(payloads, named("los-webhook", "json"));
    for (run, name) in (1..).zip(&payloads) {
        let text = std::fs::read_to_string(dir.join("webhook").join(name)).unwrap();
        assert!(text.starts_with("{\n  \"version\": \"1\",\n"), "{text}");
        assert!(text.lines().count() > 20, "{text}");
        let payload: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(payload["run"]["id"], run, "{name}");
    }

    let config = dir.join("config.yaml");
    let runs = run_binary(
        scratch.path(),
        &["--config", config.to_str().unwrap(), "runs"],
        &[],
    );
    let listed = String::from_utf8_lossy(&runs.stdout);
    assert!(runs.status.success(), "{listed}");
    assert!(listed.contains("morning-ach"), "{listed}");
    assert!(listed.contains("2 sent"), "{listed}");

    // The run's times come from one clock, the time-lapse one: made, started and
    // finished on the morning of its slot.
    let shown = run_binary(
        scratch.path(),
        &["--config", config.to_str().unwrap(), "runs", "show", "1"],
        &[],
    );
    let shown = String::from_utf8_lossy(&shown.stdout);
    let day = |label: &str| -> String {
        let line = shown
            .lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label} in\n{shown}"));
        line.split_whitespace().next().unwrap().to_string()
    };
    assert_eq!(day("created:"), day("started:"), "{shown}");
    assert_eq!(day("created:"), day("finished:"), "{shown}");

    // Between runs, the time-lapse clock is shown, never leaving the terminal silent.
    assert!(stdout.contains("on the time-lapse clock"), "{stdout}");
    // Every command printed at the end runs as pasted, with the binary by its real
    // path and nothing but PATH in the environment.
    let commands: Vec<&str> = stdout
        .split("Go on with the demo's database:\n")
        .nth(1)
        .expect("the closing commands")
        .lines()
        .take_while(|line| line.starts_with("  "))
        .map(str::trim)
        .collect();
    assert_eq!(commands.len(), 5, "{stdout}");
    for command in commands {
        assert!(
            command.starts_with(crate::support::binary().to_str().unwrap()),
            "{command}"
        );
        let pasted = std::process::Command::new("sh")
            .args(["-c", command])
            .current_dir(scratch.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .unwrap();
        assert!(
            pasted.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&pasted.stderr)
        );
    }

    // The made-up people's personal data went to the sandbox only.
    let csv_text = std::fs::read_to_string(dir.join("authorizers.csv")).unwrap();
    let mut written = String::new();
    for name in mails {
        written.push_str(&std::fs::read_to_string(dir.join("mail").join(name)).unwrap());
    }
    for name in files(&dir.join("webhook")) {
        written.push_str(&std::fs::read_to_string(dir.join("webhook").join(name)).unwrap());
    }
    let database = std::fs::read(dir.join("demo.db")).unwrap();
    for row in csv_text.lines().skip(1) {
        let fields: Vec<&str> = row.split(',').collect();
        // last name, street, phone, date of birth, SSN, account number
        for value in [
            fields[2], fields[3], fields[8], fields[9], fields[10], fields[11],
        ] {
            assert!(!stdout.contains(value), "{value} printed");
            assert!(!stderr.contains(value), "{value} logged");
            assert!(!written.contains(value), "{value} in an alert");
            assert!(
                !database.windows(value.len()).any(|w| w == value.as_bytes()),
                "{value} in the database"
            );
        }
    }
}

#[test]
fn the_demo_refuses_a_folder_that_is_not_empty() {
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("keep.txt"), "mine").unwrap();
    let output = run_binary(
        scratch.path(),
        &["demo", "--dir", scratch.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the folder is not empty"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(scratch.path().join("keep.txt")).unwrap(),
        "mine"
    );
}
