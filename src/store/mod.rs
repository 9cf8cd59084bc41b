//! The store: every run, chunk, result, alert and queued notification, behind an
//! interface a second database can implement.
//!
//! [`Store`] is the only way in: a cheap-to-clone handle on one [`Backend`], which is
//! every narrow trait the rest of the program needs. Each area declares its records and
//! its trait in its own file here, and nothing in them names a database:
//!
//! | file | trait | what |
//! |---|---|---|
//! | `runs.rs` | [`RunJournal`] | monitors, runs, a run's plan and tally |
//! | `batches.rs` | [`BatchJournal`] | chunks, their members, completion-webhook dedupe |
//! | `results.rs` | [`ResultJournal`] | one result per authorizer per run |
//! | `schedule.rs` | [`ScheduleJournal`] | schedule positions, missed and skipped slots |
//! | `leases.rs` | [`RunLeases`] | each monitor's run lease: one run at a time |
//! | `alerts.rs` | [`AlertState`] | what the judgement reads, and its commit |
//! | `outbox.rs` | [`Outbox`] | what is due, each attempt |
//! | `queries.rs` | [`ReadQueries`] | the HTTP API's pages, `/metrics`, `/readyz` |
//! | `reports.rs` | [`Reports`] | the terminal's history and runs |
//! | `export.rs` | [`Export`] | streaming results out |
//! | `maintenance.rs` | [`Maintenance`] | schema version, integrity check, test write, close, backup, retention steps |
//! | `run_metadata.rs` | [`JudgementFields`] | a run's judgement fields, plan to judgement |
//! | `silences.rs` | [`Silences`] | an operator's silences, and the alerts they held |
//! | `dashboard.rs` | [`Dashboard`] | the web pages' counts and filtered pages, "retry now" |
//! | `debits.rs` | [`DebitLedger`] | each run's debit decisions, the lender's ACH returns |
//!
//! The methods return boxed futures so the traits are object-safe, and `Store` derefs
//! to `dyn Backend`: callers write `store.run(id).await` whatever the backend. Where an
//! entry point is generic (a sink, a pacer, a progress callback), `Store` has an
//! inherent method that adapts it (`stream_results`, `prune_before`,
//! `backup_with_progress`) and runs what every backend shares.
//!
//! Two backends implement them: SQLite (`sqlite/`: connection, writer thread, reader
//! pool, migrations, and one file per area implementing its trait), opened with
//! [`Store::open`], and PostgreSQL (`postgres/`: a pool, migrations under an advisory
//! lock, the same one file per area), opened with [`Store::open_postgres`]. The SQL they
//! both run is written once, in `statements/`, and respelled for PostgreSQL when the
//! crate compiles. The shared test suite (`tests/store/`) takes its store from a
//! factory, so it runs on both. No driver type leaves its folder, and no SQL leaves the
//! store.
//!
//! Beside the backend, every clone of a `Store` shares one [`StoreHealth`]
//! (`health.rs`): the store errors its users counted and the runs waiting for the store
//! to heal, for `/metrics` and `/readyz`.
//!
//! What the store never holds: personal data. An authorizer is its
//! `authorizer_unique_id` and nothing else; names, SSN, EIN, account, routing and card
//! numbers, CVV, birth dates, addresses and phone numbers have no column. Of the
//! lender's metadata it keeps only the judgement fields ([`JudgementFields`], migration
//! 0006): the fields the monitor's rules and `alert_fields` name, which configuration
//! validation keeps free of personal field names, written with a run's plan and deleted
//! once the run is judged. A test reads the SQLite schema back and enforces this.
//!
//! The store does not decide anything: when a run starts, what counts as complete and
//! when an alert fires belong to the run, the rules and the scheduler. It does not talk
//! to Rightfoot, and it does not create directories.
//!
//! Times the caller passes are domain times (a cron slot, Rightfoot's timestamps, a
//! deadline). Bookkeeping times (`created_at`, `updated_at`, `recorded_at`) come from
//! the system clock when the store writes the row.

