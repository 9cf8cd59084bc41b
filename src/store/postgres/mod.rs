//! The PostgreSQL backend: every store trait, on a database server through
//! tokio-postgres, a deadpool pool and rustls.
//!
//! Writes run in READ COMMITTED transactions that first take one transaction-level
//! advisory lock (`WRITER_LOCK`), so writers are serialised as SQLite's one writer
//! serialises them, across every process sharing the database: each area's logic (read,
//! check, write) is the SQLite backend's, unchanged, and so are its guarantees. Once the
//! handle has taken the leadership lease, every write then passes its fence
//! (`leadership.rs`), so an old leader's writes are refused. Reads
//! run in REPEATABLE READ, READ ONLY transactions, one snapshot each, beside the writers.
//! The schema evolves through numbered, embedded migrations applied at start
//! (`migrations.rs`); connecting, TLS and the pool are `connect.rs`.
//!
//! Each area's trait is implemented in the file of the same name as the trait's own; the
//! SQL several areas share is in `rows.rs`, and the statement helpers in `sql.rs`. This
//! module owns the handle ([`PostgresStore`]), its two ways to a transaction (`write`,
//! `read`) and [`Maintenance`]. Times are `TIMESTAMPTZ`, money `BIGINT` cents.

mod alerts;
mod batches;
mod connect;
mod dashboard;
mod debits;
mod error;
mod export;
mod import;
mod leadership;
mod leases;
mod migrations;
mod outbox;
mod queries;
mod reports;
mod results;
mod retention;
mod rows;
mod run_metadata;
mod runs;
mod schedule;
mod silences;
mod sql;

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use deadpool_postgres::{Object, Pool, PoolError, Transaction};
use futures_util::future::BoxFuture;
use tokio_postgres::IsolationLevel;

pub use import::TableCopy;
pub(super) use import::import;
pub use migrations::LATEST_VERSION;

use super::statements::{self, dollars};
use super::{
    Backend, BackupError, BackupOptions, BackupSummary, Maintenance, ProgressFn, PruneSummary,
    StoreError,
};
use connect::Target;
use error::{OpError, classify};

/// The key of the advisory lock every write transaction holds ("balance-monitor write").
const WRITER_LOCK: i64 = 0x6261_6c6d_6f6e_0002;

/// How to open a PostgreSQL store.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// Connections in the pool (two at least: fewer count as two).
    pub pool_size: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions { pool_size: 8 }
    }
}

/// Parses `url` as [`PostgresStore::open`] does: its location, or why it is refused.
pub(super) fn location(url: &str) -> Result<String, String> {
    Target::parse(url).map(|target| target.location())
}

/// The PostgreSQL database behind a [`Store`](super::Store).
pub(super) struct PostgresStore {
    /// `postgres://user@host:port/db`: no password.
    location: String,
    pool: Pool,
    closed: AtomicBool,
    /// The leadership this handle's writes must still have, once it took the lease.
    fence: leadership::Fence,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// What a transaction may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// Read a REPEATABLE READ, READ ONLY snapshot.
    Read,
    /// Write, serialised with every other writer and past the leadership fence.
    Write,
    /// Take or renew the leadership lease: READ COMMITTED, neither serialised with the
    /// writers nor fenced (`leadership.rs`).
    Lease,
}

/// The job a transaction runs: a closure given the transaction, answering a future that
/// borrows it.
type Job<'j, T> =
    Box<dyn for<'t> FnOnce(&'t Transaction<'t>) -> BoxFuture<'t, Result<T, OpError>> + Send + 'j>;

impl PostgresStore {
    /// Connects to the database `url` names, migrates it to [`LATEST_VERSION`] (or
    /// refuses a newer one) and keeps a pool of connections to it.
    pub(super) async fn open(
        url: &str,
        options: &PostgresOptions,
    ) -> Result<PostgresStore, StoreError> {
        let target = Target::parse(url).map_err(|message| StoreError::InvalidInput {
            what: "PostgreSQL URL",
            message,
        })?;
        let location = target.location();
        let pool = target
            // Two at least: a judgement's transaction holds one connection while its
            // pages are read through another (the configuration refuses fewer).
            .pool(options.pool_size.max(2))
            .map_err(|message| StoreError::Internal {
                path: location.clone().into(),
                message,
            })?;
        let store = PostgresStore {
            location,
            pool,
            closed: AtomicBool::new(false),
            fence: leadership::Fence::default(),
        };
        let mut client = store.client().await.map_err(|error| match error {
            StoreError::Io { path, source } | StoreError::Sqlite { path, source } => {
                StoreError::Open { path, source }
            }
            other => other,
        })?;
        migrations::migrate(&mut client, &store.location).await?;
        Ok(store)
    }

