//! A run of a monitor with `debits` against the built-in sandbox with scripted
//! balances: only the authorizers with a debit due within two business days of the
//! run's date are sent (a Friday-Christmas debit settling on Monday among them), and
//! each due debit's decision is stored with its exact reason.

use std::time::Duration;

use balance_monitor::clock::Clock;
use balance_monitor::config::{AuthorizerSource, CatchUp, DebitSource, Debits, Monitor};
use balance_monitor::domain::{BusinessCalendar, Cents, Decision};
use balance_monitor::run::{self, RunContext, RunSettings};
use balance_monitor::sandbox::Scenario;
use balance_monitor::schedule::Schedule;
use balance_monitor::store::{RunState, RunTrigger, Store};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::support::sandbox::{CsvRow, RunningSandbox, authorizers_csv, frozen_sandbox_config};
use crate::support::{run_binary, write_file};

const SCENARIO: &str = "authorizers:
  A-1: [250.00]
  A-2: [120.00]
  A-3: [closed]
  A-4: [unsupported]
";

const DEBITS: &str = "authorizer_unique_id,debit_id,debit_date,amount
A-1,D-1,2026-12-25,180.00
A-2,D-2,2026-12-24,180.00
A-3,D-3,2026-12-23,100.00
A-4,D-4,2026-12-28,50.00
A-5,D-5,2026-12-29,50.00
A-6,D-6,2026-12-22,50.00
A-9,D-9,2026-12-23,50.00
";

