//! The few ways the area files talk to a transaction: run a statement, read one, an
//! optional or every row, each through the connection's statement cache, and read a
//! count, an enum or money out of a row. Nothing here knows a table.

use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::error::OpError;
use crate::domain::Cents;

/// The parameters of a statement, `$1` first.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Runs a statement; the number of rows it changed.
pub(crate) async fn exec(
    tx: &Transaction<'_>,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, OpError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&statement, params).await?)
}

/// Every row a query returns.
pub(crate) async fn all(
    tx: &Transaction<'_>,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, OpError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query(&statement, params).await?)
}

/// The row a query returns, if any (more than one is an error).
pub(crate) async fn opt(
    tx: &Transaction<'_>,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, OpError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&statement, params).await?)
}

/// The one row a query returns.
pub(crate) async fn one(
    tx: &Transaction<'_>,
    sql: &str,
    params: Params<'_>,
) -> Result<Row, OpError> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_one(&statement, params).await?)
}

/// A count or index that the schema keeps non-negative.
pub(crate) fn count(row: &Row, column: usize) -> Result<u32, OpError> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| OpError::unexpected(format!("count {value} out of range")))
}

/// A nullable amount of cents.
pub(crate) fn cents(row: &Row, column: usize) -> Result<Option<Cents>, OpError> {
    Ok(row.try_get::<_, Option<i64>>(column)?.map(Cents))
}

/// A text enum read with its `from_db` parser; an unknown spelling is an error.
pub(crate) fn text_enum<T>(
    row: &Row,
    column: usize,
    parse: fn(&str) -> Option<T>,
) -> Result<T, OpError> {
    let text: &str = row.try_get(column)?;
    parse(text).ok_or_else(|| OpError::unexpected(format!("unexpected value {text:?}")))
}

/// A count for a parameter.
pub(crate) fn int(value: impl Into<u64>) -> i64 {
    i64::try_from(value.into()).unwrap_or(i64::MAX)
}
