//! `balance-monitor migrate --from PATH.db`: an SQLite database copied into PostgreSQL,
//! table by table, then verified by row count and checksum.
//!
//! Each table is read on a blocking thread in primary-key order and streamed, as COPY
//! text lines, into `COPY ... FROM STDIN`: memory stays small whatever the size. The
//! whole copy is one transaction, so a failure leaves the target as it was. The
//! checksum of a table is SHA-256 over those lines; after the commit the same columns
//! are read back from PostgreSQL in the same order, formatted as SQLite stores them
//! (times as `2024-08-09T18:10:44.000000Z`, flags as 0 and 1), and hashed again. A
//! target that holds any row is refused unless `force` is given, which empties it
//! first. SQLite's rowid of a result becomes its `seq`, so the export keeps its order.

use std::path::Path;

use bytes::Bytes;
use deadpool_postgres::Transaction;
use futures_util::{SinkExt, TryStreamExt, pin_mut};
use rusqlite::types::ValueRef;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::PostgresStore;
use super::error::OpError;
use crate::store::StoreError;

/// How a column is formatted when read back from PostgreSQL.
#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Time,
    Date,
    Flag,
}

use Kind::{Date, Flag, Plain, Time};

/// One table: its name, its columns (the first may be read from another SQLite
/// expression), and the order both sides are read in.
struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    /// The SQLite expression of the first column, when it is not the column itself.
    first_from: Option<&'static str>,
    order: &'static str,
    /// The identity column whose sequence must continue after the copied rows.
    identity: Option<&'static str>,
}

