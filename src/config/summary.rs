//! The `check-config` report: what the daemon would do with this configuration.
//!
//! For each monitor: how many authorizers load (valid and rejected by pre-flight, with
//! where each rejected one is and why, never its personal data), the next three fire
//! times in the monitor's zone and in UTC, the rules and the routes. Then the
//! configuration's warnings. Building the report reads the authorizer files; it sends
//! nothing anywhere.

use std::fmt::Write as _;

use chrono::Utc;

use super::duration::format_duration;
use super::model::*;
use crate::authorizers::source::{self, LoadedAuthorizers};

/// The rendered report, and whether every authorizer source could be loaded.
pub struct Report {
    /// Everything but the verdict.
    pub text: String,
    pub ok: bool,
}

impl Report {
    /// The last line: `configuration FILE: valid` when `ok` and nothing else failed
    /// (`other_failure`, such as a dependency `--online` could not reach), so that
    /// "valid" is printed only when the command exits 0.
    pub fn verdict(&self, config: &Config, other_failure: Option<&str>) -> String {
        let verdict = match (self.ok, other_failure) {
            (false, _) => "invalid",
            (true, Some(failure)) => failure,
            (true, None) => "valid",
        };
        format!("\nconfiguration {}: {verdict}\n", config.file.display())
    }
}

/// How many rejected authorizers are listed per monitor unless `all` is asked for.
const REJECTED_SHOWN: usize = 10;

pub fn check(config: &Config, all: bool) -> Report {
    let mut out = String::new();
    let mut ok = true;
    let now = Utc::now();
    let _ = writeln!(out, "configuration {}", config.file.display());
    let _ = writeln!(
        out,
        "Rightfoot: {} (poll every {}, results awaited {} after submission, batches of up to {})",
        config.rightfoot.base_url,
        format_duration(config.rightfoot.poll_interval),
        format_duration(config.rightfoot.result_deadline),
        config.rightfoot.max_batch_size
    );
    match check_storage_directory(&config.storage.path) {
        StorageFolder::Writable => {
            let _ = writeln!(out, "storage: {}", config.storage.path.display());
        }
        StorageFolder::Missing(folder) => {
            let _ = writeln!(
                out,
                "storage: {}\n  warning: the folder {} does not exist yet; create it, writable by the user the daemon runs as, before `run`",
                config.storage.path.display(),
                folder.display()
            );
        }
        StorageFolder::Unwritable(problem) => {
            ok = false;
            let _ = writeln!(
                out,
                "storage: {}: error: {problem}",
                config.storage.path.display()
            );
        }
    }
    for monitor in &config.monitors {
        let _ = writeln!(out, "\nmonitor {}", monitor.name);
        match source::load_source(&monitor.authorizers, &config.file) {
            Ok(loaded) => describe_authorizers(&mut out, &loaded, all),
            Err(e) => {
                ok = false;
                let _ = writeln!(out, "  authorizers: error: {e}");
            }
        }
        let zone = monitor.schedule.zone();
        let _ = writeln!(
            out,
            "  schedule: {:?} in {} (catch_up {}, grace {}{})",
            monitor.schedule.expression(),
            zone.name(),
            monitor.catch_up.as_str(),
            format_duration(monitor.grace),
            if monitor.jitter.is_zero() {
                String::new()
            } else {
                format!(", jitter up to {}", format_duration(monitor.jitter))
            }
        );
        for fire in monitor.schedule.upcoming(now, 3) {
            let _ = writeln!(
                out,
                "    next: {}  ({} UTC)",
                fire.format("%a %Y-%m-%d %H:%M:%S %Z"),
                fire.with_timezone(&Utc).format("%Y-%m-%d %H:%M:%S")
            );
        }
        if let Some(debits) = &monitor.debits {
            describe_debits(&mut out, debits);
        }
        if monitor.rules.is_empty() {
            let _ = writeln!(out, "  rules: none");
        } else {
            let _ = writeln!(out, "  rules:");
            for rule in &monitor.rules {
                let _ = writeln!(out, "    {}", describe_rule(rule));
            }
        }
        let routes: Vec<String> = monitor
            .routes
            .iter()
            .map(|name| match config.routes.get(name).map(|r| &r.target) {
                Some(RouteTarget::Email(e)) => {
                    format!("{name} (email to {} recipient(s))", e.to.len())
                }
                Some(RouteTarget::Webhook(w)) => {
                    format!("{name} (webhook {})", w.url.host_str().unwrap_or(""))
                }
                Some(RouteTarget::PagerDuty(p)) => format!(
                    "{name} (pagerduty {}, {})",
                    p.events_url.host_str().unwrap_or(""),
                    if p.per_authorizer {
                        "one event per alert"
                    } else {
                        "one event per rule"
                    }
                ),
                Some(target) => format!("{name} ({})", target.kind()),
                None => name.clone(),
            })
            .collect();
        let _ = writeln!(
            out,
            "  routes: {}",
            if routes.is_empty() {
                "none".to_string()
            } else {
                routes.join(", ")
            }
        );
        let _ = writeln!(
            out,
            "  repeat_interval {}, send_resolved {}{}",
            format_duration(monitor.repeat_interval),
            monitor.send_resolved,
            if monitor.alert_fields.is_empty() {
                String::new()
            } else {
                format!(", alert_fields: {}", monitor.alert_fields.join(", "))
            }
        );
    }
    if !config.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings:");
        for w in &config.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
    }
    Report { text: out, ok }
}

