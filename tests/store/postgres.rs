//! What only the PostgreSQL backend can show: two stores opening one empty database
//! together migrate it once, a schema from a newer release is refused, a bad URL, a
//! wrong password and a server that is down each fail with a message that names the
//! database and never the password, TLS through rustls (`require` encrypts,
//! `verify-full` refuses an unknown issuer), connections the server ends lose
//! nothing, and `migrate --from` carries the debit decisions and returns over.
//!
//! The server is the one `BALANCE_MONITOR_TEST_POSTGRES_URL` names (`scripts/test`
//! starts a throwaway cluster and sets it); each test directory gets a database of its
//! own, created on first use, so the suite's tests never see each other's rows. A
//! second, plain tokio-postgres connection plays the operator with `psql`.

use std::hash::{Hash, Hasher};
use std::path::Path;

use balance_monitor::store::{LATEST_VERSION, PostgresOptions, Store, StoreError};

use super::OpenStore;

/// The PostgreSQL backend for the shared suite: a database per test directory.
pub struct Postgres;

impl OpenStore for Postgres {
    async fn open(directory: &Path) -> Store {
        let url = database_for(directory).await;
        Store::open_postgres(&url, &PostgresOptions { pool_size: 4 })
            .await
            .unwrap()
    }
}

/// The server's URL, or a failure that says how to get one.
pub fn server_url() -> String {
    std::env::var("BALANCE_MONITOR_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "BALANCE_MONITOR_TEST_POSTGRES_URL is not set: run the tests with scripts/test, \
             which starts a throwaway PostgreSQL, or set it to postgres://USER:PASSWORD@HOST:PORT/DB \
             of a server where databases may be created"
        )
    })
}

/// The URL of the database named `name` on the test server.
pub fn url_of(name: &str) -> String {
    let mut url = url::Url::parse(&server_url()).expect("a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// A connection to the server's own database, for the operator's statements.
pub async fn admin(database: Option<&str>) -> tokio_postgres::Client {
    let url = database.map_or_else(server_url, url_of);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("the test server accepts connections");
    tokio::spawn(connection);
    client
}

/// Creates (once) the database for a test directory and returns its URL.
pub async fn database_for(directory: &Path) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    directory.hash(&mut hasher);
    std::process::id().hash(&mut hasher);
    let name = format!("bm_test_{:016x}", hasher.finish());
    create_database(&name).await;
    url_of(&name)
}

/// Creates the database `name` unless it exists.
pub async fn create_database(name: &str) {
    let client = admin(None).await;
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    if !exists {
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn two_stores_opening_an_empty_database_together_migrate_it_once() {
    let directory = tempfile::tempdir().unwrap();
    let url = database_for(directory.path()).await;
    let options = PostgresOptions { pool_size: 2 };
    let (first, second) = tokio::join!(
        Store::open_postgres(&url, &options),
        Store::open_postgres(&url, &options)
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.schema_version().await.unwrap(), LATEST_VERSION);
    assert_eq!(second.schema_version().await.unwrap(), LATEST_VERSION);
    let name = url::Url::parse(&url).unwrap().path()[1..].to_string();
    let applied: Vec<i64> = admin(Some(&name))
        .await
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    // 0009_initial, then each later migration, each applied once.
    let expected: Vec<i64> = (9..=LATEST_VERSION).collect();
    assert_eq!(applied, expected, "every migration, applied once");
    assert!(
        first
            .description()
            .starts_with("PostgreSQL database postgres://"),
        "{}",
        first.description()
    );
    assert!(!first.description().contains(&password()), "no password");
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused_naming_both_versions() {
    let directory = tempfile::tempdir().unwrap();
    let store = Postgres::open(directory.path()).await;
    store.close().await;
    let url = database_for(directory.path()).await;
    let name = url::Url::parse(&url).unwrap().path()[1..].to_string();
    let future = LATEST_VERSION + 1;
    admin(Some(&name))
        .await
        .execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, 'from the future')",
            &[&future],
        )
        .await
        .unwrap();
    let error = Store::open_postgres(&url, &PostgresOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::SchemaTooNew { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&format!("has schema version {future}"))
            && message.contains(&format!("supports up to {LATEST_VERSION}")),
        "{message}"
    );
    assert!(!message.contains(&password()), "{message}");
}

#[tokio::test]
async fn a_wrong_password_a_server_that_is_down_and_a_bad_url_are_named_without_the_password() {
    let mut wrong = url::Url::parse(&server_url()).unwrap();
    wrong.set_password(Some("not-the-password")).unwrap();
    let error = Store::open_postgres(wrong.as_str(), &PostgresOptions::default())
        .await
        .unwrap_err();
    let message = balance_monitor::text::error_chain(&error);
    assert!(
        message.contains("password authentication failed"),
        "{message}"
    );
    assert!(!message.contains("not-the-password"), "{message}");

    // A port nothing listens on: the server is down.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let mut down = url::Url::parse(&server_url()).unwrap();
    down.set_port(Some(port)).unwrap();
    let error = Store::open_postgres(down.as_str(), &PostgresOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Open { .. }), "{error}");
    let message = balance_monitor::text::error_chain(&error);
    assert!(
        message.contains(&format!(
            "cannot open database postgres://postgres@127.0.0.1:{port}/postgres"
        )),
        "{message}"
    );
    assert!(!message.contains(&password()), "{message}");

    let bad = server_url().replace("postgres://", "postgress://");
    let error = Store::open_postgres(&bad, &PostgresOptions::default())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("postgres:// or postgresql://"),
        "{message}"
    );
    assert!(!message.contains(&password()), "{message}");
}