/// Every table, parents before children.
const TABLES: &[Table] = &[
    Table {
        name: "monitors",
        columns: &[("id", Plain), ("name", Plain), ("created_at", Time)],
        first_from: None,
        order: "id",
        identity: Some("id"),
    },
    Table {
        name: "runs",
        columns: &[
            ("id", Plain),
            ("monitor_id", Plain),
            ("scheduled_for", Time),
            ("run_trigger", Plain),
            ("state", Plain),
            ("served_from_cache", Flag),
            ("created_at", Time),
            ("started_at", Time),
            ("finished_at", Time),
            ("reason", Plain),
            ("alerts_evaluated_at", Time),
        ],
        first_from: None,
        order: "id",
        identity: Some("id"),
    },
    Table {
        name: "batches",
        columns: &[
            ("id", Plain),
            ("run_id", Plain),
            ("chunk_index", Plain),
            ("body_sha256", Plain),
            ("state", Plain),
            ("rightfoot_batch_id", Plain),
            ("submitted_at", Time),
            ("accepted_count", Plain),
            ("deadline", Time),
            ("created_at", Time),
            ("updated_at", Time),
            ("finished_at", Time),
            ("reason", Plain),
            ("first_attempt_at", Time),
            ("cached_from", Plain),
        ],
        first_from: None,
        order: "id",
        identity: Some("id"),
    },
    Table {
        name: "batch_failed_authorizers",
        columns: &[
            ("batch_id", Plain),
            ("authorizer_unique_id", Plain),
            ("reason", Plain),
        ],
        first_from: None,
        order: "batch_id, authorizer_unique_id",
        identity: None,
    },
    Table {
        name: "batch_members",
        columns: &[
            ("run_id", Plain),
            ("batch_id", Plain),
            ("authorizer_unique_id", Plain),
        ],
        first_from: None,
        order: "run_id, authorizer_unique_id",
        identity: None,
    },
    Table {
        name: "results",
        columns: &[
            ("seq", Plain),
            ("run_id", Plain),
            ("batch_id", Plain),
            ("authorizer_unique_id", Plain),
            ("outcome", Plain),
            ("balance_cents", Plain),
            ("balance_status_code", Plain),
            ("retrieved_at", Time),
            ("reason", Plain),
            ("recorded_at", Time),
        ],
        first_from: Some("rowid"),
        order: "seq",
        identity: Some("seq"),
    },
    Table {
        name: "preflight_rejections",
        columns: &[
            ("run_id", Plain),
            ("position", Plain),
            ("authorizer_unique_id", Plain),
            ("source", Plain),
            ("reason", Plain),
            ("recorded_at", Time),
        ],
        first_from: None,
        order: "run_id, position",
        identity: None,
    },
    Table {
        name: "alerts",
        columns: &[
            ("id", Plain),
            ("fingerprint", Plain),
            ("monitor_id", Plain),
            ("authorizer_unique_id", Plain),
            ("rule", Plain),
            ("state", Plain),
            ("severity", Plain),
            ("consecutive_failures", Plain),
            ("consecutive_passes", Plain),
            ("first_fired_at", Time),
            ("last_fired_at", Time),
            ("last_notified_at", Time),
            ("resolved_at", Time),
            ("last_run_id", Plain),
            ("reason", Plain),
            ("held", Flag),
        ],
        first_from: None,
        order: "id",
        identity: Some("id"),
    },
    Table {
        name: "balance_memory",
        columns: &[
            ("monitor_id", Plain),
            ("authorizer_unique_id", Plain),
            ("first_checked_at", Time),
            ("last_success_at", Time),
            ("last_success_cents", Plain),
            ("peaks", Plain),
        ],
        first_from: None,
        order: "monitor_id, authorizer_unique_id",
        identity: None,
    },
    Table {
        name: "outbox",
        columns: &[
            ("id", Plain),
            ("route", Plain),
            ("idempotency_key", Plain),
            ("payload", Plain),
            ("created_at", Time),
            ("next_attempt_at", Time),
            ("attempts", Plain),
            ("state", Plain),
            ("last_error", Plain),
            ("delivered_at", Time),
            ("last_attempt_at", Time),
            ("monitor", Plain),
        ],
        first_from: None,
        order: "id",
        identity: Some("id"),
    },
    Table {
        name: "schedule_state",
        columns: &[
            ("monitor_id", Plain),
            ("last_slot", Time),
            ("last_run_id", Plain),
            ("updated_at", Time),
        ],
        first_from: None,
        order: "monitor_id",
        identity: None,
    },
    Table {
        name: "webhook_events",
        columns: &[
            ("event_uuid", Plain),
            ("received_at", Time),
            ("rightfoot_batch_id", Plain),
        ],
        first_from: None,
        order: "event_uuid",
        identity: None,
    },
    Table {
        name: "schedule_events",
        columns: &[
            ("id", Plain),
            ("monitor_id", Plain),
            ("outcome", Plain),
            ("first_slot", Time),
            ("last_slot", Time),
            ("slot_count", Plain),
            ("slot_count_exact", Flag),
            ("reason", Plain),
            ("recorded_at", Time),
        ],
        first_from: None,
        order: "id",
        identity: Some("id"),
    },
    Table {
        name: "judgement_fields",
        columns: &[("run_id", Plain), ("part", Plain), ("fields", Plain)],
        first_from: None,
        order: "run_id, part",
        identity: None,
    },
    Table {
        name: "run_leases",
        columns: &[
            ("monitor_id", Plain),
            ("holder", Plain),
            ("run_id", Plain),
            ("taken_at", Time),
            ("valid_until", Time),
        ],
        first_from: None,
        order: "monitor_id",
        identity: None,
    },
    Table {
        name: "silences",
        columns: &[
            ("id", Plain),
            ("authorizer_unique_id", Plain),
            ("monitor", Plain),
            ("rule", Plain),
            ("starts_at", Time),
            ("ends_at", Time),
            ("created_by", Plain),
            ("comment", Plain),
            ("ended_early_at", Time),
        ],
        first_from: None,
        order: "id",
        identity: Some("id"),
    },
    Table {
        name: "debit_decisions",
        columns: &[
            ("run_id", Plain),
            ("debit_id", Plain),
            ("authorizer_unique_id", Plain),
            ("debit_date", Date),
            ("settles_on", Date),
            ("amount_cents", Plain),
            ("decision", Plain),
            ("reason", Plain),
            ("balance_cents", Plain),
            ("checked_at", Time),
        ],
        first_from: None,
        order: "run_id, debit_id",
        identity: None,
    },
    Table {
        name: "debit_returns",
        columns: &[
            ("debit_id", Plain),
            ("return_code", Plain),
            ("return_date", Date),
            ("imported_at", Time),
        ],
        first_from: None,
        order: "debit_id",
        identity: None,
    },
];

