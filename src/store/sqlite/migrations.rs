//! Numbered schema migrations, embedded in the binary and applied in order.
//!
//! The schema version is SQLite's `PRAGMA user_version`: 0 for a new file, N once
//! migration N has run. Each migration runs in its own `BEGIN IMMEDIATE` transaction
//! together with the version bump and a foreign-key check, so a failure leaves the file
//! at the previous version, untouched. Migrations run with foreign-key enforcement off,
//! as SQLite's table-rebuild procedure requires (dropping a referenced table would
//! otherwise cascade or fail); the check before each commit stands in for it, and
//! enforcement is back on when [`migrate`] returns, whatever the outcome. A file whose version is newer than
//! [`LATEST_VERSION`] is refused before anything is written to it.
//!
//! Rules for new migrations: add `migrations/NNNN_name.sql` and one line to
//! [`MIGRATIONS`]; never edit a migration that has shipped; never drop or rewrite user
//! data (add columns and tables; where SQLite needs a table rebuild, copy every row).
//! This module owns the schema's evolution; it does not own the queries.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::error::classify;
use crate::store::StoreError;

/// One migration: its number, a short name for error messages, and its SQL.
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

/// Every migration, in order. Versions are 1, 2, 3, … with no gaps.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "schedule_events",
        sql: include_str!("migrations/0002_schedule_events.sql"),
    },
    Migration {
        version: 3,
        name: "run recovery",
        sql: include_str!("migrations/0003_run_recovery.sql"),
    },
    Migration {
        version: 4,
        name: "history by run",
        sql: include_str!("migrations/0004_history_by_run.sql"),
    },
    Migration {
        version: 5,
        name: "alert lifecycle",
        sql: include_str!("migrations/0005_alert_lifecycle.sql"),
    },
    Migration {
        version: 6,
        name: "judgement fields",
        sql: include_str!("migrations/0006_judgement_fields.sql"),
    },
    Migration {
        version: 7,
        name: "run leases",
        sql: include_str!("migrations/0007_run_leases.sql"),
    },
    Migration {
        version: 8,
        name: "silences",
        sql: include_str!("migrations/0008_silences.sql"),
    },
    Migration {
        version: 9,
        name: "interrupted runs",
        sql: include_str!("migrations/0009_interrupted_runs.sql"),
    },
    Migration {
        version: 10,
        name: "debits",
        sql: include_str!("migrations/0010_debits.sql"),
    },
    Migration {
        version: 11,
        name: "debits by settlement date",
        sql: include_str!("migrations/0011_debits_by_settlement.sql"),
    },
    Migration {
        version: 12,
        name: "leadership",
        sql: include_str!("migrations/0012_leadership.sql"),
    },
];

/// The newest schema this build knows.
pub const LATEST_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Reads the file's schema version.
pub(crate) fn schema_version(connection: &Connection) -> rusqlite::Result<i64> {
    connection.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Refuses a database written by a newer balance-monitor. Writes nothing.
pub(crate) fn refuse_newer(path: &Path, connection: &Connection) -> Result<i64, StoreError> {
    refuse_newer_than(path, connection, LATEST_VERSION)
}

fn refuse_newer_than(
    path: &Path,
    connection: &Connection,
    supported: i64,
) -> Result<i64, StoreError> {
    let found = schema_version(connection).map_err(|error| classify(path, error))?;
    if found > supported {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            supported,
        });
    }
    Ok(found)
}

/// Brings the database up to [`LATEST_VERSION`]. Returns the versions applied.
pub(crate) fn migrate(path: &Path, connection: &mut Connection) -> Result<Vec<i64>, StoreError> {
    apply(path, connection, MIGRATIONS)
}

/// Runs `migrations` with foreign-key enforcement off (the pragma is a no-op inside a
/// transaction, so it is set around them), and turns it back on afterwards.
fn apply(
    path: &Path,
    connection: &mut Connection,
    migrations: &[Migration],
) -> Result<Vec<i64>, StoreError> {
    connection
        .pragma_update(None, "foreign_keys", false)
        .map_err(|error| classify(path, error))?;
    let applied = apply_each(path, connection, migrations);
    let restored = connection
        .pragma_update(None, "foreign_keys", true)
        .map_err(|error| classify(path, error));
    let applied = applied?;
    restored?;
    Ok(applied)
}

