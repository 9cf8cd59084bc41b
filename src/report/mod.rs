//! The read-side commands an operator types at a terminal: `history`, `runs`,
//! `runs show`, `export-csv`, `backup`, `status`, `alerts` and `alerts show`; the
//! operator's silences (`silence add`, `list`, `expire`, in `silences.rs`); the
//! lender's ACH returns (`returns import`, in `returns.rs`); and each debit's latest
//! decision (`debits`, in `debits.rs`).
//!
//! `cli.rs` parses the arguments and loads the configuration; this module opens the
//! store the configuration names, asks it typed questions, and renders the answers:
//! tables with times in each monitor's zone beside UTC, JSON, Rightfoot's CSV export
//! format, an online backup. Rendering is done by pure functions over store records
//! (`history.rs`, `runs.rs`), so that it is tested without a database; the command
//! functions here only wire them to the store and to the output.
//!
//! What it does not do: write to the database, but for an operator's silences and the
//! lender's returns
//! (`backup` reads it; opening the store may apply pending migrations, as the daemon
//! would), talk to Rightfoot (`status` asks only the daemon's own `/healthz`), or decide
//! what an alert is or what a silence matches (`alerting`).

pub mod alerts;
pub mod debits;
pub mod export_csv;
pub mod history;
pub mod returns;
pub mod runs;
pub mod silences;
pub mod status;
mod timefmt;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::Config;
use crate::domain::RunId;
use crate::private_file::PrivateFileError;
use crate::store::{
    BackupError, BackupOptions, BackupProgress, ExportQuery, ExportScope, HistoryQuery, Store,
};

pub use export_csv::ExportOutput;

/// The zone each configured monitor's times are shown in. A monitor that is in the
/// database but no longer in the configuration is shown in UTC.
#[derive(Clone, Debug, Default)]
pub struct Zones {
    by_monitor: HashMap<String, Tz>,
}

impl Zones {
    /// The zones of the configured monitors.
    pub fn from_config(config: &Config) -> Zones {
        Zones {
            by_monitor: config
                .monitors
                .iter()
                .map(|monitor| (monitor.name.clone(), monitor.schedule.zone()))
                .collect(),
        }
    }

    /// Zones given by name, for tests and tools.
    pub fn new(zones: impl IntoIterator<Item = (String, Tz)>) -> Zones {
        Zones {
            by_monitor: zones.into_iter().collect(),
        }
    }

    /// The monitor's zone, or `None` when it is not configured.
    pub fn get(&self, monitor: &str) -> Option<Tz> {
        self.by_monitor.get(monitor).copied()
    }

    /// The monitor's zone, UTC when it is not configured.
    pub fn of(&self, monitor: &str) -> Tz {
        self.get(monitor).unwrap_or(Tz::UTC)
    }
}

/// Opens the configured database for reading. Unlike the daemon, refuses to create an
/// SQLite file.
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let path = &config.storage.path;
    if config.storage.postgres.is_some() {
        let described = config.storage.describe();
        return config
            .storage
            .open_store()
            .await
            .with_context(|| format!("cannot open the database {described}"));
    }
    if !path.exists() {
        return Err(anyhow!(
            "database {} does not exist (storage.path in {}); has the daemon run yet?",
            path.display(),
            config.file.display()
        ));
    }
    Store::open(path).with_context(|| format!("cannot open the database {}", path.display()))
}

/// Writes a rendered report. A reader that went away (`| head`) is not a failure.
fn write_out(out: &mut dyn Write, text: &str) -> anyhow::Result<()> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(error).context("cannot write to stdout"))
        }
        _ => Ok(()),
    }
}

/// A monitor the database has no run of, with the configured names to choose from.
fn unknown_monitor(config: &Config, name: &str) -> anyhow::Error {
    let names: Vec<&str> = config.monitors.iter().map(|m| m.name.as_str()).collect();
    let hint = match crate::yaml::did_you_mean(name, &names) {
        Some(best) if best != name => format!("; did you mean `{best}`?"),
        _ => format!(" (configured: {})", names.join(", ")),
    };
    anyhow!("no run of a monitor named `{name}` in the database{hint}")
}

