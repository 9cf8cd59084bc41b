//! Streaming stored balance results out, one row at a time, for the CSV export.
//!
//! [`Store::stream_results`] hands each selected row to a [`ResultSink`] as the backend
//! produces it, on the backend's thread (for SQLite, the blocking thread that runs the
//! query on a read connection: a consistent snapshot, beside the writer thanks to WAL).
//! Nothing collects the rows: memory stays the same whether the selection has ten rows
//! or ten million. Each row borrows its text from the backend, which allocates nothing
//! per row. A backend implements [`Export`], which streams into a boxed [`RowSink`];
//! `stream_results` wraps the caller's sink in one and takes it back at the end.
//!
//! Which rows: the `retrieved` results, the ones Rightfoot returned a balance or a
//! status code for. `not_retrieved` and `rejected` rows are not balance results and
//! Rightfoot's export would not list them either; `history` and `runs show` do. A
//! result stored once is streamed once: a chunk that Rightfoot answered from its 24-hour
//! cache holds no results of its own, so selecting a run streams the results of the
//! chunks it links to, and selecting a monitor streams each stored result once.
//!
//! The order is the order of the index that answers the selection, so that the database
//! never sorts (a sort of millions of rows would spill to temporary files): for SQLite,
//! by stored row for everything, by chunk for a run or a list of batches, by run and
//! authorizer id for a monitor (see `sqlite/export.rs`).
//!
//! This module does not format anything: the sink does (see `report::export_csv`).

use std::any::Any;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::Store;
use super::error::StoreError;
use super::types::{MonitorId, RunId};
use crate::domain::Cents;

/// Which results to stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportScope {
    /// Every stored result.
    All,
    /// The results a run received: those stored under its own chunks, and those of the
    /// earlier chunks its cached chunks link to.
    Run(RunId),
    /// The results stored under the monitor's runs.
    Monitor(MonitorId),
    /// The results of these Rightfoot batch ids.
    RightfootBatches(Vec<String>),
}

/// A selection of results: a scope and an optional time window on Rightfoot's
/// `timestamp` of each result (`since` inclusive, `until` exclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportQuery {
    pub scope: ExportScope,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// One result as the export sees it. The text borrows from the query's current row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportedResult<'a> {
    pub authorizer_unique_id: &'a str,
    pub rightfoot_batch_id: &'a str,
    /// `None` when Rightfoot could not read the balance.
    pub balance: Option<Cents>,
    pub balance_status_code: i64,
    /// Rightfoot's `timestamp` for the result.
    pub retrieved_at: DateTime<Utc>,
}

/// Where streamed rows go. It runs on the blocking thread that runs the query, so it
/// may block (write a file, a pipe); returning an error stops the stream.
pub trait ResultSink: Send + 'static {
    type Error: Send + 'static;

    fn write_result(&mut self, row: &ExportedResult<'_>) -> Result<(), Self::Error>;
}

/// Why a stream stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError<E> {
    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("no batch with Rightfoot batch id {} is recorded", quoted(.0))]
    UnknownBatches(Vec<String>),

    /// The sink failed; the rows before were written.
    #[error("the export stopped")]
    Sink(E),
}

fn quoted(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("{id:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The object-safe form of a [`ResultSink`]: what a backend streams into.
/// [`Store::stream_results`] wraps the caller's sink in one.
pub trait RowSink: Send {
    /// Takes one row; `false` stops the stream (the sink keeps why).
    fn accept(&mut self, row: &ExportedResult<'_>) -> bool;

    /// The sink as `Any`, so that [`Store::stream_results`] can take its own back.
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

/// A boxed sink, handed to a backend and given back.
pub type BoxedSink = Box<dyn RowSink>;

/// Streaming results out.
pub trait Export: Send + Sync {
    /// Streams the results `query` selects into `sink`, and gives the sink back with the
    /// number of rows it accepted. A sink that refused a row comes back in
    /// [`ExportError::Sink`]. Fails with [`StoreError::NotFound`] for an unknown run
    /// and [`ExportError::UnknownBatches`] for Rightfoot batch ids never recorded.
    fn stream_rows(
        &self,
        query: ExportQuery,
        sink: BoxedSink,
    ) -> BoxFuture<'_, Result<(BoxedSink, u64), ExportError<BoxedSink>>>;
}

/// A caller's sink, with the error that stopped it.
struct CallerSink<S: ResultSink> {
    sink: S,
    error: Option<S::Error>,
}

impl<S: ResultSink> RowSink for CallerSink<S> {
    fn accept(&mut self, row: &ExportedResult<'_>) -> bool {
        match self.sink.write_result(row) {
            Ok(()) => true,
            Err(error) => {
                self.error = Some(error);
                false
            }
        }
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

impl<S: ResultSink> CallerSink<S> {
    fn take_back(sink: BoxedSink) -> CallerSink<S> {
        *sink
            .into_any()
            .downcast::<CallerSink<S>>()
            .expect("a backend gives back the sink it was given")
    }
}

impl Store {
    /// Streams the results `query` selects into `sink`, and gives the sink back with the
    /// number of rows written. Fails with [`StoreError::NotFound`] for an unknown run
    /// and [`ExportError::UnknownBatches`] for Rightfoot batch ids never recorded.
    pub async fn stream_results<S: ResultSink>(
        &self,
        query: ExportQuery,
        sink: S,
    ) -> Result<(S, u64), ExportError<S::Error>> {
        let boxed: BoxedSink = Box::new(CallerSink { sink, error: None });
        match self.stream_rows(query, boxed).await {
            Ok((sink, count)) => Ok((CallerSink::<S>::take_back(sink).sink, count)),
            Err(ExportError::Sink(sink)) => Err(ExportError::Sink(
                CallerSink::<S>::take_back(sink)
                    .error
                    .expect("a sink that stopped the stream kept its error"),
            )),
            Err(ExportError::Store(error)) => Err(ExportError::Store(error)),
            Err(ExportError::UnknownBatches(ids)) => Err(ExportError::UnknownBatches(ids)),
        }
    }
}
