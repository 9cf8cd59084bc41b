//! The SQLite backend: every store trait, on one file through rusqlite (bundled).
//!
//! Writes go to one connection owned by a dedicated thread (`writer.rs`), each in a
//! `BEGIN IMMEDIATE` transaction; reads go to a small pool of read-only connections
//! (`readers.rs`) that WAL keeps from blocking, or being blocked by, the writer. The
//! schema evolves through numbered, embedded migrations (`migrations.rs`); the pragmas,
//! and why each is set, are in `connection.rs`.
//!
//! Each area's trait is implemented in the file of the same name as the trait's own
//! (`runs.rs` implements `RunJournal`, and so on); the SQL pieces several areas share
//! are in `rows.rs`, below them all, and column conversions in `columns.rs`. This
//! module owns the handle ([`SqliteStore`]), its three ways to a connection (`write`,
//! `read`, `scan`) and [`Maintenance`]. Nothing here is visible outside `store`.

mod alerts;
mod backup;
mod batches;
mod columns;
mod connection;
mod dashboard;
mod debits;
mod error;
mod export;
mod leadership;
mod leases;
mod migrations;
mod outbox;
mod queries;
mod readers;
mod reports;
mod results;
mod retention;
mod rows;
mod run_metadata;
mod runs;
mod schedule;
mod silences;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use rusqlite::{Transaction, params};

pub use migrations::LATEST_VERSION;

use super::{
    Backend, BackupError, BackupOptions, BackupSummary, Maintenance, ProgressFn, PruneSummary,
    StoreError, StoreOptions,
};
use columns::time_text;
use error::OpError;
use readers::Readers;
use writer::Writer;

/// The SQLite database behind a [`Store`](super::Store).
pub(super) struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Arc<Readers>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it to
    /// [`LATEST_VERSION`]. Blocks: file I/O and migrations.
    pub(super) fn open_with(
        path: &Path,
        options: &StoreOptions,
    ) -> Result<SqliteStore, StoreError> {
        let mut connection = connection::open_writer(path, options.busy_timeout)?;
        // Refuse a newer schema before changing anything in the file, journal mode
        // included.
        migrations::refuse_newer(path, &connection)?;
        connection::enable_wal(path, &connection)?;
        migrations::migrate(path, &mut connection)?;
        let writer = Writer::start(path, connection)?;
        let readers = Readers::open(path, options.read_connections, options.busy_timeout)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer,
            readers,
        })
    }

    /// [`SqliteStore::open_with`] with the default options.
    #[cfg(test)]
    pub(super) fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, &StoreOptions::default())
    }

    /// Runs `job` in its own `BEGIN IMMEDIATE` transaction on the writer thread.
    async fn write<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, OpError> + Send + 'static,
        T: Send + 'static,
    {
        self.writer.write(job).await
    }

    /// Runs `query` in a read transaction on a pooled connection.
    async fn read<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, OpError> + Send + 'static,
        T: Send + 'static,
    {
        self.readers.read(query).await
    }

    /// [`SqliteStore::read`] for a query that reads a large part of the file once.
    async fn scan<T, F>(&self, query: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, OpError> + Send + 'static,
        T: Send + 'static,
    {
        self.readers.scan(query).await
    }
}

impl Backend for SqliteStore {}

impl Maintenance for SqliteStore {
    fn description(&self) -> String {
        format!("SQLite database {}", self.path.display())
    }

    fn schema_version(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(self.read(|transaction| Ok(migrations::schema_version(transaction)?)))
    }

    fn quick_check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        let path = self.path.clone();
        Box::pin(async move {
            let found = self
                .scan(|transaction| {
                    // At most a few problems: the first says enough, and a badly damaged
                    // file could list thousands.
                    Ok(transaction
                        .prepare("PRAGMA quick_check(5)")?
                        .query_map([], |row| row.get::<_, String>(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()?)
                })
                .await;
            match found {
                Ok(problems) if problems == ["ok"] => Ok(()),
                Ok(problems) => Err(StoreError::Corrupt {
                    path,
                    detail: problems.join("; "),
                }),
                // Damage bad enough that the check itself cannot read the file.
                Err(StoreError::NotADatabase { .. }) => Err(StoreError::Corrupt {
                    path,
                    detail: "the file cannot be read as an SQLite database".to_string(),
                }),
                Err(other) => Err(other),
            }
        })
    }

    fn check_writable(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        let path = self.path.clone();
        Box::pin(self.write(move |transaction| {
            let found = migrations::schema_version(transaction)?;
            if found != LATEST_VERSION {
                return Err(StoreError::SchemaChanged {
                    path,
                    found,
                    expected: LATEST_VERSION,
                }
                .into());
            }
            // Writing the version it already has dirties the file's first page, so the
            // commit really writes (to the WAL) and syncs: an empty transaction would
            // succeed on a full disk.
            transaction.pragma_update(None, "user_version", LATEST_VERSION)?;
            Ok(())
        }))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.writer.close())
    }

    fn backup_to<'a>(
        &'a self,
        destination: &'a Path,
        options: BackupOptions,
        progress: ProgressFn,
    ) -> BoxFuture<'a, Result<BackupSummary, BackupError>> {
        Box::pin(backup::copy(self, destination, options, progress))
    }

    fn prune_step(
        &self,
        cutoff: DateTime<Utc>,
        budget: u64,
    ) -> BoxFuture<'_, Result<PruneSummary, StoreError>> {
        let cutoff = time_text(cutoff);
        Box::pin(self.write(move |transaction| retention::prune_step(transaction, &cutoff, budget)))
    }

    fn runs_kept_before(&self, cutoff: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>> {
        let cutoff = time_text(cutoff);
        Box::pin(self.read(move |transaction| {
            Ok(transaction.query_row(
                crate::store::statements::retention::RUNS_BEFORE,
                params![cutoff],
                |row| row.get::<_, i64>(0),
            )? as u64)
        }))
    }
}

#[cfg(test)]
mod tests;
