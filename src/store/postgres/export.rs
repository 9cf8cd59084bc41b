//! The export's query on PostgreSQL: one statement in a read snapshot, its rows
//! streamed from the server (`query_raw`) and handed to the sink one at a time, so the
//! export holds one row however many there are. The order is the SQLite backend's:
//! insertion order (`results.seq`, SQLite's rowid), by chunk for a run or batches, by
//! run and authorizer for a monitor, so both backends write the same file.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::{TryStreamExt, pin_mut};
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use super::rows::run_state;
use super::sql;
use crate::domain::Cents;
use crate::store::statements::export::{ExportDialect, export};
use crate::store::statements::respell;
use crate::store::{BoxedSink, Export, ExportError, ExportQuery, ExportScope, ExportedResult};

impl Export for PostgresStore {
    fn stream_rows(
        &self,
        query: ExportQuery,
        mut sink: BoxedSink,
    ) -> BoxFuture<'_, Result<(BoxedSink, u64), ExportError<BoxedSink>>> {
        Box::pin(async move {
            self.read(move |tx| {
                Box::pin(async move {
                    let run_or_monitor: Option<i64> = match &query.scope {
                        ExportScope::All | ExportScope::RightfootBatches(_) => None,
                        ExportScope::Run(run) => {
                            run_state(tx, *run).await?;
                            Some(run.0)
                        }
                        ExportScope::Monitor(monitor) => Some(monitor.0),
                    };
                    let batch_ids: Option<&Vec<String>> = match &query.scope {
                        ExportScope::RightfootBatches(ids) => Some(ids),
                        _ => None,
                    };
                    if let Some(ids) = batch_ids {
                        let unknown: Vec<String> = sql::all(
                            tx,
                            "SELECT DISTINCT j.id FROM unnest($1::TEXT[]) AS j (id) \
                             WHERE NOT EXISTS (SELECT 1 FROM batches b \
                                               WHERE b.rightfoot_batch_id = j.id) \
                             ORDER BY j.id",
                            &[ids],
                        )
                        .await?
                        .iter()
                        .map(|row| row.try_get(0))
                        .collect::<Result<_, _>>()?;
                        if !unknown.is_empty() {
                            return Ok(Err(ExportError::UnknownBatches(unknown)));
                        }
                    }
                    let statement = tx.prepare_cached(&export_sql(&query.scope)).await?;
                    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&query.since, &query.until];
                    if let Some(id) = &run_or_monitor {
                        params.push(id);
                    }
                    if let Some(ids) = batch_ids {
                        params.push(ids);
                    }
                    let rows = tx.query_raw(&statement, params).await?;
                    pin_mut!(rows);
                    let mut count = 0_u64;
                    while let Some(row) = rows.try_next().await? {
                        let retrieved_at: DateTime<Utc> = row.try_get(4)?;
                        let exported = ExportedResult {
                            authorizer_unique_id: row.try_get(0)?,
                            rightfoot_batch_id: row.try_get(1)?,
                            balance: row.try_get::<_, Option<i64>>(2)?.map(Cents),
                            balance_status_code: row.try_get(3)?,
                            retrieved_at,
                        };
                        if !sink.accept(&exported) {
                            return Ok(Err(ExportError::Sink(sink)));
                        }
                        count += 1;
                    }
                    Ok(Ok((sink, count)))
                })
            })
            .await?
        })
    }
}

/// The query for a scope (see `statements::export`).
fn export_sql(scope: &ExportScope) -> String {
    respell(&export(
        scope,
        &ExportDialect {
            join: "JOIN",
            key: "seq",
            batch_id_in: "= ANY(CAST(?3 AS TEXT[]))",
        },
    ))
}
