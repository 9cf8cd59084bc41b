//! `balance-monitor backup`: an online copy taken while another connection writes, as
//! the daemon (another process) does while an operator backs up.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use balance_monitor::private_file::Replace;
use balance_monitor::store::{BackupError, BackupOptions, LATEST_VERSION, Store};
use rusqlite::Connection;

use crate::support::history::{Fixture, Seen, march, seed_run};

fn writer(path: &Path) -> Connection {
    let connection = Connection::open(path).unwrap();
    connection
        .busy_timeout(std::time::Duration::from_secs(10))
        .unwrap();
    connection
}

fn monitors(connection: &Connection) -> Vec<String> {
    connection
        .prepare("SELECT name FROM monitors ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Enough rows for a copy of many pages.
async fn filled(fixture: &Fixture) -> Store {
    let store = fixture.open();
    let ids: Vec<String> = (0..2_000).map(|i| format!("authorizer-{i:05}")).collect();
    let entries: Vec<(&str, Seen)> = ids
        .iter()
        .map(|id| (id.as_str(), Seen::Balance(12_345)))
        .collect();
    seed_run(&store, "morning-ach", march(10, 13), "B-10", &entries).await;
    store
}

fn integrity(connection: &Connection) -> String {
    connection
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

/// A write transaction is open when the backup starts; it commits, and a second write
/// commits, while the copy is half done. The copy waits for neither, is exactly the
/// database as it was when the copy began (no restart), and is sound.
#[tokio::test]
async fn a_backup_taken_during_a_write_is_a_consistent_snapshot_that_passes_integrity_check() {
    let fixture = Fixture::new(None);
    let store = filled(&fixture).await;
    let database = fixture.database();

    let open_write = writer(&database);
    open_write.execute_batch("BEGIN IMMEDIATE").unwrap();
    open_write
        .execute(
            "INSERT INTO monitors (name, created_at) \
             VALUES ('in-flight', '2025-03-10T00:00:00.000000Z')",
            [],
        )
        .unwrap();

    let steps_seen = Arc::new(AtomicU64::new(0));
    let committed_mid_copy = Arc::new(AtomicBool::new(false));
    let destination = fixture.path("copy.db");
    let summary = store
        .backup_with_progress(
            &destination,
            BackupOptions {
                replace: Replace::Refuse,
                pages_per_step: 4,
                pause: std::time::Duration::ZERO,
            },
            {
                let steps_seen = Arc::clone(&steps_seen);
                let committed_mid_copy = Arc::clone(&committed_mid_copy);
                let mut open_write = Some(open_write);
                move |progress| {
                    steps_seen.fetch_add(1, Ordering::Relaxed);
                    if progress.pages_remaining > 0
                        && let Some(connection) = open_write.take()
                    {
                        // Between two steps of the copy: the write in flight commits,
                        // and another one after it.
                        connection.execute_batch("COMMIT").unwrap();
                        connection
                            .execute(
                                "INSERT INTO monitors (name, created_at) \
                                 VALUES ('after', '2025-03-10T00:00:01.000000Z')",
                                [],
                            )
                            .unwrap();
                        committed_mid_copy.store(true, Ordering::Relaxed);
                    }
                }
            },
        )
        .await
        .unwrap();
    assert!(
        committed_mid_copy.load(Ordering::Relaxed),
        "the writes committed while the copy was under way"
    );
    assert!(summary.pages > 4, "{summary:?}");
    assert_eq!(summary.steps, steps_seen.load(Ordering::Relaxed));
    assert!(
        summary.steps <= summary.pages.div_ceil(4) + 1,
        "the copy never restarted: {summary:?}"
    );
    assert_eq!(
        monitors(&writer(&database)),
        ["morning-ach", "in-flight", "after"],
        "both writes are in the database"
    );

    let copy = Connection::open(&destination).unwrap();
    assert_eq!(integrity(&copy), "ok");
    assert_eq!(
        monitors(&copy),
        ["morning-ach"],
        "the snapshot as the copy began"
    );
    let results: i64 = copy
        .query_row("SELECT count(*) FROM results", [], |row| row.get(0))
        .unwrap();
    assert_eq!(results, 2_000);
    let journal: String = copy
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(journal, "delete", "one self-contained file");
    drop(copy);
    let mode = std::fs::metadata(&destination)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        summary.bytes,
        std::fs::metadata(&destination).unwrap().len()
    );

    // The copy is a working database.
    let restored = Store::open(&destination).unwrap();
    assert_eq!(restored.schema_version().await.unwrap(), LATEST_VERSION);
    assert_eq!(
        restored
            .run_tally(balance_monitor::store::RunId(1))
            .await
            .unwrap()
            .succeeded,
        2_000
    );
    restored.close().await;
    store.close().await;
}

/// A writer commits continuously while the copy goes one page at a time: the copy
/// still ends (its snapshot does not restart on every write) and is sound.
#[tokio::test]
async fn a_busy_writer_cannot_keep_a_backup_from_finishing() {
    let fixture = Fixture::new(None);
    let store = filled(&fixture).await;
    let database = fixture.database();
    let stop = Arc::new(AtomicBool::new(false));
    let commits = Arc::new(AtomicU64::new(0));
    let busy = std::thread::spawn({
        let stop = Arc::clone(&stop);
        let commits = Arc::clone(&commits);
        move || {
            let connection = writer(&database);
            let mut i = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                connection
                    .execute(
                        "INSERT INTO webhook_events (event_uuid, received_at) VALUES (?1, \
                         '2025-03-10T00:00:00.000000Z')",
                        [format!("event-{i}")],
                    )
                    .unwrap();
                i += 1;
                commits.store(i, Ordering::Relaxed);
            }
        }
    });
    let destination = fixture.path("copy.db");
    let summary = store
        .backup(
            &destination,
            BackupOptions {
                replace: Replace::Refuse,
                pages_per_step: 1,
                pause: std::time::Duration::ZERO,
            },
        )
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    busy.join().unwrap();
    assert!(commits.load(Ordering::Relaxed) > 0, "the writer wrote");
    assert!(
        summary.steps <= summary.pages + 1,
        "no restart: {summary:?}"
    );
    let copy = Connection::open(&destination).unwrap();
    assert_eq!(integrity(&copy), "ok");
    store.close().await;
}

#[tokio::test]
async fn the_command_refuses_to_overwrite_without_force_and_leaves_no_temporary_file() {
    let fixture = Fixture::new(None);
    filled(&fixture).await.close().await;

    let first = fixture.cli(&["backup", "copy.db"]);
    assert!(first.status.success(), "{first:?}");
    assert!(
        String::from_utf8_lossy(&first.stderr).contains("backed up"),
        "{first:?}"
    );
    let copy = fixture.path("copy.db");
    let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    std::fs::write(&copy, b"not the backup").unwrap();

    let again = fixture.cli(&["backup", "copy.db"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("copy.db already exists; use --force to replace it"),
        "{again:?}"
    );
    assert_eq!(std::fs::read(&copy).unwrap(), b"not the backup");

    let forced = fixture.cli(&["backup", "copy.db", "--force"]);
    assert!(forced.status.success(), "{forced:?}");
    assert_eq!(integrity(&Connection::open(&copy).unwrap()), "ok");
    let leftovers = std::fs::read_dir(fixture.directory.path())
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.ends_with(".partial") || name.starts_with("copy.db-")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[tokio::test]
async fn refusing_an_existing_destination_copies_nothing() {
    let fixture = Fixture::new(None);
    let store = filled(&fixture).await;
    let destination = fixture.path("copy.db");
    std::fs::write(&destination, b"keep me").unwrap();
    let error = store
        .backup(&destination, BackupOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(error, BackupError::File(_)), "{error:?}");
    assert_eq!(std::fs::read(&destination).unwrap(), b"keep me");
    store.close().await;
}
