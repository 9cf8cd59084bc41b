//! What only the SQLite backend can show: its file (created private, migrated, left in
//! WAL mode, refused when newer or not a database), a schema with no column for
//! personal data, how values are stored, and readers that a lock held by another
//! process does not block.
//!
//! A second, plain `rusqlite` connection plays the operator with a `sqlite3` shell: it
//! reads the schema back, tampers with the version, and holds locks. These tests are
//! SQLite's own; the behaviour every backend shares is in `suite.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use balance_monitor::money::Cents;
use balance_monitor::store::{LATEST_VERSION, RunState, Store, StoreError};
use rusqlite::Connection;

use super::OpenStore;
use super::suite::{chunk, result, run_with_chunk, submitted};

/// How long a test waits for something that should be immediate before failing. A
/// failure detector only: nothing waits for it to elapse.
const PATIENCE: Duration = Duration::from_secs(20);

/// The SQLite backend for the shared suite: one file in the test's directory.
pub struct Sqlite;

impl OpenStore for Sqlite {
    async fn open(directory: &Path) -> Store {
        Store::open(database_in(directory)).unwrap()
    }
}

fn database_in(directory: &Path) -> PathBuf {
    directory.join("balance-monitor.db")
}

fn database(directory: &tempfile::TempDir) -> PathBuf {
    database_in(directory.path())
}

fn external(path: &Path) -> Connection {
    Connection::open(path).unwrap()
}

fn count(path: &Path, sql: &str) -> i64 {
    external(path).query_row(sql, [], |row| row.get(0)).unwrap()
}

#[tokio::test]
async fn an_empty_file_is_migrated_to_the_latest_version() {
    let directory = tempfile::tempdir().unwrap();
    let path = database(&directory);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().await.unwrap(), LATEST_VERSION);
    assert_eq!(
        store.description(),
        format!("SQLite database {}", path.display())
    );
    let tables = count(
        &path,
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN \
         ('monitors', 'runs', 'batches', 'batch_failed_authorizers', 'batch_members', \
          'results', 'alerts', 'outbox', 'schedule_state', 'webhook_events')",
    );
    assert_eq!(tables, 10);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the database is private to its owner");
}

#[tokio::test]
async fn reopening_keeps_the_data_and_does_not_migrate_again() {
    let directory = tempfile::tempdir().unwrap();
    let path = database(&directory);
    let (monitor, run, batch) = {
        let store = Store::open(&path).unwrap();
        let ids = run_with_chunk(&store, "payroll", &["a1", "a2"], "BATCH-1").await;
        store
            .upsert_results(ids.1, ids.2, &[result("a1", Some(-8368), 0)])
            .await
            .unwrap();
        store.close().await;
        ids
    };
    let schema_before: String = external(&path)
        .query_row(
            "SELECT group_concat(sql, ';') FROM sqlite_master ORDER BY name",
            [],
            |row| row.get(0),
        )
        .unwrap();

    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().await.unwrap(), LATEST_VERSION);
    assert_eq!(store.ensure_monitor("payroll").await.unwrap(), monitor);
    let record = store.run(run).await.unwrap().expect("the run survives");
    assert_eq!(record.state, RunState::Running);
    assert_eq!(record.monitor_name, "payroll");
    let history = store.authorizer_history("a1", 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].balance, Some(Cents(-8368)));
    assert_eq!(
        store.members_without_result(batch).await.unwrap(),
        vec!["a2".to_string()]
    );
    let schema_after: String = external(&path)
        .query_row(
            "SELECT group_concat(sql, ';') FROM sqlite_master ORDER BY name",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(schema_before, schema_after);
}

#[tokio::test]
async fn a_database_from_a_newer_release_is_refused_untouched() {
    let directory = tempfile::tempdir().unwrap();
    let path = database(&directory);
    let future = LATEST_VERSION + 1;
    {
        let connection = external(&path);
        connection
            .execute_batch(&format!(
                "CREATE TABLE future (x); PRAGMA user_version = {future};"
            ))
            .unwrap();
    }
    let error = Store::open(&path).unwrap_err();
    assert!(
        matches!(error, StoreError::SchemaTooNew { found, .. } if found == future),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "database {} has schema version {future}, this balance-monitor supports up to {LATEST_VERSION}; \
             upgrade balance-monitor or restore a backup",
            path.display()
        )
    );
    let connection = external(&path);
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    let journal: String = connection
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(
        (version, journal.as_str()),
        (future, "delete"),
        "nothing was changed"
    );
    assert_eq!(count(&path, "SELECT count(*) FROM sqlite_master"), 1);
}

