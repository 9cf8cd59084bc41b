//! `balance-monitor demo`, as a newcomer runs it: the real binary, no configuration, no
//! network beyond loopback. Two runs on its time-lapse clock (about 15 s of real time)
//! must print each run's account and the alerts it announced, deliver them to `.eml`
//! files and the in-process webhook receiver, leave a database the read-side commands
//! can open, and keep the made-up personal data out of everything it prints.

use std::os::unix::fs::PermissionsExt as _;

use crate::support::run_binary;

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
    let output = run_binary(
        scratch.path(),
        &["demo", "--dir", dir.to_str().unwrap(), "--runs", "2"],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    // Each run's account, with the alerts of the scenario's first two weekdays.
    assert!(stdout.contains("run 1 · Mon "), "{stdout}");
    assert!(stdout.contains("run 2 · Tue "), "{stdout}");
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
            "2 run(s); 4 of 4 notification(s) delivered: 2 .eml file(s), 2 webhook payload(s)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("History of B-1002"), "{stdout}");
    assert!(stdout.contains("runs show 2"), "{stdout}");

    // What it wrote: private personal data, alerts to open, a database to explore.
    let csv = std::fs::metadata(dir.join("authorizers.csv")).unwrap();
    assert_eq!(csv.permissions().mode() & 0o777, 0o600);
    let folder = std::fs::metadata(&dir).unwrap();
    assert_eq!(folder.permissions().mode() & 0o777, 0o700);
    let mails = files(&dir.join("mail"));
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails.iter().all(|name| name.ends_with(".eml")));
    let mut subjects: Vec<String> = mails
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join("mail").join(name)).unwrap();
            text.lines()
                .find_map(|line| line.strip_prefix("Subject: "))
                .unwrap()
                .to_string()
        })
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "[balance-monitor] morning-ach: 2 firing",
            "[balance-monitor] morning-ach: 3 firing"
        ]
    );
    assert_eq!(files(&dir.join("webhook")).len(), 2);

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