/// The test server's password, to check that no message quotes it.
fn password() -> String {
    url::Url::parse(&server_url())
        .unwrap()
        .password()
        .unwrap_or("no password set")
        .to_string()
}

/// TLS through rustls: the test server is given a self-signed certificate (by a reload,
/// taken back at the end); `sslmode=require` then encrypts (the server's own view,
/// `pg_stat_ssl`, says so), and `verify-full` refuses the unknown issuer, naming the
/// database and not the password.
#[tokio::test]
async fn require_encrypts_through_rustls_and_verify_full_refuses_an_unknown_certificate() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

    let admin_client = admin(None).await;
    let data: String = admin_client
        .query_one("SELECT current_setting('data_directory')", &[])
        .await
        .unwrap()
        .get(0);
    let owner = std::fs::metadata(&data)
        .expect("the test server's data directory is on this machine")
        .uid();
    let folder = tempfile::tempdir().unwrap();
    std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (cert, key) = (
        folder.path().join("cert.pem"),
        folder.path().join("key.pem"),
    );
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes a test certificate");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    for file in [&cert, &key] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(file, Some(owner), None).unwrap();
    }
    // ALTER SYSTEM may not share a transaction: one statement at a time.
    for statement in [
        format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert.display()),
        format!("ALTER SYSTEM SET ssl_key_file = '{}'", key.display()),
        "ALTER SYSTEM SET ssl = on".to_string(),
        "SELECT pg_reload_conf()".to_string(),
    ] {
        admin_client.batch_execute(&statement).await.unwrap();
    }

    let directory = tempfile::tempdir().unwrap();
    let url = database_for(directory.path()).await;
    let name = url::Url::parse(&url).unwrap().path()[1..].to_string();
    let with = |mode: &str| format!("{url}?sslmode={mode}");
    // The postmaster applies the reload on its own time: new connections see it soon.
    let mut opened = None;
    for _ in 0..100 {
        match Store::open_postgres(&with("require"), &PostgresOptions { pool_size: 1 }).await {
            Ok(store) => {
                opened = Some(store);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    let store = opened.expect("sslmode=require connects once the server offers TLS");
    let encrypted: i64 = admin_client
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid \
             WHERE a.datname = $1 AND a.application_name = 'balance-monitor' AND s.ssl",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(encrypted, 1, "the pool's one connection is encrypted");
    store.close().await;

    let error = Store::open_postgres(&with("verify-full"), &PostgresOptions::default())
        .await
        .unwrap_err();
    let message = balance_monitor::text::error_chain(&error);
    for statement in [
        "ALTER SYSTEM RESET ssl",
        "ALTER SYSTEM RESET ssl_cert_file",
        "ALTER SYSTEM RESET ssl_key_file",
        "SELECT pg_reload_conf()",
    ] {
        admin_client.batch_execute(statement).await.unwrap();
    }
    assert!(
        message.contains("cannot open database postgres://"),
        "{message}"
    );
    assert!(message.to_lowercase().contains("certificate"), "{message}");
    assert!(!message.contains(&password()), "{message}");
}

/// The server ending the store's connections (`pg_terminate_backend`, as an operator
/// or a failover does) loses nothing stored: a write caught by it fails as an
/// environmental error the daemon waits out, and the next one goes through on a new
/// connection.
#[tokio::test]
async fn connections_ended_by_the_server_lose_nothing_and_the_next_write_reconnects() {
    let directory = tempfile::tempdir().unwrap();
    let store = Postgres::open(directory.path()).await;
    let kept = store.ensure_monitor("kept").await.unwrap();
    let url = database_for(directory.path()).await;
    let name = url::Url::parse(&url).unwrap().path()[1..].to_string();
    let ended: i64 = admin(None)
        .await
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = 'balance-monitor') AS ended",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ended >= 1, "the store held a connection");
    let mut written = None;
    for _ in 0..3 {
        match store.ensure_monitor("after").await {
            Ok(id) => {
                written = Some(id);
                break;
            }
            Err(error) => assert!(error.is_environmental(), "{error}"),
        }
    }
    assert!(written.is_some(), "a new connection takes the write");
    assert_eq!(store.monitor_id("kept").await.unwrap(), Some(kept));
}

/// Regression: `migrate --from` listed the tables of migration 0009 only, so an SQLite
/// database with debit decisions and returns (0010) lost them on the way.
#[tokio::test]
async fn migrate_from_sqlite_copies_debit_decisions_and_returns_verified() {
    use balance_monitor::domain::Decision;
    use balance_monitor::money::Cents;
    use balance_monitor::store::{
        DecisionQuery, DecisionRow, NewReturn, migrate_sqlite_to_postgres,
    };
    use chrono::{NaiveDate, TimeZone, Utc};

    let directory = tempfile::tempdir().unwrap();
    let source = directory.path().join("source.db");
    let sqlite = Store::open(&source).unwrap();
    let (_, run, _) = super::suite::run_with_chunk(&sqlite, "ach", &["A"], "batch-1").await;
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
    let decisions = vec![
        DecisionRow {
            debit_id: "a-1".to_string(),
            authorizer_unique_id: "A".to_string(),
            debit_date: day(1),
            settles_on: day(2),
            amount: Cents(18_000),
            decision: Decision::Send,
            reason: "balance 500.00 covers 180.00".to_string(),
            balance: Some(Cents(50_000)),
            checked_at: Some(Utc.with_ymd_and_hms(2026, 12, 1, 9, 5, 0).unwrap()),
        },
        DecisionRow {
            debit_id: "a-2".to_string(),
            authorizer_unique_id: "A".to_string(),
            debit_date: day(8),
            settles_on: day(9),
            amount: Cents(18_000),
            decision: Decision::Unknown,
            reason: "not checked".to_string(),
            balance: None,
            checked_at: None,
        },
    ];
    sqlite
        .record_decisions(run, decisions.clone())
        .await
        .unwrap();
    let returns = vec![NewReturn {
        debit_id: "a-1".to_string(),
        return_code: "R01".to_string(),
        return_date: day(4),
    }];
    sqlite
        .import_returns(
            returns.clone(),
            Utc.with_ymd_and_hms(2026, 12, 5, 8, 0, 0).unwrap(),
        )
        .await
        .unwrap();
    let latest = sqlite
        .latest_decisions(DecisionQuery::default())
        .await
        .unwrap();
    let tally = sqlite.decision_tally(day(1), day(31), None).await.unwrap();
    sqlite.close().await;

    let url = database_for(directory.path()).await;
    let options = PostgresOptions { pool_size: 2 };
    let copied = migrate_sqlite_to_postgres(&source, &url, &options, false)
        .await
        .unwrap();
    let rows = |table: &str| {
        copied
            .iter()
            .find(|copy| copy.table == table)
            .unwrap_or_else(|| panic!("{table} was not copied"))
            .rows
    };
    assert_eq!((rows("debit_decisions"), rows("debit_returns")), (2, 1));

    let postgres = Store::open_postgres(&url, &options).await.unwrap();
    assert_eq!(postgres.run_decisions(run).await.unwrap(), decisions);
    assert_eq!(
        postgres
            .latest_decisions(DecisionQuery::default())
            .await
            .unwrap(),
        latest
    );
    assert_eq!(
        postgres
            .decision_tally(day(1), day(31), None)
            .await
            .unwrap(),
        tally
    );
    assert_eq!(tally.sent_returned_for_funds, 1);
    // The return is there: importing it again changes nothing.
    let again = postgres
        .import_returns(returns, Utc.with_ymd_and_hms(2026, 12, 6, 8, 0, 0).unwrap())
        .await
        .unwrap();
    assert_eq!((again.added, again.unchanged), (0, 1));
    postgres.close().await;
}
