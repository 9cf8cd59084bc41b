//! Upkeep of a store behind the interface ([`Maintenance`]): what it is, its schema
//! version, an integrity check, a test write, a tidy close, an online copy, and one bounded step of retention.
//!
//! The entry points callers use are on [`Store`](super::Store): `backup`,
//! `backup_with_progress`, `prune` and `prune_before` (in `backup.rs` and
//! `retention.rs`) turn their generic arguments into what this object-safe trait takes
//! and run the loop that every backend shares. This module does no I/O.

use std::path::Path;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::backup::{BackupError, BackupOptions, BackupSummary, ProgressFn};
use super::error::StoreError;
use super::retention::PruneSummary;

/// A store's upkeep.
pub trait Maintenance: Send + Sync {
    /// What the store is, for messages: for SQLite, the database file's path.
    fn description(&self) -> String;

    /// The schema version the database is at.
    fn schema_version(&self) -> BoxFuture<'_, Result<i64, StoreError>>;

    /// A cheap integrity check of the whole database (for SQLite, `PRAGMA
    /// quick_check`): [`StoreError::Corrupt`] if it finds damage. Reads the whole file
    /// once; call it at start-up, not per request.
    fn quick_check(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Whether the store takes a real write now: the schema is the version this build
    /// expects ([`StoreError::SchemaChanged`] if not) and a test write reaches the disk
    /// and commits (a full disk or a read-only file fails here as it would fail a run's
    /// next write). Changes no data. Called before each run sends anything, and by
    /// `/readyz`.
    fn check_writable(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Waits for the writes already queued, then stops writing. Every write that
    /// returned `Ok` was durable already; this only makes the shutdown tidy. Later
    /// writes through any clone fail with [`StoreError::Closed`].
    fn close(&self) -> BoxFuture<'_, ()>;

    /// Copies the database to `destination`, as of one moment, calling `progress` after
    /// each step; an existing destination is replaced only when `options` say so.
    fn backup_to<'a>(
        &'a self,
        destination: &'a Path,
        options: BackupOptions,
        progress: ProgressFn,
    ) -> BoxFuture<'a, Result<BackupSummary, BackupError>>;

    /// One transaction of retention: deletes at most `budget` rows older than `cutoff`
    /// (children before parents, keeping what `retention.rs` lists) and says what it
    /// deleted. Nothing deleted means the prune is done.
    fn prune_step(
        &self,
        cutoff: DateTime<Utc>,
        budget: u64,
    ) -> BoxFuture<'_, Result<PruneSummary, StoreError>>;

    /// Runs whose last activity is before `cutoff` that are still stored.
    fn runs_kept_before(&self, cutoff: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>>;
}
