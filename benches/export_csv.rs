//! Benchmark: `balance-monitor export-csv` of 1,000,000 stored results, against
//! `sqlite3 -csv` exporting the same rows, byte for byte, in the same run.
//!
//! Setup (not timed): a database of 10 runs × 100 chunks × 1,000 results, written with
//! SQL on a migrated store: balances from -$5,000 to +$45,000, 10% failed checks of
//! several codes, 1% of authorizer ids holding a comma and quotes (so both sides quote),
//! UUID-like batch ids, whole-second timestamps. Then, for each round, the real binary
//! and the `sqlite3` shell run as child processes, each writing to a file through its
//! standard output; the parent times each from spawn to exit and polls the child's
//! `/proc/<pid>/status` for its peak resident memory (`VmHWM`, which only grows, so the
//! last reading before exit is the peak, minus at most one 2 ms polling interval of
//! growth). Every output is checked: the binary's is the nine-column header followed by
//! exactly the bytes `sqlite3` wrote, and every round's output has the warm-up's
//! SHA-256.
//!
//! Also measured, once per round and not in the ratio: the binary writing with
//! `-o FILE` (temporary file, fsync, rename), and both exporting one run (100,000
//! rows), to show that peak memory does not grow with the number of rows.
//!
//! ```sh
//! cargo bench --bench export_csv                   # 5 measured rounds
//! cargo bench --bench export_csv -- --iterations 9
//! ```
//!
//! Without a `sqlite3` on `PATH` (install with `apt-get install -y sqlite3`), the
//! reference is skipped with a message and only the binary's figures are printed.

#![forbid(unsafe_code)]

mod support;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const RUNS: u32 = 10;
const CHUNKS_PER_RUN: u32 = 100;
const RESULTS_PER_CHUNK: u32 = 1_000;
const TOTAL: u64 = (RUNS * CHUNKS_PER_RUN * RESULTS_PER_CHUNK) as u64;
const ONE_RUN: u64 = (CHUNKS_PER_RUN * RESULTS_PER_CHUNK) as u64;
const KEY_ENV: &str = "RF_BENCH_KEY";
const HEADER: &str =
    "Authorizer ID,Batch ID,Institution,Phone,Zip,Balance,Status,Creator,Timestamp\n";

/// The same rows' stored columns, unformatted: what reading and quoting alone cost the
/// shell. Not the same text, so only its line count is checked.
const RAW_SQL: &str = "\
SELECT r.authorizer_unique_id, b.rightfoot_batch_id, r.balance_cents, r.balance_status_code,
       r.retrieved_at
FROM results r CROSS JOIN batches b ON b.id = r.batch_id
WHERE r.outcome = 'retrieved'
ORDER BY r.rowid";

/// The export's rows and formatting in SQL, for `sqlite3 -csv` (without its header,
/// which it would quote because of the spaces). `?` is replaced by a WHERE clause.
const REFERENCE_SQL: &str = "\
SELECT r.authorizer_unique_id, b.rightfoot_batch_id, NULL, NULL, NULL,
  CASE WHEN r.balance_cents IS NULL THEN NULL
       ELSE printf('%s%d.%02d', CASE WHEN r.balance_cents < 0 THEN '-' ELSE '' END,
                   abs(r.balance_cents) / 100, abs(r.balance_cents) % 100) END,
  CASE r.balance_status_code WHEN 0 THEN 'SUCCESS'
       WHEN 2560 THEN 'NO_MATCH' WHEN 3000 THEN 'NO_MATCH' WHEN 3001 THEN 'NO_MATCH'
       WHEN 3100 THEN 'NO_MATCH' WHEN 3400 THEN 'NO_MATCH'
       WHEN 3200 THEN 'ACCOUNT_CLOSED'
       WHEN 3300 THEN 'BANK_UNSUPPORTED' WHEN 3310 THEN 'BANK_UNSUPPORTED'
       WHEN 9000 THEN 'PROCESSING_ERROR' ELSE 'RETRIEVAL_FAILED' END,
  NULL,
  substr(r.retrieved_at, 1, 19) || '+00:00'
FROM results r CROSS JOIN batches b ON b.id = r.batch_id
WHERE r.outcome = 'retrieved' ?
ORDER BY r.rowid";

/// One measured round: the binary to stdout, `sqlite3` (if any), the binary with `-o`.
struct Round {
    ours: Child,
    reference: Option<Child>,
    /// `sqlite3 -csv` of the same rows' raw columns, without the export's formatting.
    raw: Option<Child>,
    atomic: Child,
}

struct Child {
    wall: Duration,
    cpu: Duration,
    peak_kib: u64,
}

