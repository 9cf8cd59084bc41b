//! The file-permission rule for files that hold personal data or secrets.
//!
//! A file with SSNs, account numbers or card numbers in it, or an API key or token,
//! must be private to its owner: if group or others may read (or write, or even
//! traverse) it, it is refused, the way ssh refuses a private key that others can
//! read. This module owns that rule and its message. It does not open or read the
//! file's contents, and it does not check the file's owner or its directories. Its
//! callers apply it: `input.rs` to the authorizer and secret files it opens, and
//! the config loader to a config file that holds an inline authorizer list.

use std::fmt;
use std::fs::Metadata;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why a file with personal data is refused.
#[derive(Debug, thiserror::Error)]
pub enum PermissionError {
    /// Group or others have some access to the file.
    #[error(
        "file {} is {} by group or others (mode {mode:04o}); it holds {holds}, run chmod 600 {}",
        path.display(),
        Access(*mode),
        ShellWord(path)
    )]
    Exposed {
        path: PathBuf,
        mode: u32,
        holds: Holds,
    },
    /// The file's metadata could not be read.
    #[error("cannot check the permissions of {}: {source}", path.display())]
    Stat {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a private file holds, for the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holds {
    /// Authorizers' personal data.
    PersonalData,
    /// An API key, password or token.
    Secret,
}

impl fmt::Display for Holds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Holds::PersonalData => "personal data",
            Holds::Secret => "a secret",
        })
    }
}

/// The bits that give group or others any access.
const NOT_OWNER: u32 = 0o077;

/// Refuses `path` if group or others have any access to it (mode `& 0o077 != 0`).
/// Symbolic links are followed: the mode checked is the mode of the file read.
pub fn check_private(path: &Path) -> Result<(), PermissionError> {
    let metadata = std::fs::metadata(path).map_err(|source| PermissionError::Stat {
        path: path.to_path_buf(),
        source,
    })?;
    check_private_metadata(path, &metadata, Holds::PersonalData)
}

/// The rule on metadata already at hand, such as that of an open file handle (which
/// leaves no window between the check and the read).
pub(crate) fn check_private_metadata(
    path: &Path,
    metadata: &Metadata,
    holds: Holds,
) -> Result<(), PermissionError> {
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & NOT_OWNER != 0 {
        return Err(PermissionError::Exposed {
            path: path.to_path_buf(),
            mode,
            holds,
        });
    }
    Ok(())
}

/// "readable", "writable" or "accessible", for the message.
struct Access(u32);

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0 & 0o044 != 0 {
            "readable"
        } else if self.0 & 0o022 != 0 {
            "writable"
        } else {
            "accessible"
        })
    }
}

/// The path as one shell word, so that the suggested command can be pasted as is.
struct ShellWord<'a>(&'a Path);

impl fmt::Display for ShellWord<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.display().to_string();
        let plain = !text.is_empty()
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%".contains(&b));
        if plain {
            f.write_str(&text)
        } else {
            write!(f, "'{}'", text.replace('\'', r"'\''"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with_mode(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, b"x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn group_write_and_execute_are_refused_too() {
        let dir = tempfile::tempdir().unwrap();
        for (mode, word) in [
            (0o620, "writable"),
            (0o602, "writable"),
            (0o610, "accessible"),
        ] {
            let path = file_with_mode(dir.path(), &format!("f{mode:o}"), mode);
            let message = check_private(&path).unwrap_err().to_string();
            assert!(
                message.contains(&format!("is {word} by group or others")),
                "{message}"
            );
            assert!(message.contains(&format!("(mode {mode:04o})")), "{message}");
        }
        let owner_only = file_with_mode(dir.path(), "f400", 0o400);
        check_private(&owner_only).unwrap();
    }

    #[test]
    fn the_suggested_command_quotes_odd_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with_mode(dir.path(), "my list's.csv", 0o644);
        let message = check_private(&path).unwrap_err().to_string();
        let quoted = format!("chmod 600 '{}/my list'\\''s.csv'", dir.path().display());
        assert!(message.ends_with(&quoted), "{message}");
    }

    #[test]
    fn a_missing_file_is_a_stat_error() {
        let error = check_private(Path::new("/nonexistent/authorizers.csv")).unwrap_err();
        assert!(matches!(error, PermissionError::Stat { .. }));
        assert!(
            error
                .to_string()
                .starts_with("cannot check the permissions of /nonexistent/authorizers.csv: ")
        );
    }
}
