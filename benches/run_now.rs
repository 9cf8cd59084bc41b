//! Benchmark: `balance-monitor run-now` of 100,000 authorizers against the sandbox, end
//! to end, and the store's ingest of those results against the `sqlite3` shell's
//! `.import` of the same rows into the same schema, in the same run.
//!
//! **End to end.** Setup (not timed): 100,000 authorizers as Rightfoot-format CSV (all
//! made up; mode 0600) and a configuration: `max_batch_size: 1000`,
//! `max_in_flight_batches: 4`, `poll_interval: 200ms` (allowed against loopback), the
//! rules of the example configuration, no route. Each round starts a fresh sandbox
//! (`balance-monitor sandbox --processing-time 0s`, its own process, so its 24-hour
//! body cache never answers a round) and a fresh database, then runs the release binary
//! `run-now` as a child process. The parent times it from spawn to exit, polls its
//! `/proc/<pid>/status` every 2 ms for `VmHWM` (only grows, so the last reading is the
//! peak, short of at most 2 ms of growth), and takes its CPU time from `cutime + cstime`
//! across the wait. Every round is verified: the run is `complete` with 100,000
//! `retrieved` results, one per authorizer.
//!
//! **Steady state.** After each round, a copy of its database and a second `run-now`
//! over the same list against a fresh sandbox (new batch ids): the judgement now reads
//! 100,000 remembered balances and the first run's open alerts. Measured the same way;
//! verified: two complete, judged runs, the second with a `retrieved` result for every
//! authorizer.
//!
//! **Ingest.** From the last round's database: the same rows, three ways, each into a
//! copy of that database with its `results` emptied (so the same schema, the same
//! indexes, the same parent rows for the foreign keys), each verified to hold exactly
//! the stored rows afterwards:
//! - **store:** `Store::upsert_results` called as the run calls it: chunk by chunk, one
//!   call per page of 100 rows (the sandbox's and Rightfoot's largest page), each call
//!   one `BEGIN IMMEDIATE` transaction on the writer thread with `synchronous=FULL` in
//!   WAL mode; timed from the first call to the last answer. `Store::open` is not timed.
//! - **`sqlite3 .import`, one transaction:** `.import --csv rows.csv` of the same rows in
//!   the same order (the shell wraps a whole import in one transaction), with
//!   `foreign_keys=ON`, `synchronous=FULL` and the store's `cache_size`, the file already
//!   in WAL mode. CSV cannot say NULL, so the import goes through a view whose
//!   `INSTEAD OF` trigger turns empty fields back into NULL (otherwise the STRICT table
//!   refuses an empty balance). Timed from spawn to exit of the shell.
//! - **`sqlite3 .import`, one transaction per page:** the same, with one `.import` per
//!   100-row file, so it commits (and syncs the WAL) as often as the store does.
//!
//! Also printed: the ingest rate inside the end-to-end run itself, from the results'
//! `recorded_at` (taken at the start of each page's transaction): rows over the time from
//! the first page's transaction to the last one's.
//!
//! **Scale** (issue 21), with `--authorizers` above 100,000: one `run-now` of 100,000
//! authorizers and one of the number given (each `--iterations` times, 1 by default),
//! each against a fresh sandbox and database, measured as above and verified (a
//! `complete` run with a `retrieved` result for every authorizer, once each); then the
//! wall time and peak RSS of each, and the ratios of the larger to the 100,000: peak
//! RSS (goal ≤ 1.25, flat) and wall time per authorizer (goal ≤ 1.25, linear), and
//! the larger run's wall time (goal ≤ 30 s at 1,000,000) and peak (goal ≤ 150 MiB).
//! No steady state and no ingest in this mode.
//!
//! ```sh
//! apt-get install -y sqlite3                   # the reference
//! cargo bench --bench run_now                  # 1 warm-up + 5 measured rounds
//! cargo bench --bench run_now -- --iterations 3 --authorizers 20000
//! cargo bench --bench run_now -- --authorizers 1000000   # scale: 100k and 1M
//! ```

#![forbid(unsafe_code)]

