//! The one write connection, owned by a dedicated OS thread.
//!
//! Async callers send a job (a closure over a transaction) through a bounded channel and
//! await a oneshot reply. The thread runs jobs one at a time, each in its own
//! `BEGIN IMMEDIATE` transaction: committed if the job returns `Ok`, rolled back if it
//! returns `Err` or panics. This module owns that thread and its connection; it knows
//! nothing of the schema.
//!
//! Why a dedicated thread, and not `spawn_blocking` around a mutex-guarded connection:
//! - SQLite allows one writer at a time anyway. Funnelling every write through one
//!   thread makes that explicit: jobs queue in a channel instead of piling up as blocked
//!   threads of tokio's blocking pool, each waiting on a lock.
//! - The connection never moves between threads and is never shared, so it needs no
//!   mutex at all (neither `std::sync::Mutex` nor tokio's).
//! - `BEGIN IMMEDIATE` takes the write lock at the start of the job, so a job never
//!   fails half-way with `SQLITE_BUSY` on its first write; with a single writer in the
//!   process, the only contention left is another process, bounded by `busy_timeout`.
//!
//! The channel is tokio's bounded `mpsc`: the async side waits with `send().await` when
//! the queue is full (back-pressure without blocking a runtime thread), and the writer
//! thread takes jobs with `blocking_recv`, which is meant for code outside the runtime.
//!
//! Cancellation: a caller that stops waiting does not cancel its job. Once queued, the
//! job runs and commits or rolls back as a whole; the store is never left half-written.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::JoinHandle;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use super::error::OpError;
use crate::store::StoreError;

/// Jobs waiting for the writer beyond this make callers wait to enqueue.
const QUEUE_LENGTH: usize = 256;

type Job = Box<dyn FnOnce(&mut Connection) + Send + 'static>;

enum Message {
    Run(Job),
    Stop,
}

pub(crate) struct Writer {
    path: PathBuf,
    sender: mpsc::Sender<Message>,
    /// Taken by `close`. A `std::sync::Mutex` because it is held for a `take()` and
    /// never across an `.await`.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the writer thread with an open, migrated connection.
    pub(crate) fn start(path: &Path, connection: Connection) -> Result<Writer, StoreError> {
        let (sender, receiver) = mpsc::channel(QUEUE_LENGTH);
        let thread = std::thread::Builder::new()
            .name("store-writer".to_string())
            .spawn(move || serve(connection, receiver))
            .map_err(|error| StoreError::Internal {
                path: path.to_path_buf(),
                message: format!("cannot start the writer thread: {error}"),
            })?;
        Ok(Writer {
            path: path.to_path_buf(),
            sender,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Runs `job` in a `BEGIN IMMEDIATE` transaction on the writer thread, committing
    /// if it returns `Ok`.
    pub(crate) async fn write<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<T, OpError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let path = self.path.clone();
        let job: Job = Box::new(move |connection: &mut Connection| {
            // A panic in a job is a bug, but it must not stop every later write: the
            // transaction rolls back as the panic unwinds, and the caller gets an error.
            let outcome = catch_unwind(AssertUnwindSafe(|| in_transaction(connection, job)));
            let result = match outcome {
                Ok(result) => result.map_err(|error| error.into_store_error(&path)),
                Err(panic) => Err(StoreError::Internal {
                    path: path.clone(),
                    message: format!(
                        "a write panicked and was rolled back: {}",
                        panic_message(panic.as_ref())
                    ),
                }),
            };
            // The caller may have stopped waiting; the outcome stands either way.
            let _ = reply.send(result);
        });
        self.sender
            .send(Message::Run(job))
            .await
            .map_err(|_| self.closed())?;
        answer.await.map_err(|_| self.closed())?
    }

    /// Lets the jobs already queued finish, then stops the thread and closes the
    /// connection (the last connection to close checkpoints the WAL into the file).
    /// Later writes fail with [`StoreError::Closed`].
    pub(crate) async fn close(&self) {
        let _ = self.sender.send(Message::Stop).await;
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    fn closed(&self) -> StoreError {
        StoreError::Closed {
            path: self.path.clone(),
        }
    }
}

fn serve(mut connection: Connection, mut receiver: mpsc::Receiver<Message>) {
    while let Some(message) = receiver.blocking_recv() {
        match message {
            Message::Run(job) => job(&mut connection),
            Message::Stop => break,
        }
    }
}

fn in_transaction<T>(
    connection: &mut Connection,
    job: impl FnOnce(&Transaction<'_>) -> Result<T, OpError>,
) -> Result<T, OpError> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // On `Err` (or a panic) the transaction is dropped here, which rolls it back.
    let value = job(&transaction)?;
    transaction.commit()?;
    Ok(value)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}