/// What `history` shows.
#[derive(Clone, Debug)]
pub struct HistoryOptions {
    pub authorizer_id: String,
    pub limit: u32,
    pub since: Option<DateTime<Utc>>,
    pub json: bool,
}

/// `balance-monitor history AUTHORIZER_ID`.
pub async fn history(
    config: &Config,
    options: &HistoryOptions,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let checks = store
        .authorizer_checks(HistoryQuery {
            authorizer_unique_id: options.authorizer_id.clone(),
            since: options.since,
            limit: options.limit,
        })
        .await;
    store.close().await;
    let Some(checks) = checks? else {
        return Err(anyhow!(
            "no authorizer {:?} in {}: it has never been part of a run",
            options.authorizer_id,
            config.storage.path.display()
        ));
    };
    let zones = Zones::from_config(config);
    let text = if options.json {
        history::render_json(&options.authorizer_id, &checks, &zones)
    } else {
        history::render_text(&options.authorizer_id, &checks, &zones, options.since)
    };
    write_out(out, &text)
}

/// `balance-monitor runs [--monitor M] [--limit N]`.
pub async fn runs(
    config: &Config,
    monitor: Option<&str>,
    limit: u32,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let zones = Zones::from_config(config);
    let listed = async {
        let monitor = match monitor {
            None => None,
            Some(name) => match store.monitor_id(name).await? {
                Some(id) => Some(id),
                // Configured, never run yet.
                None if zones.get(name).is_some() => return Ok(Vec::new()),
                None => return Err(unknown_monitor(config, name)),
            },
        };
        anyhow::Ok(store.recent_runs(monitor, limit).await?)
    }
    .await;
    store.close().await;
    let text = runs::render_list(&listed?, &zones);
    write_out(out, &text)
}

/// `balance-monitor runs show RUN_ID`.
pub async fn run_show(config: &Config, run: RunId, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let detail = async {
        let record = store
            .run(run)
            .await?
            .ok_or_else(|| anyhow!("no run {} in {}", run.0, config.storage.path.display()))?;
        let tally = store.run_tally(run).await?;
        let notifications = store.run_notifications(run).await?;
        let unsuccessful = crate::run::unsuccessful::unsuccessful(&store, run).await?;
        anyhow::Ok((
            runs::RunDetail {
                record,
                tally,
                notifications,
            },
            unsuccessful,
        ))
    }
    .await;
    store.close().await;
    let (detail, unsuccessful) = detail?;
    let mut text = runs::render_detail(&detail, &Zones::from_config(config));
    text.push_str(&unsuccessful);
    write_out(out, &text)
}

/// Which results `export-csv` writes, with names still unresolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportSelection {
    All,
    Run(RunId),
    Monitor(String),
    RightfootBatches(Vec<String>),
}

/// `balance-monitor export-csv`: streams the selection to `output`.
pub async fn export_csv(
    config: &Config,
    selection: ExportSelection,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    output: ExportOutput,
) -> anyhow::Result<u64> {
    let store = open_store(config).await?;
    let exported = async {
        let scope = match selection {
            ExportSelection::All => ExportScope::All,
            ExportSelection::Run(run) => ExportScope::Run(run),
            ExportSelection::RightfootBatches(ids) => ExportScope::RightfootBatches(ids),
            ExportSelection::Monitor(name) => match store.monitor_id(&name).await? {
                Some(id) => ExportScope::Monitor(id),
                None => return Err(unknown_monitor(config, &name)),
            },
        };
        export_csv::export(
            &store,
            ExportQuery {
                scope,
                since,
                until,
            },
            output,
        )
        .await
    }
    .await;
    store.close().await;
    exported
}

/// `balance-monitor backup DEST`.
pub async fn backup(
    config: &Config,
    destination: &Path,
    options: BackupOptions,
    progress: impl FnMut(BackupProgress) + Send + 'static,
) -> anyhow::Result<(PathBuf, u64)> {
    let store = open_store(config).await?;
    let copied = store
        .backup_with_progress(destination, options, progress)
        .await;
    store.close().await;
    let summary = copied.map_err(|error| match error {
        BackupError::File(PrivateFileError::Exists { path }) => {
            anyhow!(
                "{} already exists; use --force to replace it",
                path.display()
            )
        }
        other => anyhow::Error::new(other),
    })?;
    Ok((summary.destination, summary.bytes))
}