mod support;

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use balance_monitor::money::Cents;
use balance_monitor::store::{BatchRowId, ResultRow, RunId, Store};
use chrono::{DateTime, Utc};
use rusqlite::Connection;

const KEY_ENV: &str = "RF_BENCH_KEY";
const SANDBOX_KEY: &str = "rf_sandbox_key";
const MONITOR: &str = "bench";
const PAGE: usize = 100;
const GOAL_WALL: Duration = Duration::from_secs(5);
const GOAL_PEAK_MIB: f64 = 150.0;

struct Round {
    wall: Duration,
    cpu: Duration,
    peak_kib: u64,
    sandbox_cpu: Duration,
    in_run_rate: f64,
    /// The next run over the same list and database (a fresh sandbox), judged against
    /// the first run's balances and open alerts.
    steady: Measured,
}

/// One `run-now`, measured from the outside.
struct Measured {
    wall: Duration,
    cpu: Duration,
    peak_kib: u64,
}

/// The list the scale mode compares a larger one with.
const SCALE_BASE: usize = 100_000;
const GOAL_SCALE_WALL: Duration = Duration::from_secs(30);
const GOAL_SCALE_RATIO: f64 = 1.25;

fn main() {
    let authorizers: usize = support::argument("--authorizers").unwrap_or(100_000);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_balance-monitor"));
    if authorizers > SCALE_BASE {
        let iterations: usize = support::argument("--iterations").unwrap_or(1);
        scale(&binary, authorizers, iterations);
        return;
    }
    let iterations: usize = support::argument("--iterations").unwrap_or(5);
    let sqlite3 = support::which("sqlite3");
    println!(
        "run_now: {authorizers} authorizers; {}",
        support::machine_summary()
    );
    println!("binary: {}", binary.display());
    match &sqlite3 {
        Some(path) => println!(
            "reference: {} ({})",
            path.display(),
            support::sqlite3_version(path)
        ),
        None => println!("reference: SKIPPED, no sqlite3 on PATH (apt-get install -y sqlite3)"),
    }
    println!("load average before: {}", support::load_average());

    let directory = std::env::temp_dir().join(format!("run_now_bench_{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let csv = directory.join("authorizers.csv");
    write_private(&csv, &authorizers_csv(authorizers));

    let mut rounds = Vec::new();
    let mut last_database = PathBuf::new();
    for round in 0..=iterations {
        let folder = directory.join(format!("round-{round}"));
        std::fs::create_dir_all(&folder).unwrap();
        let measured = run_round(&binary, &folder, &csv, authorizers);
        println!(
            "{} {round}: wall {:.3} s, run-now CPU {:.2} s, peak RSS {:.1} MiB, sandbox CPU {:.2} s, in-run ingest {:.0} results/s; second run: wall {:.3} s, CPU {:.2} s, peak RSS {:.1} MiB",
            if round == 0 { "warm-up" } else { "round" },
            measured.wall.as_secs_f64(),
            measured.cpu.as_secs_f64(),
            measured.peak_kib as f64 / 1024.0,
            measured.sandbox_cpu.as_secs_f64(),
            measured.in_run_rate,
            measured.steady.wall.as_secs_f64(),
            measured.steady.cpu.as_secs_f64(),
            measured.steady.peak_kib as f64 / 1024.0,
        );
        if round > 0 {
            rounds.push(measured);
        }
        if round < iterations {
            std::fs::remove_dir_all(&folder).unwrap();
        } else {
            last_database = folder.join("bench.db");
        }
    }

    let walls: Vec<f64> = rounds.iter().map(|r| r.wall.as_secs_f64()).collect();
    let cpus: Vec<f64> = rounds.iter().map(|r| r.cpu.as_secs_f64()).collect();
    let peaks: Vec<f64> = rounds.iter().map(|r| r.peak_kib as f64 / 1024.0).collect();
    let sandbox: Vec<f64> = rounds.iter().map(|r| r.sandbox_cpu.as_secs_f64()).collect();
    let in_run: Vec<f64> = rounds.iter().map(|r| r.in_run_rate).collect();
    let (wall_min, wall_median) = support::min_median(&walls);
    let (cpu_min, cpu_median) = support::min_median(&cpus);
    let (_, sandbox_median) = support::min_median(&sandbox);
    let (_, in_run_median) = support::min_median(&in_run);
    let peak_max = support::max(&peaks);
    println!();
    println!("end to end ({} rounds; min / median):", rounds.len());
    println!(
        "  wall {wall_min:.3} / {wall_median:.3} s (goal ≤ {} s: {})",
        GOAL_WALL.as_secs(),
        support::verdict(wall_median <= GOAL_WALL.as_secs_f64())
    );
    println!(
        "  run-now CPU {cpu_min:.2} / {cpu_median:.2} s = {:.1} / {:.1} µs per authorizer",
        cpu_min * 1e6 / authorizers as f64,
        cpu_median * 1e6 / authorizers as f64
    );
    println!(
        "  sandbox CPU (median) {sandbox_median:.2} s = {:.1} µs per authorizer",
        sandbox_median * 1e6 / authorizers as f64
    );
    println!(
        "  peak RSS of run-now, highest of the rounds: {peak_max:.1} MiB (goal ≤ {GOAL_PEAK_MIB} MiB: {})",
        support::verdict(peak_max <= GOAL_PEAK_MIB)
    );
    println!("  in-run ingest (median): {in_run_median:.0} results/s");
    let steady_walls: Vec<f64> = rounds.iter().map(|r| r.steady.wall.as_secs_f64()).collect();
    let steady_cpus: Vec<f64> = rounds.iter().map(|r| r.steady.cpu.as_secs_f64()).collect();
    let steady_peaks: Vec<f64> = rounds
        .iter()
        .map(|r| r.steady.peak_kib as f64 / 1024.0)
        .collect();
    let (steady_wall_min, steady_wall_median) = support::min_median(&steady_walls);
    let (_, steady_cpu_median) = support::min_median(&steady_cpus);
    let steady_peak_max = support::max(&steady_peaks);
    println!(
        "  second run (steady state): wall {steady_wall_min:.3} / {steady_wall_median:.3} s (goal ≤ {} s: {}), CPU {steady_cpu_median:.2} s, peak RSS {steady_peak_max:.1} MiB (goal ≤ {GOAL_PEAK_MIB} MiB: {})",
        GOAL_WALL.as_secs(),
        support::verdict(steady_wall_median <= GOAL_WALL.as_secs_f64()),
        support::verdict(steady_peak_max <= GOAL_PEAK_MIB)
    );

    ingest(&directory, &last_database, sqlite3.as_deref(), iterations);
    println!("load average after: {}", support::load_average());
    std::fs::remove_dir_all(&directory).unwrap();
}

/// The scale mode: [`SCALE_BASE`] authorizers and `authorizers`, one fresh `run-now`
/// each per iteration, compared.
fn scale(binary: &Path, authorizers: usize, iterations: usize) {
    println!(
        "run_now scale: {SCALE_BASE} and {authorizers} authorizers, {iterations} run(s) each; {}",
        support::machine_summary()
    );
    println!("binary: {}", binary.display());
    let directory = std::env::temp_dir().join(format!("run_now_scale_{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let mut medians = Vec::new();
    for count in [SCALE_BASE, authorizers] {
        let csv = directory.join(format!("authorizers-{count}.csv"));
        write_private(&csv, &authorizers_csv(count));
        let mut walls = Vec::new();
        let mut peaks = Vec::new();
        for round in 1..=iterations {
            println!("load average before: {}", support::load_average());
            let folder = directory.join(format!("{count}-{round}"));
            std::fs::create_dir_all(&folder).unwrap();
            let measured = scale_round(binary, &folder, &csv, count);
            println!(
                "{count} authorizers, run {round}: wall {:.2} s, run-now CPU {:.2} s, peak RSS {:.1} MiB",
                measured.wall.as_secs_f64(),
                measured.cpu.as_secs_f64(),
                measured.peak_kib as f64 / 1024.0
            );
            walls.push(measured.wall.as_secs_f64());
            peaks.push(measured.peak_kib as f64 / 1024.0);
            std::fs::remove_dir_all(&folder).unwrap();
        }
        std::fs::remove_file(&csv).unwrap();
        let (_, wall) = support::min_median(&walls);
        medians.push((count, wall, support::max(&peaks)));
    }
    let [
        (base, base_wall, base_peak),
        (large, large_wall, large_peak),
    ] = medians[..]
    else {
        unreachable!("two sizes")
    };
    let peak_ratio = large_peak / base_peak;
    let time_ratio = (large_wall / large as f64) / (base_wall / base as f64);
    println!();
    println!("scale (median wall, highest peak):");
    println!("  {base}: wall {base_wall:.2} s, peak RSS {base_peak:.1} MiB");
    println!(
        "  {large}: wall {large_wall:.2} s (goal ≤ {} s: {}), peak RSS {large_peak:.1} MiB (goal ≤ {GOAL_PEAK_MIB} MiB: {})",
        GOAL_SCALE_WALL.as_secs(),
        support::verdict(large_wall <= GOAL_SCALE_WALL.as_secs_f64()),
        support::verdict(large_peak <= GOAL_PEAK_MIB)
    );
    println!(
        "  peak RSS {large}/{base}: {peak_ratio:.2} (goal ≤ {GOAL_SCALE_RATIO}: {})",
        support::verdict(peak_ratio <= GOAL_SCALE_RATIO)
    );
    println!(
        "  wall time per authorizer {large}/{base}: {time_ratio:.2} (goal ≤ {GOAL_SCALE_RATIO}: {})",
        support::verdict(time_ratio <= GOAL_SCALE_RATIO)
    );
    println!("load average after: {}", support::load_average());
    std::fs::remove_dir_all(&directory).unwrap();
}

/// One `run-now` of `authorizers` in `folder` against a fresh sandbox and database,
/// verified: one complete run, every authorizer retrieved once.
fn scale_round(binary: &Path, folder: &Path, csv: &Path, authorizers: usize) -> Measured {
    let (mut sandbox, address) = start_sandbox(binary);
    let config = folder.join("config.yaml");
    std::fs::write(&config, config_yaml(&address, csv)).unwrap();
    let (status, measured) = run_now(binary, &config, folder);
    stop(&mut sandbox);
    if !status.success() {
        let log = std::fs::read_to_string(folder.join("log.json")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        panic!("run-now failed: {status}\n{}", tail.join("\n"));
    }
    verify_first_run(&folder.join("bench.db"), authorizers);
    measured
}

/// One complete run in `database`, every authorizer `retrieved` once.
fn verify_first_run(database: &Path, authorizers: usize) {
    let connection = Connection::open(database).unwrap();
    let (state, runs): (String, i64) = connection
        .query_row("SELECT max(state), count(*) FROM runs", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!((state.as_str(), runs), ("complete", 1), "one complete run");
    let (retrieved, distinct): (i64, i64) = connection
        .query_row(
            "SELECT count(*), count(DISTINCT authorizer_unique_id) FROM results \
             WHERE outcome = 'retrieved'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        retrieved as usize, authorizers,
        "every authorizer retrieved"
    );
    assert_eq!(distinct as usize, authorizers, "once each");
}

/// One end-to-end round in `folder`: a fresh sandbox, a fresh database, one `run-now`;
/// then the steady state on a copy of that database ([`steady_run`]).
fn run_round(binary: &Path, folder: &Path, csv: &Path, authorizers: usize) -> Round {
    let (mut sandbox, address) = start_sandbox(binary);
    let sandbox_pid = sandbox.id().to_string();
    let config = folder.join("config.yaml");
    std::fs::write(&config, config_yaml(&address, csv)).unwrap();
    let sandbox_before = support::ProcessCpu::of(&sandbox_pid).total();

    let (status, measured) = run_now(binary, &config, folder);
    let sandbox_cpu = support::ProcessCpu::of(&sandbox_pid)
        .total()
        .saturating_sub(sandbox_before);
    stop(&mut sandbox);
    if !status.success() {
        let log = std::fs::read_to_string(folder.join("log.json")).unwrap_or_default();
        panic!("run-now failed: {status}\n{log}");
    }
    let steady = steady_run(binary, folder, csv, authorizers);

    // Verify: one complete run, every authorizer retrieved once.
    let database = folder.join("bench.db");
    verify_first_run(&database, authorizers);
    let connection = Connection::open(&database).unwrap();
    let (first, last): (String, String) = connection
        .query_row(
            "SELECT min(recorded_at), max(recorded_at) FROM results",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    let span = parse_time(&last) - parse_time(&first);
    let span = span
        .to_std()
        .unwrap_or_default()
        .max(Duration::from_micros(1));
    Round {
        wall: measured.wall,
        cpu: measured.cpu,
        peak_kib: measured.peak_kib,
        sandbox_cpu,
        steady,
        in_run_rate: authorizers as f64 / span.as_secs_f64(),
    }
}

/// Spawns `run-now` with `config` and measures it: wall time from spawn to exit, CPU
/// (`cutime + cstime` across the wait), and `VmHWM` polled every 2 ms.
fn run_now(binary: &Path, config: &Path, folder: &Path) -> (std::process::ExitStatus, Measured) {
    let before = support::children_cpu();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .arg("--config")
        .arg(config)
        .args(["--log-format", "json", "run-now", MONITOR])
        .env_clear()
        .env(KEY_ENV, SANDBOX_KEY)
        .stdin(Stdio::null())
        .stdout(File::create(folder.join("stdout.txt")).unwrap())
        .stderr(File::create(folder.join("log.json")).unwrap())
        .spawn()
        .expect("run-now starts");
    let (status, peak_kib) = support::wait_with_peak_rss(&mut child);
    let measured = Measured {
        wall: started.elapsed(),
        cpu: support::children_cpu().saturating_sub(before),
        peak_kib,
    };
    (status, measured)
}

/// The steady state: a copy of the round's database after its first run, and a second
/// `run-now` over the same list against a fresh sandbox (new batch ids, so every
/// result is read and stored again), judged against the first run's 100,000 remembered
/// balances and its open alerts. Verified: two complete runs, the second judged, with a
/// `retrieved` result for every authorizer.
fn steady_run(binary: &Path, folder: &Path, csv: &Path, authorizers: usize) -> Measured {
    let steady = folder.join("steady");
    std::fs::create_dir_all(&steady).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let from = folder.join(format!("bench.db{suffix}"));
        if from.exists() {
            std::fs::copy(&from, steady.join(format!("bench.db{suffix}"))).unwrap();
        }
    }
    let (mut sandbox, address) = start_sandbox(binary);
    let config = steady.join("config.yaml");
    std::fs::write(&config, config_yaml(&address, csv)).unwrap();
    let (status, measured) = run_now(binary, &config, &steady);
    stop(&mut sandbox);
    if !status.success() {
        let log = std::fs::read_to_string(steady.join("log.json")).unwrap_or_default();
        panic!("the second run-now failed: {status}\n{log}");
    }
    let connection = Connection::open(steady.join("bench.db")).unwrap();
    let (complete, judged): (i64, i64) = connection
        .query_row(
            "SELECT count(*) FILTER (WHERE state = 'complete'), \
                    count(*) FILTER (WHERE alerts_evaluated_at IS NOT NULL) FROM runs",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!((complete, judged), (2, 2), "two complete, judged runs");
    let retrieved: i64 = connection
        .query_row(
            "SELECT count(*) FROM results WHERE run_id = 2 AND outcome = 'retrieved'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(
        retrieved as usize, authorizers,
        "the second run read everyone"
    );
    drop(connection);
    std::fs::remove_dir_all(&steady).unwrap();
    measured
}

/// Starts `balance-monitor sandbox` on a free loopback port; returns it and its URL.
fn start_sandbox(binary: &Path) -> (std::process::Child, String) {
    let mut child = Command::new(binary)
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--processing-time",
            "0s",
        ])
        .env_clear()
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sandbox starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let mut line = String::new();
    let address = loop {
        line.clear();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            break None;
        }
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split_whitespace().next().map(str::to_string);
        }
    };
    let Some(address) = address else {
        let status = child.wait();
        panic!("the sandbox exited without saying where it listens: {status:?}");
    };
    // Keep draining its stderr so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = stderr.read_to_string(&mut sink);
    });
    (child, format!("http://{address}"))
}

fn stop(child: &mut std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn config_yaml(sandbox: &str, csv: &Path) -> String {
    format!(
        "\
rightfoot:
  base_url: {sandbox}
  api_key_env: {KEY_ENV}
  poll_interval: 200ms
  result_deadline: 10m
  max_batch_size: 1000
  max_in_flight_batches: 4
storage:
  path: bench.db
http:
  listen: 127.0.0.1:0
defaults:
  rules:
    - balance_below: {{ amount: 150.00 }}
    - below_payment: {{ field: payment_amount, margin: 25.00 }}
    - drop_percent: {{ percent: 40, window: 7d }}
    - drop_amount: {{ amount: 500.00 }}
    - negative_balance: {{}}
    - check_failed: {{ codes: [3200, 3300, 3400] }}
    - stale: {{ after: 3d }}
    - run_failed: {{}}
  alert_fields: [loan_id, payment_amount]
monitors:
  - name: {MONITOR}
    schedule: \"0 6 1 1 *\"
    authorizers:
      csv: {}
",
        csv.display()
    )
}

/// Rightfoot-format CSV of `count` made-up authorizers: 900-series SSNs are never
/// issued, 555 phone numbers are fictional. Numbered from 1 (`BENCH-000001`), or from 0
/// for a million or more, so that every SSN keeps its nine digits.
fn authorizers_csv(count: usize) -> String {
    let mut text = String::from(
        "authorizer_unique_id,first_name,last_name,street_address_line1,city,state,zip_code,country,phone_number,date_of_birth,ssn,account_number,routing_number,meta_loan_id,meta_payment_amount\n",
    );
    let first = if count < 1_000_000 { 1 } else { 0 };
    for n in first..first + count {
        writeln!(
            text,
            "BENCH-{n:06},Bench,Borrower{n},{n} Test Street,Springfield,IL,62701,US,555{n:07},01/15/1980,900{n:06},40{n:08},011000015,LN-{n},{}.00",
            100 + n % 400
        )
        .unwrap();
    }
    text
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the authorizers CSV is mode 600");
}

/// The stored rows of one result, as the store keeps them.
#[derive(Clone, Debug, PartialEq)]
struct Stored {
    run: i64,
    batch: i64,
    id: String,
    balance: Option<i64>,
    code: i64,
    retrieved_at: String,
    recorded_at: String,
}

/// The store's page upserts against `sqlite3 .import`, on copies of `database`.
fn ingest(directory: &Path, database: &Path, sqlite3: Option<&Path>, iterations: usize) {
    let rows = read_rows(database);
    let total = rows.len();
    // An empty copy: the run's database without its results, checkpointed and vacuumed.
    let empty = directory.join("empty.db");
    std::fs::copy(database, &empty).unwrap();
    {
        let connection = Connection::open(&empty).unwrap();
        connection
            .execute_batch("DELETE FROM results; VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        let mode: String = connection
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal", "the copy is in WAL mode, like the store");
    }
    // The same rows as CSV (no header: the table exists), all and per page.
    let csv_all = directory.join("rows.csv");
    let pages_dir = directory.join("pages");
    std::fs::create_dir_all(&pages_dir).unwrap();
    let mut all = String::new();
    let mut script_pages = String::from(IMPORT_PREAMBLE);
    let mut page_count = 0;
    for (batch, page) in pages(&rows) {
        let _ = batch;
        let mut text = String::new();
        for row in page {
            write_csv_row(&mut text, row);
        }
        all.push_str(&text);
        let path = pages_dir.join(format!("{page_count:05}.csv"));
        std::fs::write(&path, text).unwrap();
        writeln!(
            script_pages,
            ".import --csv {} import_results",
            path.display()
        )
        .unwrap();
        page_count += 1;
    }
    std::fs::write(&csv_all, all).unwrap();
    let script_all = format!(
        "{IMPORT_PREAMBLE}.import --csv {} import_results\n",
        csv_all.display()
    );

    println!();
    println!(
        "ingest: {total} rows in {page_count} pages of up to {PAGE}; each pass into a fresh copy of the run's database with results emptied"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut store_times = Vec::new();
    let mut single_times = Vec::new();
    let mut paged_times = Vec::new();
    for round in 0..=iterations {
        let copy = directory.join(format!("store-{round}.db"));
        std::fs::copy(&empty, &copy).unwrap();
        let elapsed = runtime.block_on(store_pass(&copy, &rows));
        check_rows(&copy, &rows);
        std::fs::remove_file(&copy).unwrap();
        let mut line = format!(
            "{} {round}: store {:.3} s ({:.0} rows/s)",
            if round == 0 { "warm-up" } else { "round" },
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64()
        );
        if round > 0 {
            store_times.push(elapsed.as_secs_f64());
        }
        if let Some(sqlite3) = sqlite3 {
            for (name, script, times) in [
                ("one transaction", &script_all, &mut single_times),
                ("per page", &script_pages, &mut paged_times),
            ] {
                let copy = directory.join(format!("ref-{round}.db"));
                std::fs::copy(&empty, &copy).unwrap();
                let elapsed = sqlite3_pass(sqlite3, &copy, script);
                check_rows(&copy, &rows);
                remove_database(&copy);
                write!(
                    line,
                    "; sqlite3 {name} {:.3} s ({:.0} rows/s)",
                    elapsed.as_secs_f64(),
                    total as f64 / elapsed.as_secs_f64()
                )
                .unwrap();
                if round > 0 {
                    times.push(elapsed.as_secs_f64());
                }
            }
        }
        println!("{line}");
    }
    let (store_min, store_median) = support::min_median(&store_times);
    println!(
        "  store upserts: {store_min:.3} / {store_median:.3} s = {:.0} rows/s (median), {:.1} µs per row",
        total as f64 / store_median,
        store_median * 1e6 / total as f64
    );
    if sqlite3.is_some() {
        for (name, times) in [
            ("one transaction", &single_times),
            ("one transaction per page", &paged_times),
        ] {
            let (min, median) = support::min_median(times);
            let ratios: Vec<f64> = times
                .iter()
                .zip(&store_times)
                .map(|(reference, ours)| reference / ours)
                .collect();
            let (ratio_min, ratio_median) = support::min_median(&ratios);
            println!(
                "  sqlite3 .import, {name}: {min:.3} / {median:.3} s = {:.0} rows/s (median); store / sqlite3 rows per second, round by round: min {ratio_min:.2}, median {ratio_median:.2} (goal ≥ 1.0: {})",
                total as f64 / median,
                support::verdict(ratio_median >= 1.0)
            );
        }
    }
}

/// Settings as the store's writer has them, and a view that turns CSV's empty fields
/// back into NULL on the way into the STRICT table.
const IMPORT_PREAMBLE: &str = "\
PRAGMA foreign_keys = ON;
PRAGMA synchronous = FULL;
PRAGMA cache_size = -8192;
PRAGMA journal_size_limit = 67108864;
CREATE TEMP VIEW import_results AS
  SELECT run_id, batch_id, authorizer_unique_id, outcome, balance_cents,
         balance_status_code, retrieved_at, reason, recorded_at FROM results;
CREATE TEMP TRIGGER import_results_insert INSTEAD OF INSERT ON import_results BEGIN
  INSERT INTO results (run_id, batch_id, authorizer_unique_id, outcome, balance_cents,
                       balance_status_code, retrieved_at, reason, recorded_at)
  VALUES (NEW.run_id, NEW.batch_id, NEW.authorizer_unique_id, NEW.outcome,
          NULLIF(NEW.balance_cents, ''), NEW.balance_status_code,
          NEW.retrieved_at, NULLIF(NEW.reason, ''), NEW.recorded_at);
END;
";

fn write_csv_row(text: &mut String, row: &Stored) {
    // Ids are `BENCH-nnnnnn` and times RFC 3339: nothing to quote.
    writeln!(
        text,
        "{},{},{},retrieved,{},{},{},,{}",
        row.run,
        row.batch,
        row.id,
        row.balance.map(|b| b.to_string()).unwrap_or_default(),
        row.code,
        row.retrieved_at,
        row.recorded_at
    )
    .unwrap();
}

/// The rows in the order the run wrote them, cut into pages: chunk by chunk, at most
/// `PAGE` rows a page, never across chunks.
fn pages(rows: &[Stored]) -> Vec<(i64, &[Stored])> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let batch = rows[start].batch;
        let mut end = start;
        while end < rows.len() && end - start < PAGE && rows[end].batch == batch {
            end += 1;
        }
        out.push((batch, &rows[start..end]));
        start = end;
    }
    out
}

async fn store_pass(path: &Path, rows: &[Stored]) -> Duration {
    let store = Store::open(path).unwrap();
    let run = RunId(rows[0].run);
    let pages: Vec<(BatchRowId, Vec<ResultRow>)> = pages(rows)
        .into_iter()
        .map(|(batch, page)| {
            (
                BatchRowId(batch),
                page.iter()
                    .map(|row| ResultRow {
                        authorizer_unique_id: row.id.clone(),
                        balance: row.balance.map(Cents),
                        balance_status_code: row.code,
                        retrieved_at: parse_time(&row.retrieved_at),
                    })
                    .collect(),
            )
        })
        .collect();
    let started = Instant::now();
    for (batch, page) in &pages {
        let outcome = store.upsert_results(run, *batch, page).await.unwrap();
        assert_eq!(outcome.written, page.len(), "every row of the page written");
    }
    let elapsed = started.elapsed();
    store.close().await;
    elapsed
}

fn sqlite3_pass(sqlite3: &Path, database: &Path, script: &str) -> Duration {
    let started = Instant::now();
    let mut child = Command::new(sqlite3)
        .arg("-bail")
        .arg(database)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sqlite3 starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let elapsed = started.elapsed();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "sqlite3 failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    elapsed
}

/// Every stored row of the run's results, in the order they were written.
fn read_rows(database: &Path) -> Vec<Stored> {
    let connection = Connection::open(database).unwrap();
    let mut statement = connection
        .prepare(
            "SELECT run_id, batch_id, authorizer_unique_id, balance_cents, \
                    balance_status_code, retrieved_at, recorded_at \
             FROM results WHERE outcome = 'retrieved' ORDER BY rowid",
        )
        .unwrap();
    statement
        .query_map([], |row| {
            Ok(Stored {
                run: row.get(0)?,
                batch: row.get(1)?,
                id: row.get(2)?,
                balance: row.get(3)?,
                code: row.get(4)?,
                retrieved_at: row.get(5)?,
                recorded_at: row.get(6)?,
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The copy holds exactly `rows` (recorded_at aside: the store stamps its own), with
/// NULL where the run stored NULL, and no foreign-key problem.
fn check_rows(database: &Path, rows: &[Stored]) {
    let connection = Connection::open(database).unwrap();
    let mut got: Vec<Stored> = {
        let mut statement = connection
            .prepare(
                "SELECT run_id, batch_id, authorizer_unique_id, balance_cents, \
                        balance_status_code, retrieved_at, '' FROM results \
                 WHERE outcome = 'retrieved' AND reason IS NULL ORDER BY rowid",
            )
            .unwrap();
        statement
            .query_map([], |row| {
                Ok(Stored {
                    run: row.get(0)?,
                    batch: row.get(1)?,
                    id: row.get(2)?,
                    balance: row.get(3)?,
                    code: row.get(4)?,
                    retrieved_at: row.get(5)?,
                    recorded_at: row.get(6)?,
                })
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let count: i64 = connection
        .query_row("SELECT count(*) FROM results", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count as usize, rows.len(), "no other rows");
    let problems: i64 = connection
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(problems, 0, "foreign keys hold");
    let mut want: Vec<Stored> = rows
        .iter()
        .map(|row| Stored {
            recorded_at: String::new(),
            ..row.clone()
        })
        .collect();
    got.sort_by(|a, b| a.id.cmp(&b.id));
    want.sort_by(|a, b| a.id.cmp(&b.id));
    assert!(got == want, "the copy holds the run's rows");
}

fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}
