//! SQLite's online backup, from one read snapshot, in steps with pauses, checked and
//! moved into place (see `store/backup.rs` for why each step is as it is).

use std::path::Path;

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use super::SqliteStore;
use crate::private_file::{PrivateFile, PrivateFileError, Replace};
use crate::store::{BackupError, BackupOptions, BackupProgress, BackupSummary, ProgressFn};

/// Consecutive steps SQLite may answer "busy" or "locked" before the copy gives up.
const BUSY_STEPS: u32 = 2_000;

/// Copies the database behind `store` to `destination`.
pub(super) async fn copy(
    store: &SqliteStore,
    destination: &Path,
    options: BackupOptions,
    mut progress: ProgressFn,
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
            source: source.into(),
        }
    };
    let mut copy = Connection::open(file.temporary_path()).map_err(&on_destination)?;
    let pages_per_step = i32::try_from(options.pages_per_step.max(1)).unwrap_or(i32::MAX);
    let copied = store
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

/// Checks the copy, makes it one self-contained file, and closes it.
fn finish_copy(path: &Path, copy: Connection) -> Result<(), BackupError> {
    let on_destination = |source: rusqlite::Error| BackupError::Destination {
        path: path.to_path_buf(),
        source: source.into(),
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
