//! SQLite's errors turned into [`StoreError`]s.
//!
//! [`OpError`] is the error type of the closures that run on a connection, turned into
//! a `StoreError` (with the path) at the edge of the writer and the reader pool;
//! [`classify`] gives the causes an operator can act on (disk full, read-only file,
//! locked by another process) their own variants. This module does no I/O.

use std::path::Path;

use rusqlite::ErrorCode;

use crate::store::StoreError;

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
        Some(ErrorCode::SystemIoFailure) => StoreError::Io {
            path,
            source: source.into(),
        },
        _ => StoreError::Sqlite {
            path,
            source: source.into(),
        },
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
