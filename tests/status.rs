//! `balance-monitor status` when something needs attention: the real binary against a
//! database filled through the store's API. It exits 1 with the reason on one line for
//! a failed last run, and for a route whose latest notification failed until a later
//! one is delivered through it.

use balance_monitor::store::{AttemptOutcome, NewNotification};

use crate::support::history::{Fixture, Seen, march, seed_run};

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[tokio::test]
async fn a_failed_last_run_needs_attention_and_a_later_complete_one_clears_it() {
    let fixture = Fixture::new(None);
    let store = fixture.open();
    let failed = seed_run(
        &store,
        "morning-ach",
        march(10, 13),
        "BATCH-10",
        &[(
            "A-1",
            Seen::Preflight("Missing date of birth for authorizer(s)."),
        )],
    )
    .await;
    let output = fixture.cli(&["status"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stderr(&output),
        format!(
            "error: needs attention: the last run of morning-ach (run {}) failed: nothing to send\n",
            failed.run.0
        )
    );
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        report.contains(&format!("  last run:  run {} failed", failed.run.0)),
        "{report}"
    );
    assert!(
        report.contains("status: needs attention: the last run of morning-ach"),
        "{report}"
    );

    seed_run(
        &store,
        "morning-ach",
        march(11, 13),
        "BATCH-11",
        &[("A-1", Seen::Balance(5_000))],
    )
    .await;
    let output = fixture.cli(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        status["monitors"][0]["last_run"]["state"], "complete",
        "{status}"
    );
    assert_eq!(
        status["monitors"][0]["last_run"]["succeeded"], 1,
        "{status}"
    );
    // The daemon's listener is not up in this test; without an enabled unit that is
    // reported, not a failure.
    if status["daemon"]["unit_enabled"] != true {
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        assert_eq!(status["attention"], serde_json::json!([]));
    }
    store.close().await;
}

#[tokio::test]
async fn a_route_whose_latest_notification_failed_needs_attention_until_one_is_delivered() {
    let fixture = Fixture::new(None);
    let store = fixture.open();
    seed_run(
        &store,
        "morning-ach",
        march(10, 13),
        "BATCH-10",
        &[("A-1", Seen::Balance(5_000))],
    )
    .await;
    let payload = balance_monitor::alerting::payload::encode(
        &balance_monitor::alerting::test_digest(march(10, 14)),
    );
    let queue = |key: &str| NewNotification {
        route: "ops-mail".into(),
        idempotency_key: key.into(),
        payload: payload.clone(),
        monitor: Some("morning-ach".into()),
        created_at: march(10, 14),
    };
    let first = store.queue_notification(queue("k-1")).await.unwrap();
    store
        .record_attempt(
            first,
            march(10, 15),
            AttemptOutcome::Failed {
                error: "550 mailbox unavailable".into(),
            },
        )
        .await
        .unwrap();
    let waiting = store.queue_notification(queue("k-2")).await.unwrap();

    let output = fixture.cli(&["status", "--json"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stderr(&output),
        format!(
            "error: needs attention: route ops-mail: notification {first} failed: 550 mailbox unavailable\n"
        )
    );
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["outbox"]["pending"], 1);
    assert_eq!(status["outbox"]["failed"], 1);
    assert_eq!(status["outbox"]["oldest_undelivered_route"], "ops-mail");

    store
        .record_attempt(waiting, march(10, 16), AttemptOutcome::Delivered)
        .await
        .unwrap();
    let output = fixture.cli(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        !status["attention"].to_string().contains("ops-mail"),
        "a later delivery through the route clears it: {status}"
    );
    assert_eq!(status["outbox"]["pending"], 0);
    store.close().await;
}
