//! `balance-monitor export-csv`: Rightfoot's CSV export format from the database, as
//! the real binary writes it, and the store's stream behind it.

use std::os::unix::fs::PermissionsExt;

use balance_monitor::store::{
    BatchState, BatchSubmitted, ExportQuery, ExportScope, ExportedResult, NewRun, PlannedChunk,
    ResultSink, RunId, RunPlan, RunState, RunStateChange, RunTrigger, Store,
};
use chrono::Duration;

use crate::support::history::{Fixture, Seen, march, seed_run, stdout_of};

const HEADER: &str =
    "Authorizer ID,Batch ID,Institution,Phone,Zip,Balance,Status,Creator,Timestamp";

/// A run whose one chunk Rightfoot answered from its 24-hour cache with `batch_id`,
/// already recorded by an earlier run: it stores no results of its own.
async fn cached_run(
    store: &Store,
    monitor: &str,
    day: u32,
    batch_id: &str,
    members: &[&str],
) -> RunId {
    let monitor = store.ensure_monitor(monitor).await.unwrap();
    let started = march(day, 13);
    let run = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor,
            trigger: RunTrigger::Schedule { slot: started },
        })
        .await
        .unwrap();
    let batch = store
        .start_run(
            run,
            started,
            RunPlan {
                rejected: Vec::new(),
                chunks: vec![PlannedChunk {
                    body_sha256: [9; 32],
                    members: members.iter().map(|m| (*m).to_string()).collect(),
                }],
            },
        )
        .await
        .unwrap()[0];
    let owner = store
        .mark_batch_submitted(
            batch,
            BatchSubmitted {
                rightfoot_batch_id: batch_id.to_string(),
                submitted_at: started - Duration::hours(1),
                accepted: members.len() as u32,
                failed: Vec::new(),
                deadline: started + Duration::minutes(75),
            },
        )
        .await
        .unwrap();
    assert!(owner.is_some(), "the chunk is linked to the earlier one");
    store
        .mark_cached_gaps_not_retrieved(batch, "the earlier run has no result")
        .await
        .unwrap();
    store
        .set_batch_state(batch, BatchState::Complete, None)
        .await
        .unwrap();
    store.mark_run_served_from_cache(run).await.unwrap();
    store
        .set_run_state(
            run,
            RunStateChange::new(RunState::Complete, started + Duration::minutes(1)),
        )
        .await
        .unwrap();
    run
}

#[tokio::test]
async fn a_run_exports_in_rightfoots_columns_with_commas_and_quotes_quoted() {
    let fixture = Fixture::new(None);
    let store = fixture.open();
    let run = seed_run(
        &store,
        "morning-ach",
        march(10, 13),
        "BATCH,\"98765\"",
        &[
            ("authz-001", Seen::Balance(284_351)),
            ("authz, \"two\"", Seen::Failed(3400)),
            ("authz-003", Seen::Balance(-8_368)),
            ("authz-004", Seen::Failed(4242)),
            // Neither is a balance result: Rightfoot's export would not list them.
            ("authz-005", Seen::NotRetrieved),
            ("authz-006", Seen::Rejected("Invalid routing number, 123")),
        ],
    )
    .await
    .run;
    store.close().await;

    let text = stdout_of(&fixture.cli(&["export-csv", "--run", &run.0.to_string()]));
    let expected = format!(
        "{HEADER}\n\
         authz-001,\"BATCH,\"\"98765\"\"\",,,,2843.51,SUCCESS,,2025-03-10T13:05:00+00:00\n\
         \"authz, \"\"two\"\"\",\"BATCH,\"\"98765\"\"\",,,,,NO_MATCH,,2025-03-10T13:05:00+00:00\n\
         authz-003,\"BATCH,\"\"98765\"\"\",,,,-83.68,SUCCESS,,2025-03-10T13:05:00+00:00\n\
         authz-004,\"BATCH,\"\"98765\"\"\",,,,,RETRIEVAL_FAILED,,2025-03-10T13:05:00+00:00\n"
    );
    assert_eq!(text, expected);

    // A CSV reader gets the values back exactly, in nine columns and no meta_* ones.
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(reader.headers().unwrap().len(), 9);
    let second = reader.records().nth(1).unwrap().unwrap();
    assert_eq!(&second[0], "authz, \"two\"");
    assert_eq!(&second[1], "BATCH,\"98765\"");
    assert_eq!(&second[5], "");
}

