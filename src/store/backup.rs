//! An online copy of the database through SQLite's backup API, safe while the daemon
//! writes.
//!
//! [`Store::backup`] copies from one of the pool's read connections inside one read
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
//! This module copies bytes; it does not schedule backups or prune old copies.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use super::Store;
use super::error::StoreError;
use crate::private_file::{PrivateFile, PrivateFileError, Replace};

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
        source: rusqlite::Error,
    },

    #[error("backup to {}: the copy failed its integrity check: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
}

/// Consecutive steps SQLite may answer "busy" or "locked" before the copy gives up.
const BUSY_STEPS: u32 = 2_000;

impl Store {
    /// Copies the database to `destination` (see the module documentation).
    pub async fn backup(
        &self,
        destination: &Path,
        options: BackupOptions,
    ) -> Result<BackupSummary, BackupError> {
        self.backup_with_progress(destination, options, |_| {})
            .await
    }

    /// [`Store::backup`], calling `progress` after each step (on a blocking thread,
    /// between two steps: what it does happens while the copy is paused).
    pub async fn backup_with_progress(
        &self,
        destination: &Path,
        options: BackupOptions,
        mut progress: impl FnMut(BackupProgress) + Send + 'static,
    ) -> Result<BackupSummary, BackupError> {
        if options.replace == Replace::Refuse && destination.symlink_metadata().is_ok() {
            return Err(PrivateFileError::Exists {
                path: destination.to_path_buf(),
            }
            .into());
        }
        let file = PrivateFile::create(destination)?;
        let path = destination.to_path_buf();
        let on_destination = {
            let path = path.clone();
            move |source: rusqlite::Error| BackupError::Destination {
                path: path.clone(),
                source,
            }
        };
        let mut copy = Connection::open(file.temporary_path()).map_err(&on_destination)?;
        let pages_per_step = i32::try_from(options.pages_per_step.max(1)).unwrap_or(i32::MAX);
        let copied = self
            .read(move |transaction| {
                // Start the read transaction now: every step then copies this snapshot.
                transaction.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
                let outcome = (|| {
                    let backup = Backup::new(transaction, &mut copy)?;
                    let mut steps = 0_u64;
                    let mut busy = 0_u32;
                    loop {
                        let step = backup.step(pages_per_step)?;
                        steps += 1;
                        let done = backup.progress();
                        progress(BackupProgress {
                            pages_total: done.pagecount.max(0) as u64,
                            pages_remaining: done.remaining.max(0) as u64,
                        });
                        match step {
                            StepResult::Done => return Ok((steps, done.pagecount.max(0) as u64)),
                            StepResult::More => busy = 0,
                            StepResult::Busy | StepResult::Locked => {
                                busy += 1;
                                if busy > BUSY_STEPS {
                                    return Err(rusqlite::Error::SqliteFailure(
                                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                                        Some("the copy stayed locked".to_string()),
                                    ));
                                }
                            }
                            _ => {}
                        }
                        std::thread::sleep(options.pause);
                    }
                })();
                Ok(outcome.map(|(steps, pages)| (copy, steps, pages)))
            })
            .await?;
        let (copy, steps, pages) = copied.map_err(&on_destination)?;
        finish_copy(&path, copy)?;
        let bytes = std::fs::metadata(file.temporary_path())
            .map(|metadata| metadata.len())
            .unwrap_or(0);
        file.commit(options.replace)?;
        Ok(BackupSummary {
            destination: path,
            pages,
            bytes,
            steps,
        })
    }
}

/// Checks the copy, makes it one self-contained file, and closes it.
fn finish_copy(path: &Path, copy: Connection) -> Result<(), BackupError> {
    let on_destination = |source| BackupError::Destination {
        path: path.to_path_buf(),
        source,
    };
    let problems: Vec<String> = copy
        .prepare("PRAGMA integrity_check")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(on_destination)?;
    if problems != ["ok"] {
        return Err(BackupError::Corrupt {
            path: path.to_path_buf(),
            message: problems.join("; "),
        });
    }
    let mode: String = copy
        .pragma_update_and_check(None, "journal_mode", "DELETE", |row| row.get(0))
        .map_err(on_destination)?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(BackupError::Corrupt {
            path: path.to_path_buf(),
            message: format!("the copy stayed in journal mode {mode}"),
        });
    }
    copy.close().map_err(|(_, source)| on_destination(source))
}
