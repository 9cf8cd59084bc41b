//! Configuration: the bad-configuration table, secrets, and `check-config` on the
//! shipped example.
//!
//! Each bad configuration runs the real binary (`check-config`) and asserts exit code
//! 2 and a message that names the file, the line and column, and the key.

use std::path::Path;
use std::time::Duration;

use crate::support::{run_binary, run_binary_within, write_file};

/// A valid configuration the table cases are variations of. Line numbers matter.
const BASE: &str = r#"rightfoot:
  base_url: http://127.0.0.1:9
  api_key_env: RF_KEY
routes:
  ops:
    email: { transport: file, from: "bm <bm@example.com>", to: ["ops@example.com"], directory: mail }
monitors:
  - name: daily
    schedule: "0 6 * * *"
    timezone: America/New_York
    authorizers: { csv: a.csv }
    rules:
      - balance_below: { amount: 100.00 }
    routes: [ops]
"#;

const CSV: &str = "authorizer_unique_id,first_name,zip_code,phone_number,date_of_birth,ssn,account_number,routing_number\nA-1,Test,62701,5550100001,01/15/1980,900000001,000111222,011000015\n";

struct Case {
    name: &'static str,
    /// (line to replace, counted from 1, new text), applied to BASE; or a whole file.
    edit: Edit,
    /// What the message must start with after the file name: `:line:col: key`.
    at: &'static str,
    /// A fragment of the reason.
    reason: &'static str,
}