/// One table as copied and verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableCopy {
    pub table: &'static str,
    pub rows: u64,
    /// SHA-256 of the table's rows, lowercase hex; the same on both sides.
    pub checksum: String,
}

/// Copies the SQLite database at `source` (already at the current schema) into the
/// PostgreSQL database behind `target`, and verifies every table.
pub(crate) async fn import(
    target: &PostgresStore,
    source: &Path,
    force: bool,
) -> Result<Vec<TableCopy>, StoreError> {
    let location = target.location.clone();
    let on_error = |error: OpError| error.into_store_error(&location);
    let mut client = target.client().await?;
    let transaction = client
        .transaction()
        .await
        .map_err(|error| on_error(error.into()))?;
    let mut copied = Vec::with_capacity(TABLES.len());
    let run = async {
        prepare_target(&transaction, &location, force).await?;
        for table in TABLES {
            copied.push(copy_table(&transaction, source, table).await?);
        }
        for table in TABLES {
            if let Some(column) = table.identity {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{name}', '{column}'), \
                         coalesce(max({column}), 0) + 1, false) FROM {name}",
                    name = table.name
                );
                transaction.execute(sql.as_str(), &[]).await?;
            }
        }
        Ok::<_, OpError>(())
    };
    run.await.map_err(on_error)?;
    transaction
        .commit()
        .await
        .map_err(|error| on_error(error.into()))?;
    for (table, copy) in TABLES.iter().zip(&copied) {
        let (rows, checksum) = read_back(&client, table).await.map_err(on_error)?;
        if rows != copy.rows || checksum != copy.checksum {
            return Err(StoreError::Internal {
                path: location.clone().into(),
                message: format!(
                    "table {} did not verify: {} rows with checksum {} in SQLite, {rows} rows with checksum {checksum} in PostgreSQL",
                    table.name, copy.rows, copy.checksum
                ),
            });
        }
    }
    Ok(copied)
}

/// Refuses a target that holds rows, or empties it when `force` is given.
async fn prepare_target(tx: &Transaction<'_>, location: &str, force: bool) -> Result<(), OpError> {
    let mut holding = Vec::new();
    for table in TABLES {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", table.name);
        if tx
            .query_one(sql.as_str(), &[])
            .await?
            .try_get::<_, bool>(0)?
        {
            holding.push(table.name);
        }
    }
    if holding.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(StoreError::InvalidInput {
            what: "migrate",
            message: format!(
                "{location} is not empty (it has rows in {}); migrate copies into an empty database, or replaces everything in it with --force",
                holding.join(", ")
            ),
        }
        .into());
    }
    let names: Vec<&str> = TABLES.iter().map(|table| table.name).collect();
    tx.batch_execute(&format!(
        "TRUNCATE {} RESTART IDENTITY CASCADE",
        names.join(", ")
    ))
    .await?;
    Ok(())
}

/// Streams one table from SQLite into `COPY ... FROM STDIN`; its count and checksum.
async fn copy_table(
    tx: &Transaction<'_>,
    source: &Path,
    table: &Table,
) -> Result<TableCopy, OpError> {
    let (sender, mut receiver) = mpsc::channel::<Bytes>(4);
    let path = source.to_path_buf();
    let select = sqlite_select(table);
    let reader = tokio::task::spawn_blocking(move || read_sqlite(&path, &select, &sender));
    let columns: Vec<&str> = table.columns.iter().map(|(name, _)| *name).collect();
    let sink = tx
        .copy_in(&format!(
            "COPY {} ({}) FROM STDIN",
            table.name,
            columns.join(", ")
        ))
        .await?;
    pin_mut!(sink);
    while let Some(chunk) = receiver.recv().await {
        sink.send(chunk).await?;
    }
    let (rows, checksum) = reader
        .await
        .map_err(|error| OpError::unexpected(format!("the SQLite reader stopped: {error}")))?
        .map_err(|error| OpError::unexpected(format!("reading {}: {error}", table.name)))?;
    sink.finish().await?;
    Ok(TableCopy {
        table: table.name,
        rows,
        checksum,
    })
}