/// The `debits` section: where the debits come from, the window, the cut-off, the
/// margin, freshness, extra holidays and the recheck phase.
fn describe_debits(out: &mut String, debits: &Debits) {
    let source = match &debits.source {
        DebitSource::Csv(path) => format!("csv {}", path.display()),
        DebitSource::FromMetadata { date, amount } => {
            format!("from metadata (date {date}, amount {amount})")
        }
    };
    let _ = writeln!(out, "  debits: {source}");
    let _ = writeln!(
        out,
        "    due within {} business day{}, cut-off {}, margin {}, balances fresh for {}",
        debits.due_within,
        if debits.due_within == 1 { "" } else { "s" },
        debits.cutoff.format("%H:%M"),
        debits.margin,
        format_duration(debits.fresh_for)
    );
    let extra = debits.calendar.extra_holidays();
    if !extra.is_empty() {
        let dates: Vec<String> = extra.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "    extra holidays: {}", dates.join(", "));
    }
    if let Some(recheck) = &debits.recheck {
        let only: Vec<&str> = recheck.only.iter().map(|d| d.as_str()).collect();
        let _ = writeln!(
            out,
            "    recheck: {:?} over {}",
            recheck.schedule.expression(),
            only.join(", ")
        );
    }
}

/// What `check-config` finds of the database's folder.
enum StorageFolder {
    Writable,
    /// Not there yet: a warning, since `check-config` often runs before the package or
    /// the operator has created it.
    Missing(std::path::PathBuf),
    /// There, but this user cannot create files in it (SQLite writes its journal
    /// beside the database): an error.
    Unwritable(String),
}

/// Checks the database's folder by creating and removing a file there.
fn check_storage_directory(database: &std::path::Path) -> StorageFolder {
    let folder = match database.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    if !folder.exists() {
        return StorageFolder::Missing(folder.to_path_buf());
    }
    if !folder.is_dir() {
        return StorageFolder::Unwritable(format!("{} is not a folder", folder.display()));
    }
    let probe = folder.join(format!(".balance-monitor-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            StorageFolder::Writable
        }
        Err(error) => StorageFolder::Unwritable(format!(
            "cannot create files in {}: {error}",
            folder.display()
        )),
    }
}

/// Why `check-config` exits 2 after printing its report, or `None` when it exits 0.
pub fn failure(report: &Report, config: &Config) -> Option<String> {
    (!report.ok).then(|| {
        format!(
            "{}: the problems marked `error` above must be fixed",
            config.file.display()
        )
    })
}