enum Edit {
    Line(usize, &'static str),
    Append(&'static str),
    Whole(&'static str),
}

fn apply(edit: &Edit) -> String {
    match edit {
        Edit::Whole(text) => text.to_string(),
        Edit::Append(extra) => format!("{BASE}{extra}"),
        Edit::Line(n, text) => BASE
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i + 1 == *n {
                    text.to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn cases() -> Vec<Case> {
    use Edit::*;
    vec![
        Case {
            name: "unknown top-level key",
            edit: Line(1, "rightfot:"),
            at: ":1:1: rightfot",
            reason: "did you mean `rightfoot`?",
        },
        Case {
            name: "unknown rightfoot key",
            edit: Line(2, "  pol_interval: 45s"),
            at: ":2:3: rightfoot.pol_interval",
            reason: "did you mean `poll_interval`?",
        },
        Case {
            name: "literal api key",
            edit: Line(3, "  api_key: rf_live_abc123"),
            at: ":3:12: rightfoot.api_key",
            reason: "use api_key_file",
        },
        Case {
            name: "missing api key env",
            edit: Line(3, "  api_key_env: NOT_SET_ANYWHERE"),
            at: ":3:16: rightfoot.api_key_env",
            reason: "environment variable NOT_SET_ANYWHERE is not set",
        },
        Case {
            name: "missing api key file",
            edit: Line(3, "  api_key_file: /nonexistent/key"),
            at: ":3:17: rightfoot.api_key_file",
            reason: "cannot read secret file /nonexistent/key",
        },
        // Issue 15: secret files are held to the authorizer files' rule, and a blank
        // secret (which would lock every client out) is refused.
        Case {
            name: "secret file readable by others",
            edit: Line(3, "  api_key_file: shared-key"),
            at: ":3:17: rightfoot.api_key_file",
            reason: "shared-key is readable by group or others (mode 0644); it holds a secret, run chmod 600",
        },
        Case {
            name: "whitespace-only secret file",
            edit: Line(3, "  api_key_file: blank-key"),
            at: ":3:17: rightfoot.api_key_file",
            reason: "secret file",
        },
        Case {
            name: "whitespace-only secret variable",
            edit: Line(3, "  api_key_env: BLANK"),
            at: ":3:16: rightfoot.api_key_env",
            reason: "environment variable BLANK is empty",
        },
        Case {
            name: "secret file that is a directory",
            edit: Line(3, "  api_key_file: key-directory"),
            at: ":3:17: rightfoot.api_key_file",
            reason: "key-directory is a directory, not a file",
        },
        Case {
            name: "monitor name over 64 characters",
            edit: Line(8, "  - name: NAME_OF_65_CHARACTERS"),
            at: ":8:11: monitors[0].name",
            reason: "at most 64",
        },
        Case {
            name: "route name over 64 characters",
            edit: Line(5, "  NAME_OF_65_CHARACTERS:"),
            at: ":6:5: routes.",
            reason: "at most 64",
        },
        Case {
            name: "plain http to a remote host",
            edit: Line(2, "  base_url: http://api.rightfoot.com"),
            at: ":2:13: rightfoot.base_url",
            reason: "https is required",
        },
        Case {
            name: "user name and password in the base url",
            edit: Line(2, "  base_url: https://u:pw@api.example.com"),
            at: ":2:13: rightfoot.base_url",
            reason: "must not carry a user name or password",
        },
        Case {
            name: "bad url",
            edit: Line(2, "  base_url: not a url"),
            at: ":2:13: rightfoot.base_url",
            reason: "invalid base_url",
        },
        Case {
            name: "poll interval outside 30-60s against Rightfoot",
            edit: Whole("rightfoot:\n  api_key_env: RF_KEY\n  poll_interval: 5s\n"),
            at: ":3:18: rightfoot.poll_interval",
            reason: "outside 30s-60s",
        },
        Case {
            name: "duration without unit",
            edit: Append("storage:\n  retention: 400\n"),
            at: ":16:14: storage.retention",
            reason: "missing unit",
        },
        Case {
            name: "an SQLite path beside a PostgreSQL database",
            edit: Append("storage:\n  path: state.db\n  postgres:\n    url_env: RF_KEY\n"),
            at: ":18:5: storage.postgres",
            reason: "storage.path and storage.postgres exclude each other",
        },
        Case {
            name: "a PostgreSQL URL that is not one, named by the key that holds it",
            edit: Append("storage:\n  postgres:\n    url_env: RF_KEY\n"),
            at: ":17:14: storage.postgres.url_env",
            reason: "the URL it holds is refused: not a PostgreSQL connection URL",
        },
        Case {
            name: "a PostgreSQL URL written in the configuration",
            edit: Append("storage:\n  postgres:\n    url: postgres://bm:pw@db/balance\n"),
            at: ":17:10: storage.postgres.url",
            reason: "a secret may not be written in the configuration",
        },
        Case {
            name: "a PostgreSQL pool of no connections",
            edit: Append("storage:\n  postgres:\n    url_env: RF_KEY\n    pool_size: 0\n"),
            at: ":18:16: storage.postgres.pool_size",
            reason: "out of range (2 to 100)",
        },
        Case {
            name: "a leadership lease too short to renew",
            edit: Append("storage:\n  postgres:\n    url_env: RF_KEY\n    lease: 500ms\n"),
            at: ":18:12: storage.postgres.lease",
            reason: "500ms is out of range (1s to 10m)",
        },
        Case {
            name: "a leadership lease that leaves a dead leader's schedules too long",
            edit: Append("storage:\n  postgres:\n    url_env: RF_KEY\n    lease: 1h\n"),
            at: ":18:12: storage.postgres.lease",
            reason: "1h is out of range (1s to 10m)",
        },
        Case {
            name: "batch size above 1000",
            edit: Line(2, "  max_batch_size: 1500"),
            at: ":2:19: rightfoot.max_batch_size",
            reason: "out of range (1 to 1000)",
        },
        Case {
            name: "deadline shorter than poll interval",
            edit: Line(2, "  result_deadline: 1s"),
            at: ":2:20: rightfoot.result_deadline",
            reason: "shorter than poll_interval",
        },
        Case {
            name: "invalid cron hour",
            edit: Line(9, "    schedule: \"0 25 * * *\""),
            at: ":9:15: monitors[0].schedule",
            reason: "invalid cron expression \"0 25 * * *\": hour 25 out of range (0-23)",
        },
        Case {
            name: "cron with four fields",
            edit: Line(9, "    schedule: \"0 6 * *\""),
            at: ":9:15: monitors[0].schedule",
            reason: "expected 5 fields",
        },
        Case {
            name: "unknown time zone",
            edit: Line(10, "    timezone: America/NewYork"),
            at: ":10:15: monitors[0].timezone",
            reason: "did you mean \"America/New_York\"?",
        },
        Case {
            name: "unknown monitor key",
            edit: Line(10, "    timezon: America/New_York"),
            at: ":10:5: monitors[0].timezon",
            reason: "did you mean `timezone`?",
        },
        Case {
            name: "bad catch_up",
            edit: Line(10, "    catch_up: always"),
            at: ":10:15: monitors[0].catch_up",
            reason: "use skip or run_once",
        },
        Case {
            name: "route that does not exist",
            edit: Line(14, "    routes: [opps]"),
            at: ":14:14: monitors[0].routes[0]",
            reason: "route `opps` does not exist, did you mean `ops`?",
        },
        Case {
            name: "duplicate monitor names",
            edit: Append(
                "  - name: daily\n    schedule: \"0 7 * * *\"\n    authorizers: { csv: a.csv }\n",
            ),
            at: ":15:11: monitors[1].name",
            reason: "duplicate monitor name `daily`",
        },
        Case {
            name: "two authorizer sources",
            edit: Line(11, "    authorizers: { csv: a.csv, yaml: b.yaml }"),
            at: ":11:18: monitors[0].authorizers",
            reason: "only one of csv, yaml or inline",
        },
        Case {
            name: "no authorizer source",
            edit: Line(11, "    authorizers: {}"),
            at: ":11:18: monitors[0].authorizers",
            reason: "one of csv: PATH",
        },
        Case {
            name: "unknown rule",
            edit: Line(13, "      - balance_bellow: { amount: 100.00 }"),
            at: ":13:9: monitors[0].rules[0]",
            reason: "did you mean `balance_below`?",
        },
        Case {
            name: "money with three decimals",
            edit: Line(13, "      - balance_below: { amount: 100.005 }"),
            at: ":13:34: monitors[0].rules[0].balance_below.amount",
            reason: "more than two decimal places",
        },
        Case {
            name: "money that is not a number",
            edit: Line(13, "      - balance_below: { amount: lots }"),
            at: ":13:34: monitors[0].rules[0].balance_below.amount",
            reason: "invalid amount",
        },
        Case {
            name: "unknown rule option",
            edit: Line(
                13,
                "      - balance_below: { amount: 100.00, severty: critical }",
            ),
            at: ":13:42: monitors[0].rules[0].balance_below.severty",
            reason: "did you mean `severity`?",
        },
        Case {
            name: "bad severity",
            edit: Line(13, "      - negative_balance: { severity: urgent }"),
            at: ":13:39: monitors[0].rules[0].negative_balance.severity",
            reason: "use info, warning or critical",
        },
        Case {
            name: "percent above 100",
            edit: Line(13, "      - drop_percent: { percent: 150 }"),
            at: ":13:34: monitors[0].rules[0].drop_percent.percent",
            reason: "at most 100",
        },
        Case {
            name: "check_failed codes not a list",
            edit: Line(13, "      - check_failed: { codes: 3200 }"),
            at: ":13:32: monitors[0].rules[0].check_failed.codes",
            reason: "expected `any` or a list",
        },
        Case {
            name: "smtp tls none to a remote host",
            edit: Line(
                6,
                "    email: { smtp_host: smtp.example.com, tls: none, from: \"bm <bm@example.com>\", to: [\"ops@example.com\"] }",
            ),
            at: ":6:48: routes.ops.email.tls",
            reason: "allowed only to a loopback host",
        },
        Case {
            name: "unknown email transport",
            edit: Line(
                6,
                "    email: { transport: smtps, from: \"bm <bm@example.com>\", to: [\"ops@example.com\"] }",
            ),
            at: ":6:25: routes.ops.email.transport",
            reason: "unknown value `smtps`, did you mean `smtp`? (use smtp, sendmail or file)",
        },
        Case {
            name: "unknown smtp tls mode",
            edit: Line(
                6,
                "    email: { smtp_host: localhost, tls: ssl, from: \"bm <bm@example.com>\", to: [\"ops@example.com\"] }",
            ),
            at: ":6:41: routes.ops.email.tls",
            reason: "(use starttls, tls or none)",
        },
        Case {
            name: "an smtp key under transport file",
            edit: Line(
                6,
                "    email: { transport: file, smtp_port: 25, from: \"bm <bm@example.com>\", to: [\"ops@example.com\"], directory: mail }",
            ),
            at: ":6:25: routes.ops.email.smtp_port",
            reason: "smtp_port applies only to transport smtp",
        },
        Case {
            name: "a webhook url with a password in it",
            edit: Line(
                6,
                "    webhook: { url: \"https://u:pw@hooks.example.com/x\" }",
            ),
            at: ":6:21: routes.ops.webhook.url",
            reason: "must not carry a user name or password",
        },
        Case {
            name: "a slack webhook url written in the file",
            edit: Line(
                6,
                "    slack: { webhook_url: \"https://hooks.slack.com/services/T/B/x\" }",
            ),
            at: ":6:27: routes.ops.slack.webhook_url",
            reason: "use webhook_url_file",
        },
        Case {
            name: "a teams route without its url",
            edit: Line(6, "    teams: { timeout: 5s }"),
            at: ":6:5: routes.ops.teams.webhook_url",
            reason: "missing webhook_url: set webhook_url_file or webhook_url_env",
        },
        Case {
            name: "a slack url from the environment that is not a url",
            edit: Line(6, "    slack: { webhook_url_env: RF_KEY }"),
            at: ":6:31: routes.ops.slack.webhook_url_env",
            reason: "the webhook URL it holds is not a URL",
        },
        Case {
            name: "a pagerduty routing key written in the file",
            edit: Line(6, "    pagerduty: { routing_key: abc }"),
            at: ":6:31: routes.ops.pagerduty.routing_key",
            reason: "use routing_key_file",
        },
        Case {
            name: "an unknown pagerduty severity",
            edit: Line(
                6,
                "    pagerduty: { routing_key_env: RF_KEY, severity: { critical: urgent } }",
            ),
            at: ":6:65: routes.ops.pagerduty.severity.critical",
            reason: "critical, error, warning",
        },
        Case {
            name: "a pagerduty rate of zero",
            edit: Line(
                6,
                "    pagerduty: { routing_key_env: RF_KEY, rate_per_minute: 0 }",
            ),
            at: ":6:60: routes.ops.pagerduty.rate_per_minute",
            reason: "out of range",
        },
        Case {
            name: "two kinds in one route",
            edit: Line(
                6,
                "    pagerduty: { routing_key_env: RF_KEY }\n    slack: { webhook_url_env: RF_KEY }",
            ),
            at: ":6:5: routes.ops",
            reason: "exactly one of email, webhook, slack, teams or pagerduty",
        },
        Case {
            name: "an empty alert field label",
            edit: Line(14, "    alert_fields: [{ field: loan_id, label: \"\" }]"),
            at: ":14:20: monitors[0].alert_fields[0].label",
            reason: "a label is 1 to 64 characters",
        },
        Case {
            name: "a public url with a query",
            edit: Append("http:\n  public_url: \"https://monitor.example/?x=1\"\n"),
            at: ":16:15: http.public_url",
            reason: "may not hold a query",
        },
        Case {
            name: "literal smtp password",
            edit: Line(
                6,
                "    email: { smtp_host: localhost, password: hunter2, username: u, from: \"bm <bm@example.com>\", to: [\"ops@example.com\"] }",
            ),
            at: ":6:46: routes.ops.email.password",
            reason: "use password_file",
        },
        Case {
            name: "invalid recipient address",
            edit: Line(
                6,
                "    email: { transport: file, from: \"bm <bm@example.com>\", to: [\"not-an-address\"], directory: mail }",
            ),
            at: ":6:65: routes.ops.email.to[0]",
            reason: "invalid email address",
        },
        Case {
            name: "http listen on a public address without a token",
            edit: Append("http:\n  listen: 0.0.0.0:9187\n"),
            at: ":16:11: http.listen",
            reason: "not a loopback address",
        },
        Case {
            name: "a dashboard session shorter than a minute",
            edit: Append("http:\n  session_ttl: 30s\n"),
            at: ":16:16: http.session_ttl",
            reason: "30s is out of range (1m to 30d)",
        },
        Case {
            name: "personal data as an alert field",
            edit: Line(14, "    alert_fields: [ssn]"),
            at: ":14:20: monitors[0].alert_fields[0]",
            reason: "personal data",
        },
        Case {
            name: "wrong type for a list",
            edit: Line(14, "    routes: ops"),
            at: ":14:13: monitors[0].routes",
            reason: "expected",
        },
        Case {
            name: "yaml syntax error",
            edit: Line(8, "  - name: [daily"),
            at: ":8:",
            reason: "",
        },
        Case {
            name: "duplicate key",
            edit: Line(10, "    schedule: \"0 7 * * *\""),
            at: ":10:",
            reason: "duplicate",
        },
    ]
}

#[test]
fn bad_configurations_exit_2_naming_file_line_column_and_key() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.csv", CSV.as_bytes(), 0o600);
    let base = write_file(dir.path(), "config.yaml", BASE.as_bytes(), 0o600);
    let ok = run_binary(
        dir.path(),
        &["check-config", "--config", base.to_str().unwrap()],
        &[("RF_KEY", "k")],
    );
    assert!(
        ok.status.success(),
        "the base config is valid: {}",
        String::from_utf8_lossy(&ok.stderr)
    );

    write_file(dir.path(), "shared-key", b"k\n", 0o644);
    write_file(dir.path(), "blank-key", b" \t\n", 0o600);
    std::fs::create_dir(dir.path().join("key-directory")).unwrap();
    let long_name = "n".repeat(65);

    let table = cases();
    assert!(table.len() >= 25);
    let mut failures = Vec::new();
    for case in &table {
        let text = apply(&case.edit).replace("NAME_OF_65_CHARACTERS", &long_name);
        let path = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);
        let out = run_binary(
            dir.path(),
            &["check-config", "--config", path.to_str().unwrap()],
            &[("RF_KEY", "k"), ("BLANK", " \t")],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected_prefix = format!("{}{}", path.display(), case.at);
        let line = stderr.lines().find(|l| l.starts_with(&expected_prefix));
        let good = out.status.code() == Some(2) && line.is_some_and(|l| l.contains(case.reason));
        if !good {
            failures.push(format!(
                "{}: exit {:?}, expected a line starting {expected_prefix:?} containing {:?}, got:\n{stderr}",
                case.name,
                out.status.code(),
                case.reason
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn secrets_never_appear_in_output() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.csv", CSV.as_bytes(), 0o600);
    let text = BASE.replace("  api_key_env: RF_KEY", "  api_key_file: key");
    write_file(dir.path(), "key", b"rf_live_SUPERSECRET\n", 0o600);
    let path = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);
    let out = run_binary(
        dir.path(),
        &["check-config", "--config", path.to_str().unwrap()],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("SUPERSECRET"));
    assert!(all.contains("monitor daily"), "{all}");
}

#[test]
fn credentials_directory_supplies_relative_secret_files() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    write_file(&creds, "rightfoot-api-key", b"k\n", 0o600);
    write_file(dir.path(), "a.csv", CSV.as_bytes(), 0o600);
    let text = BASE.replace("  api_key_env: RF_KEY", "  api_key_file: rightfoot-api-key");
    let path = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);
    let out = run_binary(
        dir.path(),
        &["check-config", "--config", path.to_str().unwrap()],
        &[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_config_summarises_monitors_and_warns_about_the_24h_cache() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.csv", CSV.as_bytes(), 0o600);
    let text = BASE.replace("\"0 6 * * *\"", "\"0 6,18 * * *\"");
    let path = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);
    let out = run_binary(
        dir.path(),
        &["check-config", "--config", path.to_str().unwrap()],
        &[("RF_KEY", "k")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("authorizers: 1 valid, 0 invalid"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("    next: ").count(), 3, "{stdout}");
    assert!(stdout.contains("UTC)"), "{stdout}");
    assert!(
        stdout.contains("balance_below $100.00 [warning]"),
        "{stdout}"
    );
    assert!(stdout.contains("routes: ops (email"), "{stdout}");
    assert!(stdout.contains("cached batch"), "{stdout}");
}

#[test]
fn missing_config_file_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_binary(
        dir.path(),
        &["check-config", "--config", "/nonexistent/config.yaml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/config.yaml"));
}

/// The shipped example is valid once the secrets it names are provided, exactly as
/// README.md tells users to provide them.
#[test]
fn example_config_is_valid_with_its_secrets() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    // Copy the example and its data so the permission rule can be met without
    // touching the checkout.
    let example = std::fs::read(root.join("config.example.yaml")).unwrap();
    let config = write_file(dir.path(), "config.example.yaml", &example, 0o644);
    for name in ["authorizers.csv", "authorizers.yaml"] {
        let data = std::fs::read(root.join("examples").join(name)).unwrap();
        write_file(dir.path(), &format!("examples/{name}"), &data, 0o600);
    }
    let creds = dir.path().join("creds");
    write_file(&creds, "rightfoot-api-key", b"rf_test_key\n", 0o600);
    write_file(&creds, "smtp-password", b"smtp-pass\n", 0o600);
    let out = run_binary(
        dir.path(),
        &["check-config", "--config", config.to_str().unwrap()],
        &[
            ("CREDENTIALS_DIRECTORY", creds.to_str().unwrap()),
            ("RIGHTFOOT_WEBHOOK_TOKEN", "t"),
            ("BALANCE_MONITOR_HTTP_TOKEN", "t"),
            ("LOS_WEBHOOK_SECRET", "s"),
            (
                "SLACK_WEBHOOK_URL",
                "https://hooks.slack.com/services/T0/B0/x",
            ),
            (
                "TEAMS_WORKFLOW_URL",
                "https://prod.example.logic.azure.com/workflows/x",
            ),
            ("PAGERDUTY_ROUTING_KEY", "0123456789abcdef0123456789abcdef"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("monitor morning-ach"), "{stdout}");
    assert!(stdout.contains("monitor friday-payday"), "{stdout}");
    // The example CSV has one row with a four-digit ZIP, reported by row number.
    assert!(
        stdout.contains("authorizers.csv row 5: A-1004: Invalid ZIP code"),
        "{stdout}"
    );
}

/// An inline authorizer list puts personal data in the configuration file itself, so
/// the file must then be private, as an authorizers file must.
#[test]
fn inline_authorizers_require_a_private_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = BASE.replace(
        "    authorizers: { csv: a.csv }",
        "    authorizers:\n      inline:\n        - { authorizer_unique_id: A-1, phone_number: \"5550100001\", ssn: \"900000001\", account_number: \"000111222\", routing_number: \"011000015\", address: { zip_code: \"62701\" }, date_of_birth: { day: 1, month: 2, year: 1980 } }",
    );
    let path = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o644);
    let out = run_binary(
        dir.path(),
        &["check-config", "--config", path.to_str().unwrap()],
        &[("RF_KEY", "k")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:12:7: monitors[0].authorizers.inline",
            path.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(
        !stderr.contains("900000001") && !stderr.contains("000111222"),
        "{stderr}"
    );

    let path = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);
    let out = run_binary(
        dir.path(),
        &["check-config", "--config", path.to_str().unwrap()],
        &[("RF_KEY", "k")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("authorizers: 1 valid, 0 invalid"),
        "{stdout}"
    );
    assert!(!stdout.contains("900000001"), "{stdout}");
}

/// An authorizers file that group or others can read is refused by check-config.
#[test]
fn world_readable_authorizer_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.csv", CSV.as_bytes(), 0o644);
    let path = write_file(dir.path(), "config.yaml", BASE.as_bytes(), 0o600);
    let out = run_binary(
        dir.path(),
        &["check-config", "--config", path.to_str().unwrap()],
        &[("RF_KEY", "k")],
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("chmod 600"), "{all}");
}

/// The sandbox example the README points newcomers to is valid as shipped.
#[test]
fn sandbox_example_config_is_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read(root.join("examples/sandbox-config.yaml")).unwrap();
    let config = write_file(dir.path(), "sandbox-config.yaml", &example, 0o644);
    let csv = std::fs::read(root.join("examples/authorizers.csv")).unwrap();
    write_file(dir.path(), "authorizers.csv", &csv, 0o600);
    let out = run_binary(
        dir.path(),
        &["check-config", "--config", config.to_str().unwrap()],
        &[("RIGHTFOOT_API_KEY", "rf_sandbox_key")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("monitor sandbox-demo"), "{stdout}");
    assert!(
        stdout.contains("authorizers: 3 valid, 1 invalid"),
        "{stdout}"
    );
}

/// Regression (issue 15): a secret file in systemd's credentials directory is taken as
/// it is, whatever its mode (systemd makes the directory private to the service),
/// while the same file elsewhere must be private to its owner.
#[test]
fn a_credential_is_taken_whatever_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    write_file(&creds, "rightfoot-api-key", b"k\n", 0o444);
    write_file(dir.path(), "a.csv", CSV.as_bytes(), 0o600);
    let text = BASE.replace("  api_key_env: RF_KEY", "  api_key_file: rightfoot-api-key");
    let path = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);
    let out = run_binary(
        dir.path(),
        &["check-config", "--config", path.to_str().unwrap()],
        &[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Regression (issue 15): `--config /dev/zero` grew memory without limit, a FIFO as the
/// authorizers file hung check-config, and a directory given as one was called
/// "readable by group or others". Each is now refused at once, naming what it is.
#[test]
fn what_is_not_a_regular_file_is_refused_at_once_as_config_or_authorizers_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let directory = dir.path().join("list.csv");
    std::fs::create_dir(&directory).unwrap();
    let limit = Duration::from_secs(20);
    let cases: [(&Path, &str); 4] = [
        (&directory, "a directory"),
        (&fifo, "a named pipe (FIFO)"),
        (Path::new("/dev/null"), "a device"),
        (Path::new("/dev/zero"), "a device"),
    ];
    for (path, kind) in cases {
        let text = BASE.replace("csv: a.csv", &format!("csv: {}", path.display()));
        let config = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);
        let out = run_binary_within(
            limit,
            dir.path(),
            &["check-config", "--config", config.to_str().unwrap()],
            &[("RF_KEY", "k")],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(2), "{path:?}: {stdout}");
        assert!(
            stdout.contains(&format!(
                "authorizers: error: authorizers file {} is {kind}, not a file",
                path.display()
            )),
            "{path:?}: {stdout}"
        );

        let out = run_binary_within(
            limit,
            dir.path(),
            &["check-config", "--config", path.to_str().unwrap()],
            &[("RF_KEY", "k")],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "configuration file {} is {kind}, not a file",
                path.display()
            )),
            "{path:?}: {stderr}"
        );
    }
}

/// Regression (issue 15): a configuration file is read through a 1 MiB bound, so a
/// 10 MB monitor name (or an endless file) stops at the bound with a message.
#[test]
fn a_configuration_file_over_1_mib_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.csv", CSV.as_bytes(), 0o600);
    let text = BASE.replace(
        "  - name: daily",
        &format!("  - name: {}", "n".repeat(10_000_000)),
    );
    let path = write_file(dir.path(), "config.yaml", text.as_bytes(), 0o600);
    let out = run_binary_within(
        Duration::from_secs(20),
        dir.path(),
        &["check-config", "--config", path.to_str().unwrap()],
        &[("RF_KEY", "k")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "configuration file {} is larger than 1 MiB, the limit for a configuration file",
            path.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.len() < 4096,
        "the name is not repeated: {} bytes",
        stderr.len()
    );
}

/// Issue 15: the parser's own words leaked into messages (`set DuplicateKeyPolicy in
/// Options if acceptable`, a key path of `?`, `budget breached: Documents { documents:
/// 2 }`), and a file that is not UTF-8 got no position at all. Each bad file must exit 2
/// with a message in our words that names the file, line and column, and carries
/// nothing of the parser's types or Debug text.
#[test]
fn yaml_problems_are_told_in_our_words_with_a_position() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "a.csv", CSV.as_bytes(), 0o600);
    let base = BASE.as_bytes();
    let with_line = |n: usize, text: &[u8]| -> Vec<u8> {
        let mut out = Vec::new();
        for (i, line) in base.split(|b| *b == b'\n').enumerate() {
            if i > 0 {
                out.push(b'\n');
            }
            out.extend_from_slice(if i + 1 == n { text } else { line });
        }
        out
    };
    // Eleven anchors of ten aliases each, in an inline list: 10^11 values if expanded.
    let mut bomb = String::from("    authorizers: { inline: [&a0 [x, x, x, x, x, x, x, x, x, x]");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            ", &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]"
        ));
    }
    bomb.push_str("] }");
    // (name, file, `:line:column:` and what follows, a fragment of the reason)
    let table: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "a duplicate key",
            with_line(3, b"  base_url: http://127.0.0.1:8"),
            ":3:3: rightfoot.base_url: ",
            "duplicate key `base_url`",
        ),
        (
            "a duplicate top-level key",
            [base, b"rightfoot: {}\n"].concat(),
            ":15:1: rightfoot: ",
            "duplicate key `rightfoot`",
        ),
        (
            "two documents",
            [base, b"---\nmonitors: []\n"].concat(),
            ":15:1: ",
            "expected one YAML document, found 2",
        ),
        (
            "bytes that are not UTF-8, after a character of two bytes",
            with_line(3, b"  api_key_env: RF_\xc3\xa9\xffKEY"),
            ":3:20: ",
            "not valid UTF-8 (byte offset 62)",
        ),
        (
            "a tab for indentation",
            with_line(3, b"\tapi_key_env: RF_KEY"),
            ":3:1: ",
            "a tab character",
        ),
        (
            "an alias bomb",
            with_line(11, bomb.as_bytes()),
            ":11:",
            "aliases",
        ),
        (
            "an alias to no anchor",
            with_line(2, b"  base_url: *nowhere"),
            ":2:13: ",
            "alias `*nowhere`",
        ),
    ];
    let forbidden = [
        "Options",
        "DuplicateKeyPolicy",
        "budget",
        "Budget",
        "{",
        "Some(",
        "None",
        ": ?:",
        "::",
        "Error",
        "Breach",
        "Documents",
    ];
    let mut failures = Vec::new();
    for (name, text, at, reason) in &table {
        let path = write_file(dir.path(), "config.yaml", text, 0o600);
        let out = run_binary(
            dir.path(),
            &["check-config", "--config", path.to_str().unwrap()],
            &[("RF_KEY", "k")],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let prefix = format!("{}{at}", path.display());
        let line = stderr.lines().find(|l| l.starts_with(&prefix));
        let positioned = line.is_some_and(|l| {
            let rest = &l[path.display().to_string().len()..];
            let mut parts = rest.splitn(4, ':');
            parts.next() == Some("")
                && parts.next().is_some_and(|n| n.parse::<u64>().is_ok())
                && parts.next().is_some_and(|n| n.parse::<u64>().is_ok())
        });
        let leaks: Vec<&&str> = forbidden
            .iter()
            .filter(|word| stderr.contains(**word))
            .collect();
        let good = out.status.code() == Some(2)
            && positioned
            && line.is_some_and(|l| l.contains(reason))
            && leaks.is_empty();
        if !good {
            failures.push(format!(
                "{name}: exit {:?}, expected a line starting {prefix:?} with a line and column, containing {reason:?}, and none of {leaks:?}; got:\n{stderr}",
                out.status.code(),
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
