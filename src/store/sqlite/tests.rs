//! Tests of the SQLite backend's insides: the writer thread's transaction, the pool's
//! connections, the pragmas, a full disk. They are SQLite's own; behaviour seen through
//! the store's interface is the shared suite in `tests/store/`.

use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::SqliteStore;
use super::error::OpError;
use crate::store::{RunJournal, StoreError, StoreOptions};

/// How long a test waits for something that should be immediate before failing. A
/// failure detector only: nothing waits for it to elapse.
const PATIENCE: Duration = Duration::from_secs(20);

fn open_store() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let directory = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&directory.path().join("state.db")).unwrap();
    (directory, Arc::new(store))
}

fn pragma_text(connection: &Connection, name: &str) -> String {
    connection
        .pragma_query_value(None, name, |row| row.get::<_, rusqlite::types::Value>(0))
        .map(|value| match value {
            rusqlite::types::Value::Integer(number) => number.to_string(),
            rusqlite::types::Value::Text(text) => text,
            other => format!("{other:?}"),
        })
        .unwrap()
}

async fn monitor_count(store: &SqliteStore) -> i64 {
    tokio::time::timeout(
        PATIENCE,
        store.read(|transaction| {
            Ok(transaction.query_row("SELECT count(*) FROM monitors", [], |row| row.get(0))?)
        }),
    )
    .await
    .expect("a read must not wait for the writer")
    .unwrap()
}

#[tokio::test]
async fn the_writer_connection_has_the_durable_pragmas() {
    let (_directory, store) = open_store();
    let pragmas = store
        .write(|transaction| {
            Ok([
                "journal_mode",
                "foreign_keys",
                "synchronous",
                "busy_timeout",
                "cache_size",
            ]
            .map(|name| pragma_text(transaction, name)))
        })
        .await
        .unwrap();
    // synchronous: 2 is FULL.
    assert_eq!(pragmas, ["wal", "1", "2", "5000", "-8192"]);
}

#[tokio::test]
async fn every_reader_connection_has_wal_foreign_keys_and_is_read_only() {
    let (_directory, store) = open_store();
    let mut seen = Vec::new();
    let count = store.readers.for_each_idle(|connection| {
        seen.push([
            pragma_text(connection, "journal_mode"),
            pragma_text(connection, "foreign_keys"),
            pragma_text(connection, "query_only"),
            pragma_text(connection, "busy_timeout"),
        ]);
        assert!(connection.is_readonly(rusqlite::MAIN_DB).unwrap());
    });
    assert_eq!(count, StoreOptions::default().read_connections);
    for pragmas in seen {
        assert_eq!(pragmas, ["wal", "1", "1", "5000"]);
    }
}

/// A scan reads without the memory map and through a small cache, and hands its
/// connection back with both as they were, so the next read is mapped again.
#[tokio::test]
async fn a_scan_reads_unmapped_with_a_small_cache_and_restores_both() {
    let (_directory, store) = open_store();
    fn settings(connection: &Connection) -> [String; 2] {
        [
            pragma_text(connection, "mmap_size"),
            pragma_text(connection, "cache_size"),
        ]
    }
    let mut before = Vec::new();
    store
        .readers
        .for_each_idle(|connection| before.push(settings(connection)));
    // SQLite caps the map at its compiled-in limit (2 GiB less 64 KiB).
    let cache = (-super::connection::CACHE_KIB).to_string();
    assert!(
        before
            .iter()
            .all(|[map, size]| map.parse::<i64>().unwrap() >= 1 << 30 && *size == cache),
        "{before:?}"
    );
    let during = store
        .scan(|transaction| Ok(settings(transaction)))
        .await
        .unwrap();
    assert_eq!(during, ["0".to_string(), "-1024".to_string()]);
    let mut after = Vec::new();
    let count = store
        .readers
        .for_each_idle(|connection| after.push(settings(connection)));
    assert_eq!(count, before.len(), "the connection came back to the pool");
    assert_eq!(after, before);
    // A failed scan hands its connection back restored too.
    let failed = store
        .scan(|transaction| -> Result<(), OpError> {
            transaction.query_row("SELECT * FROM no_such_table", [], |_| Ok(()))?;
            Ok(())
        })
        .await;
    assert!(failed.is_err());
    let mut again = Vec::new();
    store
        .readers
        .for_each_idle(|connection| again.push(settings(connection)));
    assert_eq!(again, before);
}

