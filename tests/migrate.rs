//! `balance-monitor migrate --from PATH.db` with the real binary: the demo's SQLite
//! database copied into a fresh PostgreSQL database and verified table by table; a
//! second copy refused without `--force`; then `history` and `export-csv` print the same
//! bytes from both; and a read-side command against a PostgreSQL server that is down
//! exits 1 naming the database, never its password.

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