fn sqlite_select(table: &Table) -> String {
    let columns: Vec<&str> = table
        .columns
        .iter()
        .enumerate()
        .map(|(index, (name, _))| match (index, table.first_from) {
            (0, Some(expression)) => expression,
            _ => name,
        })
        .collect();
    let order = if table.first_from.is_some() {
        table.first_from.unwrap_or("rowid")
    } else {
        table.order
    };
    format!(
        "SELECT {} FROM {} ORDER BY {order}",
        columns.join(", "),
        table.name
    )
}

/// Reads a table from a read-only connection as COPY text, in chunks; the row count
/// and the SHA-256 of the lines.
fn read_sqlite(
    path: &Path,
    select: &str,
    sender: &mpsc::Sender<Bytes>,
) -> rusqlite::Result<(u64, String)> {
    let connection =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut statement = connection.prepare(select)?;
    let width = statement.column_count();
    let mut rows = statement.query([])?;
    let mut hasher = Sha256::new();
    let mut count = 0_u64;
    let mut chunk = String::new();
    while let Some(row) = rows.next()? {
        let start = chunk.len();
        for column in 0..width {
            if column > 0 {
                chunk.push('\t');
            }
            match row.get_ref(column)? {
                ValueRef::Null => chunk.push_str("\\N"),
                ValueRef::Integer(value) => chunk.push_str(&value.to_string()),
                ValueRef::Real(value) => chunk.push_str(&value.to_string()),
                ValueRef::Text(bytes) => escape(&String::from_utf8_lossy(bytes), &mut chunk),
                ValueRef::Blob(_) => {
                    return Err(rusqlite::Error::InvalidColumnType(
                        column,
                        "blob".to_string(),
                        rusqlite::types::Type::Blob,
                    ));
                }
            }
        }
        chunk.push('\n');
        hasher.update(&chunk.as_bytes()[start..]);
        count += 1;
        if chunk.len() >= 64 * 1024 {
            let full = std::mem::take(&mut chunk);
            if sender.blocking_send(Bytes::from(full)).is_err() {
                break;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = sender.blocking_send(Bytes::from(chunk));
    }
    Ok((count, hex::encode(hasher.finalize())))
}

/// COPY's text escapes.
fn escape(text: &str, out: &mut String) {
    for character in text.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            other => out.push(other),
        }
    }
}

/// A table read back from PostgreSQL as SQLite stores it; its row count and checksum.
async fn read_back(
    client: &tokio_postgres::Client,
    table: &Table,
) -> Result<(u64, String), OpError> {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|(name, kind)| match kind {
            Plain => (*name).to_string(),
            Time => {
                format!("to_char({name} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
            }
            Date => format!("to_char({name}, 'YYYY-MM-DD')"),
            Flag => format!("{name}::INT"),
        })
        .collect();
    let stream = client
        .copy_out(&format!(
            "COPY (SELECT {} FROM {} ORDER BY {}) TO STDOUT",
            columns.join(", "),
            table.name,
            table.order
        ))
        .await?;
    pin_mut!(stream);
    let mut hasher = Sha256::new();
    let mut count = 0_u64;
    while let Some(chunk) = stream.try_next().await? {
        count += chunk.iter().filter(|byte| **byte == b'\n').count() as u64;
        hasher.update(&chunk);
    }
    Ok((count, hex::encode(hasher.finalize())))
}
