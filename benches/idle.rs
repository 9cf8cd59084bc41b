//! Benchmark: what the daemon (`balance-monitor run`) costs while it waits.
//!
//! Setup: a configuration with two monitors whose schedules are not due for months
//! (`0 6 1 1 *` and `30 7 1 7 *`: New Year's Day and the first of July), each with a
//! small authorizers CSV (mode 0600, made-up people), the rules of the example
//! configuration, a webhook route, the local HTTP listener on `127.0.0.1:0`, and
//! `catch_up: skip`. The sandbox is not started: an idle daemon has nothing to ask it.
//!
//! The release binary runs as a child process. Once its log says it is serving, the
//! parent samples the child's `/proc/<pid>/stat` (`utime + stime`, 10 ms ticks), its
//! live threads' `schedstat` (nanoseconds on a CPU), `/proc/<pid>/status` (`VmRSS`, `VmHWM`), its open file descriptors and the context
//! switches of its threads every `--sample` seconds (default 10) for `--minutes`
//! minutes (default 10), prints every sample, and then for every 60-second window: the
//! CPU time used and the wake-ups. At the end it sends SIGTERM (through `kill`) and
//! checks that the daemon exits 0.
//!
//! Goals: `VmRSS` ≤ 20 MiB after 10 minutes; ≤ 50 ms of CPU in every 60 idle seconds.
//!
//! ```sh
//! cargo bench --bench idle                    # 10 minutes
//! cargo bench --bench idle -- --minutes 2     # a shorter check
//! ```

#![forbid(unsafe_code)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GOAL_RSS_MIB: f64 = 20.0;
const GOAL_CPU_PER_MINUTE: Duration = Duration::from_millis(50);

struct Sample {
    at: Duration,
    cpu: Duration,
    /// The live threads' time on a CPU (`schedstat`, nanoseconds).
    on_cpu: Duration,
    rss_kib: u64,
    peak_kib: u64,
    fds: usize,
    threads: usize,
    switches: u64,
}

fn main() {
    let minutes: u64 = support::argument("--minutes").unwrap_or(10);
    let every: u64 = support::argument("--sample").unwrap_or(10);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_balance-monitor"));
    println!("idle: {minutes} minutes; {}", support::machine_summary());
    println!("binary: {}", binary.display());
    println!("load average before: {}", support::load_average());

    let directory = std::env::temp_dir().join(format!("idle_bench_{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let config = write_configuration(&directory);

    let mut child = Command::new(&binary)
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env_clear()
        .env("RF_BENCH_KEY", "rf_sandbox_key")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the daemon starts");
    let pid = child.id().to_string();
    // Wait until the daemon has started its monitors, then keep draining its log on a
    // thread so that it never blocks on a full pipe.
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let started = Instant::now();
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let read = log.read_line(&mut line).unwrap();
        assert!(read > 0, "the daemon exited early:\n{}", lines.join(""));
        lines.push(line.clone());
        if line.contains("balance-monitor started") || lines.len() > 20 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no start-up line"
        );
    }
    println!("daemon pid {pid}; start-up log:");
    for line in &lines {
        print!("  {line}");
    }
    let drain = std::thread::spawn(move || {
        let mut rest = Vec::new();
        let mut line = String::new();
        while log.read_line(&mut line).unwrap_or(0) > 0 {
            rest.push(std::mem::take(&mut line));
        }
        rest
    });

    let origin = Instant::now();
    let read = |at: Duration| {
        let cpu = support::ProcessCpu::of(&pid).total();
        let memory = support::Memory::of(&pid);
        let (threads, switches) = support::threads_and_switches(&pid);
        Sample {
            at,
            cpu,
            on_cpu: support::threads_on_cpu(&pid),
            rss_kib: memory.rss_kib,
            peak_kib: memory.peak_kib,
            fds: support::open_fds(&pid),
            threads,
            switches,
        }
    };
    let mut samples = vec![read(Duration::ZERO)];
    println!();
    println!(
        "    t | CPU total | threads on CPU | VmRSS MiB | VmHWM MiB | fds | threads | ctx switches"
    );
    print_sample(&samples[0]);
    let total = Duration::from_secs(minutes * 60);
    let step = Duration::from_secs(every);
    let mut next = step;
    while next <= total {
        std::thread::sleep(next.saturating_sub(origin.elapsed()));
        let sample = read(origin.elapsed());
        print_sample(&sample);
        samples.push(sample);
        next += step;
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the daemon exited while idle"
    );

    // Every 60-second window, on sample boundaries.
    let per_window = (60 / every.max(1)) as usize;
    let mut worst_cpu = Duration::ZERO;
    let mut worst_wakeups = 0;
    let mut worst_on_cpu = Duration::ZERO;
    println!();
    println!(
        "60-second windows: CPU time (utime + stime, 10 ms ticks; live threads' schedstat), context switches"
    );
    for window in samples.windows(per_window + 1).step_by(per_window) {
        let (first, last) = (&window[0], &window[per_window]);
        let cpu = last.cpu.saturating_sub(first.cpu);
        let on_cpu = last.on_cpu.saturating_sub(first.on_cpu);
        worst_on_cpu = worst_on_cpu.max(on_cpu);
        let wakeups = last.switches.saturating_sub(first.switches);
        worst_cpu = worst_cpu.max(cpu);
        worst_wakeups = worst_wakeups.max(wakeups);
        println!(
            "  {:>4}-{:>4} s: {:>4} ms; {:.3} ms; {wakeups} switches",
            first.at.as_secs(),
            last.at.as_secs(),
            cpu.as_millis(),
            on_cpu.as_secs_f64() * 1e3
        );
    }
    let last = samples.last().unwrap();
    let rss_mib = last.rss_kib as f64 / 1024.0;
    println!();
    println!(
        "after {:.0} s: VmRSS {rss_mib:.1} MiB (goal ≤ {GOAL_RSS_MIB} MiB: {}), VmHWM {:.1} MiB, {} fds, {} threads",
        last.at.as_secs_f64(),
        support::verdict(rss_mib <= GOAL_RSS_MIB),
        last.peak_kib as f64 / 1024.0,
        last.fds,
        last.threads
    );
    println!(
        "worst 60-second window: {} ms of CPU in ticks, {:.3} ms by schedstat (goal ≤ {} ms: {}), {worst_wakeups} context switches",
        worst_cpu.as_millis(),
        worst_on_cpu.as_secs_f64() * 1e3,
        GOAL_CPU_PER_MINUTE.as_millis(),
        support::verdict(worst_cpu.max(worst_on_cpu) <= GOAL_CPU_PER_MINUTE)
    );
    println!(
        "CPU over the whole idle time: {} ms in {:.0} s",
        last.cpu.saturating_sub(samples[0].cpu).as_millis(),
        last.at.as_secs_f64()
    );

    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success(), "kill -TERM {pid}");
    let status = child.wait().unwrap();
    let rest = drain.join().unwrap();
    let warnings: Vec<&String> = rest
        .iter()
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .collect();
    println!(
        "daemon exit: {status}; {} log lines while idle, {} warnings or errors",
        rest.len(),
        warnings.len()
    );
    for line in warnings {
        print!("  {line}");
    }
    assert!(status.success(), "the daemon stops cleanly on SIGTERM");
    println!("load average after: {}", support::load_average());
    std::fs::remove_dir_all(&directory).unwrap();
}