#[tokio::test]
async fn foreign_keys_are_enforced_on_the_write_connection() {
    let (_directory, store) = open_store();
    let error = store
        .write(|transaction| {
            transaction.execute(
                "INSERT INTO runs (monitor_id, scheduled_for, run_trigger, state, created_at) \
                 VALUES (999, NULL, 'manual', 'pending', '2024-01-01T00:00:00.000000Z')",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("FOREIGN KEY constraint failed"),
        "{error}"
    );
}

#[tokio::test]
async fn a_read_completes_while_the_writer_holds_a_transaction_open() {
    let (_directory, store) = open_store();
    store.ensure_monitor("before").await.unwrap();

    // A write job that inserts a row, says so, then waits for our word before it
    // returns (and so before its transaction commits).
    let (entered_tx, entered) = oneshot::channel::<()>();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let held = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .write(move |transaction| {
                    transaction.execute(
                        "INSERT INTO monitors (name, created_at) \
                         VALUES ('uncommitted', '2024-01-01T00:00:00.000000Z')",
                        [],
                    )?;
                    entered_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    Ok(())
                })
                .await
        }
    });
    tokio::time::timeout(PATIENCE, entered)
        .await
        .unwrap()
        .unwrap();

    // A second write queues behind the held one.
    let queued = tokio::spawn({
        let store = store.clone();
        async move { store.ensure_monitor("queued").await }
    });

    // The read finishes while the write transaction is open, and sees the last
    // committed state only.
    assert_eq!(monitor_count(&store).await, 1);
    assert_eq!(store.unfinished_runs().await.unwrap(), vec![]);
    assert!(
        !held.is_finished(),
        "the write transaction was open during the reads"
    );
    assert!(
        !queued.is_finished(),
        "the writer was busy during the reads"
    );

    release.send(()).unwrap();
    held.await.unwrap().unwrap();
    queued.await.unwrap().unwrap();
    assert_eq!(monitor_count(&store).await, 3);
}

#[tokio::test]
async fn a_write_commits_while_a_read_transaction_is_open() {
    let (_directory, store) = open_store();
    // A read that takes its snapshot, says so, then waits for our word.
    let (entered_tx, entered) = oneshot::channel::<()>();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let reading = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .read(move |transaction| {
                    let before: i64 =
                        transaction
                            .query_row("SELECT count(*) FROM monitors", [], |row| row.get(0))?;
                    entered_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    let after: i64 =
                        transaction
                            .query_row("SELECT count(*) FROM monitors", [], |row| row.get(0))?;
                    Ok((before, after))
                })
                .await
        }
    });
    tokio::time::timeout(PATIENCE, entered)
        .await
        .unwrap()
        .unwrap();
    // Without WAL this commit would wait for the reader's lock and fail as busy.
    tokio::time::timeout(PATIENCE, store.ensure_monitor("written"))
        .await
        .expect("a write must not wait for a reader")
        .unwrap();
    assert!(
        !reading.is_finished(),
        "the read transaction was open during the write"
    );
    release.send(()).unwrap();
    // The read kept its snapshot to the end.
    assert_eq!(reading.await.unwrap().unwrap(), (0, 0));
    assert_eq!(monitor_count(&store).await, 1);
}

#[tokio::test]
async fn a_failed_write_job_is_rolled_back_whole() {
    let (_directory, store) = open_store();
    let error = store
        .write(|transaction| -> Result<(), OpError> {
            transaction.execute(
                "INSERT INTO monitors (name, created_at) VALUES ('half', 'x')",
                [],
            )?;
            Err(StoreError::InvalidInput {
                what: "test",
                message: "stop here".to_string(),
            }
            .into())
        })
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidInput { .. }), "{error}");
    assert_eq!(monitor_count(&store).await, 0);
}

#[tokio::test]
async fn a_panicking_write_is_rolled_back_and_the_writer_carries_on() {
    let (_directory, store) = open_store();
    let error = store
        .write(|transaction| -> Result<(), OpError> {
            transaction
                .execute(
                    "INSERT INTO monitors (name, created_at) VALUES ('doomed', 'x')",
                    [],
                )
                .unwrap();
            panic!("a bug in a write job");
        })
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("a write panicked and was rolled back: a bug in a write job"),
        "{error}"
    );
    assert_eq!(monitor_count(&store).await, 0);
    store.ensure_monitor("after").await.unwrap();
    assert_eq!(monitor_count(&store).await, 1);
}

#[tokio::test]
async fn a_full_disk_comes_out_as_a_clear_error_and_the_writer_recovers() {
    let (directory, store) = open_store();
    // Cap the file at its current size: the next page SQLite needs is refused with
    // SQLITE_FULL, exactly as when the file system has no space left.
    store
        .write(|transaction| {
            let pages: i64 = transaction.query_row("PRAGMA page_count", [], |row| row.get(0))?;
            let capped: i64 =
                transaction
                    .pragma_update_and_check(None, "max_page_count", pages, |row| row.get(0))?;
            assert_eq!(capped, pages);
            Ok(())
        })
        .await
        .unwrap();
    let long_name = "m".repeat(64 * 1024);
    let error = store.ensure_monitor(&long_name).await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StoreError::DiskFull { .. }), "{message}");
    assert!(error.is_environmental());
    assert!(message.contains("the disk is full"), "{message}");
    assert!(
        message.contains(&directory.path().join("state.db").display().to_string()),
        "{message}"
    );

    store
        .write(|transaction| {
            transaction
                .pragma_update_and_check(None, "max_page_count", 1_073_741_823, |_| Ok(()))?;
            Ok(())
        })
        .await
        .unwrap();
    store.ensure_monitor(&long_name).await.unwrap();
    assert_eq!(monitor_count(&store).await, 1);
}
