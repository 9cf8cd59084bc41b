//! PostgreSQL's errors turned into [`StoreError`]s.
//!
//! [`OpError`] is the error of the code that runs inside a transaction, turned into a
//! `StoreError` (with the database's location, never its password) at the edge of
//! `write` and `read`. [`classify`] gives the causes an operator can act on their own
//! variants: a full disk, a read-only server (a standby replica), a lock or a pool that
//! stayed busy, and a connection that broke or could not be made, which is `Io`, so the
//! daemon heals once the server is back instead of giving up. This module does no I/O.

use std::path::PathBuf;

use tokio_postgres::error::SqlState;

use crate::store::StoreError;

/// The error of an operation running in a transaction, before the location is attached.
#[derive(Debug)]
pub(crate) enum OpError {
    Postgres(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for OpError {
    fn from(error: tokio_postgres::Error) -> Self {
        OpError::Postgres(error)
    }
}

impl From<StoreError> for OpError {
    fn from(error: StoreError) -> Self {
        OpError::Store(error)
    }
}

impl OpError {
    pub(crate) fn into_store_error(self, location: &str) -> StoreError {
        match self {
            OpError::Postgres(error) => classify(location, error),
            OpError::Store(error) => error,
        }
    }

    /// A value read from a row that the schema should have kept out.
    pub(crate) fn unexpected(what: impl Into<String>) -> OpError {
        OpError::Store(StoreError::InvalidInput {
            what: "stored value",
            message: what.into(),
        })
    }
}

/// Turns a PostgreSQL error into the variant an operator can act on.
pub(crate) fn classify(location: &str, source: tokio_postgres::Error) -> StoreError {
    let path = PathBuf::from(location);
    let Some(code) = source.code() else {
        // No SQLSTATE: the connection broke, could not be made, or timed out.
        return StoreError::Io {
            path,
            source: source.into(),
        };
    };
    if *code == SqlState::DISK_FULL {
        StoreError::DiskFull { path }
    } else if *code == SqlState::READ_ONLY_SQL_TRANSACTION {
        StoreError::ReadOnly { path }
    } else if *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::TOO_MANY_CONNECTIONS
    {
        StoreError::Busy { path }
    } else if code.code().starts_with("08")
        || code.code().starts_with("57P")
        || code.code().starts_with("53")
        || code.code().starts_with("58")
    {
        // Connection exceptions, an operator's shutdown or terminate, the server out of
        // resources, a system error: they pass.
        StoreError::Io {
            path,
            source: source.into(),
        }
    } else {
        StoreError::Sqlite {
            path,
            source: source.into(),
        }
    }
}