fn apply_each(
    path: &Path,
    connection: &mut Connection,
    migrations: &[Migration],
) -> Result<Vec<i64>, StoreError> {
    let supported = migrations.last().map_or(0, |migration| migration.version);
    let mut applied = Vec::new();
    for migration in migrations {
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|error| classify(path, error))?;
        // Read the version under the write lock: another process may have migrated
        // between our first check and this transaction.
        let current = refuse_newer_than(path, &transaction, supported)?;
        if current >= migration.version {
            continue;
        }
        let failed = |source: rusqlite::Error| match classify(path, source) {
            StoreError::Sqlite { source, .. } => StoreError::Migration {
                path: path.to_path_buf(),
                version: migration.version,
                name: migration.name,
                source,
            },
            environmental => environmental,
        };
        transaction.execute_batch(migration.sql).map_err(failed)?;
        transaction
            .pragma_update(None, "user_version", migration.version)
            .map_err(failed)?;
        let violations: i64 = transaction
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
                row.get(0)
            })
            .map_err(failed)?;
        if violations > 0 {
            return Err(StoreError::Internal {
                path: path.to_path_buf(),
                message: format!(
                    "migration {} ({}) would leave {violations} foreign-key violations; rolled back",
                    migration.version, migration.name
                ),
            });
        }
        transaction.commit().map_err(failed)?;
        applied.push(migration.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_count_up_from_one_without_gaps() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1, "{}", migration.name);
        }
    }

    #[test]
    fn migration_files_leave_transactions_to_the_runner() {
        for migration in MIGRATIONS {
            let upper = migration.sql.to_uppercase();
            for statement in upper.split(';') {
                let code: String = statement
                    .lines()
                    .filter(|line| !line.trim_start().starts_with("--"))
                    .collect::<Vec<_>>()
                    .join(" ");
                let first = code.split_whitespace().next().unwrap_or("");
                assert!(
                    !matches!(first, "BEGIN" | "COMMIT" | "END" | "ROLLBACK"),
                    "migration {} has its own {first}",
                    migration.version
                );
            }
        }
    }

    #[test]
    fn a_failing_migration_leaves_the_version_and_the_data_alone() {
        let path = Path::new(":memory:");
        let mut connection = Connection::open_in_memory().unwrap();
        assert_eq!(
            migrate(path, &mut connection).unwrap(),
            (1..=LATEST_VERSION).collect::<Vec<_>>(),
            "a new file gets every migration, in order"
        );
        connection
            .execute(
                "INSERT INTO monitors (name, created_at) VALUES ('m', '2024-01-01T00:00:00.000000Z')",
                [],
            )
            .unwrap();
        // A next migration that fails half-way: its first statement must not survive.
        let mut with_broken: Vec<Migration> = MIGRATIONS
            .iter()
            .map(|m| Migration {
                version: m.version,
                name: m.name,
                sql: m.sql,
            })
            .collect();
        with_broken.push(Migration {
            version: LATEST_VERSION + 1,
            name: "broken",
            sql: "CREATE TABLE extra (id INTEGER); INSERT INTO no_such_table VALUES (1);",
        });
        let error = apply(path, &mut connection, &with_broken).unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, StoreError::Migration { version, name: "broken", .. } if version == LATEST_VERSION + 1),
            "{message}"
        );
        assert!(message.contains("no_such_table"), "{message}");
        assert_eq!(schema_version(&connection).unwrap(), LATEST_VERSION);
        let extra: i64 = connection
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'extra'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(extra, 0, "the half-applied migration was rolled back");
        let monitors: i64 = connection
            .query_row("SELECT count(*) FROM monitors", [], |row| row.get(0))
            .unwrap();
        assert_eq!(monitors, 1);
        // Applying the same list again is a no-op for the shipped migrations.
        assert_eq!(migrate(path, &mut connection).unwrap(), Vec::<i64>::new());
    }
}
