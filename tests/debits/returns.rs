//! `balance-monitor returns import FILE` as the real binary against a real database:
//! bad rows named with their line and column (exit 1, the good rows imported), the same
//! file imported twice changing nothing, and a conflicting return leaving the stored one.

use std::path::Path;

use balance_monitor::store::Store;

use crate::support::{run_binary, write_file};

const CONFIG: &str = r#"rightfoot:
  base_url: http://127.0.0.1:9
  api_key_env: RF_KEY
storage:
  path: state/balance-monitor.db
monitors:
  - name: ach-precheck
    schedule: "0 7 * * 1-5"
    authorizers: { csv: borrowers.csv }
"#;

fn import(dir: &Path, file: &str) -> (Option<i32>, String, String) {
    let out = run_binary(
        dir,
        &["--config", "config.yaml", "returns", "import", file],
        &[("RF_KEY", "k")],
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn returns_import_refuses_bad_rows_by_line_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "config.yaml", CONFIG.as_bytes(), 0o600);
    std::fs::create_dir(dir.path().join("state")).unwrap();
    let database = dir.path().join("state/balance-monitor.db");
    Store::open(&database).unwrap().close().await;
    write_file(
        dir.path(),
        "returns.csv",
        b"debit_id,return_code,return_date\nD-1,R01,2026-12-10\nD-2,X1,2026-12-10\nD-3,R09,2026-12-11\n",
        0o644,
    );

    let (code, stdout, stderr) = import(dir.path(), "returns.csv");
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "returns.csv: 2 returns imported, 0 already stored, 1 refused, 0 conflicting\n"
    );
    assert!(
        stderr.starts_with(
            "returns.csv:3: column return_code: invalid return code \"X1\": expected a Nacha code such as R01\n"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 row of returns.csv not imported (see above); the other rows were"),
        "{stderr}"
    );

    let (code, stdout, _) = import(dir.path(), "returns.csv");
    assert_eq!(code, Some(1));
    assert_eq!(
        stdout,
        "returns.csv: 0 returns imported, 2 already stored, 1 refused, 0 conflicting\n"
    );

    write_file(
        dir.path(),
        "again.csv",
        b"debit_id,return_code,return_date\nD-3,R09,2026-12-11\nD-1,R01,2026-12-10\n",
        0o644,
    );
    let (code, stdout, stderr) = import(dir.path(), "again.csv");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout,
        "again.csv: 0 returns imported, 2 already stored, 0 refused, 0 conflicting\n"
    );

    write_file(
        dir.path(),
        "other.csv",
        b"debit_id,return_code,return_date\nD-1,R02,2026-12-10\nD-4,R01,2026-12-12\n",
        0o644,
    );
    let (code, stdout, stderr) = import(dir.path(), "other.csv");
    assert_eq!(code, Some(1));
    assert_eq!(
        stdout,
        "other.csv: 1 return imported, 0 already stored, 0 refused, 1 conflicting\n"
    );
    assert!(
        stderr.starts_with(
            "other.csv: debit \"D-1\" was already returned with R01 on 2026-12-10; the stored return stays\n"
        ),
        "{stderr}"
    );
}

#[test]
fn returns_import_without_a_database_says_so() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "config.yaml", CONFIG.as_bytes(), 0o600);
    write_file(
        dir.path(),
        "returns.csv",
        b"debit_id,return_code,return_date\n",
        0o644,
    );
    let (code, _, stderr) = import(dir.path(), "returns.csv");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("does not exist"), "{stderr}");
}
