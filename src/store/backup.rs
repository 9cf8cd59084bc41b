//! An online copy of the database through SQLite's backup API, safe while the daemon
//! writes.
//!
//! [`Store::backup`] asks the backend for a copy ([`Maintenance::backup_to`](super::Maintenance::backup_to)).
//! On SQLite it copies from one of the pool's read connections inside one read
//! transaction, so the copy is exactly the database as of one commit however long it
//! takes: in WAL mode that snapshot neither blocks the writer nor is disturbed by it
//! (without it, each write between two steps would restart the copy, and a busy daemon
//! could keep a large backup from ever finishing). The copy goes a few hundred pages at
//! a time with a short pause between steps, so that it takes a modest share of the disk
//! and of the CPU from the daemon. While it runs, checkpoints cannot move the WAL past
//! its snapshot; the WAL may grow until it ends.
//!
//! The copy is written to a temporary file of mode 0600 beside the destination, checked
//! with `PRAGMA integrity_check`, switched to a rollback journal (so it is one
//! self-contained file; the daemon switches it back to WAL when it opens it), and moved
//! into place; an existing destination is replaced only when asked (see
//! `private_file.rs`).
//!
//! This module holds the options, the answers and the entry points; the SQLite copy is
//! `sqlite/backup.rs`. It does not schedule backups or prune old copies.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Store;
use super::error::{DriverError, StoreError};
use crate::private_file::{PrivateFileError, Replace};

/// How to copy.
#[derive(Clone, Debug)]
pub struct BackupOptions {
    /// What to do when the destination exists.
    pub replace: Replace,
    /// Pages copied per step (4 KiB each by default).
    pub pages_per_step: u32,
    /// The pause between two steps.
    pub pause: Duration,
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            replace: Replace::Refuse,
            pages_per_step: 256,
            pause: Duration::from_millis(5),
        }
    }
}

/// Where a copy stands after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupProgress {
    pub pages_total: u64,
    pub pages_remaining: u64,
}

/// What a finished copy holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    pub destination: PathBuf,
    pub pages: u64,
    pub bytes: u64,
    pub steps: u64,
}

/// Why a backup failed. The destination is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error(transparent)]
    File(#[from] PrivateFileError),

    #[error("backup to {}: {source}", path.display())]
    Destination {
        path: PathBuf,
        #[source]
        source: DriverError,
    },

    #[error("backup to {}: the copy failed its integrity check: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
}

/// What a backend calls after each step of a copy.
pub type ProgressFn = Box<dyn FnMut(BackupProgress) + Send>;

impl Store {
    /// Copies the database to `destination` (see the module documentation).
    pub async fn backup(
        &self,
        destination: &Path,
        options: BackupOptions,
    ) -> Result<BackupSummary, BackupError> {
        self.backup_to(destination, options, Box::new(|_| {})).await
    }

    /// [`Store::backup`], calling `progress` after each step (on a blocking thread,
    /// between two steps: what it does happens while the copy is paused).
    pub async fn backup_with_progress(
        &self,
        destination: &Path,
        options: BackupOptions,
        progress: impl FnMut(BackupProgress) + Send + 'static,
    ) -> Result<BackupSummary, BackupError> {
        self.backup_to(destination, options, Box::new(progress))
            .await
    }
}
