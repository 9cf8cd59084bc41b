//! `balance-monitor demo`: the daemon's main job on a fresh machine, in one command.
//!
//! It writes a demo configuration, an authorizers CSV (mode 0600, made-up people) and
//! the sandbox's API key into a folder; starts the built-in sandbox in this process with
//! a scenario (a drop, an overdraft, a closed account, an unsupported bank, a payment
//! that will not clear, and a recovery); and runs the real daemon ([`daemon::serve`])
//! on a weekday schedule at 06:30 New York time, before the ACH cut-off, on a
//! time-lapse clock ([`Clock::accelerated`]): a day every few seconds. Alerts go to
//! `.eml` files (the email route's file transport) and to a webhook receiver in this
//! process, which saves each payload pretty-printed as `<run-id>-<route>.json`, as the
//! file transport names its `.eml` files `<run-id>-<route>.eml`.
//!
//! While the daemon works, the demo reads the database and prints a short account of
//! each run: its counts and the alerts that fired, reminded or resolved. At the end it
//! prints one authorizer's history and the commands to explore further against the
//! same database. It stops after `--runs` runs, or goes on until Ctrl-C with
//! `--forever`. The daemon's dashboard is on a free loopback port, whose URL the demo
//! prints first; with `--serve` the dashboard stays up after the last run (the daemon
//! stopped, the database as the week left it) until Ctrl-C.
//!
//! The demo changes nothing outside its folder and talks to nothing but loopback.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Datelike, TimeDelta, Utc, Weekday};

use crate::alerting::payload;
use crate::clock::Clock;
use crate::daemon::{self, Control, DaemonError};
use crate::domain::RunId;
use crate::notify::Digest;
use crate::notify::digest::money_text;
use crate::private_file;
use crate::sandbox::{Sandbox, SandboxConfig, Scenario};
use crate::schedule::Schedule;
use crate::secret::{Environment, Secret};
use crate::store::Store;

mod receiver;

use receiver::{WEBHOOK_ROUTE, start_receiver};

/// The demo's clock runs this many times faster than real time: a day in 12 seconds.
pub const SPEED: u32 = 7200;
const MONITOR: &str = "morning-ach";
const SCHEDULE: &str = "30 6 * * 1-5";
const ZONE: chrono_tz::Tz = chrono_tz::America::New_York;
/// Whose history the demo prints at the end.
const SHOWCASE: &str = "B-1002";

/// What `balance-monitor demo` was asked.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// The folder to write into (created, and it must be empty); a new folder under the
    /// system's temporary directory when `None`.
    pub dir: Option<PathBuf>,
    /// Stop after this many runs.
    pub runs: u32,
    /// Go on until Ctrl-C instead.
    pub forever: bool,
    /// Keep the dashboard up after the last run, until Ctrl-C.
    pub serve: bool,
}

/// The scenario: each authorizer's balance, check after check (the last repeats).
const SCENARIO: &str = "\
authorizers:
  B-1001: [2400.00, 2350.00, 1100.00, 1080.00, 1075.00]   # a 53% drop on Wednesday
  B-1002: [310.00, 180.00, -83.68, -83.68, 450.00]        # overdrawn Wednesday, back Friday
  B-1003: [1500.00, 1490.00, closed]                      # the account closes Wednesday
  B-1004: [unsupported]                                   # a bank Rightfoot cannot read
  B-1005: [95.00, 60.00, 400.00, 1200.00]                 # low, then recovers
  B-1006: [800.00, 760.00, 510.00, 505.00, 900.00]        # cannot cover its $500 payment
";

const CSV_HEADER: &str = "authorizer_unique_id,first_name,last_name,street_address_line1,city,state,zip_code,country,phone_number,date_of_birth,ssn,account_number,routing_number,meta_loan_id,meta_payment_amount";