fn main() {
    let iterations = std::env::args()
        .skip_while(|arg| arg != "--iterations")
        .nth(1)
        .map(|n| n.parse().expect("--iterations N"))
        .unwrap_or(5_usize);
    let binary = release_binary();
    let sqlite3 = support::which("sqlite3");
    println!(
        "export_csv: {TOTAL} results; {}",
        support::machine_summary()
    );
    println!("binary: {}", binary.display());
    match &sqlite3 {
        Some(path) => println!(
            "reference: {} ({})",
            path.display(),
            support::sqlite3_version(path)
        ),
        None => println!(
            "reference: SKIPPED, no sqlite3 on PATH (install it with `apt-get install -y sqlite3`)"
        ),
    }
    println!("load average before: {}", load_average());

    let directory = std::env::temp_dir().join(format!("export_csv_bench_{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let database = directory.join("bench.db");
    let setup = Instant::now();
    build_database(&database);
    let size = std::fs::metadata(&database).unwrap().len();
    println!(
        "setup: {} MiB database in {:.1}s (not timed)",
        size / (1 << 20),
        setup.elapsed().as_secs_f64()
    );
    let config = directory.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "rightfoot:\n  api_key_env: {KEY_ENV}\nstorage:\n  path: bench.db\n\
             monitors:\n  - name: bench\n    schedule: \"0 9 * * *\"\n    authorizers:\n      csv: a.csv\n"
        ),
    )
    .unwrap();

    let ours_out = directory.join("ours.csv");
    let reference_out = directory.join("reference.csv");
    let atomic_out = directory.join("atomic.csv");
    let ours = |out: &Path, extra: &[&str]| {
        let mut command = Command::new(&binary);
        command
            .current_dir(&directory)
            .env_clear()
            .env(KEY_ENV, "unused")
            .args(["--config", "config.yaml", "export-csv"])
            .args(extra);
        run_child(command, out)
    };
    let reference = |out: &Path, filter: &str| {
        let mut command = Command::new(sqlite3.as_ref().unwrap());
        command
            .arg("-csv")
            .arg("-newline")
            .arg("\n")
            .arg(&database)
            .arg(REFERENCE_SQL.replace('?', filter));
        run_child(command, out)
    };

    // Warm-up: fills the page cache, checks both outputs, records the checksum.
    ours(&ours_out, &[]);
    let expected = sha256(&ours_out);
    check_rows(&ours_out, TOTAL);
    if sqlite3.is_some() {
        reference(&reference_out, "");
        assert_same_rows(&ours_out, &reference_out);
    }
    println!(
        "warm-up: outputs verified ({} bytes)",
        std::fs::metadata(&ours_out).unwrap().len()
    );

    let mut rounds: Vec<Round> = Vec::new();
    for round in 1..=iterations {
        let mine = ours(&ours_out, &[]);
        assert_eq!(
            sha256(&ours_out),
            expected,
            "round {round}: our output changed"
        );
        let theirs = sqlite3.as_ref().map(|_| {
            let child = reference(&reference_out, "");
            assert_same_rows(&ours_out, &reference_out);
            child
        });
        let raw = sqlite3.as_ref().map(|path| {
            let mut command = Command::new(path);
            command
                .arg("-csv")
                .arg("-newline")
                .arg("\n")
                .arg(&database)
                .arg(RAW_SQL);
            let child = run_child(command, &reference_out);
            let bytes = std::fs::read(&reference_out).unwrap();
            let lines = bytes.iter().filter(|byte| **byte == b'\n').count() as u64;
            assert_eq!(lines, TOTAL, "round {round}: the raw reference's rows");
            child
        });
        let atomic = ours(Path::new("/dev/null"), &["-o", "atomic.csv"]);
        assert_eq!(
            sha256(&atomic_out),
            expected,
            "round {round}: -o output differs"
        );
        println!(
            "round {round}: binary {:.3}s (cpu {:.3}s, peak {} KiB){}; -o FILE {:.3}s",
            mine.wall.as_secs_f64(),
            mine.cpu.as_secs_f64(),
            mine.peak_kib,
            theirs.as_ref().map_or(String::new(), |t| format!(
                ", sqlite3 {:.3}s (cpu {:.3}s, peak {} KiB), ratio {:.2}",
                t.wall.as_secs_f64(),
                t.cpu.as_secs_f64(),
                t.peak_kib,
                t.wall.as_secs_f64() / mine.wall.as_secs_f64()
            )),
            atomic.wall.as_secs_f64()
        );
        rounds.push(Round {
            ours: mine,
            reference: theirs,
            raw,
            atomic,
        });
    }

    // One run (100,000 rows) against all of them: does memory follow the row count?
    let small_out = directory.join("one_run.csv");
    let small = ours(&small_out, &["--run", "1"]);
    check_rows(&small_out, ONE_RUN);
    let small_reference = sqlite3.as_ref().map(|_| {
        let child = reference(&reference_out, "AND r.run_id = 1");
        assert_same_rows(&small_out, &reference_out);
        child
    });

    let seconds = |f: &dyn Fn(&Round) -> f64| -> (f64, f64) {
        support::min_median(&rounds.iter().map(f).collect::<Vec<_>>())
    };
    let (ours_min, ours_median) = seconds(&|r| r.ours.wall.as_secs_f64());
    let (cpu_min, cpu_median) = seconds(&|r| r.ours.cpu.as_secs_f64());
    let (atomic_min, atomic_median) = seconds(&|r| r.atomic.wall.as_secs_f64());
    let peak_ours = support::max(
        &rounds
            .iter()
            .map(|r| r.ours.peak_kib as f64)
            .collect::<Vec<_>>(),
    );
    println!();
    println!("{iterations} rounds of {TOTAL} rows (min / median):");
    println!(
        "  binary  export-csv > file   {ours_min:.3} / {ours_median:.3} s, cpu {cpu_min:.3} / {cpu_median:.3} s, {:.0} rows/s (median), peak RSS {:.1} MiB",
        TOTAL as f64 / ours_median,
        peak_ours / 1024.0
    );
    println!(
        "  binary  export-csv -o FILE  {atomic_min:.3} / {atomic_median:.3} s (temporary file, fsync, rename)"
    );
    if sqlite3.is_some() {
        let (ref_min, ref_median) = seconds(&|r| r.reference.as_ref().unwrap().wall.as_secs_f64());
        let (rcpu_min, rcpu_median) = seconds(&|r| r.reference.as_ref().unwrap().cpu.as_secs_f64());
        let peak_ref = support::max(
            &rounds
                .iter()
                .map(|r| r.reference.as_ref().unwrap().peak_kib as f64)
                .collect::<Vec<_>>(),
        );
        let ratios: Vec<f64> = rounds
            .iter()
            .map(|r| r.reference.as_ref().unwrap().wall.as_secs_f64() / r.ours.wall.as_secs_f64())
            .collect();
        let (ratio_min, ratio_median) = support::min_median(&ratios);
        println!(
            "  sqlite3 -csv > file         {ref_min:.3} / {ref_median:.3} s, cpu {rcpu_min:.3} / {rcpu_median:.3} s, peak RSS {:.1} MiB",
            peak_ref / 1024.0
        );
        let (raw_min, raw_median) = seconds(&|r| r.raw.as_ref().unwrap().wall.as_secs_f64());
        println!(
            "  sqlite3 -csv, raw columns   {raw_min:.3} / {raw_median:.3} s (no formatting; not the same text)"
        );
        println!(
            "  ratio sqlite3 / binary (wall, per round): min {ratio_min:.2}, median {ratio_median:.2}; of medians {:.2} (goal >= 1.0)",
            ref_median / ours_median
        );
    }
    println!(
        "  one run, {ONE_RUN} rows: binary peak RSS {:.1} MiB in {:.3}s{}",
        small.peak_kib as f64 / 1024.0,
        small.wall.as_secs_f64(),
        small_reference.map_or(String::new(), |t| format!(
            "; sqlite3 peak RSS {:.1} MiB",
            t.peak_kib as f64 / 1024.0
        ))
    );
    println!("load average after: {}", load_average());
    std::fs::remove_dir_all(&directory).unwrap();
}

