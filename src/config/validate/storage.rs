//! The `storage` section: where the SQLite database lives and how long history is kept.

use std::path::PathBuf;
use std::time::Duration;

use super::validator::Validator;
use crate::config::model::StorageConfig;
use crate::config::raw::RawStorage;

/// The database's path unless `storage.path` says otherwise.
pub const DEFAULT_STORAGE_PATH: &str = "/var/lib/balance-monitor/balance-monitor.db";

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
        StorageConfig { path, retention }
    }
}
