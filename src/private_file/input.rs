//! Reading a file the configuration names: the configuration file itself, authorizer
//! lists and secret files.
//!
//! [`read_input_file`] opens the file without blocking (`O_NONBLOCK`, so a named pipe
//! with no writer does not hang the open), refuses anything but a regular file on the
//! open handle (a directory, a FIFO, a device, a socket), applies the owner-only rule
//! of [`super::permissions`] when the [`InputFile`] asks for it, and reads through a
//! bounded reader, so a file larger than its limit (or one that keeps growing) stops
//! being read at the limit rather than filling memory. The limits are constants here,
//! one per kind of file, and the messages name the kind, the path and the limit.
//!
//! This module does not know what the bytes mean: parsing is the caller's.

use std::fmt;
use std::fs::{File, FileType, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::permissions::{self, Holds, PermissionError};

/// The most a configuration file may hold: 1 MiB. A real one is a few kilobytes.
pub const CONFIG_FILE_LIMIT: u64 = 1 << 20;
/// The most a secret file may hold: 64 KiB. A key or token is a line.
pub const SECRET_FILE_LIMIT: u64 = 64 << 10;
/// The most an authorizers CSV file may hold: 512 MiB, room for a million rows of a
/// few hundred bytes each.
pub const AUTHORIZERS_CSV_LIMIT: u64 = 512 << 20;
/// The most an authorizers YAML file may hold: 32 MiB (about 80,000 authorizers). The
/// YAML parser holds the whole document as a tree, so its limit is lower than the
/// CSV's; a longer list belongs in a CSV file.
pub const AUTHORIZERS_YAML_LIMIT: u64 = 32 << 20;

/// The most a debits CSV file may hold: 256 MiB, room for a few million rows of
/// `authorizer_unique_id,debit_id,debit_date,amount`.
pub const DEBITS_CSV_LIMIT: u64 = 256 << 20;

/// What kind of file is read, its limit, and whether it must be private.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// The words that name the file in messages: "configuration file".
    pub what: &'static str,
    /// The most bytes the file may hold.
    pub limit: u64,
    /// `Some` when only the owner may have access to the file, with what it holds.
    pub private: Option<Holds>,
}

impl InputFile {
    pub const CONFIG: InputFile = InputFile {
        what: "configuration file",
        limit: CONFIG_FILE_LIMIT,
        private: None,
    };
    pub const AUTHORIZERS_CSV: InputFile = InputFile {
        what: "authorizers file",
        limit: AUTHORIZERS_CSV_LIMIT,
        private: Some(Holds::PersonalData),
    };
    pub const AUTHORIZERS_YAML: InputFile = InputFile {
        what: "authorizers file",
        limit: AUTHORIZERS_YAML_LIMIT,
        private: Some(Holds::PersonalData),
    };
    /// A debit schedule: ids, dates and amounts, no personal data, so any mode will do.
    pub const DEBITS_CSV: InputFile = InputFile {
        what: "debits file",
        limit: DEBITS_CSV_LIMIT,
        private: None,
    };
    /// The lender's ACH return file: debit ids, codes and dates, no personal data.
    pub const RETURNS_CSV: InputFile = InputFile {
        what: "returns file",
        limit: DEBITS_CSV_LIMIT,
        private: None,
    };
    /// A secret file outside systemd's credentials directory, which must be private.
    pub const SECRET: InputFile = InputFile {
        what: "secret file",
        limit: SECRET_FILE_LIMIT,
        private: Some(Holds::Secret),
    };
    /// A secret file in `$CREDENTIALS_DIRECTORY`: systemd makes those private to the
    /// service (and may show them with a mode the owner-only rule would refuse).
    pub const CREDENTIAL: InputFile = InputFile {
        what: "secret file",
        limit: SECRET_FILE_LIMIT,
        private: None,
    };
}

/// Why a file the configuration names could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputFileError {
    #[error("cannot read {what} {}: {source}", path.display())]
    Open {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {} is {kind}, not a file", path.display())]
    NotAFile {
        what: &'static str,
        path: PathBuf,
        kind: NotAFile,
    },
    #[error("{what} {} is larger than {}, the limit for a {what}", path.display(), Size(*limit))]
    TooLarge {
        what: &'static str,
        path: PathBuf,
        limit: u64,
    },
    #[error(transparent)]
    Permission(#[from] PermissionError),
}

/// What a path that is not a regular file is instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotAFile {
    Directory,
    Fifo,
    Device,
    Socket,
    /// Anything else the file system may report.
    Other,
}

impl NotAFile {
    /// `None` for a regular file.
    fn of(file_type: FileType) -> Option<NotAFile> {
        if file_type.is_file() {
            None
        } else if file_type.is_dir() {
            Some(NotAFile::Directory)
        } else if file_type.is_fifo() {
            Some(NotAFile::Fifo)
        } else if file_type.is_char_device() || file_type.is_block_device() {
            Some(NotAFile::Device)
        } else if file_type.is_socket() {
            Some(NotAFile::Socket)
        } else {
            Some(NotAFile::Other)
        }
    }
}