#[tokio::test]
async fn scopes_select_runs_batches_monitors_and_time_windows_each_result_once() {
    let fixture = Fixture::new(None);
    let store = fixture.open();
    seed_run(
        &store,
        "morning-ach",
        march(10, 13),
        "B-10",
        &[("a1", Seen::Balance(100)), ("a2", Seen::Balance(200))],
    )
    .await;
    seed_run(
        &store,
        "morning-ach",
        march(11, 13),
        "B-11",
        &[("a1", Seen::Balance(110))],
    )
    .await;
    seed_run(
        &store,
        "evening",
        march(11, 22),
        "B-E",
        &[("e1", Seen::Balance(5))],
    )
    .await;
    // Run 4 got B-10 back from Rightfoot's cache: its results are run 1's.
    let cached = cached_run(&store, "morning-ach", 12, "B-10", &["a1", "a2"]).await;
    store.close().await;

    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["export-csv"];
        all.extend_from_slice(args);
        let text = stdout_of(&fixture.cli(&all));
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(HEADER));
        lines
            .map(|line| {
                let mut cells = line.split(',');
                format!("{}@{}", cells.next().unwrap(), cells.next().unwrap())
            })
            .collect()
    };
    assert_eq!(
        ids(&["--run", &cached.0.to_string()]),
        ["a1@B-10", "a2@B-10"]
    );
    assert_eq!(ids(&["--run", "2"]), ["a1@B-11"]);
    assert_eq!(
        ids(&["--batch", "B-11", "--batch", "B-E"]),
        ["a1@B-11", "e1@B-E"]
    );
    assert_eq!(
        ids(&["--batch", "B-10", "B-11"]),
        ["a1@B-10", "a2@B-10", "a1@B-11"]
    );
    assert_eq!(
        ids(&["--monitor", "morning-ach"]),
        ["a1@B-10", "a2@B-10", "a1@B-11"],
        "the cached run adds nothing: each stored result once"
    );
    assert_eq!(
        ids(&[]),
        ["a1@B-10", "a2@B-10", "a1@B-11", "e1@B-E"],
        "everything, in the order it was stored"
    );
    assert_eq!(
        ids(&["--since", "2025-03-11", "--until", "2025-03-11T18:00:00Z"]),
        ["a1@B-11"]
    );
    assert_eq!(ids(&["--since", "2025-03-11T22:05:00+00:00"]), ["e1@B-E"]);
}

#[tokio::test]
async fn unknown_runs_batches_and_monitors_fail_with_exit_1() {
    let fixture = Fixture::new(None);
    let store = fixture.open();
    seed_run(
        &store,
        "morning-ach",
        march(10, 13),
        "B-10",
        &[("a1", Seen::Balance(1))],
    )
    .await;
    store.close().await;
    for (args, message) in [
        (&["--run", "99"][..], "run 99 does not exist"),
        (
            &["--batch", "B-10", "--batch", "B-NOPE"][..],
            "no batch with Rightfoot batch id \"B-NOPE\" is recorded",
        ),
        (
            &["--monitor", "nightly"][..],
            "no run of a monitor named `nightly`",
        ),
    ] {
        let mut all = vec!["export-csv"];
        all.extend_from_slice(args);
        let output = fixture.cli(&all);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let both = fixture.cli(&["export-csv", "--run", "1", "--monitor", "morning-ach"]);
    assert_eq!(both.status.code(), Some(2), "a usage error");
}

#[tokio::test]
async fn output_to_a_file_is_private_atomic_and_untouched_on_failure() {
    let fixture = Fixture::new(None);
    let store = fixture.open();
    seed_run(
        &store,
        "morning-ach",
        march(10, 13),
        "B-10",
        &[("a1", Seen::Balance(100)), ("a2", Seen::Balance(200))],
    )
    .await;
    store.close().await;
    let out = fixture.path("export.csv");
    std::fs::write(&out, "previous export\n").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();

    let failed = fixture.cli(&["export-csv", "--batch", "B-NOPE", "-o", "export.csv"]);
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous export\n");

    let written = fixture.cli(&["export-csv", "-o", "export.csv"]);
    assert!(written.status.success(), "{written:?}");
    assert!(written.stdout.is_empty(), "the rows go to the file");
    assert!(
        String::from_utf8_lossy(&written.stderr).contains("exported 2 results to export.csv"),
        "{written:?}"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with(&format!("{HEADER}\na1,B-10,")), "{text}");
    assert_eq!(text.lines().count(), 3);
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode, 0o600,
        "a new file replaced the old one, private to its owner"
    );
    let leftovers: Vec<String> = std::fs::read_dir(fixture.directory.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A sink that records the shape of what it is handed and fails on demand.
struct Recording {
    rows: Vec<String>,
    fail_at: Option<usize>,
}

impl ResultSink for Recording {
    type Error = String;

    fn write_result(&mut self, row: &ExportedResult<'_>) -> Result<(), String> {
        if self.fail_at == Some(self.rows.len()) {
            return Err("disk full".to_string());
        }
        self.rows.push(format!(
            "{} {} {:?} {} {}",
            row.authorizer_unique_id,
            row.rightfoot_batch_id,
            row.balance.map(|b| b.0),
            row.balance_status_code,
            row.retrieved_at.to_rfc3339()
        ));
        Ok(())
    }
}

#[tokio::test]
async fn the_stream_hands_over_typed_rows_and_stops_when_the_sink_fails() {
    let fixture = Fixture::new(None);
    let store = fixture.open();
    let rows: Vec<(String, Seen)> = (0..50)
        .map(|i| (format!("id-{i:02}"), Seen::Balance(i)))
        .collect();
    let entries: Vec<(&str, Seen)> = rows.iter().map(|(id, seen)| (id.as_str(), *seen)).collect();
    seed_run(&store, "morning-ach", march(10, 13), "B-10", &entries).await;
    let all = ExportQuery {
        scope: ExportScope::All,
        since: None,
        until: None,
    };
    let (sink, count) = store
        .stream_results(
            all.clone(),
            Recording {
                rows: Vec::new(),
                fail_at: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(count, 50);
    assert_eq!(
        sink.rows[7],
        "id-07 B-10 Some(7) 0 2025-03-10T13:05:00+00:00"
    );

    let error = store
        .stream_results(
            all,
            Recording {
                rows: Vec::new(),
                fail_at: Some(10),
            },
        )
        .await
        .err()
        .expect("the sink's failure ends the stream");
    assert!(
        matches!(&error, balance_monitor::store::ExportError::Sink(message) if message == "disk full"),
        "{error:?}"
    );
    store.close().await;
}