/// The message for a configuration that cannot be read, with what to try when it is
/// the default path that is missing: `--config`, or `init` to write one.
pub fn explain_unreadable(error: super::ConfigError, default_path: &str) -> String {
    let mut message = error.to_string();
    if let super::ConfigError::Read {
        file,
        source: crate::private_file::input::InputFileError::Open { source, .. },
    } = &error
        && source.kind() == std::io::ErrorKind::NotFound
    {
        if file == std::path::Path::new(default_path) {
            let _ = write!(
                message,
                "\n  hint: give the configuration with --config PATH (or BALANCE_MONITOR_CONFIG), or write a new one with `balance-monitor init DIR`"
            );
        } else {
            let _ = write!(
                message,
                "\n  hint: write a new configuration with `balance-monitor init DIR`"
            );
        }
    }
    message
}

fn describe_authorizers(out: &mut String, loaded: &LoadedAuthorizers, all: bool) {
    let _ = writeln!(
        out,
        "  authorizers: {} valid, {} invalid (left out of submissions)",
        loaded.valid.len(),
        loaded.rejected.len()
    );
    let shown = if all {
        loaded.rejected.len()
    } else {
        REJECTED_SHOWN
    };
    for rejected in loaded.rejected.iter().take(shown) {
        let id = if rejected.id.is_empty() {
            "(no id)"
        } else {
            rejected.id.as_str()
        };
        let _ = writeln!(out, "    {}: {id}: {}", rejected.origin, rejected.error);
    }
    if loaded.rejected.len() > shown {
        let _ = writeln!(
            out,
            "    ... and {} more (check-config --all lists them)",
            loaded.rejected.len() - shown
        );
    }
    for warning in &loaded.warnings {
        let _ = writeln!(out, "    warning: {warning}");
    }
}

/// One line per rule, as the configuration would write it.
pub fn describe_rule(rule: &Rule) -> String {
    let window = |w: &Option<std::time::Duration>| match w {
        Some(w) => format!(
            " against the highest balance within {}",
            format_duration(*w)
        ),
        None => " against the previous balance".to_string(),
    };
    let percent = |bp: BasisPoints| {
        if bp.is_multiple_of(100) {
            format!("{}%", bp / 100)
        } else {
            format!("{}.{:02}%", bp / 100, bp % 100)
        }
    };
    let what = match &rule.kind {
        RuleKind::BalanceBelow { amount } => format!("balance_below {amount}"),
        RuleKind::BelowPayment { field, margin } => {
            format!("below_payment: balance below metadata `{field}` plus {margin}")
        }
        RuleKind::DropPercent {
            percent: p,
            window: w,
        } => format!("drop_percent {}{}", percent(*p), window(w)),
        RuleKind::DropAmount { amount, window: w } => format!("drop_amount {amount}{}", window(w)),
        RuleKind::NegativeBalance => "negative_balance".to_string(),
        RuleKind::CheckFailed { codes, consecutive } => format!(
            "check_failed {} {} time(s) in a row",
            match codes {
                None => "with any code".to_string(),
                Some(c) => format!("with codes {c:?}"),
            },
            consecutive
        ),
        RuleKind::Stale { after } => format!(
            "stale: no successful balance for {}",
            format_duration(*after)
        ),
        RuleKind::RunFailed {
            not_retrieved_percent,
        } => format!(
            "run_failed: not submitted, API unreachable, or over {} not retrieved",
            percent(*not_retrieved_percent)
        ),
    };
    let mut line = format!("{what} [{}]", rule.severity.as_str());
    if rule.for_runs > 1 {
        let _ = write!(line, ", for {}", crate::text::count(rule.for_runs, "run"));
    }
    if rule.resolve_after_runs > 1 {
        let _ = write!(
            line,
            ", resolves after {} clear runs",
            rule.resolve_after_runs
        );
    }
    line
}
