//! The `storage` section: where the store lives (an SQLite file, or a PostgreSQL
//! database under `storage.postgres`) and how long history is kept.

use std::path::PathBuf;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::validator::{SecretKeys, Validator};
use crate::config::model::{PostgresConfig, StorageConfig};
use crate::config::raw::{RawPostgres, RawStorage};

/// The database's path unless `storage.path` says otherwise.
pub const DEFAULT_STORAGE_PATH: &str = "/var/lib/balance-monitor/balance-monitor.db";

/// Connections to PostgreSQL unless `storage.postgres.pool_size` says otherwise.
const DEFAULT_POOL_SIZE: u64 = 8;
/// The most connections one daemon may hold.
const MAX_POOL_SIZE: u64 = 100;
/// The leadership lease unless `storage.postgres.lease` says otherwise.
const DEFAULT_LEASE: Duration = Duration::from_secs(15);
/// The shortest leadership lease.
const MIN_LEASE: Duration = Duration::from_secs(1);
/// The longest leadership lease.
const MAX_LEASE: Duration = Duration::from_secs(600);

impl Validator<'_> {
    pub(super) fn storage(&mut self, raw: &RawStorage) -> StorageConfig {
        let path = match &raw.path {
            Some(text) if text.value.trim().is_empty() => {
                self.at(text, "storage.path", "must not be empty");
                PathBuf::from(DEFAULT_STORAGE_PATH)
            }
            Some(text) => self.path(&text.value),
            None => PathBuf::from(DEFAULT_STORAGE_PATH),
        };
        let retention = raw.retention.as_ref().map(|text| {
            let d = self.duration(&Some(text.clone()), "storage.retention", Duration::ZERO);
            if d < Duration::from_secs(86_400) && !d.is_zero() {
                self.at(
                    text,
                    "storage.retention",
                    format!("{} is shorter than one day", text.value),
                );
            }
            d
        });
        let postgres = raw.postgres.as_ref().and_then(|postgres| {
            if raw.path.is_some() {
                self.at(
                    postgres,
                    "storage.postgres",
                    "storage.path and storage.postgres exclude each other: give the SQLite file or the PostgreSQL database, not both",
                );
            }
            self.postgres(postgres)
        });
        StorageConfig {
            path,
            retention,
            postgres,
        }
    }

    fn postgres(&mut self, raw: &Spanned<RawPostgres>) -> Option<PostgresConfig> {
        let postgres = &raw.value;
        let pool_size = match &postgres.pool_size {
            // Two at least: a judgement's transaction holds one while it reads through
            // another.
            Some(size) if size.value < 2 || size.value > MAX_POOL_SIZE => {
                self.at(
                    size,
                    "storage.postgres.pool_size",
                    format!("{} is out of range (2 to {MAX_POOL_SIZE})", size.value),
                );
                DEFAULT_POOL_SIZE
            }
            Some(size) => size.value,
            None => DEFAULT_POOL_SIZE,
        };
        // Renewed every third of it: a second lets tests fail over quickly; past ten
        // minutes a dead leader leaves the schedules unattended for too long.
        let lease = self.duration_in(
            &postgres.lease,
            "storage.postgres.lease",
            DEFAULT_LEASE,
            MIN_LEASE,
            MAX_LEASE,
        );
        let url = self.secret(
            "storage.postgres",
            "url",
            SecretKeys {
                literal: &postgres.url,
                file: &postgres.url_file,
                env: &postgres.url_env,
            },
            Some(crate::yaml::Position::of(raw)),
            true,
        )?;
        let (key, spanned) = match (&postgres.url_file, &postgres.url_env) {
            (Some(file), _) => ("storage.postgres.url_file", file),
            (None, Some(env)) => ("storage.postgres.url_env", env),
            (None, None) => return None,
        };
        match crate::store::postgres_location(url.expose()) {
            Ok(location) => Some(PostgresConfig {
                url,
                location,
                pool_size: pool_size as usize,
                lease,
            }),
            Err(reason) => {
                self.at(
                    spanned,
                    key,
                    format!("the URL it holds is refused: {reason}"),
                );
                None
            }
        }
    }
}
