//! Files readable by their owner only, written under a temporary name and renamed into
//! place: what `export-csv -o` and `backup` produce.
//!
//! [`PrivateFile::create`] makes `.<name>.<random>.partial` beside the destination with
//! mode 0600 (`O_CREAT | O_EXCL`, so it never opens someone else's file or follows a
//! planted symlink). The caller writes it, then [`PrivateFile::commit`] syncs it, moves
//! it to the destination and syncs the directory, so a reader sees either the old file,
//! no file, or the whole new one, never half of it, and a power cut after `commit`
//! returns cannot lose it. Dropping an uncommitted `PrivateFile` removes the temporary
//! file. With [`Replace::Refuse`] the move is a hard link, which fails if the
//! destination exists, so an existing file is never overwritten even by a race.
//!
//! This module owns file creation, permissions and the final move. It does not know
//! what the bytes are. Its children own the other side, the files the configuration
//! names and the daemon reads: [`permissions`], the owner-only rule for files that hold
//! personal data or secrets, and [`input`], reading such a file (regular files only,
//! within a size limit).

pub mod input;
pub mod permissions;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What to do when the destination already exists at commit time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replace {
    /// Replace it atomically.
    Allow,
    /// Leave it alone and fail with [`PrivateFileError::Exists`].
    Refuse,
}

/// Why a private file could not be created or put in place.
#[derive(Debug, thiserror::Error)]
pub enum PrivateFileError {
    #[error("{} already exists; choose another name or allow replacing it", path.display())]
    Exists { path: PathBuf },

    #[error("{}: {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

impl PrivateFileError {
    fn io(path: &Path, what: &'static str, source: io::Error) -> PrivateFileError {
        PrivateFileError::Io {
            path: path.to_path_buf(),
            what,
            source,
        }
    }
}

/// A temporary file, mode 0600, that becomes `destination` on [`PrivateFile::commit`].
#[derive(Debug)]
pub struct PrivateFile {
    destination: PathBuf,
    temporary: PathBuf,
    file: File,
    committed: bool,
}

impl PrivateFile {
    /// Creates the temporary file in the destination's directory (which must exist).
    pub fn create(destination: &Path) -> Result<PrivateFile, PrivateFileError> {
        let name = destination
            .file_name()
            .ok_or_else(|| {
                PrivateFileError::io(
                    destination,
                    "not a file name",
                    io::Error::from(io::ErrorKind::InvalidInput),
                )
            })?
            .to_string_lossy()
            .into_owned();
        let directory = directory_of(destination);
        let mut attempts = 0;
        loop {
            let temporary = directory.join(format!(".{name}.{:08x}.partial", fastrand::u32(..)));
            match OpenOptions::new()
                .write(true)
                .read(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)
            {
                Ok(file) => {
                    return Ok(PrivateFile {
                        destination: destination.to_path_buf(),
                        temporary,
                        file,
                        committed: false,
                    });
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists && attempts < 8 => {
                    attempts += 1;
                }
                Err(error) => {
                    return Err(PrivateFileError::io(
                        destination,
                        "cannot create a temporary file beside it",
                        error,
                    ));
                }
            }
        }
    }

    /// The temporary file's path (for a writer that opens files by name, like SQLite).
    pub fn temporary_path(&self) -> &Path {
        &self.temporary
    }

    /// The destination given to [`PrivateFile::create`].
    pub fn destination(&self) -> &Path {
        &self.destination
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Syncs the file, moves it to the destination and syncs the directory.
    pub fn commit(mut self, replace: Replace) -> Result<(), PrivateFileError> {
        let destination = self.destination.clone();
        self.file
            .sync_all()
            .map_err(|e| PrivateFileError::io(&destination, "cannot sync the written data", e))?;
        match replace {
            Replace::Allow => std::fs::rename(&self.temporary, &destination)
                .map_err(|e| PrivateFileError::io(&destination, "cannot move into place", e))?,
            Replace::Refuse => match std::fs::hard_link(&self.temporary, &destination) {
                Ok(()) => {
                    // The destination now names the file; the temporary name goes.
                    let _ = std::fs::remove_file(&self.temporary);
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(PrivateFileError::Exists { path: destination });
                }
                // A file system without hard links: check, then rename (a race with
                // another writer of the same name is possible only here).
                Err(_) if destination.symlink_metadata().is_ok() => {
                    return Err(PrivateFileError::Exists { path: destination });
                }
                Err(_) => std::fs::rename(&self.temporary, &destination)
                    .map_err(|e| PrivateFileError::io(&destination, "cannot move into place", e))?,
            },
        }
        self.committed = true;
        // The rename is durable once the directory entry is.
        File::open(directory_of(&destination))
            .and_then(|directory| directory.sync_all())
            .map_err(|e| PrivateFileError::io(&destination, "cannot sync its directory", e))
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_committed_file_is_private_and_complete_and_no_temporary_is_left() {
        let directory = tempfile::tempdir().unwrap();
        let destination = directory.path().join("out.csv");
        let mut file = PrivateFile::create(&destination).unwrap();
        assert_eq!(mode(file.temporary_path()), 0o600);
        file.file().write_all(b"a,b\n").unwrap();
        assert!(!destination.exists(), "nothing is visible before commit");
        file.commit(Replace::Refuse).unwrap();
        assert_eq!(std::fs::read(&destination).unwrap(), b"a,b\n");
        assert_eq!(mode(&destination), 0o600);
        let names: Vec<_> = std::fs::read_dir(directory.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.csv"]);
    }

    #[test]
    fn refuse_keeps_an_existing_file_and_allow_replaces_it() {
        let directory = tempfile::tempdir().unwrap();
        let destination = directory.path().join("state.db");
        std::fs::write(&destination, b"old").unwrap();

        let mut refused = PrivateFile::create(&destination).unwrap();
        refused.file().write_all(b"new").unwrap();
        let error = refused.commit(Replace::Refuse).unwrap_err();
        assert!(matches!(error, PrivateFileError::Exists { .. }), "{error}");
        assert!(error.to_string().contains("already exists"), "{error}");
        assert_eq!(std::fs::read(&destination).unwrap(), b"old");

        let mut allowed = PrivateFile::create(&destination).unwrap();
        allowed.file().write_all(b"new").unwrap();
        allowed.commit(Replace::Allow).unwrap();
        assert_eq!(std::fs::read(&destination).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(directory.path()).unwrap().count(), 1);
    }

    #[test]
    fn dropping_an_uncommitted_file_removes_it() {
        let directory = tempfile::tempdir().unwrap();
        let file = PrivateFile::create(&directory.path().join("x")).unwrap();
        let temporary = file.temporary_path().to_path_buf();
        assert!(temporary.exists());
        drop(file);
        assert!(!temporary.exists());
        assert_eq!(std::fs::read_dir(directory.path()).unwrap().count(), 0);
    }
}
