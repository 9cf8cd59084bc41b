//! Benchmark: a simulated day of the real daemon on a time-lapse clock, watching its
//! memory and file descriptors for growth.
//!
//! The daemon ([`daemon::serve`], the code behind `balance-monitor run`) runs in this
//! process on [`Clock::accelerated`], with a monitor whose cron fires every minute
//! (`* * * * *`, UTC) over `--authorizers` made-up borrowers (default 300; CSV of mode
//! 0600), the rules of the example configuration, `repeat_interval: 1h`,
//! `send_resolved`, and a webhook route to a receiver in this process that counts the
//! digests and answers 200. The built-in sandbox runs in a child process (this program
//! again, with `--sandbox-child`), on a sandbox clock with the same start and speed, a
//! body cache of 30 sandbox seconds (runs a minute apart always check afresh, instead
//! of being answered from Rightfoot's 24-hour cache) and results after 5 sandbox
//! seconds. The sandbox keeps every batch in memory, as Rightfoot keeps results, so it
//! would grow by design; in its own process it stays out of the daemon's figures. A
//! scenario makes the first 30 borrowers dip below the alert thresholds and recover in
//! turn, so that most runs fire and resolve alerts and send a digest.
//!
//! At `--speed 720` (the default) a simulated day of 1,440 runs takes two minutes of
//! real time, and a simulated minute is 83 ms. At 1440x (a minute is 42 ms) runs late
//! in the day took longer than a simulated minute on the development VM, so the next
//! slot was skipped (`catch_up: skip`, as configured) and the run count check failed. Every simulated hour the program samples this process's `VmRSS` and `VmHWM`,
//! its open file descriptors (`/proc/self/fd`), its threads, and the runs, results and
//! delivered digests in the database so far. It prints every sample, then compares the
//! end with the sample at hour 1 (after warm-up: the SQLite caches and the runtime's
//! pools fill during the first runs) and with the middle, and fails if RSS grew by more
//! than `--rss-bound` MiB (default 8) or the descriptors by more than 4 from hour 1 to
//! the end, or if fewer than 99% of the day's slots got a complete run.
//!
//! ```sh
//! cargo bench --bench soak                         # one day at 720x: about 2 minutes
//! cargo bench --bench soak -- --speed 1440 --hours 12 --authorizers 500
//! ```

#![forbid(unsafe_code)]

mod support;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use balance_monitor::clock::Clock;
use balance_monitor::daemon::{self, Control};
use balance_monitor::sandbox::{Sandbox, SandboxConfig, Scenario};
use balance_monitor::secret::{Environment, Secret};
use chrono::{DateTime, TimeDelta, Utc};

const KEY: &str = "rf_sandbox_key";
const MONITOR: &str = "every-minute";
/// Borrowers whose balances the scenario moves.
const SCRIPTED: usize = 30;