#[test]
fn a_missing_directory_is_an_error_not_created() {
    let directory = tempfile::tempdir().unwrap();
    let missing = directory.path().join("no-such-dir");
    let path = missing.join("state.db");
    let error = Store::open(&path).unwrap_err();
    assert!(
        matches!(error, StoreError::DirectoryMissing { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains(&format!("directory {} does not exist", missing.display())),
        "{message}"
    );
    assert!(!missing.exists());
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("config.yaml");
    let text = "monitors:\n  - name: payroll\n".repeat(100);
    std::fs::write(&path, &text).unwrap();
    let error = Store::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::NotADatabase { .. }), "{error}");
    assert!(
        error.to_string().starts_with(&format!(
            "{} is not a balance-monitor database",
            path.display()
        )),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "the file is untouched"
    );
}

#[tokio::test]
async fn the_file_is_left_in_wal_mode() {
    let directory = tempfile::tempdir().unwrap();
    let path = database(&directory);
    let _store = Store::open(&path).unwrap();
    let journal: String = external(&path)
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
}

/// Regression (issue 15): `/readyz` probed the store with an empty transaction, which
/// commits without writing and so succeeds on a full disk. The test write must reach
/// the file: the WAL grows by it.
#[tokio::test]
async fn the_test_write_reaches_the_disk() {
    let directory = tempfile::tempdir().unwrap();
    let path = database(&directory);
    let store = Store::open(&path).unwrap();
    let wal = path.with_extension("db-wal");
    let before = std::fs::metadata(&wal).map_or(0, |m| m.len());
    store.check_writable().await.unwrap();
    let after = std::fs::metadata(&wal).unwrap().len();
    assert!(
        after > before,
        "the WAL grew from {before} to {after} bytes"
    );
}

/// Pages overwritten in the middle of the file: the integrity check says the file is
/// corrupt and what to do, naming it. The filler is large enough that the middle of the
/// file is its data, whatever pages the schema takes (with 300 rows, migration 0012's
/// table moved the middle onto the schema's own pages).
#[tokio::test]
async fn overwritten_pages_fail_the_integrity_check() {
    let directory = tempfile::tempdir().unwrap();
    let path = database(&directory);
    Store::open(&path).unwrap().close().await;
    external(&path)
        .execute_batch(
            "CREATE TABLE filler (id INTEGER PRIMARY KEY, body BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
             INSERT INTO filler (body) SELECT randomblob(600) FROM n;
             PRAGMA wal_checkpoint(TRUNCATE);",
        )
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2 / 4096 * 4096;
    bytes[middle..middle + 3 * 4096].fill(0xA5);
    std::fs::write(&path, bytes).unwrap();
    let store = Store::open(&path).unwrap();
    let error = store.quick_check().await.unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string())
            && message.contains("restore the latest backup"),
        "{message}"
    );
}

/// Whether a column name suggests personal data. `name` is allowed only as a
/// monitor's name (a label the lender chose).
fn suggests_personal_data(table: &str, column: &str) -> bool {
    const WORDS: &[&str] = &["ssn", "ein", "tin", "dob", "zip", "cvv", "cvc", "pan"];
    const FRAGMENTS: &[&str] = &[
        "account", "routing", "card", "birth", "name", "address", "street", "city", "phone",
        "email", "postal", "meta", "social", "tax", "expir", "ssn",
    ];
    if (table, column) == ("monitors", "name") {
        return false;
    }
    let lower = column.to_ascii_lowercase();
    lower.split('_').any(|word| WORDS.contains(&word))
        || FRAGMENTS.iter().any(|fragment| lower.contains(fragment))
}