/// Runs `command` with standard output to `out`, timing it and following its memory.
fn run_child(mut command: Command, out: &Path) -> Child {
    let before = support::children_cpu();
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(File::create(out).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child starts");
    let (status, peak_kib) = support::wait_with_peak_rss(&mut child);
    let wall = started.elapsed();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{command:?} failed: {status}\n{stderr}");
    Child {
        wall,
        cpu: support::children_cpu().saturating_sub(before),
        peak_kib,
    }
}

fn sha256(path: &Path) -> [u8; 32] {
    let mut hasher = Sha256::new();
    std::io::copy(&mut File::open(path).unwrap(), &mut hasher).unwrap();
    hasher.finalize().into()
}

/// The file has the header and `rows` records.
fn check_rows(path: &Path, rows: u64) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    assert_eq!(
        reader
            .headers()
            .unwrap()
            .iter()
            .collect::<Vec<_>>()
            .join(",")
            + "\n",
        HEADER
    );
    assert_eq!(reader.records().count() as u64, rows, "{}", path.display());
}

/// Ours is the header followed by exactly the reference's bytes.
fn assert_same_rows(ours: &Path, reference: &Path) {
    let mut ours = BufReader::with_capacity(1 << 20, File::open(ours).unwrap());
    let mut header = String::new();
    ours.read_line(&mut header).unwrap();
    assert_eq!(header, HEADER);
    let mut theirs = BufReader::with_capacity(1 << 20, File::open(reference).unwrap());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    ours.read_to_end(&mut a).unwrap();
    theirs.read_to_end(&mut b).unwrap();
    if a != b {
        let at = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        let around = |bytes: &[u8]| {
            String::from_utf8_lossy(&bytes[at.saturating_sub(80)..(at + 80).min(bytes.len())])
                .into_owned()
        };
        panic!(
            "outputs differ at byte {at} (ours {} bytes, sqlite3 {}):\nours:    {:?}\nsqlite3: {:?}",
            a.len(),
            b.len(),
            around(&a),
            around(&b)
        );
    }
}

