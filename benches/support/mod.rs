//! Measurement helpers shared by the programs in `benches/`.
//!
//! This module owns reading what the process costs, from Linux's `/proc` and with std
//! alone (the benchmarks forbid `unsafe`, so no `getrusage`): CPU time per thread
//! (`/proc/self/task/*/schedstat`, nanoseconds), CPU time for the whole process split
//! into user and system (`/proc/self/stat`, in clock ticks), resident memory and its
//! peak (`/proc/self/status`), resetting that peak (`/proc/self/clear_refs`), and the
//! min/median summary every benchmark prints. The process readings also work for a
//! child process by its pid (`ProcessCpu::of`, `Memory::of`), as do open file
//! descriptors (`/proc/<pid>/fd`), threads and their context switches and time on a
//! CPU (`/proc/<pid>/task/*`), and for finished children the CPU they used
//! (`children_cpu`) and the peak memory of one while it runs (`wait_with_peak_rss`). It
//! does not time anything itself or know what a benchmark measures.
#![allow(dead_code)] // Each benchmark uses a different part of it.

pub mod history_data;

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

/// Linux's `USER_HZ`, the unit of `utime` and `stime` in `/proc/self/stat`. It is 100 on
/// every architecture Linux supports today; std cannot ask `sysconf(_SC_CLK_TCK)`
/// without `unsafe`.
const USER_HZ: u64 = 100;

/// CPU time each live thread of the process has used, keyed by thread id.
#[derive(Clone, Debug, Default)]
pub struct ThreadCpu {
    threads: BTreeMap<u32, (String, Duration)>,
}

impl ThreadCpu {
    /// Reads every thread's name and on-CPU time. Threads that exit between two
    /// snapshots are lost, so the benchmarks keep their threads alive while measuring.
    pub fn snapshot() -> ThreadCpu {
        let mut threads = BTreeMap::new();
        let Ok(tasks) = fs::read_dir("/proc/self/task") else {
            return ThreadCpu::default();
        };
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let path = task.path();
            let name = fs::read_to_string(path.join("comm"))
                .map(|s| s.trim_end().to_string())
                .unwrap_or_default();
            // The first field is the time spent on a CPU, in nanoseconds.
            let on_cpu = fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse().ok())
                .map(Duration::from_nanos);
            if let Some(on_cpu) = on_cpu {
                threads.insert(tid, (name, on_cpu));
            }
        }
        ThreadCpu { threads }
    }

    /// CPU time used since `earlier` by the threads for which `select(name)` holds; a
    /// thread born since then counts from zero.
    pub fn since(&self, earlier: &ThreadCpu, select: impl Fn(&str) -> bool) -> Duration {
        self.threads
            .iter()
            .filter(|(_, (name, _))| select(name))
            .map(|(tid, (_, now))| {
                let before = earlier.threads.get(tid).map_or(Duration::ZERO, |t| t.1);
                now.saturating_sub(before)
            })
            .sum()
    }
}

/// User and system CPU time of the whole process, every thread included (those that
/// have exited too), with a resolution of one clock tick (10 ms).
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessCpu {
    pub user: Duration,
    pub system: Duration,
}

impl ProcessCpu {
    pub fn snapshot() -> ProcessCpu {
        ProcessCpu::of("self")
    }

    /// The same for another process, `pid` being a number or `self`: zero once it is
    /// gone.
    pub fn of(pid: &str) -> ProcessCpu {
        let text = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The command name is in parentheses and may contain spaces; fields after the
        // last `)` start with field 3 (`state`), so `utime` (14) and `stime` (15) are
        // the 12th and 13th.
        let fields: Vec<&str> = text
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |index: usize| -> Duration {
            let ticks: u64 = fields.get(index).and_then(|f| f.parse().ok()).unwrap_or(0);
            Duration::from_millis(ticks * 1000 / USER_HZ)
        };
        ProcessCpu {
            user: ticks(11),
            system: ticks(12),
        }
    }

    pub fn since(&self, earlier: &ProcessCpu) -> ProcessCpu {
        ProcessCpu {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    pub fn total(&self) -> Duration {
        self.user + self.system
    }
}

/// Resident memory from `/proc/self/status`, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak since the process started or since [`reset_peak_rss`].
    pub peak_kib: u64,
}

impl Memory {
    pub fn read() -> Memory {
        Memory::of("self")
    }

