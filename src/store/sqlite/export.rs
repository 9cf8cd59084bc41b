//! The export's query on SQLite: one statement on a read connection, each row handed to
//! the sink as SQLite produces it, borrowed from the statement.
//!
//! `CROSS JOIN` keeps `results` the outer loop, so every scope is answered in the order
//! of an index and SQLite never sorts (the constant memory of `Store::stream_results`
//! depends on it; a unit test reads the query plans). The store's fixed-width time text
//! is read without the general RFC 3339 parser.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use futures_util::future::BoxFuture;
use rusqlite::types::{Type, ValueRef};
use rusqlite::{Row, params};

use super::SqliteStore;
use super::columns::time_text;
use super::error::OpError;
use super::rows::run_state;
use crate::domain::Cents;
use crate::store::statements::export::{ExportDialect, export};
use crate::store::{BoxedSink, Export, ExportError, ExportQuery, ExportScope, ExportedResult};

impl Export for SqliteStore {
    fn stream_rows(
        &self,
        query: ExportQuery,
        mut sink: BoxedSink,
    ) -> BoxFuture<'_, Result<(BoxedSink, u64), ExportError<BoxedSink>>> {
        Box::pin(async move {
            // The outer `Result` is the store's; the inner one carries what only this
            // operation can fail with, and the sink back on success.
            self.read(move |transaction| {
                let scope_parameter: Option<String> = match &query.scope {
                    ExportScope::All => None,
                    ExportScope::Run(run) => {
                        run_state(transaction, *run)?;
                        Some(run.0.to_string())
                    }
                    ExportScope::Monitor(monitor) => Some(monitor.0.to_string()),
                    ExportScope::RightfootBatches(ids) => {
                        let ids = serde_json::to_string(ids).expect("strings serialize");
                        let unknown = unknown_batches(transaction, &ids)?;
                        if !unknown.is_empty() {
                            return Ok(Err(ExportError::UnknownBatches(unknown)));
                        }
                        Some(ids)
                    }
                };
                let mut statement = transaction.prepare(&export_sql(&query.scope))?;
                let window = [query.since.map(time_text), query.until.map(time_text)];
                let mut rows = match &scope_parameter {
                    Some(scope) => statement.query(params![window[0], window[1], scope])?,
                    None => statement.query(params![window[0], window[1]])?,
                };
                let mut count = 0_u64;
                while let Some(row) = rows.next()? {
                    if !sink.accept(&exported_result(row)?) {
                        return Ok(Err(ExportError::Sink(sink)));
                    }
                    count += 1;
                }
                drop(rows);
                drop(statement);
                Ok(Ok((sink, count)))
            })
            .await?
        })
    }
}

/// The query for a scope (see `statements::export`).
fn export_sql(scope: &ExportScope) -> String {
    export(
        scope,
        &ExportDialect {
            join: "CROSS JOIN",
            key: "rowid",
            batch_id_in: "IN (SELECT value FROM json_each(?3))",
        },
    )
}

/// The ids of a JSON array that no chunk recorded as its Rightfoot batch id.
fn unknown_batches(
    transaction: &rusqlite::Transaction<'_>,
    ids_json: &str,
) -> Result<Vec<String>, OpError> {
    Ok(transaction
        .prepare(
            "SELECT DISTINCT j.value FROM json_each(?1) j WHERE NOT EXISTS ( \
                 SELECT 1 FROM batches b WHERE b.rightfoot_batch_id = j.value)",
        )?
        .query_map(params![ids_json], |row| row.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?)
}

fn exported_result<'a>(row: &'a Row<'a>) -> rusqlite::Result<ExportedResult<'a>> {
    Ok(ExportedResult {
        authorizer_unique_id: text(row, 0)?,
        // A retrieved result's chunk always has its batch id (a CHECK in the schema).
        rightfoot_batch_id: text(row, 1)?,
        balance: row.get::<_, Option<i64>>(2)?.map(Cents),
        balance_status_code: row.get(3)?,
        retrieved_at: stored_time(text(row, 4)?).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                4,
                Type::Text,
                format!("not a stored time: {:?}", text(row, 4).unwrap_or_default()).into(),
            )
        })?,
    })
}