mod alerts;
mod backup;
mod batches;
mod dashboard;
mod debits;
mod error;
mod export;
mod health;
mod leases;
mod maintenance;
mod outbox;
mod postgres;
mod queries;
mod reports;
mod results;
mod retention;
mod run_metadata;
mod runs;
mod schedule;
mod silences;
mod sqlite;
mod statements;
mod types;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use alerts::{
    AlertState, AlertWrite, Judgement, JudgementPart, MemoryRow, OpenAlertRow, OpenPhase, RunCheck,
    RunCheckOutcome, RunForJudgement,
};
pub use backup::{BackupError, BackupOptions, BackupProgress, BackupSummary, ProgressFn};
pub use batches::BatchJournal;
pub use dashboard::{AlertFilter, Dashboard, FiringCount, OutboxBacklog, UndeliveredRow};
pub use debits::{
    DebitLedger, DecisionQuery, DecisionRow, DecisionTally, NewReturn, ReturnConflict,
    ReturnImport, StoredDecision,
};
pub use error::{DriverError, StoreError};
pub use export::{
    BoxedSink, Export, ExportError, ExportQuery, ExportScope, ExportedResult, ResultSink, RowSink,
};
pub use health::{StoreHealth, StuckRun};
pub use leases::{LeaseRequest, LeaseTake, RunLease, RunLeases};
pub use maintenance::Maintenance;
pub use outbox::{AttemptOutcome, NewNotification, NotificationRecord, Outbox, QueuedNotification};
pub use postgres::{PostgresOptions, TableCopy};
pub use queries::{
    AlertRecord, AlertStateFilter, BatchResultRow, BatchResultsPage, HistoryPage, HistoryRow,
    LastRunResults, MetricsSnapshot, Paged, ReadQueries,
};
pub use reports::{
    AuthorizerCheck, CheckOutcome, HistoryQuery, NotificationCounts, Reports, RunCounts,
    RunNotifications, RunOverview, UndeliveredNotification,
};
pub use results::ResultJournal;
pub use retention::{Pace, PruneSummary};
pub use run_metadata::JudgementFields;
pub use runs::{RunJournal, RunStateChange};
pub use schedule::{ScheduleEvent, ScheduleJournal, SchedulePosition, SlotEvent, SlotOutcome};
pub use silences::{HeldAlert, NewSilence, SilenceRecord, Silences};
pub use sqlite::LATEST_VERSION;
pub use types::{
    BatchRecord, BatchRef, BatchResultCounts, BatchRowId, BatchState, BatchSubmitted,
    FailedAuthorizer, HistoryEntry, MonitorId, NewRun, PlannedChunk, PreflightRejection,
    ResultOutcome, ResultRow, RunId, RunPlan, RunRecord, RunState, RunTally, RunTrigger,
    ScheduleState, UnfinishedRun, UpsertOutcome,
};

/// Everything a store backend implements: the narrow traits, together.
///
/// A backend declares it with an empty `impl Backend for … {}`; the compiler then
/// checks that it implements every narrow trait.
pub trait Backend:
    RunJournal
    + BatchJournal
    + ResultJournal
    + ScheduleJournal
    + RunLeases
    + AlertState
    + Outbox
    + ReadQueries
    + Reports
    + Export
    + Maintenance
    + JudgementFields
    + Silences
    + Dashboard
    + DebitLedger
    + Send
    + Sync
    + 'static
{
}

/// How to open an SQLite store. `Default` is right for the daemon.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Read-only connections in the pool (at least one is opened).
    pub read_connections: usize,
    /// How long a connection waits for a lock held by another process before failing
    /// with [`StoreError::Busy`].
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            read_connections: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A handle to the store. Cheap to clone; every clone uses the same backend (for
/// SQLite, the same writer thread and reader pool).
///
/// It derefs to [`dyn Backend`](Backend), so every trait method is a method of the
/// handle.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    health: Arc<StoreHealth>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend.description())
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &Self::Target {
        &*self.backend
    }
}

/// Checks a PostgreSQL connection URL without connecting: its location
/// (`postgres://user@host:port/db`, no password) or why it is refused (never quoting
/// the URL).
pub fn postgres_location(url: &str) -> Result<String, String> {
    postgres::location(url)
}

/// Copies the SQLite database at `source` into the empty PostgreSQL database `url`
/// names, and verifies each table's row count and checksum (`balance-monitor migrate`).
/// The SQLite file is first brought to the current schema, as the daemon would; a
/// target holding any row is refused unless `force` is given, which replaces it all.
pub async fn migrate_sqlite_to_postgres(
    source: &Path,
    url: &str,
    options: &PostgresOptions,
    force: bool,
) -> Result<Vec<TableCopy>, StoreError> {
    if !source.is_file() {
        return Err(StoreError::InvalidInput {
            what: "migrate",
            message: format!("{} is not an SQLite database file", source.display()),
        });
    }
    let sqlite = Store::open(source)?;
    sqlite.close().await;
    let target = postgres::PostgresStore::open(url, options).await?;
    let copied = postgres::import(&target, source, force).await;
    target.close().await;
    copied
}

impl Store {
    /// A handle on `backend`.
    pub fn from_backend(backend: Arc<dyn Backend>) -> Store {
        Store {
            backend,
            health: Arc::default(),
        }
    }

    /// The store errors this handle's users counted and the runs waiting for the store,
    /// shared by every clone.
    pub fn health(&self) -> &StoreHealth {
        &self.health
    }

    /// Opens (creating if needed) the SQLite database at `path` and migrates it to
    /// [`LATEST_VERSION`]. The directory must exist.
    ///
    /// This blocks (file I/O, migrations): call it at start-up, before serving, or from
    /// `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_with(path, &StoreOptions::default())
    }

    /// [`Store::open`] with explicit options.
    pub fn open_with(path: impl AsRef<Path>, options: &StoreOptions) -> Result<Store, StoreError> {
        let backend = sqlite::SqliteStore::open_with(path.as_ref(), options)?;
        Ok(Store::from_backend(Arc::new(backend)))
    }

    /// Connects to the PostgreSQL database `url` names
    /// (`postgres://user:password@host:5432/db?sslmode=verify-full`), migrates it to
    /// [`LATEST_VERSION`] under an advisory lock (or refuses a newer schema), and keeps
    /// a pool of `options.pool_size` connections. The URL's password appears in no
    /// error and no `Debug` output.
    pub async fn open_postgres(url: &str, options: &PostgresOptions) -> Result<Store, StoreError> {
        let backend = postgres::PostgresStore::open(url, options).await?;
        Ok(Store::from_backend(Arc::new(backend)))
    }
}