#[tokio::test]
async fn a_debits_run_checks_only_the_due_authorizers_and_stores_each_decision() {
    let start: DateTime<Utc> = "2026-12-23T12:00:00Z".parse().unwrap();
    let mut config = frozen_sandbox_config();
    config.processing_time = Duration::ZERO;
    config.scenario = Scenario::from_yaml(SCENARIO, std::path::Path::new("scenario.yaml")).unwrap();
    let sandbox = RunningSandbox::start(config).await;
    let directory = tempfile::tempdir().unwrap();
    let ids = ["A-1", "A-2", "A-3", "A-4", "A-5", "A-6"];
    let rows: Vec<CsvRow> = ids.iter().map(|id| CsvRow::bank(*id)).collect();
    let list = write_file(
        directory.path(),
        "borrowers.csv",
        authorizers_csv(&rows, &[]).as_bytes(),
        0o600,
    );
    let debits_file = write_file(directory.path(), "debits.csv", DEBITS.as_bytes(), 0o644);
    let store = Store::open(directory.path().join("state.db")).unwrap();
    let settings = RunSettings {
        poll_interval: Duration::from_millis(20),
        result_deadline: Duration::from_secs(60),
        max_batch_size: 1000,
        max_in_flight_batches: 1,
        webhook_url: None,
        clock_skew_allowance: run::DEFAULT_CLOCK_SKEW_ALLOWANCE,
    };
    let ctx = RunContext::new(
        store.clone(),
        sandbox.client(),
        Clock::following_tokio(start),
        settings,
        directory.path().join("config.yaml"),
    );
    let monitor = Monitor {
        name: "ach-precheck".to_string(),
        schedule: Schedule::parse("0 7 * * 1-5", chrono_tz::UTC).unwrap(),
        catch_up: CatchUp::Skip,
        grace: Duration::from_secs(3600),
        jitter: Duration::ZERO,
        authorizers: AuthorizerSource::Csv(list),
        rules: Vec::new(),
        routes: Vec::new(),
        repeat_interval: Duration::from_secs(86_400),
        send_resolved: false,
        alert_fields: Vec::new(),
        alert_labels: Vec::new(),
        debits: Some(Debits {
            source: DebitSource::Csv(debits_file),
            due_within: 2,
            cutoff: NaiveTime::from_hms_opt(14, 45, 0).unwrap(),
            margin: Cents(2_500),
            fresh_for: Duration::from_secs(24 * 3600),
            calendar: BusinessCalendar::fedach(),
            recheck: None,
        }),
    };

    let outcome = run::execute(&ctx, &monitor, RunTrigger::Manual, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.summary.state, RunState::Complete);
    let run = outcome.summary.run;

    // Only the four due authorizers were sent and checked; A-5 (after the window) and
    // A-6 (settled yesterday) were not, and A-9 is not on the list.
    let mut checked: Vec<String> = store
        .run_checks(run)
        .await
        .unwrap()
        .into_iter()
        .map(|check| check.authorizer_unique_id)
        .collect();
    checked.sort();
    assert_eq!(checked, ["A-1", "A-2", "A-3", "A-4"]);

    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
    let decisions: Vec<(String, NaiveDate, NaiveDate, Decision, String)> = store
        .run_decisions(run)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.debit_id, d.debit_date, d.settles_on, d.decision, d.reason))
        .collect();
    assert_eq!(
        decisions,
        [
            (
                "D-1".to_string(),
                day(25),
                day(28),
                Decision::Send,
                "balance 250.00 >= 180.00 + 25.00".to_string()
            ),
            (
                "D-2".to_string(),
                day(24),
                day(24),
                Decision::Hold,
                "balance 120.00 < 180.00 + 25.00".to_string()
            ),
            (
                "D-3".to_string(),
                day(23),
                day(23),
                Decision::Hold,
                "account closed (3200)".to_string()
            ),
            (
                "D-4".to_string(),
                day(28),
                day(28),
                Decision::Unknown,
                "institution not supported (code 3300)".to_string()
            ),
        ]
    );
    store.close().await;

    // `balance-monitor debits` reads the same decisions back.
    let config = "rightfoot:\n  base_url: http://127.0.0.1:9\n  api_key_env: RF_KEY\nstorage:\n  path: state.db\nmonitors:\n  - name: ach-precheck\n    schedule: \"0 7 * * 1-5\"\n    authorizers: { csv: borrowers.csv }\n";
    write_file(directory.path(), "config.yaml", config.as_bytes(), 0o600);
    let debits = |args: &[&str]| {
        let mut all = vec!["--config", "config.yaml", "debits"];
        all.extend_from_slice(args);
        let out = run_binary(directory.path(), &all, &[("RF_KEY", "k")]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let checked_at = |id: &str| {
        let line = debits(&["--format", "csv"]);
        line.lines()
            .find(|l| l.starts_with(id))
            .and_then(|l| l.split(',').nth(5).map(str::to_string))
            .unwrap()
    };
    assert_eq!(
        debits(&["--decision", "send", "--format", "csv"]),
        format!(
            "debit_id,authorizer_unique_id,debit_date,amount,balance,checked_at,decision,reason\n\
             D-1,A-1,2026-12-25,180.00,250.00,{},send,balance 250.00 >= 180.00 + 25.00\n",
            checked_at("D-1")
        )
    );
    let held = debits(&[
        "--date",
        "2026-12-24",
        "--decision",
        "hold,unknown",
        "--format",
        "json",
    ]);
    let held: serde_json::Value = serde_json::from_str(&held).unwrap();
    assert_eq!(held.as_array().unwrap().len(), 1, "{held}");
    assert_eq!(held[0]["debit_id"], "D-2");
    assert_eq!(held[0]["amount"], "180.00");
    assert_eq!(held[0]["balance"], "120.00");
    assert_eq!(held[0]["reason"], "balance 120.00 < 180.00 + 25.00");
    let table = debits(&["--date", "2026-12-28"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("monitor"), "{table}");
    assert!(
        lines[1].contains("Mon 2026-12-28") && lines[1].contains("D-1"),
        "{table}"
    );
    assert!(
        lines[2].contains("unknown") && lines[2].contains("institution not supported (code 3300)"),
        "{table}"
    );
    assert_eq!(debits(&["--monitor", "nobody"]), "no decisions\n");

    // D-1 was sent and came back R01: `debits report` counts it against the decision.
    write_file(
        directory.path(),
        "returns.csv",
        b"debit_id,return_code,return_date\nD-1,R01,2026-12-30\n",
        0o644,
    );
    let imported = run_binary(
        directory.path(),
        &[
            "--config",
            "config.yaml",
            "returns",
            "import",
            "returns.csv",
        ],
        &[("RF_KEY", "k")],
    );
    assert!(imported.status.success(), "{imported:?}");
    assert_eq!(
        debits(&["report", "--from", "2026-12-23", "--to", "2026-12-28"]),
        "debits settling 2026-12-23 through 2026-12-28: 1 sent, 2 held, 1 unknown\n\
         sent, then returned for insufficient funds (R01, R09): 1 (100.0% of those sent)\n\
         sent, then returned otherwise: 0 (0.0% of those sent)\n"
    );
}
