//! Raw configuration → [`Config`]: every check, every default, every secret.
//!
//! Validation does not stop at the first problem: it collects them all, each with the
//! file, line, column and key path, so one `check-config` shows everything to fix.
//! It reads the configuration file (through [`crate::private_file::input`]: a regular
//! file of at most 1 MiB) and the files that secrets name (through [`Environment`]) and
//! nothing else; authorizer files are loaded later, at each run and by `check-config`.
//!
//! This file owns the entry points and the order of the sections. Each section has its
//! own file (`rightfoot.rs`, `storage.rs`, `http.rs`, `routes.rs`, `email.rs`,
//! `monitors.rs`, `rules.rs`, `debits.rs`), and what they share (the problem collector and the
//! checks of single values) is in `validator.rs`, which depends on none of them.

mod debits;
mod email;
mod http;
mod monitors;
mod rightfoot;
mod routes;
mod rules;
mod storage;
mod validator;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use super::model::Config;
use super::raw::RawConfig;
use crate::private_file::input::{InputFile, InputFileError, read_input_file};
use crate::secret::Environment;
use crate::yaml::{self, YamlError};
use validator::Validator;

pub use crate::private_file::input::CONFIG_FILE_LIMIT;
pub use http::DEFAULT_LISTEN;
pub use rightfoot::{DEFAULT_BASE_URL, default_base_url};
pub use storage::DEFAULT_STORAGE_PATH;
pub use validator::MAX_NAME_CHARS;

/// Why a configuration could not be loaded.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read at all: missing, unreadable, not a regular file, or
    /// larger than [`CONFIG_FILE_LIMIT`].
    Read {
        file: PathBuf,
        source: InputFileError,
    },
    /// One or more problems, each with its position and key.
    Invalid(Vec<YamlError>),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The source names the configuration file and its path.
            ConfigError::Read { source, .. } => write!(f, "{source}"),
            ConfigError::Invalid(problems) => {
                for (i, problem) in problems.iter().enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// The problems, or the read error as a single problem.
    pub fn problems(&self) -> Vec<String> {
        match self {
            ConfigError::Read { .. } => vec![self.to_string()],
            ConfigError::Invalid(p) => p.iter().map(ToString::to_string).collect(),
        }
    }
}

/// Loads and validates the configuration file at `path`: a regular file of at most
/// [`CONFIG_FILE_LIMIT`] bytes of UTF-8, read without blocking on a FIFO.
pub fn load(path: &Path, env: &Environment) -> Result<Config, ConfigError> {
    let bytes = read_input_file(path, InputFile::CONFIG).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    let text = yaml::utf8_text(&bytes, path).map_err(|e| ConfigError::Invalid(vec![e]))?;
    load_str(text, path, env)
}

/// Validates configuration `text` as if read from `file` (relative paths in it are
/// taken relative to the file's directory).
pub fn load_str(text: &str, file: &Path, env: &Environment) -> Result<Config, ConfigError> {
    let raw: RawConfig = yaml::from_str(text, file).map_err(|e| ConfigError::Invalid(vec![e]))?;
    let mut validator = Validator {
        file: file.to_path_buf(),
        base_dir: file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        env,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let config = validator.config(raw);
    if validator.problems.is_empty() {
        Ok(config)
    } else {
        validator.problems.sort_by_key(|p| p.position);
        Err(ConfigError::Invalid(validator.problems))
    }
}

impl Validator<'_> {
    fn config(&mut self, raw: RawConfig) -> Config {
        let rightfoot = self.rightfoot(&raw.rightfoot);
        let storage = self.storage(&raw.storage);
        let http = self.http(&raw.http);
        let routes = self.routes(&raw.routes);
        let defaults = self.defaults(&raw.defaults, &routes);
        let monitors = self.monitors(&raw.monitors, &defaults, &routes);
        if monitors.is_empty() && raw.monitors.is_empty() {
            self.warn(
                None,
                "monitors",
                "no monitors are configured: the daemon will check nothing",
            );
        }
        Config {
            file: self.file.clone(),
            rightfoot,
            storage,
            http,
            routes,
            monitors,
            warnings: std::mem::take(&mut self.warnings),
        }
    }
}

/// Route names referenced but unused, and similar whole-config observations.
pub fn unused_routes(config: &Config) -> BTreeSet<String> {
    let used: BTreeSet<&String> = config.monitors.iter().flat_map(|m| &m.routes).collect();
    config
        .routes
        .keys()
        .filter(|r| !used.contains(r))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a problem that belongs to no written value (here the Rightfoot key
    /// of a file that has no `rightfoot` section, or none at all) was printed without
    /// a line and column; it is now reported at the start of the document.
    #[test]
    fn a_problem_with_nothing_to_point_at_is_at_the_start_of_the_document() {
        let env = Environment::from_pairs([("K", "rf_test_key")]);
        for text in ["", "storage: {}\n", "# nothing\n"] {
            let error = load_str(text, Path::new("c.yaml"), &env).unwrap_err();
            let problems = error.problems();
            assert!(
                problems
                    .iter()
                    .any(|p| p == "c.yaml:1:1: rightfoot.api_key: missing api_key: set api_key_file or api_key_env"),
                "{text:?}: {problems:?}"
            );
            assert!(
                problems.iter().all(|p| p.starts_with("c.yaml:1:1: ")),
                "{problems:?}"
            );
        }
    }

    /// The URL is not repeated when it may hold a password: the message would carry
    /// the secret to the terminal and the journal.
    #[test]
    fn a_url_with_a_password_is_refused_without_repeating_it() {
        let env = Environment::from_pairs([("K", "rf_test_key")]);
        let text = "rightfoot:\n  base_url: https://u:hunter2@api.example.com\n  api_key_env: K\n";
        let problems = load_str(text, Path::new("c.yaml"), &env)
            .unwrap_err()
            .problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "c.yaml:2:13: rightfoot.base_url: base_url must not carry a user name or password"
            ),
            "{problems:?}"
        );
        assert!(!problems[0].contains("hunter2"), "{problems:?}");
    }
}