/// The data: a migrated store, then rows written with SQL in one transaction.
fn build_database(path: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = balance_monitor::store::Store::open(path).unwrap();
        store.close().await;
    });
    let mut connection = rusqlite::Connection::open(path).unwrap();
    connection
        .pragma_update(None, "foreign_keys", false)
        .unwrap();
    connection
        .pragma_update(None, "synchronous", "OFF")
        .unwrap();
    let transaction = connection.transaction().unwrap();
    transaction
        .execute_batch(&format!(
            "INSERT INTO monitors (id, name, created_at) VALUES (1, 'bench', '2025-03-01T00:00:00.000000Z');
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {RUNS})
             INSERT INTO runs (id, monitor_id, scheduled_for, run_trigger, state, created_at,
                               started_at, finished_at)
             SELECT i, 1, printf('2025-03-%02dT13:00:00.000000Z', i), 'schedule', 'complete',
                    printf('2025-03-%02dT13:00:00.000000Z', i),
                    printf('2025-03-%02dT13:00:00.000000Z', i),
                    printf('2025-03-%02dT14:00:00.000000Z', i) FROM n;
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n
                                     WHERE i < {RUNS} * {CHUNKS_PER_RUN} - 1)
             INSERT INTO batches (id, run_id, chunk_index, body_sha256, state, rightfoot_batch_id,
                                  submitted_at, accepted_count, deadline, created_at, updated_at,
                                  finished_at)
             SELECT i + 1, i / {CHUNKS_PER_RUN} + 1, i % {CHUNKS_PER_RUN}, printf('%064x', i),
                    'complete',
                    printf('%08x-%04x-4abc-9d3e-%012x', (i * 2654435761) % 4294967296, i % 65536, i),
                    '2025-03-01T13:00:00.000000Z', {RESULTS_PER_CHUNK},
                    '2025-03-01T14:15:00.000000Z', '2025-03-01T13:00:00.000000Z',
                    '2025-03-01T13:00:00.000000Z', '2025-03-01T14:00:00.000000Z' FROM n;
             CREATE TEMP TABLE ids AS
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {TOTAL} - 1)
             SELECT i,
                    i / {ONE_RUN} + 1 AS run_id,
                    i / {RESULTS_PER_CHUNK} + 1 AS batch_id,
                    CASE WHEN i % 100 = 7 THEN printf('BENCH-%06d,\"LLC\"', i % {ONE_RUN})
                         ELSE printf('BENCH-%06d', i % {ONE_RUN}) END AS authorizer,
                    CASE WHEN i % 10 <> 3 THEN 0
                         ELSE CASE (i / 10) % 6 WHEN 0 THEN 3200 WHEN 1 THEN 3400 WHEN 2 THEN 3300
                                                WHEN 3 THEN 9000 WHEN 4 THEN 2560 ELSE 4242 END
                    END AS code
             FROM n;
             INSERT INTO batch_members (run_id, batch_id, authorizer_unique_id)
             SELECT run_id, batch_id, authorizer FROM ids;
             INSERT INTO results (run_id, batch_id, authorizer_unique_id, outcome, balance_cents,
                                  balance_status_code, retrieved_at, recorded_at)
             SELECT run_id, batch_id, authorizer, 'retrieved',
                    CASE WHEN code = 0 THEN (i * 7919) % 5000000 - 500000 END, code,
                    printf('2025-03-%02dT13:%02d:%02d.000000Z', run_id, (i / 60) % 60, i % 60),
                    '2025-03-01T13:30:00.000000Z'
             FROM ids;
             DROP TABLE ids;"
        ))
        .unwrap();
    transaction.commit().unwrap();
    let rows: i64 = connection
        .query_row("SELECT count(*) FROM results", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rows as u64, TOTAL);
    let problems: i64 = connection
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(problems, 0, "the generated rows respect every foreign key");
    connection
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
}

/// The binary cargo built beside this benchmark, with the same profile.
fn release_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_balance-monitor"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