struct Sample {
    hour: u32,
    real: Duration,
    rss_kib: u64,
    peak_kib: u64,
    fds: usize,
    threads: usize,
    runs: i64,
    complete: i64,
    results: i64,
    digests: usize,
    /// CPU time of this process (the daemon and the receiver) and of the sandbox's.
    cpu: Duration,
    sandbox_cpu: Duration,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--sandbox-child") {
        sandbox_child(&args[at + 1], &args[at + 2]);
        return;
    }
    let speed: u32 = support::argument("--speed").unwrap_or(720);
    let hours: u32 = support::argument("--hours").unwrap_or(24);
    let authorizers: usize = support::argument("--authorizers").unwrap_or(300);
    let rss_bound: f64 = support::argument("--rss-bound").unwrap_or(8.0);
    println!(
        "soak: {hours} simulated hours at {speed}x, {authorizers} authorizers, a run every simulated minute; {}",
        support::machine_summary()
    );
    println!("load average before: {}", support::load_average());

    let directory = std::env::temp_dir().join(format!("soak_bench_{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    write_private(
        &directory.join("authorizers.csv"),
        &authorizers_csv(authorizers),
    );
    write_private(&directory.join("rightfoot-api-key"), KEY);

    // The simulated day starts 30 s before midnight, so the first slot is 00:00.
    let start: DateTime<Utc> =
        "2026-11-23T00:00:00Z".parse::<DateTime<Utc>>().unwrap() - TimeDelta::seconds(30);
    let spawned = Instant::now();
    let mut sandbox = Command::new(std::env::current_exe().unwrap())
        .args(["--sandbox-child", &start.to_rfc3339(), &speed.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the sandbox child starts");
    let mut line = String::new();
    BufReader::new(sandbox.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let sandbox_url = line.trim().to_string();
    assert!(sandbox_url.starts_with("http://"), "sandbox said {line:?}");
    let sandbox_pid = sandbox.id().to_string();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let samples = runtime.block_on(async {
        let webhook_url = start_receiver(received.clone()).await;
        std::fs::write(
            directory.join("config.yaml"),
            config_yaml(&sandbox_url, &webhook_url),
        )
        .unwrap();
        // The daemon's clock shows what the sandbox's shows: the same start, moved on by
        // the real time since the sandbox's clock started (at most the child's start-up
        // late, a few simulated seconds).
        let clock = Clock::accelerated(
            start + TimeDelta::from_std(spawned.elapsed() * speed).unwrap(),
            speed,
        );
        let (control, controls) = tokio::sync::mpsc::channel(4);
        let config_path = directory.join("config.yaml");
        let env = Environment::from_pairs([("RUST_LOG", "warn")]);
        let daemon_clock = clock.clone();
        let daemon = tokio::spawn(async move {
            daemon::serve(&config_path, &env, daemon_clock, controls).await
        });

        let database = directory.join("soak.db");
        let origin = Instant::now();
        let mut samples = Vec::new();
        println!();
        println!(
            " hour | real s | VmRSS MiB | VmHWM MiB | fds | threads | runs (complete) | results | digests | ms CPU/run | sandbox ms | sandbox RSS MiB"
        );
        for hour in 0..=hours {
            // Each sample is taken at hour + 30 s of the simulated day, between slots.
            let at = start + TimeDelta::seconds(60) + TimeDelta::hours(i64::from(hour));
            loop {
                let now = clock.now();
                if now >= at {
                    break;
                }
                let wait = (at - now).to_std().unwrap_or_default() / speed;
                tokio::time::sleep(wait.min(Duration::from_millis(200))).await;
            }
            assert!(!daemon.is_finished(), "the daemon stopped early");
            let memory = support::Memory::read();
            let (threads, _) = support::threads_and_switches("self");
            let (runs, complete, results) = counts(&database);
            let sample = Sample {
                hour,
                real: origin.elapsed(),
                rss_kib: memory.rss_kib,
                peak_kib: memory.peak_kib,
                // Less the descriptor that reads the directory.
                fds: support::open_fds("self").saturating_sub(1),
                threads,
                runs,
                complete,
                results,
                digests: received.load(Ordering::Relaxed),
                cpu: support::ProcessCpu::snapshot().total(),
                sandbox_cpu: support::ProcessCpu::of(&sandbox_pid).total(),
            };
            // CPU per run over the last hour, this process and the sandbox's.
            let per_run = |now: Duration, before: Option<Duration>, runs: i64| {
                let used = now.saturating_sub(before.unwrap_or_default());
                if runs > 0 {
                    format!("{:.1}", used.as_secs_f64() * 1e3 / runs as f64)
                } else {
                    "-".to_string()
                }
            };
            let previous = samples.last();
            let runs_in_hour = sample.complete - previous.map_or(0, |p: &Sample| p.complete);
            println!(
                "{:>5} | {:>6.1} | {:>9.1} | {:>9.1} | {:>3} | {:>7} | {:>5} ({:>5}) | {:>7} | {:>7} | {:>10} | {:>10} | {:.1}",
                sample.hour,
                sample.real.as_secs_f64(),
                sample.rss_kib as f64 / 1024.0,
                sample.peak_kib as f64 / 1024.0,
                sample.fds,
                sample.threads,
                sample.runs,
                sample.complete,
                sample.results,
                sample.digests,
                per_run(sample.cpu, previous.map(|p| p.cpu), runs_in_hour),
                per_run(sample.sandbox_cpu, previous.map(|p| p.sandbox_cpu), runs_in_hour),
                support::Memory::of(&sandbox_pid).rss_kib as f64 / 1024.0
            );
            samples.push(sample);
        }
        control.send(Control::Stop).await.unwrap();
        daemon.await.unwrap().expect("the daemon stops cleanly");
        samples
    });
    let _ = Command::new("kill").args(["-TERM", &sandbox_pid]).status();
    let _ = sandbox.wait();

    // Hour 1 is the baseline: by then the caches and pools have filled.
    let base = &samples[1.min(samples.len() - 1)];
    let middle = &samples[samples.len() / 2];
    let end = samples.last().unwrap();
    let slots = i64::from(hours) * 60 + 1;
    let mut report = String::new();
    for (name, sample) in [
        ("start (hour 0)", &samples[0]),
        ("baseline (hour 1)", base),
        ("middle", middle),
        ("end", end),
    ] {
        writeln!(
            report,
            "  {name:<18} hour {:>2}: VmRSS {:.1} MiB, VmHWM {:.1} MiB, {} fds, {} threads, {} complete runs",
            sample.hour,
            sample.rss_kib as f64 / 1024.0,
            sample.peak_kib as f64 / 1024.0,
            sample.fds,
            sample.threads,
            sample.complete
        )
        .unwrap();
    }
    print!("\n{report}");
    let growth_mib = (end.rss_kib as f64 - base.rss_kib as f64) / 1024.0;
    let middle_growth = (end.rss_kib as f64 - middle.rss_kib as f64) / 1024.0;
    let fd_growth = end.fds as i64 - base.fds as i64;
    println!(
        "RSS from hour 1 to the end: {growth_mib:+.1} MiB (bound {rss_bound} MiB); from the middle: {middle_growth:+.1} MiB"
    );
    println!("file descriptors from hour 1 to the end: {fd_growth:+} (bound 4)");
    println!(
        "runs: {} complete of {} slots; {} results; {} digests received; {:.1} s real",
        end.complete,
        slots,
        end.results,
        end.digests,
        end.real.as_secs_f64()
    );
    println!("load average after: {}", support::load_average());
    std::fs::remove_dir_all(&directory).unwrap();
    assert!(growth_mib <= rss_bound, "RSS grew by {growth_mib:.1} MiB");
    assert!(fd_growth <= 4, "file descriptors grew by {fd_growth}");
    assert!(
        end.complete * 100 >= slots * 99,
        "only {} of {slots} slots got a complete run",
        end.complete
    );
    assert!(end.digests > 0, "alerts were delivered");
}

/// Runs, complete runs and results in the database so far (a separate read connection).
fn counts(database: &Path) -> (i64, i64, i64) {
    let Ok(connection) =
        rusqlite::Connection::open_with_flags(database, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return (0, 0, 0);
    };
    connection
        .query_row(
            "SELECT (SELECT count(*) FROM runs), \
                    (SELECT count(*) FROM runs WHERE state = 'complete'), \
                    (SELECT count(*) FROM results)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap_or((0, 0, 0))
}

/// The child process: the sandbox on a clock starting at `start`, `speed` times real
/// time; prints its URL, then serves until killed.
fn sandbox_child(start: &str, speed: &str) {
    let start: DateTime<Utc> = start.parse().unwrap();
    let speed: f64 = speed.parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut config = SandboxConfig::new([Secret::new(KEY)]);
        config.clock_start = Some(start);
        config.clock_speed = speed;
        config.processing_time = Duration::from_secs(5);
        config.body_cache_ttl = Duration::from_secs(30);
        config.scenario = Scenario::from_yaml(&scenario_yaml(), Path::new("soak-scenario.yaml"))
            .expect("the scenario parses");
        let sandbox = Sandbox::new(config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("http://{}", listener.local_addr().unwrap());
        std::io::stdout().flush().unwrap();
        axum::serve(listener, sandbox.router()).await.unwrap();
    });
}

/// The first `SCRIPTED` borrowers: 3 checks in 10 below $150 (and below their payment),
/// the rest at $1,000, each borrower out of step with the next, for a day of checks.
fn scenario_yaml() -> String {
    let mut text = String::from("authorizers:\n");
    for i in 1..=SCRIPTED {
        write!(text, "  SOAK-{i:05}: [").unwrap();
        for check in 0..1_500 {
            let value = if (check + i) % 10 < 3 {
                "90.00"
            } else {
                "1000.00"
            };
            if check > 0 {
                text.push_str(", ");
            }
            text.push_str(value);
        }
        text.push_str("]\n");
    }
    text
}

/// A receiver that counts digests and answers 200.
async fn start_receiver(received: Arc<AtomicUsize>) -> String {
    let handler = move |_body: axum::body::Bytes| {
        let received = received.clone();
        async move {
            received.fetch_add(1, Ordering::Relaxed);
            axum::http::StatusCode::OK
        }
    };
    let app = axum::Router::new().route("/hooks", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/hooks")
}

fn config_yaml(sandbox: &str, webhook: &str) -> String {
    format!(
        "\
rightfoot:
  base_url: {sandbox}
  api_key_file: rightfoot-api-key
  poll_interval: 2s                 # simulated time
  result_deadline: 50s
storage:
  path: soak.db
http:
  listen: 127.0.0.1:0
defaults:
  timezone: UTC
  catch_up: skip
routes:
  hook:
    webhook:
      url: {webhook}
monitors:
  - name: {MONITOR}
    schedule: \"* * * * *\"
    authorizers:
      csv: authorizers.csv
    rules:
      - balance_below: {{ amount: 150.00 }}
      - below_payment: {{ field: payment_amount, margin: 25.00 }}
      - drop_percent: {{ percent: 40, window: 7d }}
      - drop_amount: {{ amount: 500.00 }}
      - negative_balance: {{}}
      - check_failed: {{ codes: [3200, 3300, 3400] }}
      - stale: {{ after: 3d }}
      - run_failed: {{}}
    routes: [hook]
    repeat_interval: 1h
    send_resolved: true
    alert_fields: [loan_id, payment_amount]
"
    )
}

/// Rightfoot-format CSV of `count` made-up borrowers: 900-series SSNs are never issued,
/// 555 phone numbers are fictional.
fn authorizers_csv(count: usize) -> String {
    let mut text = String::from(
        "authorizer_unique_id,first_name,last_name,street_address_line1,city,state,zip_code,country,phone_number,date_of_birth,ssn,account_number,routing_number,meta_loan_id,meta_payment_amount\n",
    );
    for n in 1..=count {
        writeln!(
            text,
            "SOAK-{n:05},Soak,Borrower{n},{n} Test Street,Springfield,IL,62701,US,555{n:07},01/15/1980,900{n:06},40{n:08},011000015,LN-{n},{}.00",
            100 + n % 400
        )
        .unwrap();
    }
    text
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}
