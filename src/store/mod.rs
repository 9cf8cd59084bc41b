//! The SQLite store: every run, chunk, result, alert and queued notification.
//!
//! [`Store`] is the only way into the database. It offers typed async methods (no SQL
//! crosses its boundary) so that a PostgreSQL backend can later sit behind the same
//! surface. Writes go to one connection owned by a dedicated thread (`writer.rs`), each
//! in a `BEGIN IMMEDIATE` transaction; reads go to a small pool of read-only
//! connections (`readers.rs`) that WAL keeps from blocking, or being blocked by, the
//! writer. The schema evolves through numbered, embedded migrations (`migrations.rs`);
//! the pragmas, and why each is set, are in `connection.rs`.
//!
//! What the store holds: monitors by name, runs, chunks (with the SHA-256 of each
//! request body and Rightfoot's batch id), which authorizers were in which chunk, one
//! result per authorizer per run, alert state, the notification outbox, the schedule's
//! position and the slots that got no run (missed or skipped, `schedule.rs`), and the
//! completion webhooks already seen. The read side's pages (history, a batch's results,
//! runs, alerts) and the counts behind `/metrics` are in `queries.rs`. What it never holds: personal data. An authorizer
//! is its `authorizer_unique_id` and nothing else; names, SSN, EIN, account, routing
//! and card numbers, CVV, birth dates, addresses and phone numbers have no column, and
//! neither does lender metadata. A test reads the schema back and enforces this.
//!
//! This module does not decide anything: when a run starts, what counts as complete and
//! when an alert fires belong to the run, the rules and the scheduler. It does not talk
//! to Rightfoot, and it does not create directories.
//!
//! Times the caller passes are domain times (a cron slot, Rightfoot's timestamps, a
//! deadline). Bookkeeping times (`created_at`, `updated_at`, `recorded_at`) come from
//! the system clock when the store writes the row.

mod alerts;
mod backup;
mod batches;
mod columns;
mod connection;
mod error;
mod events;
mod export;
mod migrations;
mod queries;
mod readers;
mod reports;
mod results;
mod retention;
mod run_metadata;
mod runs;
mod schedule;
mod types;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use alerts::{
    AlertWrite, AttemptOutcome, Judgement, MemoryRow, NewNotification, NotificationRecord,
    OpenAlertRow, OpenPhase, QueuedNotification, RunCheck, RunCheckOutcome, RunForJudgement,
};
pub use backup::{BackupError, BackupOptions, BackupProgress, BackupSummary};
pub use error::StoreError;
pub use export::{ExportError, ExportQuery, ExportScope, ExportedResult, ResultSink};
pub use migrations::LATEST_VERSION;
pub use queries::{
    AlertRecord, AlertStateFilter, BatchResultRow, BatchResultsPage, HistoryPage, HistoryRow,
    LastRunResults, MetricsSnapshot, Paged,
};
pub use reports::{
    AuthorizerCheck, CheckOutcome, HistoryQuery, NotificationCounts, RunCounts, RunNotifications,
    RunOverview, UndeliveredNotification,
};
pub use retention::{Pace, PruneSummary};
pub use schedule::{ScheduleEvent, SchedulePosition, SlotEvent, SlotOutcome};
pub use types::{
    BatchRecord, BatchRef, BatchResultCounts, BatchRowId, BatchState, BatchSubmitted,
    FailedAuthorizer, HistoryEntry, MonitorId, NewRun, PlannedChunk, PreflightRejection,
    ResultOutcome, ResultRow, RunId, RunPlan, RunRecord, RunState, RunTally, RunTrigger,
    ScheduleState, UnfinishedRun, UpsertOutcome,
};

use error::OpError;
use readers::Readers;
use rusqlite::Transaction;
use writer::Writer;

/// How to open a store. `Default` is right for the daemon.
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

/// A handle to the database. Cheap to clone; every clone uses the same writer thread
/// and reader pool.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Writer,
    readers: Arc<Readers>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it to
    /// [`LATEST_VERSION`]. The directory must exist.
    ///
    /// This blocks (file I/O, migrations): call it at start-up, before serving, or from
    /// `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_with(path, &StoreOptions::default())
    }

    /// [`Store::open`] with explicit options.
    pub fn open_with(path: impl AsRef<Path>, options: &StoreOptions) -> Result<Store, StoreError> {
        let path = path.as_ref();
        let mut connection = connection::open_writer(path, options.busy_timeout)?;
        // Refuse a newer schema before changing anything in the file, journal mode
        // included.
        migrations::refuse_newer(path, &connection)?;
        connection::enable_wal(path, &connection)?;
        migrations::migrate(path, &mut connection)?;
        let writer = Writer::start(path, connection)?;
        let readers = Readers::open(path, options.read_connections, options.busy_timeout)?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                writer,
                readers,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The schema version of the file (`PRAGMA user_version`).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|transaction| Ok(migrations::schema_version(transaction)?))
            .await
    }

    /// Waits for the writes already queued, then stops the writer thread. Every write
    /// that returned `Ok` was durable already (`synchronous=FULL`); this only makes the
    /// shutdown tidy. Later writes through any clone fail with [`StoreError::Closed`].
    pub async fn close(&self) {
        self.inner.writer.close().await;
    }

    async fn write<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, OpError> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.writer.write(job).await
    }

    async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, OpError> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.readers.read(query).await
    }

    /// [`Store::read`] for a query that reads a large part of the file once.
    async fn scan<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, OpError> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.readers.scan(query).await
    }
}

#[cfg(test)]
mod tests;