    /// The same for another process, `pid` being a number or `self`: zero once it is
    /// gone.
    pub fn of(pid: &str) -> Memory {
        let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| -> u64 {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Memory {
            rss_kib: field("VmRSS:"),
            peak_kib: field("VmHWM:"),
        }
    }
}

/// How many file descriptors process `pid` (a number or `self`) has open: the entries
/// of `/proc/<pid>/fd`. For `self` this includes the one reading the directory.
pub fn open_fds(pid: &str) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |entries| entries.count())
}

/// Threads of process `pid` and the context switches (voluntary + involuntary) its
/// live threads have made: a thread that wakes up counts one each time it sleeps again,
/// so the difference of two readings counts wake-ups.
pub fn threads_and_switches(pid: &str) -> (usize, u64) {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0, 0);
    };
    let mut threads = 0;
    let mut switches = 0;
    for task in tasks.flatten() {
        threads += 1;
        let text = fs::read_to_string(task.path().join("status")).unwrap_or_default();
        switches += text
            .lines()
            .filter(|line| line.contains("ctxt_switches:"))
            .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    (threads, switches)
}

/// The time on a CPU of the live threads of process `pid` (a number or `self`), in
/// nanoseconds from `/proc/<pid>/task/*/schedstat`: finer than `utime + stime`, but a
/// thread that has exited is no longer counted.
pub fn threads_on_cpu(pid: &str) -> Duration {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    tasks
        .flatten()
        .filter_map(|task| {
            fs::read_to_string(task.path().join("schedstat"))
                .ok()?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .map(Duration::from_nanos)
        .sum()
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` prints them.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Sets `VmHWM` back to the current `VmRSS` (Linux 4.0 and later), so that the next
/// reading is the peak of what follows. Returns whether the kernel accepted it.
pub fn reset_peak_rss() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The smallest value and the median (the mean of the middle two for an even count).
pub fn min_median(values: &[f64]) -> (f64, f64) {
    assert!(!values.is_empty(), "min_median of no values");
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    let median = if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    };
    (sorted[0], median)
}

/// The largest value.
pub fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// The CPU model and the number of CPUs this process may use, for the report header.
pub fn machine_summary() -> String {
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{model}, {cpus} CPUs available")
}

/// The CPU time (user + system) of this process's waited-for children so far:
/// `cutime + cstime` of `/proc/self/stat`, in 10 ms ticks.
pub fn children_cpu() -> Duration {
    let text = fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<u64> = text
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .map(|field| field.parse().unwrap_or(0))
        .collect();
    // Fields 16 and 17 of stat(5); the first after the command name is field 3.
    Duration::from_millis((fields[13] + fields[14]) * 10)
}

/// Waits for `child`, reading its `VmHWM` from `/proc/<pid>/status` every 2 ms: its exit
/// status and its peak resident memory in KiB. `VmHWM` only grows, so the last reading
/// is the peak, short of at most 2 ms of growth.
pub fn wait_with_peak_rss(child: &mut std::process::Child) -> (std::process::ExitStatus, u64) {
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    loop {
        if let Ok(text) = fs::read_to_string(&status_path)
            && let Some(kib) = text
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status, peak_kib);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The value after `name` on the command line (`--iterations 3`), parsed; panics with
/// the flag's name when the value does not parse.
pub fn argument<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::args()
        .skip_while(|arg| arg != name)
        .nth(1)
        .map(|value| value.parse().ok().unwrap_or_else(|| panic!("{name} N")))
}

/// `met` or `MISSED`, for a goal.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// The first file named `program` in a `PATH` directory.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|directory| std::path::Path::new(directory).join(program))
        .find(|candidate| candidate.is_file())
}

/// The version the `sqlite3` shell at `path` reports, or `?`.
pub fn sqlite3_version(path: &std::path::Path) -> String {
    std::process::Command::new(path)
        .arg("-version")
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap_or("?")
                .to_string()
        })
        .unwrap_or_else(|_| "?".to_string())
}