/// Made-up borrowers, in Rightfoot's CSV upload format, with two metadata columns.
const BORROWERS: [&str; 6] = [
    "B-1001,Avery,Lindqvist,12 Harbor Ln,Portland,ME,04101,US,5550100001,04/11/1980,900120001,100020031,021000021,LN-20417,350.00",
    "B-1002,Jordan,Okafor,88 Elm St,Dayton,OH,45402,US,5550100002,07/02/1975,900120002,100020032,021000021,LN-20418,275.00",
    "B-1003,Casey,Moreau,4 Birch Ct,Tulsa,OK,74103,US,5550100003,12/24/1969,900120003,100020033,021000021,LN-20419,410.00",
    "B-1004,Riley,Nakamura,301 Pine Ave,Boise,ID,83702,US,5550100004,01/30/1988,900120004,100020034,021000021,LN-20420,190.00",
    "B-1005,Morgan,Adeyemi,57 Cedar Rd,Fresno,CA,93721,US,5550100005,09/09/1991,900120005,100020035,021000021,LN-20421,120.00",
    "B-1006,Quinn,Halvorsen,9 Maple Dr,Albany,NY,12207,US,5550100006,05/17/1983,900120006,100020036,021000021,LN-20422,500.00",
];

fn authorizers_csv() -> String {
    let mut text = String::from(CSV_HEADER);
    for row in BORROWERS {
        text.push('\n');
        text.push_str(row);
    }
    text.push('\n');
    text
}

