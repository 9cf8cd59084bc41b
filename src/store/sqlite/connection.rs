//! Opening SQLite connections with the store's pragmas.
//!
//! There are two kinds: the one write connection (owned by the writer thread) and the
//! read-only connections of the reader pool. This module sets their pragmas and checks
//! that they took; it does not migrate, and it runs no queries of the store's own.
//!
//! The pragmas, and why:
//! - `journal_mode=WAL` (persistent in the file): readers see the last committed state
//!   while the writer writes, so a history query never waits for a run to finish
//!   writing, and the writer never waits for a long export.
//! - `synchronous=FULL` on the writer: in WAL mode, `NORMAL` syncs only at checkpoints,
//!   so a power cut can undo the last transactions that reported success. A balance
//!   result, a batch id from Rightfoot's 201 or an alert's "already notified" flag must
//!   not be lost after we acted on it (a lost batch id means a second, billed check, or
//!   a borrower debited on a balance we can no longer show). FULL syncs the WAL at every
//!   commit. The cost, one fsync per write transaction, is small at this daemon's write
//!   rate (a few transactions per run).
//! - `foreign_keys=ON` on every connection: SQLite's default is off, per connection.
//! - `busy_timeout`: another process (a backup, an operator's `sqlite3` shell) may hold
//!   a lock briefly; wait for it rather than fail at once.
//! - `cache_size`: 8 MiB per connection, ample for this schema's working set.
//! - `query_only=ON` on readers, on top of opening them read-only.
//! - `mmap_size` on readers: they read the file through a memory map, so a page read
//!   is a memory access instead of a `pread` system call and a copy, and a mapped page
//!   skips the page cache, which the bundled SQLite shares across connections behind
//!   one mutex (`SQLITE_ENABLE_MEMORY_MANAGEMENT`). History pages read a dozen scattered
//!   pages each, so this is most of their cost under concurrency (see `BENCHMARKS.md`).
//!   SQLite caps the map at 2 GiB; pages beyond it are read as before. The writer does
//!   not map: its writes go to the WAL either way. A scan (every result of a run) turns
//!   the map off and the cache down for its read (`readers.rs`): mapped pages count in
//!   the process's resident memory, and a scan passes over tens of megabytes once.
//! - `journal_size_limit`: truncate the WAL after checkpoints instead of letting it stay
//!   at its high-water mark.
//!
//! Every connection also gets a function `now()`: the system clock as the store writes
//! times (`columns::time_text`), so that a statement both backends share
//! (`store/statements/`) says `now()` where PostgreSQL's own `now()` answers.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};

use super::columns::time_text;
use super::error::classify;
use crate::store::StoreError;

/// Page cache per connection, in KiB (a negative `cache_size` means KiB).
pub(crate) const CACHE_KIB: i64 = 8 * 1024;
/// The WAL is truncated to this size after a checkpoint.
const JOURNAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;
/// How much of the file a reader maps (SQLite's own limit, 2 GiB, applies first).
pub(crate) const READER_MMAP_BYTES: i64 = 4 * 1024 * 1024 * 1024;

/// Opens the write connection. Creates the file (mode 0600) if it does not exist. The
/// journal mode is left alone: the caller switches to WAL only after it has checked
/// that the schema is not from a newer release.
pub(crate) fn open_writer(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    create_private_file(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection =
        Connection::open_with_flags(path, flags).map_err(|source| open_error(path, source))?;
    // SQLite silently opens a write-protected file read-only; say so now, not at the
    // first write of the first run.
    if connection
        .is_readonly(rusqlite::MAIN_DB)
        .map_err(|error| classify(path, error))?
    {
        return Err(StoreError::ReadOnly {
            path: path.to_path_buf(),
        });
    }
    configure(path, &connection, busy_timeout)?;
    Ok(connection)
}

/// Switches the writer to WAL and sets its durability pragmas.
pub(crate) fn enable_wal(path: &Path, connection: &Connection) -> Result<(), StoreError> {
    let mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|error| classify(path, error))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::WalUnavailable {
            path: path.to_path_buf(),
            mode,
        });
    }
    let set = |name: &str, value: &dyn rusqlite::ToSql| {
        connection
            .pragma_update(None, name, value)
            .map_err(|error| classify(path, error))
    };
    set("synchronous", &"FULL")?;
    set("journal_size_limit", &JOURNAL_SIZE_LIMIT_BYTES)?;
    Ok(())
}

/// Opens one read-only connection. The database must exist and be migrated.
pub(crate) fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection =
        Connection::open_with_flags(path, flags).map_err(|source| open_error(path, source))?;
    configure(path, &connection, busy_timeout)?;
    connection
        .pragma_update(None, "query_only", true)
        .map_err(|error| classify(path, error))?;
    connection
        .pragma_update(None, "mmap_size", READER_MMAP_BYTES)
        .map_err(|error| classify(path, error))?;
    Ok(connection)
}

/// The pragmas every connection gets.
fn configure(
    path: &Path,
    connection: &Connection,
    busy_timeout: Duration,
) -> Result<(), StoreError> {
    let sqlite = |error| classify(path, error);
    connection.busy_timeout(busy_timeout).map_err(sqlite)?;
    connection
        .pragma_update(None, "foreign_keys", true)
        .map_err(sqlite)?;
    connection
        .pragma_update(None, "cache_size", -CACHE_KIB)
        .map_err(sqlite)?;
    // Not deterministic: each call reads the clock.
    connection
        .create_scalar_function("now", 0, FunctionFlags::SQLITE_UTF8, |_| {
            Ok(time_text(Utc::now()))
        })
        .map_err(sqlite)?;
    let foreign_keys: bool = connection
        .pragma_query_value(None, "foreign_keys", |row| row.get(0))
        .map_err(sqlite)?;
    if !foreign_keys {
        return Err(StoreError::Internal {
            path: path.to_path_buf(),
            message: "this SQLite build ignores foreign_keys=ON".to_string(),
        });
    }
    Ok(())
}

fn open_error(path: &Path, source: rusqlite::Error) -> StoreError {
    match classify(path, source) {
        StoreError::Sqlite { path, source } => StoreError::Open { path, source },
        other => other,
    }
}

/// Creates the database file readable by its owner only, if it does not exist yet.
/// SQLite gives the `-wal` and `-shm` files the same mode as the database.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::io::ErrorKind;
    use std::os::unix::fs::OpenOptionsExt;

    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !directory.is_dir() {
        return Err(StoreError::DirectoryMissing {
            path: path.to_path_buf(),
            directory: directory.to_path_buf(),
        });
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) => {
            let path = path.to_path_buf();
            match error.kind() {
                ErrorKind::AlreadyExists => Ok(()),
                ErrorKind::StorageFull => Err(StoreError::DiskFull { path }),
                ErrorKind::ReadOnlyFilesystem => Err(StoreError::ReadOnly { path }),
                _ => Err(StoreError::Create {
                    path,
                    source: error,
                }),
            }
        }
    }
}
