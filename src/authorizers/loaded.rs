//! What every authorizer loader returns, and the steps they share.
//!
//! This module owns [`LoadedAuthorizers`] (valid, rejected and warnings), [`LoadError`]
//! (why a source could not be loaded at all), reading a personal-data file through
//! [`crate::private_file::input`] (regular files only, owner-only, within the size
//! limit of its format), the final pre-flight split
//! ([`super::validate::preflight`]) and `printable_name`, the test of whether a key or
//! column name may be printed. It knows no file format: the YAML and CSV loaders build
//! on it, and the choice between them is made above it.

use std::path::{Path, PathBuf};

use super::Authorizer;
use super::validate::{self, Rejected};
use crate::private_file::input::{self, InputFile, InputFileError};
use crate::private_file::permissions::PermissionError;
use crate::yaml::YamlError;

/// The outcome of loading one source.
#[derive(Debug, Default)]
pub struct LoadedAuthorizers {
    /// Authorizers that pass pre-flight validation, in source order.
    pub valid: Vec<Authorizer>,
    /// Authorizers left out, with the API's message and where they were defined.
    pub rejected: Vec<Rejected>,
    /// Non-fatal problems (unknown keys or columns, a Latin-1 file, a malformed date
    /// of birth), each naming the file and line or row; never a personal value.
    pub warnings: Vec<String>,
}

/// Why a source could not be loaded at all. A single invalid authorizer is not a
/// `LoadError`: it is a [`Rejected`] entry in [`LoadedAuthorizers`].
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be opened or read.
    #[error("cannot read authorizers file {}: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Group or others can access the file. (`read_private_file` checks the mode on
    /// the handle it opened, so a file it cannot stat is a [`LoadError::Read`] instead.)
    #[error("authorizers {0}")]
    Permission(#[from] PermissionError),
    /// The path is a directory, a FIFO, a device or a socket, or the file is larger
    /// than its format's limit ([`crate::private_file::input`]).
    #[error(transparent)]
    File(InputFileError),
    /// The file's extension is not `.csv`, `.yaml` or `.yml`.
    #[error("authorizers file {} has an unsupported extension; use .csv, .yaml or .yml", file.display())]
    UnsupportedExtension { file: PathBuf },
    /// The YAML is malformed, or is not a list (or a mapping with an `authorizers`
    /// list); prints as `file:line:col: key: message`.
    #[error(transparent)]
    Yaml(#[from] YamlError),
    /// A YAML list item, or its `metadata`, has the wrong shape.
    #[error("{}:{line}:{column}: {message}", file.display())]
    Item {
        file: PathBuf,
        line: u64,
        column: u64,
        message: String,
    },
    /// The CSV's structure is broken: no header, no id column, a duplicated column,
    /// a row with the wrong number of fields.
    #[error("{} row {row}: {message}", file.display())]
    Csv {
        file: PathBuf,
        row: u64,
        message: String,
    },
}

/// Opens `path` without blocking, refuses it unless it is a regular file private to
/// its owner (checked on the open handle), and reads at most `kind.limit` bytes of it.
pub(crate) fn read_private_file(path: &Path, kind: InputFile) -> Result<Vec<u8>, LoadError> {
    input::read_input_file(path, kind).map_err(|error| match error {
        InputFileError::Open { path, source, .. } => LoadError::Read { file: path, source },
        InputFileError::Permission(error) => LoadError::Permission(error),
        other => LoadError::File(other),
    })
}

/// Runs pre-flight validation over loaded authorizers and assembles the result.
pub(crate) fn finish(authorizers: Vec<Authorizer>, warnings: Vec<String>) -> LoadedAuthorizers {
    let (valid, rejected) = validate::preflight(authorizers);
    LoadedAuthorizers {
        valid,
        rejected,
        warnings,
    }
}

/// `name` if it reads like a key or column name, `None` if it could be a value that
/// slipped into a name's place (a shifted CSV header, a YAML key that is an SSN):
/// such names are never printed.
pub(crate) fn printable_name(name: &str) -> Option<&str> {
    let mut digit_run = 0;
    let mut longest_digit_run = 0;
    for c in name.chars() {
        digit_run = if c.is_ascii_digit() { digit_run + 1 } else { 0 };
        longest_digit_run = longest_digit_run.max(digit_run);
    }
    let shaped = !name.is_empty()
        && name.len() <= 64
        && name.chars().any(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _-().".contains(c));
    (shaped && longest_digit_run < 3).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_name_refuses_what_could_be_a_value() {
        for name in [
            "notes",
            "ssn",
            "meta_customer_ref",
            "street_address_line1",
            "line1",
        ] {
            assert_eq!(printable_name(name), Some(name));
        }
        for name in [
            "123-45-6789",
            "123456789",
            "acct 90871234565",
            "",
            "Jane@x.com",
            "5551234",
        ] {
            assert_eq!(printable_name(name), None, "{name}");
        }
        assert_eq!(printable_name(&"a".repeat(65)), None);
    }
}
