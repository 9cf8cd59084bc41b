//! `balance-monitor migrate --from PATH.db`: copy an SQLite database into the
//! PostgreSQL database `storage.postgres` names, and show each table's row count and
//! checksum, verified on both sides.
//!
//! The copy and the verification belong to `store`; this file checks that the
//! configuration names a PostgreSQL database and prints the table.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::output::Output;
use super::{Failure, runtime};
use crate::config;
use crate::secret::Environment;
use crate::store::PostgresOptions;

pub const EXAMPLES: &str = "\
Examples:
  balance-monitor migrate --from /var/lib/balance-monitor/balance-monitor.db
  balance-monitor migrate --from old.db --force   # replace what the PostgreSQL database holds";

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The SQLite database to copy (stop the daemon that writes it first).
    #[arg(long = "from", value_name = "PATH.db")]
    pub from: PathBuf,
    /// Copy even into a database that holds rows, replacing all of them.
    #[arg(long)]
    pub force: bool,
}

pub fn migrate(
    path: &Path,
    env: &Environment,
    args: MigrateArgs,
    out: &mut Output,
) -> Result<(), Failure> {
    let config = config::load(path, env)?;
    let Some(postgres) = &config.storage.postgres else {
        return Err(Failure::Config(format!(
            "{}: storage.postgres is not set: migrate copies into the PostgreSQL database it names",
            config.file.display()
        )));
    };
    let options = PostgresOptions {
        pool_size: postgres.pool_size,
    };
    let copied = runtime()?
        .block_on(crate::store::migrate_sqlite_to_postgres(
            &args.from,
            postgres.url.expose(),
            &options,
            args.force,
        ))
        .with_context(|| {
            format!(
                "cannot migrate {} into {}",
                args.from.display(),
                postgres.location
            )
        })?;
    let mut text = format!(
        "copied {} into {}\n\n{:<26} {:>10}  sha-256\n",
        args.from.display(),
        postgres.location,
        "table",
        "rows"
    );
    for table in &copied {
        let _ = writeln!(
            text,
            "{:<26} {:>10}  {}",
            table.table, table.rows, table.checksum
        );
    }
    let total: u64 = copied.iter().map(|table| table.rows).sum();
    let _ = writeln!(
        text,
        "\nverified: every table has the same rows and checksum in both ({})",
        crate::text::count(total, "row")
    );
    out.print(&text)
}