    /// A pooled connection, or why there is none.
    async fn client(&self) -> Result<Object, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed {
                path: self.location.clone().into(),
            });
        }
        self.pool.get().await.map_err(|error| match error {
            PoolError::Backend(error) => classify(&self.location, error),
            PoolError::Closed => StoreError::Closed {
                path: self.location.clone().into(),
            },
            PoolError::Timeout(_) => StoreError::Busy {
                path: self.location.clone().into(),
            },
            other => StoreError::Internal {
                path: self.location.clone().into(),
                message: other.to_string(),
            },
        })
    }

    /// Runs `job` in a write transaction, serialised with every other writer.
    async fn write<T: Send>(
        &self,
        job: impl for<'t> FnOnce(&'t Transaction<'t>) -> BoxFuture<'t, Result<T, OpError>> + Send,
    ) -> Result<T, StoreError> {
        self.transact(Access::Write, Box::new(job)).await
    }

    /// Runs `query` in a read-only snapshot.
    async fn read<T: Send>(
        &self,
        query: impl for<'t> FnOnce(&'t Transaction<'t>) -> BoxFuture<'t, Result<T, OpError>> + Send,
    ) -> Result<T, StoreError> {
        self.transact(Access::Read, Box::new(query)).await
    }

    async fn transact<T: Send>(&self, access: Access, job: Job<'_, T>) -> Result<T, StoreError> {
        let mut client = self.client().await?;
        let on_error = |error: OpError| error.into_store_error(&self.location);
        let builder = client.build_transaction();
        let builder = match access {
            Access::Read => builder
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true),
            Access::Write | Access::Lease => builder.isolation_level(IsolationLevel::ReadCommitted),
        };
        let transaction = builder
            .start()
            .await
            .map_err(|error| on_error(error.into()))?;
        if access == Access::Write {
            leadership::enter_write(&transaction, WRITER_LOCK, &self.fence, &self.location)
                .await
                .map_err(on_error)?;
        }
        let value = job(&transaction).await.map_err(on_error)?;
        transaction
            .commit()
            .await
            .map_err(|error| on_error(error.into()))?;
        Ok(value)
    }
}

impl Backend for PostgresStore {}

impl Maintenance for PostgresStore {
    fn description(&self) -> String {
        format!("PostgreSQL database {}", self.location)
    }

    fn schema_version(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(self.read(|tx| {
            Box::pin(async move {
                Ok(sql::one(tx, migrations::VERSION_SQL, &[])
                    .await?
                    .try_get(0)?)
            })
        }))
    }

    fn quick_check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        // The server keeps its own files sound (checksums, WAL); what the daemon can check
        // is that the schema is there and readable.
        Box::pin(async move {
            self.schema_version().await?;
            Ok(())
        })
    }

    fn check_writable(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        let location = self.location.clone();
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                let found: i64 = sql::one(tx, migrations::VERSION_SQL, &[])
                    .await?
                    .try_get(0)?;
                if found != LATEST_VERSION {
                    return Err(StoreError::SchemaChanged {
                        path: location.into(),
                        found,
                        expected: LATEST_VERSION,
                    }
                    .into());
                }
                // A real row version written and committed: an empty transaction would
                // succeed on a server that cannot write.
                sql::exec(
                    tx,
                    "UPDATE schema_migrations SET applied_at = applied_at WHERE version = $1",
                    &[&LATEST_VERSION],
                )
                .await?;
                Ok(())
            })
        }))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.closed.store(true, Ordering::Release);
            self.pool.close();
        })
    }

    fn backup_to<'a>(
        &'a self,
        _destination: &'a Path,
        _options: BackupOptions,
        _progress: ProgressFn,
    ) -> BoxFuture<'a, Result<BackupSummary, BackupError>> {
        Box::pin(async move {
            Err(BackupError::Store(StoreError::InvalidInput {
                what: "backup",
                message: format!(
                    "{} is backed up with PostgreSQL's own tools (pg_dump, or a replica with point-in-time recovery)",
                    self.location
                ),
            }))
        })
    }

    fn prune_step(
        &self,
        cutoff: DateTime<Utc>,
        budget: u64,
    ) -> BoxFuture<'_, Result<PruneSummary, StoreError>> {
        Box::pin(self.write(move |tx| Box::pin(retention::prune_step(tx, cutoff, budget))))
    }

    fn runs_kept_before(&self, cutoff: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                const RUNS_BEFORE: &str = dollars!(statements::retention::RUNS_BEFORE);
                let row = sql::one(tx, RUNS_BEFORE, &[&cutoff]).await?;
                Ok(row.try_get::<_, i64>(0)? as u64)
            })
        }))
    }
}