impl fmt::Display for NotAFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotAFile::Directory => "a directory",
            NotAFile::Fifo => "a named pipe (FIFO)",
            NotAFile::Device => "a device",
            NotAFile::Socket => "a socket",
            NotAFile::Other => "not a regular file",
        })
    }
}

/// A byte count as the limits are written: "1 MiB", "64 KiB".
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            n if n >= 1 << 20 && n % (1 << 20) == 0 => write!(f, "{} MiB", n >> 20),
            n if n >= 1 << 10 && n % (1 << 10) == 0 => write!(f, "{} KiB", n >> 10),
            n => write!(f, "{n} bytes"),
        }
    }
}

/// Reads the regular file at `path` under the rules of `kind` (see the module
/// documentation). Symbolic links are followed: the rules apply to the file read.
pub fn read_input_file(path: &Path, kind: InputFile) -> Result<Vec<u8>, InputFileError> {
    let (file, metadata) = open_input_file(path, kind)?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(kind.limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| InputFileError::Open {
            what: kind.what,
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > kind.limit {
        return Err(too_large(path, kind));
    }
    Ok(bytes)
}

fn too_large(path: &Path, kind: InputFile) -> InputFileError {
    InputFileError::TooLarge {
        what: kind.what,
        path: path.to_path_buf(),
        limit: kind.limit,
    }
}

/// Opens the regular file at `path` under the rules of `kind`, for a caller that reads
/// it as a stream (and must stop at `kind.limit` itself, see [`read_limited`]): the
/// handle, and its metadata as checked. Symbolic links are followed.
pub fn open_input_file(
    path: &Path,
    kind: InputFile,
) -> Result<(File, std::fs::Metadata), InputFileError> {
    let open_error = |source| InputFileError::Open {
        what: kind.what,
        path: path.to_path_buf(),
        source,
    };
    let not_a_file = |what: NotAFile| InputFileError::NotAFile {
        what: kind.what,
        path: path.to_path_buf(),
        kind: what,
    };
    // The type is checked on the path first, so that a message names a directory as
    // one even where opening it would fail, and again on the handle, which is the file
    // actually read. O_NONBLOCK keeps the open of a FIFO from waiting for a writer; it
    // changes nothing for a regular file.
    if let Ok(metadata) = std::fs::metadata(path)
        && let Some(what) = NotAFile::of(metadata.file_type())
    {
        return Err(not_a_file(what));
    }
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(open_error)?;
    let metadata = file.metadata().map_err(open_error)?;
    if let Some(what) = NotAFile::of(metadata.file_type()) {
        return Err(not_a_file(what));
    }
    if let Some(holds) = kind.private {
        permissions::check_private_metadata(path, &metadata, holds)?;
    }
    if metadata.len() > kind.limit {
        return Err(too_large(path, kind));
    }
    Ok((file, metadata))
}

/// A reader of `file` that fails once more than `kind.limit` bytes have been read from
/// it (a file that grows while it is read), naming the file and the limit.
pub fn read_limited(file: File, path: &Path, kind: InputFile) -> impl Read {
    LimitedReader {
        inner: file.take(kind.limit + 1),
        error: Some(too_large(path, kind).to_string()),
    }
}

struct LimitedReader {
    inner: std::io::Take<File>,
    error: Option<String>,
}

impl Read for LimitedReader {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        if self.inner.limit() == 0 {
            let message = self.error.clone().unwrap_or_default();
            return Err(std::io::Error::other(message));
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn small(limit: u64, private: Option<Holds>) -> InputFile {
        InputFile {
            what: "test file",
            limit,
            private,
        }
    }

    #[test]
    fn a_regular_file_within_its_limit_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_input_file(&path, small(5, None)).unwrap(), b"12345");
        let message = read_input_file(&path, small(4, None))
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            format!(
                "test file {} is larger than 4 bytes, the limit for a test file",
                path.display()
            )
        );
    }

    #[test]
    fn what_is_not_a_regular_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let socket_path = dir.path().join("sock");
        let _socket = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
        for (path, kind) in [
            (dir.path(), "a directory"),
            (fifo.as_path(), "a named pipe (FIFO)"),
            (Path::new("/dev/null"), "a device"),
            (Path::new("/dev/zero"), "a device"),
            (socket_path.as_path(), "a socket"),
        ] {
            let message = read_input_file(path, small(1 << 20, Some(Holds::Secret)))
                .unwrap_err()
                .to_string();
            assert_eq!(
                message,
                format!("test file {} is {kind}, not a file", path.display())
            );
        }
    }

    #[test]
    fn the_owner_only_rule_applies_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, b"k").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        read_input_file(&path, small(10, None)).unwrap();
        let message = read_input_file(&path, small(10, Some(Holds::Secret)))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("is readable by group or others (mode 0644); it holds a secret"),
            "{message}"
        );
    }

    #[test]
    fn limits_print_in_their_units() {
        assert_eq!(Size(CONFIG_FILE_LIMIT).to_string(), "1 MiB");
        assert_eq!(Size(SECRET_FILE_LIMIT).to_string(), "64 KiB");
        assert_eq!(Size(AUTHORIZERS_CSV_LIMIT).to_string(), "512 MiB");
    }
}
