//! The `debits` section: every key of the issue's example accepted and shown by
//! `check-config`, and each bad value refused with exit 2 and a message naming the file,
//! the line and column, and the key.

use crate::support::{run_binary, write_file};

/// A valid configuration with the issue's `debits` section. Line numbers matter.
const BASE: &str = r#"rightfoot:
  base_url: http://127.0.0.1:9
  api_key_env: RF_KEY
monitors:
  - name: ach-precheck
    schedule: "0 7 * * 1-5"
    timezone: America/New_York
    authorizers: { csv: borrowers.csv }
    debits:
      csv: debits.csv
      due_within: 2
      cutoff: "14:45"
      margin: 25.00
      fresh_for: 24h
      extra_holidays: [2026-12-24]
      recheck: { schedule: "30 12 * * 1-5", only: [hold, unknown] }
"#;

const CSV: &str = "authorizer_unique_id,first_name,zip_code,phone_number,date_of_birth,ssn,account_number,routing_number\nA-1,Test,62701,5550100001,01/15/1980,900000001,000111222,011000015\n";

/// Replaces line `n` (from 1) of [`BASE`] with `text`.
fn with_line(n: usize, text: &str) -> String {
    BASE.lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == n { text } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

fn check_config(dir: &std::path::Path, text: &str) -> std::process::Output {
    let path = write_file(dir, "config.yaml", text.as_bytes(), 0o600);
    run_binary(
        dir,
        &["check-config", "--config", path.to_str().unwrap()],
        &[("RF_KEY", "k")],
    )
}

#[test]
fn the_issues_debits_section_is_valid_and_shown_by_check_config() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "borrowers.csv", CSV.as_bytes(), 0o600);
    // No debits file yet: check-config says so and exits 2, as a run would fail.
    let missing = check_config(dir.path(), BASE);
    assert_eq!(missing.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&missing.stdout);
    assert!(
        stdout.contains("monitor ach-precheck debits: error: cannot read debits file"),
        "{stdout}"
    );
    write_file(
        dir.path(),
        "debits.csv",
        b"authorizer_unique_id,debit_id,debit_date,amount\nA-1,D-1,2026-12-08,180.00\nA-2,D-2,2026-12-08,10.00\nA-1,D-3,2026-12-09,-1\n",
        0o644,
    );
    let out = check_config(dir.path(), BASE);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let debits_csv = dir.path().join("debits.csv");
    for line in [
        format!("  debits: csv {}", debits_csv.display()),
        "    due within 2 business days, cut-off 14:45, margin $25.00, balances fresh for 1d"
            .to_string(),
        "    extra holidays: 2026-12-24".to_string(),
        "    recheck: \"30 12 * * 1-5\" over hold, unknown".to_string(),
        "monitor ach-precheck debits: 1 read, 2 refused".to_string(),
        format!(
            "  refused: {}:3: column authorizer_unique_id: unknown authorizer id \"A-2\": not on the monitor's list",
            debits_csv.display()
        ),
        format!(
            "  refused: {}:4: column amount: negative amount -1.00: a debit takes money, so its amount is above 0.00",
            debits_csv.display()
        ),
    ] {
        assert!(stdout.lines().any(|l| l == line), "{line:?} in:\n{stdout}");
    }

    let from_metadata = with_line(
        10,
        "      from_metadata: { date: next_debit_date, amount: meta_payment_amount }",
    );
    let out = check_config(dir.path(), &from_metadata);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("  debits: from metadata (date next_debit_date, amount payment_amount)"),
        "{stdout}"
    );
}