fn print_sample(sample: &Sample) {
    println!(
        "{:>5} | {:>6} ms | {:>11.3} ms | {:>9.1} | {:>9.1} | {:>3} | {:>7} | {}",
        sample.at.as_secs(),
        sample.cpu.as_millis(),
        sample.on_cpu.as_secs_f64() * 1e3,
        sample.rss_kib as f64 / 1024.0,
        sample.peak_kib as f64 / 1024.0,
        sample.fds,
        sample.threads,
        sample.switches
    );
}

/// Writes the configuration, two authorizer lists (mode 0600) and returns the
/// configuration's path.
fn write_configuration(directory: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    for (name, prefix) in [("first.csv", "IDLE-A"), ("second.csv", "IDLE-B")] {
        let mut text = String::from(
            "authorizer_unique_id,first_name,last_name,street_address_line1,city,state,zip_code,country,phone_number,date_of_birth,ssn,account_number,routing_number,meta_loan_id,meta_payment_amount\n",
        );
        for i in 1..=50 {
            text.push_str(&format!(
                "{prefix}-{i:04},Test,Person,1 Main St,Dayton,OH,45402,US,555{i:07},01/01/1980,900{i:06},1000{i:05},011000015,LN-{i},250.00\n"
            ));
        }
        let path = directory.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = directory.join("config.yaml");
    std::fs::write(
        &config,
        "\
rightfoot:
  base_url: http://127.0.0.1:9         # never contacted: nothing is due
  api_key_env: RF_BENCH_KEY
  poll_interval: 1s
storage:
  path: idle.db
http:
  listen: 127.0.0.1:0
defaults:
  timezone: America/New_York
  catch_up: skip
  rules:
    - balance_below: { amount: 150.00 }
    - below_payment: { field: payment_amount, margin: 25.00 }
    - drop_percent: { percent: 40, window: 7d }
    - negative_balance: {}
    - check_failed: { codes: [3200, 3300, 3400] }
    - stale: { after: 3d }
    - run_failed: {}
  routes: [hook]
routes:
  hook:
    webhook:
      url: http://127.0.0.1:9/hooks
monitors:
  - name: new-year
    schedule: \"0 6 1 1 *\"
    authorizers: { csv: first.csv }
  - name: midsummer
    schedule: \"30 7 1 7 *\"
    authorizers: { csv: second.csv }
",
    )
    .unwrap();
    config
}