fn config_yaml(sandbox: &str, webhook: &str, listen: std::net::SocketAddr) -> String {
    format!(
        "\
# Written by `balance-monitor demo`. Explore the demo's database with, for example:
#   balance-monitor --config <this file> runs
rightfoot:
  base_url: {sandbox}            # the sandbox inside `balance-monitor demo`
  api_key_file: rightfoot-api-key
  poll_interval: 5m              # demo time: the clock runs {SPEED}x
  result_deadline: 12h
storage:
  path: demo.db
http:
  listen: {listen}               # the dashboard
defaults:
  timezone: America/New_York
  catch_up: skip
routes:
  collections-email:
    email:
      transport: file
      directory: mail
      from: \"balance-monitor <alerts@lender.example>\"
      to: [\"collections@lender.example\"]
  {WEBHOOK_ROUTE}:
    webhook:
      url: {webhook}
monitors:
  - name: {MONITOR}
    schedule: \"{SCHEDULE}\"     # weekdays 06:30, before the ACH cut-off
    authorizers:
      csv: authorizers.csv
    rules:
      - below_payment: {{ field: payment_amount, margin: 25.00 }}
      - negative_balance: {{}}
      - balance_below: {{ amount: 150.00 }}
      - drop_percent: {{ percent: 40 }}
      - check_failed: {{ codes: any, consecutive: 1, severity: critical }}
      - run_failed: {{}}
    routes: [collections-email, {WEBHOOK_ROUTE}]
    repeat_interval: 48h
    send_resolved: true
    alert_fields: [{{ field: loan_id, label: Loan }}, {{ field: payment_amount, label: Payment }}]
"
    )
}

/// `balance-monitor demo`.
pub async fn demo(options: DemoOptions, env: &Environment) -> Result<(), DaemonError> {
    let dir = prepare_folder(options.dir.as_deref())?;
    let schedule = Schedule::parse(SCHEDULE, ZONE).map_err(|e| runtime(anyhow::anyhow!(e)))?;
    // The time-lapse starts two hours (a second) before the next Monday's run: time
    // enough for the daemon to start before the first slot comes.
    let start = next_monday_slot(&schedule, Utc::now()) - TimeDelta::hours(2);
    let clock = Clock::accelerated(start, SPEED);

    let sandbox_url = start_sandbox(start).await?;
    let webhook_dir = dir.join("webhook");
    std::fs::create_dir_all(&webhook_dir).map_err(|e| runtime(e.into()))?;
    std::fs::create_dir_all(dir.join("mail")).map_err(|e| runtime(e.into()))?;
    let received = Arc::new(AtomicUsize::new(0));
    let webhook_url = start_receiver(webhook_dir.clone(), received.clone()).await?;

    let write = |name: &str, text: &str| -> Result<(), DaemonError> {
        let path = dir.join(name);
        let context = || format!("cannot write {}", path.display());
        let mut file = private_file::PrivateFile::create(&path)
            .with_context(context)
            .map_err(DaemonError::Runtime)?;
        std::io::Write::write_all(file.file(), text.as_bytes())
            .with_context(context)
            .map_err(DaemonError::Runtime)?;
        file.commit(private_file::Replace::Allow)
            .with_context(context)
            .map_err(DaemonError::Runtime)
    };
    write("authorizers.csv", &authorizers_csv())?;
    write("rightfoot-api-key", crate::sandbox::SANDBOX_DEFAULT_KEY)?;
    let config_path = dir.join("config.yaml");
    let listen = free_loopback_port()?;
    write(
        "config.yaml",
        &config_yaml(&sandbox_url, &webhook_url, listen),
    )?;
    let dashboard = format!("http://{listen}/");

    println!("balance-monitor demo");
    println!("  dashboard:   {dashboard} (open it in a browser while the demo runs)");
    println!("  folder:      {}", dir.display());
    println!("  config:      {}", config_path.display());
    println!(
        "  authorizers: {} (6 made-up borrowers, mode 600: personal data goes to Rightfoot only)",
        dir.join("authorizers.csv").display()
    );
    println!("  sandbox:     {sandbox_url} (Rightfoot's API, simulated in this process)");
    println!(
        "  schedule:    weekdays 06:30 New York time, on a time-lapse clock: a day every {} s",
        86_400 / SPEED
    );
    println!(
        "  alerts:      emails as .eml files in {}, webhook payloads in {}",
        dir.join("mail").display(),
        webhook_dir.display()
    );
    println!(
        "  repeat_interval 48h: an alert still firing is sent again after two days, not at every run"
    );
    println!(
        "  catch_up skip: a run missed while the daemon was down is recorded as missed, not run late"
    );
    println!();

    let (control, controls) = tokio::sync::mpsc::channel(4);
    let daemon_env = env.clone();
    let daemon_config = config_path.clone();
    let daemon_clock = clock.clone();
    let mut daemon = tokio::spawn(async move {
        daemon::serve(&daemon_config, &daemon_env, daemon_clock, controls).await
    });

    let store = Store::open(dir.join("demo.db"))
        .context("cannot open the demo database")
        .map_err(DaemonError::Runtime)?;
    let monitor = store
        .ensure_monitor(MONITOR)
        .await
        .map_err(|e| runtime(e.into()))?;
    let wanted = if options.forever {
        u32::MAX
    } else {
        options.runs.max(1)
    };
    let mut shown = 0u32;
    let mut last = RunId(0);
    let stop = crate::daemon::shutdown_signal();
    tokio::pin!(stop);
    // Nothing goes unsaid for more than a few seconds: between runs, a line with the
    // time-lapse clock and the next run.
    let mut last_said = std::time::Instant::now();
    let all_shown = loop {
        if last_said.elapsed() >= QUIET_LIMIT {
            println!("{}", time_lapse_line(&clock, &schedule));
            last_said = std::time::Instant::now();
        }
        tokio::select! {
            // Ctrl-C: stop now, with what is delivered so far.
            _ = &mut stop => break false,
            ended = &mut daemon => {
                store.close().await;
                return match ended {
                    Ok(result) => result.and(Err(runtime(anyhow::anyhow!("the daemon stopped early")))),
                    Err(e) => Err(runtime(e.into())),
                };
            }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        let judged = store
            .judged_runs_after(monitor, last)
            .await
            .map_err(|e| runtime(e.into()))?;
        for run in judged {
            print!("{}", describe_run(&store, run, ZONE).await?);
            last_said = std::time::Instant::now();
            last = run;
            shown += 1;
        }
        if shown >= wanted {
            break true;
        }
    };
    // Let the outbox finish what the last run queued.
    if all_shown {
        for _ in 0..50 {
            let pending = store
                .notifications()
                .await
                .map_err(|e| runtime(e.into()))?
                .iter()
                .any(|n| n.state == "pending");
            if !pending {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let _ = control.send(Control::Stop).await;
    let ended = daemon.await.map_err(|e| runtime(e.into()))?;
    let notifications = store.notifications().await.map_err(|e| runtime(e.into()))?;
    store.close().await;
    ended?;

    let delivered = notifications
        .iter()
        .filter(|n| n.state == "delivered")
        .count();
    println!(
        "{shown} run(s); {delivered} of {} notification(s) delivered: {} .eml file(s), {} webhook payload(s)",
        notifications.len(),
        count_files(&dir.join("mail")),
        received.load(Ordering::Relaxed)
    );
    println!();
    let config = crate::config::load(&config_path, env)?;
    println!("History of {SHOWCASE}, newest first:");
    let mut out = Vec::new();
    crate::report::history(
        &config,
        &crate::report::HistoryOptions {
            authorizer_id: SHOWCASE.to_string(),
            limit: 10,
            since: None,
            json: false,
        },
        &mut out,
    )
    .await
    .map_err(DaemonError::Runtime)?;
    print!("{}", String::from_utf8_lossy(&out));
    println!();
    let config_arg = shell_quote(&config_path);
    // The binary by its real path, so that each line works when pasted, on PATH or not.
    let program = std::env::current_exe()
        .map(|path| shell_quote(&path))
        .unwrap_or_else(|_| "balance-monitor".to_string());
    println!("Go on with the demo's database:");
    println!("  {program} --config {config_arg} runs");
    println!("  {program} --config {config_arg} runs show {}", last.0);
    println!("  {program} --config {config_arg} history B-1001");
    println!("  {program} --config {config_arg} export-csv --monitor {MONITOR}");
    println!("  {program} --config {config_arg} check-config");
    println!("and open the emails in {}", dir.join("mail").display());
    if options.serve {
        println!();
        println!("The dashboard stays up at {dashboard} until Ctrl-C.");
        serve_dashboard(listen, &dir.join("demo.db"), &config, &clock).await?;
    }
    Ok(())
}

/// A loopback address with a port the system just handed out, for the dashboard.
fn free_loopback_port() -> Result<std::net::SocketAddr, DaemonError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .context("cannot find a free port on 127.0.0.1 for the dashboard")
        .map_err(DaemonError::Runtime)
}

/// `--serve`: the dashboard alone on the demo's database, until Ctrl-C. Its clock goes
/// on at real speed from where the time-lapse stopped.
async fn serve_dashboard(
    listen: std::net::SocketAddr,
    database: &Path,
    config: &crate::config::Config,
    clock: &Clock,
) -> Result<(), DaemonError> {
    let store = Store::open(database)
        .context("cannot open the demo database")
        .map_err(DaemonError::Runtime)?;
    let mut state = crate::http::HttpState::new(
        store.clone(),
        crate::completions::Completions::default(),
        Clock::following_tokio(clock.now()),
    );
    let (_monitors, watched) =
        tokio::sync::watch::channel(crate::http::WatchedMonitor::list(&config.monitors));
    state.monitors = watched;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} for the dashboard"))
        .map_err(DaemonError::Runtime)?;
    let served = crate::http::serve(listener, state, crate::daemon::shutdown_signal()).await;
    store.close().await;
    served
        .context("the dashboard stopped")
        .map_err(DaemonError::Runtime)
}

fn runtime(error: anyhow::Error) -> DaemonError {
    DaemonError::Runtime(error)
}

/// The longest the demo goes without printing a line.
const QUIET_LIMIT: Duration = Duration::from_secs(2);

/// `  Tue 8 Dec 06:00 on the time-lapse clock (a day every 12 s); next run at Wed 9 Dec 06:30`
fn time_lapse_line(clock: &Clock, schedule: &Schedule) -> String {
    let now = clock.now();
    let next = schedule
        .upcoming(now, 1)
        .first()
        .map(|at| format!("; next run at {}", at.format("%a %-d %b %H:%M")))
        .unwrap_or_default();
    format!(
        "  {} on the time-lapse clock (a day every {} s){next}",
        now.with_timezone(&ZONE).format("%a %-d %b %H:%M"),
        86_400 / SPEED
    )
}

fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| entries.flatten().count())
}

/// The folder the demo writes into: `dir`, created if missing and refused unless
/// empty, or a new one under the temporary directory. Mode 0700.
fn prepare_folder(dir: Option<&Path>) -> Result<PathBuf, DaemonError> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => std::env::temp_dir().join(format!(
            "balance-monitor-demo-{}-{}",
            Utc::now().format("%Y%m%d-%H%M%S"),
            std::process::id()
        )),
    };
    if dir.exists() {
        let empty = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))
            .map_err(DaemonError::Runtime)?
            .next()
            .is_none();
        if !empty {
            return Err(DaemonError::Config(format!(
                "--dir {}: the folder is not empty; give a new or empty folder",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))
        .map_err(DaemonError::Runtime)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", dir.display()))
        .map_err(DaemonError::Runtime)?;
    // An absolute path, so the commands printed at the end work from anywhere.
    std::fs::canonicalize(&dir)
        .with_context(|| format!("cannot resolve {}", dir.display()))
        .map_err(DaemonError::Runtime)
}

/// The first fire time on a Monday after `now`.
fn next_monday_slot(schedule: &Schedule, now: DateTime<Utc>) -> DateTime<Utc> {
    let mut at = now;
    loop {
        let Some(next) = schedule.next_after(at) else {
            return now + TimeDelta::minutes(2);
        };
        if next.with_timezone(&ZONE).weekday() == Weekday::Mon {
            return next;
        }
        at = next;
    }
}

async fn start_sandbox(start: DateTime<Utc>) -> Result<String, DaemonError> {
    let mut config = SandboxConfig::new([Secret::new(crate::sandbox::SANDBOX_DEFAULT_KEY)]);
    config.clock_start = Some(start);
    config.clock_speed = f64::from(SPEED);
    config.processing_time = Duration::from_secs(20 * 60);
    // Runs a day apart would otherwise sit on the edge of the 24-hour body cache.
    config.body_cache_ttl = Duration::from_secs(12 * 3600);
    config.scenario = Scenario::from_yaml(SCENARIO, Path::new("demo-scenario.yaml"))
        .map_err(|e| runtime(anyhow::anyhow!("the demo scenario: {e}")))?;
    let sandbox = Sandbox::new(config).map_err(|e| runtime(anyhow::anyhow!(e)))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on 127.0.0.1 for the sandbox")
        .map_err(DaemonError::Runtime)?;
    let address = listener
        .local_addr()
        .context("the sandbox listener has no address")
        .map_err(DaemonError::Runtime)?;
    let router = sandbox.router();
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the demo sandbox stopped");
        }
    });
    Ok(format!("http://{address}"))
}

