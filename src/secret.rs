//! Secrets: the Rightfoot API key, the SMTP password, webhook secrets and API tokens.
//!
//! A [`Secret`] holds the value and redacts it in `Debug` and `Display`; the only way
//! to read it is [`Secret::expose`], which call sites use at the moment the value goes
//! on the wire. Where a secret comes from is a [`SecretSource`]: a file (optionally
//! relative to systemd's `$CREDENTIALS_DIRECTORY`) or an environment variable, never
//! the YAML itself. This module resolves sources against an [`Environment`] snapshot
//! and does no other I/O.
//!
//! A secret file is read like an authorizers file ([`crate::private_file::input`]): a
//! regular file only, at most 64 KiB, and private to its owner, unless it is in
//! `$CREDENTIALS_DIRECTORY`, which systemd makes private to the service itself. A
//! secret that is empty or only whitespace, from a file or a variable, is refused: sent
//! as a key or token it would lock every client out without saying why.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::private_file::input::{InputFile, InputFileError, read_input_file};

/// A secret value. `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where a secret is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// A file; a relative path is looked up in `$CREDENTIALS_DIRECTORY` first.
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File(path) => write!(f, "file {}", path.display()),
            SecretSource::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// Why a secret could not be read. Messages name the source, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Missing or unreadable, not a regular file, too large, or readable by others.
    #[error(transparent)]
    FileUnreadable(InputFileError),
    #[error("secret file {} is empty", .0.display())]
    FileEmpty(PathBuf),
    #[error("secret file {} is not valid UTF-8", .0.display())]
    FileNotText(PathBuf),
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("environment variable {0} is empty")]
    EnvEmpty(String),
}

/// The process environment as configuration loading sees it: a snapshot taken once in
/// `main`, so that nothing below reads `std::env` and tests can supply their own.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    /// A snapshot of the real process environment.
    pub fn from_process() -> Environment {
        Environment {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// An environment holding exactly these variables.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Environment {
        Environment {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// systemd's `$CREDENTIALS_DIRECTORY`, when the unit uses `LoadCredential=`.
    pub fn credentials_directory(&self) -> Option<&Path> {
        self.var("CREDENTIALS_DIRECTORY")
            .filter(|d| !d.is_empty())
            .map(Path::new)
    }
}

impl SecretSource {
    /// Reads the secret. A file's trailing line break is dropped. A value that is empty
    /// or only whitespace is refused.
    ///
    /// A relative file path is tried in `$CREDENTIALS_DIRECTORY` first, then relative to
    /// `base_dir` (the directory of the configuration file). A file outside that
    /// directory must be private to its owner.
    pub fn resolve(&self, env: &Environment, base_dir: &Path) -> Result<Secret, SecretError> {
        match self {
            SecretSource::Env(name) => match env.var(name) {
                None => Err(SecretError::EnvMissing(name.clone())),
                Some(value) if value.trim().is_empty() => Err(SecretError::EnvEmpty(name.clone())),
                Some(value) => Ok(Secret::new(value)),
            },
            SecretSource::File(path) => {
                let path = self.file_path(env, base_dir, path);
                let in_credentials = env
                    .credentials_directory()
                    .is_some_and(|directory| path.starts_with(directory));
                let kind = if in_credentials {
                    InputFile::CREDENTIAL
                } else {
                    InputFile::SECRET
                };
                let bytes = read_input_file(&path, kind).map_err(SecretError::FileUnreadable)?;
                let text =
                    String::from_utf8(bytes).map_err(|_| SecretError::FileNotText(path.clone()))?;
                let value = text.trim_end_matches(['\n', '\r']);
                if value.trim().is_empty() {
                    return Err(SecretError::FileEmpty(path));
                }
                Ok(Secret::new(value))
            }
        }
    }

    fn file_path(&self, env: &Environment, base_dir: &Path, path: &Path) -> PathBuf {
        if path.is_absolute() {
            return path.to_path_buf();
        }
        if let Some(creds) = env.credentials_directory() {
            let candidate = creds.join(path);
            if candidate.exists() {
                return candidate;
            }
        }
        base_dir.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn debug_and_display_redact() {
        let secret = Secret::new("rf_live_abcdef123456");
        assert!(!format!("{secret:?}").contains("abcdef"));
        assert!(!format!("{secret}").contains("abcdef"));
        assert!(!format!("{:?}", Some(&secret)).contains("abcdef"));
        assert_eq!(secret.expose(), "rf_live_abcdef123456");
    }

    #[test]
    fn resolves_env_and_files_and_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        std::fs::create_dir(&creds).unwrap();
        std::fs::write(creds.join("api_key"), "from-creds\n").unwrap();
        std::fs::write(dir.path().join("local_key"), "from-base\r\n").unwrap();
        std::fs::set_permissions(
            dir.path().join("local_key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let env = Environment::from_pairs([
            ("KEY", "from-env"),
            ("EMPTY", ""),
            ("CREDENTIALS_DIRECTORY", creds.to_str().unwrap()),
        ]);
        let base = dir.path();
        let get = |s: SecretSource| s.resolve(&env, base).map(|s| s.expose().to_string());
        assert_eq!(get(SecretSource::Env("KEY".into())).unwrap(), "from-env");
        assert!(matches!(
            SecretSource::Env("NOPE".into()).resolve(&env, base),
            Err(SecretError::EnvMissing(_))
        ));
        assert!(matches!(
            SecretSource::Env("EMPTY".into()).resolve(&env, base),
            Err(SecretError::EnvEmpty(_))
        ));
        assert_eq!(
            get(SecretSource::File("api_key".into())).unwrap(),
            "from-creds"
        );
        assert_eq!(
            get(SecretSource::File("local_key".into())).unwrap(),
            "from-base"
        );
        assert!(matches!(
            SecretSource::File("missing".into()).resolve(&env, base),
            Err(SecretError::FileUnreadable(_))
        ));
    }

    /// Regression: a key file others could read, and a key of blanks, were accepted.
    #[test]
    fn an_exposed_or_blank_secret_is_refused_and_a_credential_is_taken_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        std::fs::create_dir(&creds).unwrap();
        let write = |path: PathBuf, text: &str, mode: u32| {
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            path
        };
        let shared = write(dir.path().join("shared_key"), "k\n", 0o644);
        write(creds.join("credential"), "from-creds\n", 0o444);
        let blank = write(dir.path().join("blank"), " \t \n", 0o600);
        let env = Environment::from_pairs([
            ("BLANK", "  "),
            ("CREDENTIALS_DIRECTORY", creds.to_str().unwrap()),
        ]);
        let error =
            |source: SecretSource| source.resolve(&env, dir.path()).unwrap_err().to_string();

        let message = error(SecretSource::File(shared.clone()));
        assert_eq!(
            message,
            format!(
                "file {0} is readable by group or others (mode 0644); it holds a secret, run chmod 600 {0}",
                shared.display()
            )
        );
        assert_eq!(
            error(SecretSource::File(blank.clone())),
            format!("secret file {} is empty", blank.display())
        );
        assert_eq!(
            error(SecretSource::Env("BLANK".into())),
            "environment variable BLANK is empty"
        );
        assert_eq!(
            error(SecretSource::File(dir.path().to_path_buf())),
            format!(
                "secret file {} is a directory, not a file",
                dir.path().display()
            )
        );
        for credential in [PathBuf::from("credential"), creds.join("credential")] {
            let secret = SecretSource::File(credential)
                .resolve(&env, dir.path())
                .unwrap();
            assert_eq!(secret.expose(), "from-creds");
        }
    }
}
