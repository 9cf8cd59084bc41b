//! The real binary with its store on PostgreSQL: `run-now` against the sandbox stores
//! its run in the database (and creates no SQLite file); `migrate --from PATH.db` copies
//! the demo's SQLite database into a fresh PostgreSQL database, verified table by
//! table, and refuses a second copy without `--force`; then `history`, `runs` and
//! `export-csv` print the same bytes from both; and a read-side command against a server
//! that is down exits 1 naming the database, never its password.

use std::path::Path;

use crate::store::postgres::{create_database, server_url, url_of};
use crate::support::run_binary;

/// The demo's configuration with its storage moved to PostgreSQL, the URL read from
/// `BM_TEST_DATABASE_URL`.
fn postgres_config(demo: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(demo.join("config.yaml")).unwrap();
    assert!(text.contains("storage:\n  path: demo.db\n"), "{text}");
    let moved = text.replace(
        "storage:\n  path: demo.db\n",
        "storage:\n  postgres:\n    url_env: BM_TEST_DATABASE_URL\n    pool_size: 2\n",
    );
    let path = demo.join("config-postgres.yaml");
    std::fs::write(&path, moved).unwrap();
    path
}

#[tokio::test]
async fn the_demos_database_migrates_verified_and_reads_back_byte_for_byte() {
    let scratch = tempfile::tempdir().unwrap();
    let demo = scratch.path().join("demo");
    let ran = run_binary(
        scratch.path(),
        &["demo", "--runs", "2", "--dir", demo.to_str().unwrap()],
        &[],
    );
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let sqlite_config = demo.join("config.yaml");
    let postgres_config = postgres_config(&demo);
    let name = format!("bm_migrate_{}", std::process::id());
    create_database(&name).await;
    let url = url_of(&name);
    let env = [("BM_TEST_DATABASE_URL", url.as_str())];
    let config = |path: &Path| path.to_str().unwrap().to_string();
    let source = demo.join("demo.db");

    let migrated = run_binary(
        &demo,
        &[
            "--config",
            &config(&postgres_config),
            "migrate",
            "--from",
            source.to_str().unwrap(),
        ],
        &env,
    );
    let printed = String::from_utf8_lossy(&migrated.stdout);
    assert!(
        migrated.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(
        printed.contains("verified: every table has the same rows and checksum"),
        "{printed}"
    );
    let results_line = printed
        .lines()
        .find(|line| line.starts_with("results "))
        .unwrap_or_else(|| panic!("no results line in\n{printed}"));
    let rows: u64 = results_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(rows > 0, "{printed}");

    let again = run_binary(
        &demo,
        &[
            "--config",
            &config(&postgres_config),
            "migrate",
            "--from",
            source.to_str().unwrap(),
        ],
        &env,
    );
    let refused = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1), "{refused}");
    assert!(
        refused.contains("is not empty") && refused.contains("--force"),
        "{refused}"
    );
    assert!(!refused.contains(&password()), "{refused}");
    let forced = run_binary(
        &demo,
        &[
            "--config",
            &config(&postgres_config),
            "migrate",
            "--from",
            source.to_str().unwrap(),
            "--force",
        ],
        &env,
    );
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );

    // The same commands on both stores print the same bytes.
    let export = |config_path: &Path| {
        let out = run_binary(
            &demo,
            &["--config", &config(config_path), "export-csv"],
            &env,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let from_sqlite = export(&sqlite_config);
    assert!(from_sqlite.iter().filter(|byte| **byte == b'\n').count() > 1);
    assert_eq!(
        String::from_utf8_lossy(&from_sqlite),
        String::from_utf8_lossy(&export(&postgres_config)),
        "export-csv"
    );
    let first_id = String::from_utf8_lossy(&from_sqlite)
        .lines()
        .nth(1)
        .and_then(|line| line.split(',').next())
        .unwrap()
        .trim_matches('"')
        .to_string();
    for args in [
        vec!["history", first_id.as_str()],
        vec!["history", first_id.as_str(), "--json"],
        vec!["runs"],
        vec!["runs", "show", "1"],
    ] {
        let on = |config_path: &Path| {
            let mut all = vec!["--config".to_string(), config(config_path)];
            all.extend(args.iter().map(|arg| arg.to_string()));
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            let out = run_binary(&demo, &all, &env);
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let sqlite = on(&sqlite_config);
        assert!(!sqlite.trim().is_empty(), "{args:?}");
        assert_eq!(sqlite, on(&postgres_config), "{args:?}");
    }
}

#[test]
fn a_read_against_a_server_that_is_down_exits_1_naming_the_database() {
    let scratch = tempfile::tempdir().unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let mut down = url::Url::parse(&server_url()).unwrap();
    down.set_port(Some(port)).unwrap();
    let config = scratch.path().join("config.yaml");
    std::fs::write(
        &config,
        "rightfoot:\n  api_key_env: RF_KEY\nstorage:\n  postgres:\n    url_env: BM_TEST_DATABASE_URL\n",
    )
    .unwrap();
    let out = run_binary(
        scratch.path(),
        &["--config", config.to_str().unwrap(), "runs"],
        &[("RF_KEY", "k"), ("BM_TEST_DATABASE_URL", down.as_str())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot open the database postgres://postgres@127.0.0.1:{port}/postgres"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains(&password()), "{stderr}");
}

fn password() -> String {
    url::Url::parse(&server_url())
        .unwrap()
        .password()
        .unwrap_or("no password set")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_now_stores_its_run_in_postgresql() {
    use balance_monitor::sandbox::{SANDBOX_DEFAULT_KEY, SandboxConfig};
    use balance_monitor::secret::Secret;

    use crate::support::sandbox::{CsvRow, RunningSandbox, authorizers_csv};

    let mut sandbox_config = SandboxConfig::new([Secret::new(SANDBOX_DEFAULT_KEY)]);
    sandbox_config.processing_time = std::time::Duration::ZERO;
    let sandbox = RunningSandbox::start(sandbox_config).await;
    let scratch = tempfile::tempdir().unwrap();
    let folder = scratch.path().join("pg");
    let made = run_binary(scratch.path(), &["init", folder.to_str().unwrap()], &[]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let config = folder.join("config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let sqlite = "storage:\n  # The SQLite database; its folder must exist and be writable.\n  path: balance-monitor.db\n";
    assert!(
        text.contains(sqlite) && text.contains("base_url: http://127.0.0.1:8455\n"),
        "{text}"
    );
    let text = text
        .replace(
            sqlite,
            "storage:\n  postgres:\n    url_env: BM_TEST_DATABASE_URL\n",
        )
        .replace(
            "base_url: http://127.0.0.1:8455\n",
            &format!("base_url: {}\n", sandbox.url.as_str().trim_end_matches('/')),
        );
    std::fs::write(&config, text).unwrap();
    let row = CsvRow::bank("A-1")
        .meta("loan_id", "LN-1")
        .meta("payment_amount", "100.00");
    std::fs::write(
        folder.join("authorizers.csv"),
        authorizers_csv(&[row], &["loan_id", "payment_amount"]),
    )
    .unwrap();
    let name = format!("bm_run_now_{}", std::process::id());
    create_database(&name).await;
    let url = url_of(&name);
    let (dir, config_text) = (
        scratch.path().to_path_buf(),
        config.to_str().unwrap().to_string(),
    );
    let ran = tokio::task::spawn_blocking(move || {
        let env = [("BM_TEST_DATABASE_URL", url.as_str())];
        let run_now = run_binary(
            &dir,
            &["run-now", "--config", &config_text, "morning-ach"],
            &env,
        );
        let runs = run_binary(&dir, &["--config", &config_text, "runs"], &env);
        (run_now, runs)
    })
    .await
    .unwrap();
    let (run_now, runs) = ran;
    let printed = String::from_utf8_lossy(&run_now.stdout);
    assert_eq!(
        run_now.status.code(),
        Some(0),
        "{printed}{}",
        String::from_utf8_lossy(&run_now.stderr)
    );
    assert!(
        printed.contains("run 1 of morning-ach: complete"),
        "{printed}"
    );
    let listed = String::from_utf8_lossy(&runs.stdout);
    assert!(
        runs.status.success() && listed.contains("morning-ach"),
        "{listed}"
    );
    assert!(
        !folder.join("balance-monitor.db").exists(),
        "no SQLite file"
    );
    let stored: i64 = crate::store::postgres::admin(Some(&name))
        .await
        .query_one(
            "SELECT count(*) FROM results WHERE outcome = 'retrieved'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1, "the borrower's balance is in PostgreSQL");
}