#[test]
fn bad_debits_settings_exit_2_naming_file_line_column_and_key() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "borrowers.csv", CSV.as_bytes(), 0o600);
    let key = "monitors[0].debits";
    let cases: Vec<(&str, String, String, &str)> = vec![
        (
            "unknown key",
            with_line(11, "      due_withn: 2"),
            format!(":11:7: {key}.due_withn"),
            "did you mean `due_within`?",
        ),
        (
            "no source",
            with_line(10, "      # no csv"),
            format!(":11:7: {key}"),
            "give the debits as csv: PATH or from_metadata",
        ),
        (
            "both sources",
            with_line(
                11,
                "      from_metadata: { date: next_debit_date, amount: payment_amount }",
            ),
            format!(":11:22: {key}.from_metadata"),
            "give only one of csv or from_metadata",
        ),
        (
            "from_metadata naming one field twice",
            with_line(
                10,
                "      from_metadata: { date: amount, amount: meta_amount }",
            ),
            format!(":10:46: {key}.from_metadata.amount"),
            "the date and the amount are both `amount`",
        ),
        (
            "from_metadata with a bad field name",
            with_line(
                10,
                "      from_metadata: { date: \"next date\", amount: amount }",
            ),
            format!(":10:30: {key}.from_metadata.date"),
            "a metadata field name may use",
        ),
        (
            "due_within out of range",
            with_line(11, "      due_within: 31"),
            format!(":11:19: {key}.due_within"),
            "31 is out of range (0 to 30)",
        ),
        (
            "cutoff that is not a time",
            with_line(12, "      cutoff: \"2:45pm\""),
            format!(":12:15: {key}.cutoff"),
            "invalid cutoff \"2:45pm\": expected a 24-hour time such as \"14:45\"",
        ),
        (
            "cutoff missing",
            with_line(12, "      # no cutoff"),
            format!(":10:7: {key}.cutoff"),
            "missing cutoff",
        ),
        (
            "negative margin",
            with_line(13, "      margin: -5.00"),
            format!(":13:15: {key}.margin"),
            "margin -5.00 may not be negative",
        ),
        (
            "margin that is not money",
            with_line(13, "      margin: lots"),
            format!(":13:15: {key}.margin"),
            "invalid amount",
        ),
        (
            "fresh_for out of range",
            with_line(14, "      fresh_for: 30d"),
            format!(":14:18: {key}.fresh_for"),
            "out of range",
        ),
        (
            "extra holiday that is not a date",
            with_line(15, "      extra_holidays: [2026-12-24, 2026-13-01]"),
            format!(":15:36: {key}.extra_holidays[1]"),
            "invalid date \"2026-13-01\": expected YYYY-MM-DD",
        ),
        (
            "recheck with a bad cron",
            with_line(
                16,
                "      recheck: { schedule: \"30 25 * * 1-5\", only: [hold, unknown] }",
            ),
            format!(":16:28: {key}.recheck.schedule"),
            "invalid cron expression",
        ),
        (
            "recheck over an unknown decision",
            with_line(
                16,
                "      recheck: { schedule: \"30 12 * * 1-5\", only: [hold, maybe] }",
            ),
            ":16:".to_string(),
            "maybe",
        ),
        (
            "recheck over nothing",
            with_line(
                16,
                "      recheck: { schedule: \"30 12 * * 1-5\", only: [] }",
            ),
            format!(":16:16: {key}.recheck.only"),
            "the list is empty",
        ),
    ];
    let mut failures = Vec::new();
    for (name, text, at, reason) in &cases {
        let out = check_config(dir.path(), text);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let prefix = format!("{}{at}", dir.path().join("config.yaml").display());
        let found = stderr
            .lines()
            .any(|l| l.starts_with(&prefix) && l.contains(reason));
        if out.status.code() != Some(2) || !found {
            failures.push(format!(
                "{name}: exit {:?}, expected a line starting {prefix:?} containing {reason:?}, got:\n{stderr}",
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn an_extra_holiday_the_fed_already_closes_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "borrowers.csv", CSV.as_bytes(), 0o600);
    write_file(
        dir.path(),
        "debits.csv",
        b"authorizer_unique_id,debit_id,debit_date,amount\n",
        0o644,
    );
    let out = check_config(
        dir.path(),
        &with_line(15, "      extra_holidays: [2026-12-25]"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "monitors[0].debits.extra_holidays[0]: 2026-12-25 is already closed (Christmas Day)"
        ),
        "{stdout}"
    );
}
