//! The store's errors.
//!
//! [`StoreError`] is what callers see: every variant that comes from SQLite names the
//! database file, and the causes an operator can act on (disk full, read-only file,
//! locked by another process, a schema from a newer release) have their own variants
//! and messages. [`OpError`] is internal: the error type of the closures that run on a
//! connection, turned into a `StoreError` (with the path) at the edge of the writer and
//! the reader pool. This module does no I/O.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::ErrorCode;

use super::types::{RunId, RunState};

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
        source: rusqlite::Error,
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
        source: rusqlite::Error,
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
        source: rusqlite::Error,
    },

    #[error("database {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

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

/// The error of an operation running on a connection, before the path is attached.
#[derive(Debug)]
pub(crate) enum OpError {
    Sqlite(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for OpError {
    fn from(error: rusqlite::Error) -> Self {
        OpError::Sqlite(error)
    }
}

impl From<StoreError> for OpError {
    fn from(error: StoreError) -> Self {
        OpError::Store(error)
    }
}

impl OpError {
    pub(crate) fn into_store_error(self, path: &Path) -> StoreError {
        match self {
            OpError::Sqlite(error) => classify(path, error),
            OpError::Store(error) => error,
        }
    }
}

/// Turns an SQLite error into the variant an operator can act on.
pub(crate) fn classify(path: &Path, source: rusqlite::Error) -> StoreError {
    let path = path.to_path_buf();
    if let Some(
        code @ (rusqlite::ffi::SQLITE_IOERR_WRITE
        | rusqlite::ffi::SQLITE_IOERR_FSYNC
        | rusqlite::ffi::SQLITE_IOERR_DIR_FSYNC
        | rusqlite::ffi::SQLITE_IOERR_TRUNCATE
        | rusqlite::ffi::SQLITE_IOERR_SHMSIZE),
    ) = source.sqlite_extended_error_code()
    {
        return StoreError::WriteFailed { path, code };
    }
    match source.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::DiskFull { path },
        Some(ErrorCode::ReadOnly) => StoreError::ReadOnly { path },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy { path },
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            StoreError::NotADatabase { path }
        }
        Some(ErrorCode::SystemIoFailure) => StoreError::Io { path, source },
        _ => StoreError::Sqlite { path, source },
    }
}

/// Whether the error is a UNIQUE or PRIMARY KEY violation.
pub(crate) fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_extended_error_code(),
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), None)
    }

    #[test]
    fn operator_causes_get_their_own_messages_naming_the_file() {
        let path = Path::new("/var/lib/balance-monitor/state.db");
        let table = [
            (ffi::SQLITE_FULL, "the disk is full"),
            (ffi::SQLITE_READONLY, "is read-only"),
            (ffi::SQLITE_BUSY, "stayed locked"),
            (ffi::SQLITE_NOTADB, "is not a balance-monitor database"),
            (ffi::SQLITE_IOERR_READ, "disk I/O error"),
            // Regression: a write that failed on a file size limit (EFBIG) or a
            // failing disk read "disk I/O error: disk I/O error: ..." and did not say
            // that nothing could be written.
            (
                ffi::SQLITE_IOERR_WRITE,
                "cannot write to the disk (it is full",
            ),
            (ffi::SQLITE_IOERR_FSYNC, "cannot write to the disk"),
            (ffi::SQLITE_IOERR_SHMSIZE, "cannot write to the disk"),
        ];
        for (code, expected) in table {
            let message = classify(path, failure(code)).to_string();
            assert!(message.contains(expected), "{code}: {message}");
            assert!(
                message.contains("/var/lib/balance-monitor/state.db"),
                "{message}"
            );
        }
        assert!(classify(path, failure(ffi::SQLITE_FULL)).is_environmental());
        assert!(classify(path, failure(ffi::SQLITE_IOERR_WRITE)).is_environmental());
        assert!(!classify(path, failure(ffi::SQLITE_CONSTRAINT)).is_environmental());
    }
}
