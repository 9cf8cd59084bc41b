//! A small pool of read-only connections, used through `spawn_blocking`.
//!
//! In WAL mode a reader sees the last committed state and neither waits for the writer
//! nor makes it wait, so history queries and exports run beside a run's writes. Each
//! read runs in one (deferred) transaction, so a query made of several statements sees
//! one consistent snapshot. This module owns the read connections; it knows nothing of
//! the schema.
//!
//! Concurrency choices:
//! - A tokio `Semaphore` with one permit per connection: a caller waiting for a free
//!   connection waits asynchronously, without holding a runtime thread.
//! - `spawn_blocking` for the query itself: SQLite calls block, and the blocking pool is
//!   where blocking work belongs. A connection is used by one thread at a time.
//! - The idle connections sit in a `std::sync::Mutex<Vec<_>>`: it is held only for a
//!   `push` or a `pop`, never across an `.await`, and it is taken from blocking-pool
//!   threads, where tokio's async mutex would be the wrong tool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, Transaction};
use tokio::sync::Semaphore;

use super::connection::{CACHE_KIB, READER_MMAP_BYTES, open_reader};

/// The page cache of a connection while it scans, in KiB: the pages of a scan are
/// read once, so a larger cache would only hold what is not read again.
const SCAN_CACHE_KIB: i64 = 1024;
use super::error::OpError;
use crate::store::StoreError;

pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    /// Opens `count` read-only connections (at least one).
    pub(crate) fn open(
        path: &Path,
        count: usize,
        busy_timeout: Duration,
    ) -> Result<Arc<Readers>, StoreError> {
        let count = count.max(1);
        let connections = (0..count)
            .map(|_| open_reader(path, busy_timeout))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(Readers {
            path: path.to_path_buf(),
            idle: Mutex::new(connections),
            permits: Arc::new(Semaphore::new(count)),
        }))
    }

    /// Runs `query` on a free read connection, inside a read transaction.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, query: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, OpError> + Send + 'static,
        T: Send + 'static,
    {
        self.read_as(Access::Mapped, query).await
    }

    /// [`Readers::read`] for a query that reads a large part of the file once (every
    /// result of a run): the connection reads it with `pread` through a small page
    /// cache instead of through its memory map, so that the pages it passes over (tens
    /// of megabytes for a large run) do not stay in the process's resident memory.
    pub(crate) async fn scan<T, F>(self: &Arc<Self>, query: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, OpError> + Send + 'static,
        T: Send + 'static,
    {
        self.read_as(Access::Unmapped, query).await
    }

    async fn read_as<T, F>(self: &Arc<Self>, access: Access, query: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, OpError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed {
                path: self.path.clone(),
            })?;
        let readers = Arc::clone(self);
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut checkout = Checkout {
                connection: Some(readers.take()),
                readers: &readers,
                remap: false,
            };
            if access == Access::Unmapped {
                let connection = checkout.connection.as_ref().expect("checked out");
                checkout.remap = true;
                connection.pragma_update(None, "mmap_size", 0)?;
                connection.pragma_update(None, "cache_size", -SCAN_CACHE_KIB)?;
            }
            let connection = checkout.connection.as_mut().expect("checked out");
            let transaction = connection.transaction()?;
            let value = query(&transaction)?;
            transaction.commit()?;
            Ok(value)
        })
        .await;
        match joined {
            Ok(result) => result.map_err(|error: OpError| error.into_store_error(&self.path)),
            Err(error) => Err(StoreError::Internal {
                path: self.path.clone(),
                message: format!("a read failed to complete: {error}"),
            }),
        }
    }

    /// Takes an idle connection. The caller holds a permit, so there is one.
    fn take(&self) -> Connection {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .expect("a permit guarantees an idle read connection")
    }
}

#[cfg(test)]
impl Readers {
    /// Runs `check` on every idle connection (all of them, when no read is running).
    pub(crate) fn for_each_idle(&self, mut check: impl FnMut(&Connection)) -> usize {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.iter().for_each(&mut check);
        idle.len()
    }
}

/// How a read reaches the file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Mapped,
    Unmapped,
}

/// Returns the connection to the pool even if the query panics, with its memory map
/// restored if the read turned it off.
struct Checkout<'a> {
    connection: Option<Connection>,
    readers: &'a Readers,
    remap: bool,
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            // If this fails the connection reads without its map, or with a small
            // cache: slower, still right.
            if self.remap {
                let _ = connection.pragma_update(None, "mmap_size", READER_MMAP_BYTES);
                let _ = connection.pragma_update(None, "cache_size", -CACHE_KIB);
            }
            self.readers
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(connection);
        }
    }
}
