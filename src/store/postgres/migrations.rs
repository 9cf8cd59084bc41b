//! PostgreSQL's schema migrations: embedded, numbered, applied at start in one
//! transaction under an advisory lock, so that two daemons starting together migrate
//! once (the second waits, then finds the schema current).
//!
//! The numbers are SQLite's: a PostgreSQL migration N brings the schema to what SQLite's
//! migration N makes it, so both backends report one schema version. The first,
//! `0009_initial.sql`, creates at once the schema SQLite reached at 0009; the next
//! SQLite migration is ported as `migrations/0010_<name>.sql`, and that file is all it
//! takes (`build.rs` lists the folder). The version is the largest in
//! `schema_migrations`; a database with a version newer than this build knows is refused
//! before anything is written. Never edit a migration that has shipped.

use tokio_postgres::Client;

use super::error::classify;
use crate::store::StoreError;

/// Every migration as `(version, name, sql)`, in version order (see `build.rs`).
const MIGRATIONS: &[(i64, &str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/postgres_migrations.rs"));

/// The newest schema this build knows.
pub const LATEST_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

// A PostgreSQL migration ports an SQLite one: it never gets ahead.
const _: () = assert!(LATEST_VERSION <= crate::store::sqlite::LATEST_VERSION);

/// The key of the advisory lock held while migrating ("balance-monitor migrate").
const MIGRATION_LOCK: i64 = 0x6261_6c6d_6f6e_0001;

pub(crate) const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations ( \
         version    BIGINT PRIMARY KEY, \
         name       TEXT NOT NULL, \
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now())";

/// The schema version: the newest migration applied, 0 for an empty database.
pub(crate) const VERSION_SQL: &str =
    "SELECT coalesce(max(version), 0)::BIGINT FROM schema_migrations";

/// Brings the database to [`LATEST_VERSION`], or refuses a newer one. Returns the
/// versions applied.
pub(crate) async fn migrate(client: &mut Client, location: &str) -> Result<Vec<i64>, StoreError> {
    apply(client, location, MIGRATIONS).await
}

async fn apply(
    client: &mut Client,
    location: &str,
    migrations: &[(i64, &'static str, &'static str)],
) -> Result<Vec<i64>, StoreError> {
    let on_error = |error| classify(location, error);
    let transaction = client.transaction().await.map_err(on_error)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(on_error)?;
    transaction
        .batch_execute(VERSION_TABLE)
        .await
        .map_err(on_error)?;
    let found: i64 = transaction
        .query_one(VERSION_SQL, &[])
        .await
        .map_err(on_error)?
        .get(0);
    let supported = migrations.last().map_or(0, |(version, _, _)| *version);
    if found > supported {
        return Err(StoreError::SchemaTooNew {
            path: location.into(),
            found,
            supported,
        });
    }
    let mut applied = Vec::new();
    for (version, name, sql) in migrations.iter().filter(|(version, _, _)| *version > found) {
        let name: &'static str = name;
        let failed = |source: tokio_postgres::Error| StoreError::Migration {
            path: location.into(),
            version: *version,
            name,
            source: source.into(),
        };
        transaction.batch_execute(sql).await.map_err(failed)?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[version, &name],
            )
            .await
            .map_err(failed)?;
        applied.push(*version);
    }
    transaction.commit().await.map_err(on_error)?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_start_at_sqlites_0009_and_follow_each_other() {
        assert_eq!(MIGRATIONS[0].0, 9, "the first creates SQLite's 0009 schema");
        for pair in MIGRATIONS.windows(2) {
            assert_eq!(
                pair[1].0,
                pair[0].0 + 1,
                "{} follows {}",
                pair[1].1,
                pair[0].1
            );
        }
    }
}