/// One run's account: when, how it ended, its counts, and the alerts it announced.
async fn describe_run(
    store: &Store,
    run: RunId,
    zone: chrono_tz::Tz,
) -> Result<String, DaemonError> {
    let record = store
        .run(run)
        .await
        .map_err(|e| runtime(e.into()))?
        .ok_or_else(|| runtime(anyhow::anyhow!("run {} disappeared", run.0)))?;
    let tally = store.run_tally(run).await.map_err(|e| runtime(e.into()))?;
    let when = record
        .trigger
        .slot()
        .or(record.started_at)
        .unwrap_or(record.created_at)
        .with_timezone(&zone)
        .format("%a %Y-%m-%d %H:%M %Z");
    let failed: u32 = tally.failed_by_code.values().sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} · {when} · {}: {} balance(s), {} failed check(s), {} not retrieved",
        run.0,
        record.state.as_str(),
        tally.succeeded,
        failed,
        tally.not_retrieved
    );
    let digest: Option<Digest> = store
        .notifications()
        .await
        .map_err(|e| runtime(e.into()))?
        .iter()
        .filter_map(|n| payload::decode(&n.payload).ok())
        .find(|d| d.run == Some(run));
    match digest {
        None => {
            let _ = writeln!(out, "  no alert changed");
        }
        Some(digest) => {
            for row in digest.ordered_rows() {
                let _ = writeln!(
                    out,
                    "  {:<8} {:<8} {:<7} {:<16} {:>10} → {:<10} {}",
                    row.transition.as_str(),
                    row.severity.as_str(),
                    row.subject_text(),
                    row.rule,
                    money_text(row.balance_before),
                    money_text(row.balance_after),
                    row.reason
                );
            }
        }
    }
    out.push('\n');
    Ok(out)
}
