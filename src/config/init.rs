//! `balance-monitor init [DIR]`: a starting point that passes `check-config`.
//!
//! It writes into DIR a commented `config.yaml` pointing at the built-in sandbox, an
//! authorizer CSV template holding only Rightfoot's header (mode 0600: the rows will be
//! personal data), and a `secrets` folder (0700) with a placeholder key file (0600)
//! holding the sandbox's key, and a `mail` folder (0700) for alerts as `.eml` files.
//! Every secret is named as a `_file` in that folder, so the
//! configuration never holds one. It writes nothing when any of those paths already
//! exists, and it never overwrites: each file is created with `create_new`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use crate::authorizers::fields::CSV_COLUMNS;
use crate::sandbox::SANDBOX_DEFAULT_KEY;

/// The file names `init` writes, relative to DIR.
pub const CONFIG_FILE: &str = "config.yaml";
pub const AUTHORIZERS_FILE: &str = "authorizers.csv";
pub const SECRETS_DIR: &str = "secrets";
pub const API_KEY_FILE: &str = "secrets/rightfoot-api-key";
/// Where the configuration's file route writes alerts as `.eml` files.
pub const MAIL_DIR: &str = "mail";

/// Why `init` wrote nothing, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(
        "{} already exists; init writes only into a folder without {CONFIG_FILE}, {AUTHORIZERS_FILE} and {SECRETS_DIR}/ (nothing was written)",
        .0.display()
    )]
    Exists(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes the starting files into `dir` (created if missing) and returns what to print:
/// the files written and the next three commands.
pub fn init(dir: &Path) -> Result<String, InitError> {
    for name in [CONFIG_FILE, AUTHORIZERS_FILE, SECRETS_DIR] {
        let path = dir.join(name);
        if path.symlink_metadata().is_ok() {
            return Err(InitError::Exists(path));
        }
    }
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| InitError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    let secrets = dir.join(SECRETS_DIR);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&secrets)
        .map_err(write_error(&secrets))?;
    let mail = dir.join(MAIL_DIR);
    if !mail.is_dir() {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&mail)
            .map_err(write_error(&mail))?;
    }
    let mut header = CSV_COLUMNS.join(",");
    header.push_str(",meta_loan_id,meta_payment_amount\n");
    let files = [
        (CONFIG_FILE, config_text(), 0o600),
        (AUTHORIZERS_FILE, header, 0o600),
        (API_KEY_FILE, format!("{SANDBOX_DEFAULT_KEY}\n"), 0o600),
    ];
    for (name, text, mode) in files {
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .map_err(write_error(&path))?;
        file.write_all(text.as_bytes())
            .map_err(write_error(&path))?;
    }
    Ok(next_steps(dir))
}

/// What `init` prints: what it wrote, and the next three commands.
fn next_steps(dir: &Path) -> String {
    let config = dir.join(CONFIG_FILE);
    let config = shell_word(&config.display().to_string());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "wrote {config}, {} (0600) and {} (0700, with the sandbox's key)",
        dir.join(AUTHORIZERS_FILE).display(),
        dir.join(SECRETS_DIR).display()
    );
    let _ = writeln!(
        out,
        "\nnext: add your borrowers to {} (Rightfoot's CSV columns), then:",
        dir.join(AUTHORIZERS_FILE).display()
    );
    let _ = writeln!(out, "  balance-monitor check-config --config {config}");
    let _ = writeln!(out, "  balance-monitor sandbox --processing-time 5s &");
    let _ = writeln!(
        out,
        "  balance-monitor run-now --config {config} morning-ach"
    );
    out
}

/// `text` as one shell word: as it is when it needs no quoting, in single quotes
/// otherwise.
fn shell_word(text: &str) -> String {
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '+' | ':'));
    if plain && !text.is_empty() {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The commented configuration: the built-in sandbox, a local database, one monitor on
/// weekday mornings, and alerts written as `.eml` files into `mail/`.
fn config_text() -> String {
    format!(
        r#"# balance-monitor configuration, written by `balance-monitor init`.
# Relative paths are taken from this file's folder. Every key is explained in
# config.example.yaml in the source tree; check this file with
#   balance-monitor check-config --config config.yaml
# and, once the sandbox (or Rightfoot) is reachable, with --online.

rightfoot:
  # The built-in sandbox (`balance-monitor sandbox`). For Rightfoot itself, use
  # https://api.rightfoot.com and put your rf_live_... key into {API_KEY_FILE}.
  base_url: http://127.0.0.1:8455
  # Secrets are never written here: the key is read from this file (mode 0600).
  # It holds the sandbox's key, {SANDBOX_DEFAULT_KEY}.
  api_key_file: {API_KEY_FILE}
  # How often a submitted batch is polled (30s-60s against Rightfoot; shorter is
  # allowed against a sandbox on this machine).
  poll_interval: 2s
  # Results still missing this long after submission are "not retrieved".
  result_deadline: 5m

storage:
  # The SQLite database; its folder must exist and be writable.
  path: balance-monitor.db

http:
  # The local read API, /healthz and /metrics (loopback needs no token).
  listen: 127.0.0.1:9187

routes:
  # Alerts as .eml files in mail/, to read them before you configure SMTP
  # (transport: smtp with smtp_host, username and password_file: secrets/...).
  ops-mail:
    email:
      transport: file
      directory: mail
      from: "balance-monitor <alerts@lender.example>"
      to: ["ops@lender.example"]

monitors:
  - name: morning-ach
    # Weekdays at 06:30 in New York, two hours before the ACH cut-off.
    schedule: "30 6 * * 1-5"
    timezone: America/New_York
    # Borrowers in Rightfoot's CSV upload columns (meta_* columns are your own fields).
    authorizers:
      csv: {AUTHORIZERS_FILE}
    rules:
      - negative_balance: {{}}
      - below_payment: {{ field: payment_amount, margin: 25.00 }}
      - check_failed: {{ codes: any, consecutive: 1 }}
      - run_failed: {{}}
    routes: [ops-mail]
    # A firing alert is notified again this often while it lasts.
    repeat_interval: 24h
    alert_fields: [loan_id, payment_amount]
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_word("/tmp/a-b/config.yaml"), "/tmp/a-b/config.yaml");
        assert_eq!(shell_word("/tmp/a b/it's"), r"'/tmp/a b/it'\''s'");
    }
}
