//! `balance-monitor history` and `runs` as an operator types them: the real binary,
//! a configuration, and a database filled through the store's API as runs fill it.

use balance_monitor::store::{RunId, Store};
use rusqlite::params;

use crate::support::history::{Fixture, Seen, march, seed_run, stdout_of};

/// A seeded run: day of March 2025, monitor, Rightfoot batch id, what each authorizer got.
type Planned<'a> = (u32, &'a str, &'a str, &'a [(&'a str, Seen)]);

/// Four runs of `morning-ach` (America/New_York) and one of `retired`, a monitor no
/// longer in the configuration. Returns the run ids, oldest first.
async fn seeded(fixture: &Fixture) -> Vec<RunId> {
    let store = fixture.open();
    let mut runs = Vec::new();
    let plan: [Planned; 5] = [
        (
            10,
            "morning-ach",
            "BATCH-10",
            &[
                ("A-1001", Seen::Balance(120_000)),
                ("A-1002", Seen::Balance(5_000)),
            ],
        ),
        (
            11,
            "morning-ach",
            "BATCH-11",
            &[
                ("A-1001", Seen::Failed(3200)),
                ("A-1002", Seen::Rejected("Invalid routing number, check it")),
            ],
        ),
        (
            12,
            "morning-ach",
            "BATCH-12",
            &[
                ("A-1001", Seen::NotRetrieved),
                (
                    "A-1002",
                    Seen::Preflight("Missing date of birth for authorizer(s)."),
                ),
            ],
        ),
        (
            13,
            "morning-ach",
            "BATCH-13",
            &[
                ("A-1001", Seen::Balance(9_000)),
                ("A-1002", Seen::Balance(-2_050)),
            ],
        ),
        (
            14,
            "retired",
            "BATCH-14",
            &[("A-1001", Seen::Balance(9_500))],
        ),
    ];
    for (day, monitor, batch, entries) in plan {
        runs.push(
            seed_run(&store, monitor, march(day, 13), batch, entries)
                .await
                .run,
        );
    }
    store.close().await;
    runs
}

/// The text with every run of spaces made one, to look for a row's cells.
fn squeezed(text: &str) -> String {
    text.split(' ')
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Notifications and alerts of a run, as the alerting layer will write them.
fn notify(store_path: &std::path::Path, run: RunId) {
    let connection = rusqlite::Connection::open(store_path).unwrap();
    let payload = format!(r#"{{"version":"1","run":{{"id":{}}}}}"#, run.0);
    connection
        .execute(
            "INSERT INTO outbox (route, idempotency_key, payload, created_at, next_attempt_at, \
                 attempts, state, last_error, delivered_at) VALUES \
             ('ops-webhook', 'k1', ?1, '2025-03-13T13:11:00.000000Z', \
              '2025-03-13T13:11:00.000000Z', 1, 'delivered', NULL, \
              '2025-03-13T13:11:01.000000Z'), \
             ('ops-email', 'k2', ?1, '2025-03-13T13:11:00.000000Z', \
              '2025-03-13T14:00:00.000000Z', 5, 'failed', 'smtp 550 mailbox unavailable', NULL)",
            params![payload],
        )
        .unwrap();
    connection
        .execute(
            "INSERT INTO alerts (fingerprint, monitor_id, authorizer_unique_id, rule, state, \
                 severity, first_fired_at, last_fired_at, last_run_id) \
             VALUES ('fp-1', 1, 'A-1002', 'negative_balance', 'firing', 'critical', \
                 '2025-03-13T13:10:00.000000Z', '2025-03-13T13:10:00.000000Z', ?1)",
            params![run.0],
        )
        .unwrap();
}

#[tokio::test]
async fn history_shows_a_sparkline_both_zones_changes_and_every_outcome() {
    let fixture = Fixture::new(None);
    seeded(&fixture).await;
    let text = stdout_of(&fixture.cli(&["history", "A-1001"]));
    let expected = "\
authorizer A-1001: 5 checks, newest first
balances █··▁▁  last 5 checks, oldest → newest, ▁ $90.00 … █ $1,200.00  (· no balance)
zones: morning-ach America/New_York, retired UTC (not in the configuration)

RUN  MONITOR      RUN TIME              UTC                     BALANCE      CHANGE  STATUS
  5  retired      2025-03-14 13:00 UTC  2025-03-14 13:00 UTC     $95.00      +$5.00  ok
  4  morning-ach  2025-03-13 09:00 EDT  2025-03-13 13:00 UTC     $90.00  -$1,110.00  ok
  3  morning-ach  2025-03-12 09:00 EDT  2025-03-12 13:00 UTC          —           —  not retrieved: no result by the deadline
  2  morning-ach  2025-03-11 09:00 EDT  2025-03-11 13:00 UTC          —           —  failed 3200 account closed
  1  morning-ach  2025-03-10 09:00 EDT  2025-03-10 13:00 UTC  $1,200.00           —  ok
";
    assert_eq!(text, expected);
}

#[tokio::test]
async fn history_shows_rejections_with_their_reasons_and_negative_balances() {
    let fixture = Fixture::new(None);
    seeded(&fixture).await;
    let text = stdout_of(&fixture.cli(&["history", "A-1002"]));
    assert!(
        text.contains("balances █··▁  last 4 checks, oldest → newest, ▁ -$20.50 … █ $50.00"),
        "{text}"
    );
    assert!(
        squeezed(&text).contains("13:00 UTC -$20.50 -$70.50 ok"),
        "the change of a negative balance: {text}"
    );
    assert!(
        text.contains("rejected by Rightfoot: Invalid routing number, check it"),
        "{text}"
    );
    assert!(
        text.contains("rejected by pre-flight: Missing date of birth for authorizer(s)."),
        "{text}"
    );
}

#[tokio::test]
async fn the_change_looks_past_the_limit_and_since_filters_by_run_time() {
    let fixture = Fixture::new(None);
    seeded(&fixture).await;
    let limited = stdout_of(&fixture.cli(&["history", "A-1001", "--limit", "2"]));
    assert!(
        limited.starts_with("authorizer A-1001: 2 checks, newest first\n"),
        "{limited}"
    );
    assert!(
        squeezed(&limited).contains("2025-03-13 13:00 UTC $90.00 -$1,110.00 ok"),
        "the change from run 1, which is not shown: {limited}"
    );
    let since = stdout_of(&fixture.cli(&["history", "A-1001", "--since", "2025-03-12"]));
    assert!(since.starts_with("authorizer A-1001: 3 checks"), "{since}");
    assert!(!since.contains("2025-03-11"), "{since}");
    let none = stdout_of(&fixture.cli(&["history", "A-1001", "--since", "2025-04-01"]));
    assert_eq!(
        none,
        "authorizer A-1001: no checks since 2025-04-01 00:00 UTC\n"
    );
}

#[tokio::test]
async fn history_json_is_one_document_with_exact_money_and_both_times() {
    let fixture = Fixture::new(None);
    seeded(&fixture).await;
    let text = stdout_of(&fixture.cli(&["history", "A-1002", "--json"]));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["authorizer_id"], "A-1002");
    let checks = json["checks"].as_array().unwrap();
    let outcomes: Vec<&str> = checks
        .iter()
        .map(|c| c["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["retrieved", "preflight_rejected", "rejected", "retrieved"]
    );
    assert_eq!(
        checks[0],
        serde_json::json!({
            "run_id": 4,
            "monitor": "morning-ach",
            "timezone": "America/New_York",
            "run_time": "2025-03-13T13:00:00Z",
            "run_time_local": "2025-03-13T09:00:00-04:00",
            "outcome": "retrieved",
            "balance": "-20.50",
            "balance_cents": -2050,
            "change_cents": -7050,
            "status_code": 0,
            "status": "success",
            "csv_status": "SUCCESS",
            "reason": null,
            "retrieved_at": "2025-03-13T13:05:00Z"
        })
    );
    assert_eq!(checks[2]["reason"], "Invalid routing number, check it");
    assert_eq!(checks[2]["balance"], serde_json::Value::Null);
}

#[tokio::test]
async fn an_unknown_authorizer_is_a_clear_error_with_exit_1() {
    let fixture = Fixture::new(None);
    seeded(&fixture).await;
    let output = fixture.cli(&["history", "A-9999"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no authorizer \"A-9999\"") && stderr.contains("never been part of a run"),
        "{stderr}"
    );
}

#[test]
fn a_missing_database_is_an_error_not_an_empty_one() {
    let fixture = Fixture::new(None);
    let output = fixture.cli(&["history", "A-1001"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("does not exist"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !fixture.database().exists(),
        "a read command creates no database"
    );
}

#[tokio::test]
async fn runs_lists_newest_first_with_counts_and_notifications() {
    let fixture = Fixture::new(None);
    let runs = seeded(&fixture).await;
    notify(&fixture.database(), runs[3]);
    let text = stdout_of(&fixture.cli(&["runs"]));
    let expected = "\
RUN  MONITOR      TRIGGER   STATE     STARTED               UTC                     TOOK  OK  FAILED  NOT RETRIEVED  REJECTED  NOTIFIED          NOTES
  5  retired      schedule  complete  2025-03-14 13:00 UTC  2025-03-14 13:00 UTC  10m00s   1       0              0         0  —
  4  morning-ach  schedule  complete  2025-03-13 09:00 EDT  2025-03-13 13:00 UTC  10m00s   2       0              0         0  1 sent, 1 failed
  3  morning-ach  schedule  partial   2025-03-12 09:00 EDT  2025-03-12 13:00 UTC  10m00s   0       0              1         1  —                 some authorizers were not checked
  2  morning-ach  schedule  partial   2025-03-11 09:00 EDT  2025-03-11 13:00 UTC  10m00s   0       1              0         1  —                 some authorizers were not checked
  1  morning-ach  schedule  complete  2025-03-10 09:00 EDT  2025-03-10 13:00 UTC  10m00s   2       0              0         0  —
";
    assert_eq!(text, expected);

    let mine = stdout_of(&fixture.cli(&["runs", "--monitor", "morning-ach", "--limit", "2"]));
    let ids: Vec<&str> = mine
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(ids, ["4", "3"]);

    let unknown = fixture.cli(&["runs", "--monitor", "morning-ahc"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("did you mean `morning-ach`?"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

#[tokio::test]
async fn runs_show_has_timings_counts_by_status_alerts_and_failed_notifications() {
    let fixture = Fixture::new(None);
    let runs = seeded(&fixture).await;
    notify(&fixture.database(), runs[3]);
    let text = stdout_of(&fixture.cli(&["runs", "show", "2"]));
    let expected = "\
run 2 of morning-ach: partial
  reason:      some authorizers were not checked
  trigger:     schedule, slot 2025-03-11 09:00:00 EDT (13:00:00 UTC)
  created:     ";
    assert!(text.starts_with(expected), "{text}");
    for line in [
        "  started:     2025-03-11 09:00:00 EDT (13:00:00 UTC)\n",
        "  finished:    2025-03-11 09:10:00 EDT (13:10:00 UTC) (took 10m00s)\n",
        "  served from Rightfoot's 24 h cache: no\n",
        "  authorizers: 2 sent in 1 chunk, 1 accepted by Rightfoot\n",
        "  chunks:      1 complete\n",
        "    failed checks                         1\n",
        "      3200 account closed                 1\n",
        "    rejected by Rightfoot                 1\n",
        "  notifications: 0 sent, 0 failed, 0 pending\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }

    let notified = stdout_of(&fixture.cli(&["runs", "show", "4"]));
    for line in [
        "  alerts last evaluated in this run: 1 firing, 0 resolved\n",
        "  notifications: 1 sent, 1 failed, 0 pending\n",
        "    ops-email failed after 5 attempts: smtp 550 mailbox unavailable\n",
    ] {
        assert!(notified.contains(line), "missing {line:?} in\n{notified}");
    }

    let missing = fixture.cli(&["runs", "show", "99"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no run 99"));
}

#[tokio::test]
async fn history_reads_beside_an_open_store() {
    // The daemon keeps the database open; the command opens it beside it.
    let fixture = Fixture::new(None);
    seeded(&fixture).await;
    let daemon = Store::open(fixture.database()).unwrap();
    let text = stdout_of(&fixture.cli(&["history", "A-1001", "--limit", "1"]));
    assert!(text.contains("retired"), "{text}");
    daemon.close().await;
}

/// The dashboard's timeline of an authorizer (one ordered pass) answers as `history`'s
/// query does, previous balances, rejections and windows included.
#[tokio::test]
async fn the_dashboard_timeline_agrees_with_the_history_query() {
    use balance_monitor::store::HistoryQuery;

    let fixture = Fixture::new(None);
    seeded(&fixture).await;
    let store = fixture.open();
    let windows = [(march(1, 0), 100), (march(12, 0), 100), (march(10, 0), 2)];
    for authorizer in ["A-1001", "A-1002"] {
        for (since, limit) in windows {
            let history = store
                .authorizer_checks(HistoryQuery {
                    authorizer_unique_id: authorizer.to_string(),
                    since: Some(since),
                    limit,
                })
                .await
                .unwrap();
            let timeline = store
                .authorizer_timeline(authorizer.to_string(), since, limit)
                .await
                .unwrap();
            assert_eq!(
                timeline, history,
                "{authorizer} since {since} limit {limit}"
            );
            assert!(!timeline.unwrap().is_empty());
        }
    }
    let unknown = store
        .authorizer_timeline("A-9".into(), march(1, 0), 10)
        .await;
    assert_eq!(unknown.unwrap(), None);
}