#[test]
fn the_personal_data_check_catches_what_it_should() {
    for (table, column) in [
        ("results", "ssn"),
        ("results", "account_number"),
        ("runs", "routing_number"),
        ("x", "debit_card_number"),
        ("x", "cvv"),
        ("x", "date_of_birth"),
        ("x", "dob"),
        ("x", "first_name"),
        ("runs", "name"),
        ("x", "street_address_line1"),
        ("x", "phone_number"),
        ("x", "zip_code"),
        ("x", "ein"),
        ("x", "meta_customer_ref"),
    ] {
        assert!(suggests_personal_data(table, column), "{table}.{column}");
    }
    for (table, column) in [
        ("monitors", "name"),
        ("results", "authorizer_unique_id"),
        ("results", "balance_cents"),
        ("runs", "reason"),
        ("alerts", "consecutive_failures"),
        ("webhook_events", "received_at"),
    ] {
        assert!(!suggests_personal_data(table, column), "{table}.{column}");
    }
}

#[tokio::test]
async fn no_column_suggests_personal_data() {
    let directory = tempfile::tempdir().unwrap();
    let path = database(&directory);
    let _store = Store::open(&path).unwrap();
    let connection = external(&path);
    let columns: Vec<(String, String)> = connection
        .prepare(
            "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c \
             WHERE m.type = 'table' ORDER BY m.name, c.cid",
        )
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        columns.len() > 50,
        "the whole schema was read: {}",
        columns.len()
    );
    assert!(columns.contains(&("results".to_string(), "authorizer_unique_id".to_string())));
    let offending: Vec<String> = columns
        .iter()
        .filter(|(table, column)| suggests_personal_data(table, column))
        .map(|(table, column)| format!("{table}.{column}"))
        .collect();
    assert!(
        offending.is_empty(),
        "columns that suggest personal data: {offending:?}"
    );
}

#[tokio::test]
async fn a_read_is_not_blocked_by_another_process_holding_the_write_lock() {
    let directory = tempfile::tempdir().unwrap();
    let path = database(&directory);
    let store = Store::open(&path).unwrap();
    let (_, run, batch) = run_with_chunk(&store, "payroll", &["a1"], "B-1").await;
    store
        .upsert_results(run, batch, &[result("a1", Some(100), 0)])
        .await
        .unwrap();

    // An operator's shell takes the write lock and changes the balance, uncommitted.
    let shell = external(&path);
    shell
        .execute_batch("BEGIN IMMEDIATE; UPDATE results SET balance_cents = 999;")
        .unwrap();

    let history = tokio::time::timeout(PATIENCE, store.authorizer_history("a1", 10))
        .await
        .expect("a read must not wait for a writer")
        .unwrap();
    assert_eq!(
        history[0].balance,
        Some(Cents(100)),
        "only committed data is seen"
    );
    assert!(
        !shell.is_autocommit(),
        "the write transaction was open during the read"
    );
    shell.execute_batch("ROLLBACK").unwrap();
}

#[tokio::test]
async fn money_is_stored_as_integer_cents_and_every_refusal_has_one_row() {
    let directory = tempfile::tempdir().unwrap();
    let path = database(&directory);
    let store = Store::open(&path).unwrap();
    let (_, run, batch) = run_with_chunk(&store, "payroll", &["a1", "a2"], "B-1").await;
    store
        .upsert_results(run, batch, &[result("a1", Some(-8368), 0)])
        .await
        .unwrap();
    let (balance, kind): (i64, String) = external(&path)
        .query_row(
            "SELECT balance_cents, typeof(balance_cents) FROM results \
             WHERE authorizer_unique_id = 'a1'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!((balance, kind.as_str()), (-8368, "integer"));

    // A 201 that refuses a member twice and someone not in the chunk once keeps one row
    // per refused authorizer, the member's reasons joined.
    let refused = store
        .begin_batch(
            run,
            1,
            chunk([3; 32], vec!["c1".to_string(), "c2".to_string()]),
        )
        .await
        .unwrap();
    let failed = [
        ("c2", "Missing date of birth for authorizer(s)."),
        ("c2", "Invalid routing number for authorizer(s)."),
        ("not-ours", "Invalid account number 000123456789."),
    ];
    store
        .mark_batch_submitted(refused, submitted("B-3", 1, &failed))
        .await
        .unwrap();
    assert_eq!(
        count(&path, "SELECT count(*) FROM batch_failed_authorizers"),
        2
    );
}