fn text<'a>(row: &'a Row<'a>, column: usize) -> rusqlite::Result<&'a str> {
    match row.get_ref(column)? {
        ValueRef::Text(bytes) => {
            std::str::from_utf8(bytes).map_err(|error| rusqlite::Error::Utf8Error(column, error))
        }
        other => Err(rusqlite::Error::InvalidColumnType(
            column,
            format!("column {column}"),
            other.data_type(),
        )),
    }
}

/// Reads the store's fixed-width time text (`2024-08-09T18:10:44.000000Z`, see
/// `columns.rs`) without the general RFC 3339 parser, which would be a large share of
/// the export's time; anything else goes through that parser.
fn stored_time(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let fixed_width = bytes.len() == 27
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && bytes[16] == b':'
        && bytes[19] == b'.'
        && bytes[26] == b'Z';
    if !fixed_width {
        return DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|time| time.with_timezone(&Utc));
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0_u32, |value, digit| {
            digit
                .is_ascii_digit()
                .then(|| value * 10 + u32::from(digit - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(number(0..4)?).ok()?,
        number(5..7)?,
        number(8..10)?,
    )?;
    let time = date.and_hms_micro_opt(
        number(11..13)?,
        number(14..16)?,
        number(17..19)?,
        number(20..26)?,
    )?;
    Some(Utc.from_utc_datetime(&time))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Maintenance;
    use crate::store::types::{MonitorId, RunId};

    /// Constant memory depends on SQLite never sorting the selection: a sort holds
    /// rows (in memory, then in temporary files) before the first one comes out.
    #[tokio::test]
    async fn no_scope_makes_sqlite_sort_or_buffer_the_rows() {
        let directory = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&directory.path().join("state.db")).unwrap();
        for scope in [
            ExportScope::All,
            ExportScope::Run(RunId(1)),
            ExportScope::Monitor(MonitorId(1)),
            ExportScope::RightfootBatches(vec!["B".to_string()]),
        ] {
            let sql = format!("EXPLAIN QUERY PLAN {}", export_sql(&scope));
            let plan: Vec<String> = store
                .read(move |transaction| {
                    let mut statement = transaction.prepare(&sql)?;
                    // Every parameter NULL: a scope without one (the whole store) has two.
                    let nulls = vec![None::<String>; statement.parameter_count()];
                    Ok(statement
                        .query_map(rusqlite::params_from_iter(nulls), |row| {
                            row.get::<_, String>(3)
                        })?
                        .collect::<rusqlite::Result<Vec<_>>>()?)
                })
                .await
                .unwrap();
            let text = plan.join("\n");
            assert!(!text.contains("TEMP B-TREE"), "{scope:?}:\n{text}");
            assert!(
                plan[0].starts_with("SCAN r") || plan[0].starts_with("SEARCH r"),
                "results is the outer loop for {scope:?}:\n{text}"
            );
        }
        store.close().await;
    }

    #[test]
    fn the_fixed_width_reader_agrees_with_the_writer_and_falls_back_for_other_text() {
        let time = Utc.with_ymd_and_hms(2024, 8, 9, 18, 10, 44).unwrap()
            + chrono::Duration::microseconds(123_456);
        assert_eq!(stored_time(&time_text(time)), Some(time));
        assert_eq!(
            stored_time("2024-08-09T18:10:44+00:00"),
            Some(Utc.with_ymd_and_hms(2024, 8, 9, 18, 10, 44).unwrap())
        );
        assert_eq!(stored_time("2024-02-30T18:10:44.000000Z"), None);
        assert_eq!(stored_time("2024-08-09T18:1x:44.000000Z"), None);
    }
}
