//! The store's errors.
//!
//! [`StoreError`] is what callers see: every variant that comes from SQLite names the
//! database file, and the causes an operator can act on (disk full, read-only file,
//! locked by another process, a schema from a newer release) have their own variants
//! and messages. Every backend answers with these variants; turning a driver's error
//! into one is the backend's work (`sqlite/error.rs`). This module does no I/O.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::types::{RunId, RunState};

/// A database driver's own error, kept as the source of a [`StoreError`] (for SQLite,
/// a `rusqlite::Error`), so that no driver type is part of the store's interface.
pub type DriverError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error(
        "cannot open database {}: directory {} does not exist; create it (the store does not create directories)",
        path.display(),
        directory.display()
    )]
    DirectoryMissing { path: PathBuf, directory: PathBuf },

    #[error("cannot create database {}: {source}", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot open database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: DriverError,
    },

    #[error("{} is not a balance-monitor database (not an SQLite file, or it is corrupt)", path.display())]
    NotADatabase { path: PathBuf },

    #[error(
        "database {} has schema version {found}, this balance-monitor supports up to {supported}; upgrade balance-monitor or restore a backup",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("database {}: migration {version} ({name}) failed and was rolled back: {source}", path.display())]
    Migration {
        path: PathBuf,
        version: i64,
        name: &'static str,
        #[source]
        source: DriverError,
    },

    #[error(
        "database {}: cannot use write-ahead logging (journal mode stayed {mode:?}); put the database on a local file system",
        path.display()
    )]
    WalUnavailable { path: PathBuf, mode: String },

    #[error(
        "database {}: the disk is full; the last write was rolled back and nothing after it can be saved until space is freed",
        path.display()
    )]
    DiskFull { path: PathBuf },

    #[error(
        "database {} is read-only; the file, its directory and its -wal and -shm files must be writable by the balance-monitor user",
        path.display()
    )]
    ReadOnly { path: PathBuf },

    #[error(
        "database {} stayed locked by another connection or process past the busy timeout; is a second balance-monitor using it?",
        path.display()
    )]
    Busy { path: PathBuf },

    /// SQLite could not write, sync or extend a file: no space left beyond what
    /// SQLite itself reports as full, a file size limit (`ulimit -f`), or a failing
    /// disk. The operating system's reason is not available through SQLite's result.
    #[error(
        "database {}: cannot write to the disk (it is full, a file size limit was reached, or it is failing); the last write was rolled back and nothing after it can be saved until this is fixed (sqlite extended code {code})",
        path.display()
    )]
    WriteFailed { path: PathBuf, code: i32 },

    #[error("database {}: disk I/O error: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: DriverError,
    },

    #[error("database {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: DriverError,
    },

    /// The integrity check found damage: pages overwritten, a broken index, a file
    /// cut short. Nothing the daemon does can repair it.
    #[error(
        "database {} is corrupt (integrity check: {detail}); stop balance-monitor, keep the damaged file for investigation, and restore the latest backup",
        path.display()
    )]
    Corrupt { path: PathBuf, detail: String },

    /// The schema changed under a running process (the file was replaced or migrated
    /// by another balance-monitor).
    #[error(
        "database {} is at schema version {found}, this process expects {expected}; was the file replaced or migrated by another balance-monitor while this one ran?",
        path.display()
    )]
    SchemaChanged {
        path: PathBuf,
        found: i64,
        expected: i64,
    },

    /// A write of a process that led as `epoch`, refused because the leadership lease
    /// has since passed to another holder (or another epoch).
    #[error(
        "database {}: this process led as epoch {epoch}, and the leadership has passed on; the write was refused",
        path.display()
    )]
    Fenced { path: PathBuf, epoch: i64 },

    #[error("database {}: the store is closed", path.display())]
    Closed { path: PathBuf },

    #[error("database {}: internal error: {message}", path.display())]
    Internal { path: PathBuf, message: String },

    #[error("monitor {monitor:?} already has {existing} for the slot {slot}")]
    SlotTaken {
        monitor: String,
        slot: DateTime<Utc>,
        existing: RunId,
    },

    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: i64 },

    #[error("{run} is {from} and cannot become {to}")]
    InvalidRunTransition {
        run: RunId,
        from: RunState,
        to: RunState,
    },

    #[error("{run} is already {state}: it takes no new chunks")]
    RunFinished { run: RunId, state: RunState },

    #[error(
        "{run} chunk {chunk_index} was begun with a different request body (stored sha256 {stored}, now {given}); a retried chunk must be sent byte for byte the same"
    )]
    ChunkBodyChanged {
        run: RunId,
        chunk_index: u32,
        stored: String,
        given: String,
    },

    #[error("{run}: authorizer {authorizer_unique_id:?} is in more than one chunk")]
    DuplicateMember {
        run: RunId,
        authorizer_unique_id: String,
    },

    #[error("{what}: {message}")]
    InvalidInput { what: &'static str, message: String },
}

impl StoreError {
    /// Whether the failure is the machine's (disk, permissions, another process) rather
    /// than the caller's: the daemon should stop or back off, not skip a record.
    pub fn is_environmental(&self) -> bool {
        matches!(
            self,
            StoreError::DiskFull { .. }
                | StoreError::ReadOnly { .. }
                | StoreError::Busy { .. }
                | StoreError::WriteFailed { .. }
                | StoreError::Io { .. }
                | StoreError::Closed { .. }
        )
    }
}
