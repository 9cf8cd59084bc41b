//! `balance-monitor export-csv`: stored results in Rightfoot's CSV export format,
//! streamed.
//!
//! The columns are those of `GET /v1/balances/csv`:
//! `Authorizer ID,Batch ID,Institution,Phone,Zip,Balance,Status,Creator,Timestamp`.
//! - `Batch ID` is Rightfoot's batch id; `Balance` is decimal dollars (`-83.68`), empty
//!   when the check returned none; `Status` is the export's name for the status code
//!   (`rightfoot::status`: `SUCCESS`, `NO_MATCH`, …); `Timestamp` is Rightfoot's time
//!   for the result, `2026-05-17T19:24:12+00:00` (to the second, as Rightfoot's export).
//! - `Institution`, `Phone`, `Zip` and `Creator` are always empty: the daemon never
//!   learns the institution (the results API does not return it), phone and zip are
//!   personal data it does not store, and `Creator` is empty for API submissions.
//! - Rightfoot appends one `meta_<key>` column per metadata key, sorted. The daemon
//!   keeps no metadata with its results (lender metadata may be personal; only a run's
//!   judgement fields, until it is judged), so there are none: the header is always the
//!   nine columns.
//!
//! Rows are what [`Store::stream_results`] streams (retrieved results only) and go
//! through the `csv` crate, which quotes a field holding a comma, a quote or a line
//! break (`"BATCH,1"`, `"say ""hi"""`) and nothing else; lines end with `\n`, as the
//! built-in sandbox's export does. Each row is written as it is read, through a 64 KiB
//! buffer, so memory does not grow with the number of rows.
//!
//! With `-o FILE` the export goes to a temporary file of mode 0600 beside `FILE`, renamed
//! over it once complete (see `private_file.rs`); an interrupted or failed export leaves
//! `FILE` as it was. SIGINT and SIGTERM stop it between two rows and remove the
//! temporary file. To standard output, a reader that goes away (`| head`) ends the
//! export quietly.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, anyhow};
use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::domain::BalanceStatus;
use crate::private_file::{PrivateFile, Replace};
use crate::rightfoot::CSV_EXPORT_COLUMNS;
use crate::store::{ExportError, ExportQuery, ExportedResult, ResultSink, Store};

/// Rows between two looks at the stop flag.
const STOP_CHECK_ROWS: u64 = 1024;
const BUFFER_BYTES: usize = 64 * 1024;

/// Where the export goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportOutput {
    Stdout,
    /// Written atomically, mode 0600, replacing an existing file.
    File(PathBuf),
}

/// Why a row could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("interrupted")]
    Interrupted,
}

/// Writes results as CSV rows into `W`.
pub struct CsvSink<W: Write> {
    writer: csv::Writer<W>,
    stop: Option<Arc<AtomicBool>>,
    rows: u64,
}

impl<W: Write> CsvSink<W> {
    /// Writes the header. A `stop` flag, once set, ends the export at the next check.
    pub fn new(out: W, stop: Option<Arc<AtomicBool>>) -> io::Result<CsvSink<W>> {
        let mut writer = csv::WriterBuilder::new()
            .buffer_capacity(BUFFER_BYTES)
            .from_writer(out);
        writer.write_record(CSV_EXPORT_COLUMNS)?;
        Ok(CsvSink {
            writer,
            stop,
            rows: 0,
        })
    }

    /// Rows written after the header.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes and gives the output back.
    pub fn finish(self) -> io::Result<W> {
        self.writer
            .into_inner()
            .map_err(|error| io::Error::new(error.error().kind(), error.to_string()))
    }

    fn write_row(&mut self, row: &ExportedResult<'_>) -> io::Result<()> {
        let mut balance = [0_u8; 24];
        let mut timestamp = [0_u8; 25];
        let status = BalanceStatus::from_code(row.balance_status_code).csv_status();
        let balance: &[u8] = match row.balance {
            Some(cents) => decimal(cents.0, &mut balance),
            None => b"",
        };
        let formatted;
        let timestamp: &[u8] = match second_timestamp(row.retrieved_at, &mut timestamp) {
            Some(bytes) => bytes,
            None => {
                formatted = row
                    .retrieved_at
                    .format("%Y-%m-%dT%H:%M:%S+00:00")
                    .to_string();
                formatted.as_bytes()
            }
        };
        self.writer.write_record([
            row.authorizer_unique_id.as_bytes(),
            row.rightfoot_batch_id.as_bytes(),
            b"",
            b"",
            b"",
            balance,
            status.as_str().as_bytes(),
            b"",
            timestamp,
        ])?;
        Ok(())
    }
}

impl<W: Write + Send + 'static> ResultSink for CsvSink<W> {
    type Error = SinkError;

    fn write_result(&mut self, row: &ExportedResult<'_>) -> Result<(), SinkError> {
        if self.rows.is_multiple_of(STOP_CHECK_ROWS)
            && self
                .stop
                .as_ref()
                .is_some_and(|stop| stop.load(Ordering::Relaxed))
        {
            return Err(SinkError::Interrupted);
        }
        self.write_row(row)?;
        self.rows += 1;
        Ok(())
    }
}

/// `cents` as `-1234.56`, written at the end of `buffer` (the same text as
/// `Cents::to_decimal_string`, without allocating).
fn decimal(cents: i64, buffer: &mut [u8; 24]) -> &[u8] {
    let mut rest = cents.unsigned_abs();
    let mut at = buffer.len();
    let mut put = |byte: u8| {
        at -= 1;
        buffer[at] = byte;
    };
    for _ in 0..2 {
        put(b'0' + (rest % 10) as u8);
        rest /= 10;
    }
    put(b'.');
    loop {
        put(b'0' + (rest % 10) as u8);
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if cents < 0 {
        put(b'-');
    }
    &buffer[at..]
}

/// `2026-05-17T19:24:12+00:00` into `buffer`, for years 0 to 9999.
fn second_timestamp(time: DateTime<Utc>, buffer: &mut [u8; 25]) -> Option<&[u8]> {
    let year = u32::try_from(time.year())
        .ok()
        .filter(|year| *year <= 9999)?;
    let mut at = 0;
    let mut put = |value: u32, digits: u32, then: u8| {
        for place in (0..digits).rev() {
            buffer[at] = b'0' + (value / 10_u32.pow(place) % 10) as u8;
            at += 1;
        }
        buffer[at] = then;
        at += 1;
    };
    put(year, 4, b'-');
    put(time.month(), 2, b'-');
    put(time.day(), 2, b'T');
    put(time.hour(), 2, b':');
    put(time.minute(), 2, b':');
    put(time.second(), 2, b'+');
    buffer[20..].copy_from_slice(b"00:00");
    Some(&buffer[..])
}

/// Streams `query` to `output` and returns the number of rows written.
pub async fn export(
    store: &Store,
    query: ExportQuery,
    output: ExportOutput,
) -> anyhow::Result<u64> {
    match output {
        ExportOutput::Stdout => {
            let sink = CsvSink::new(io::stdout(), None).context("cannot write to stdout")?;
            match store.stream_results(query, sink).await {
                Ok((sink, rows)) => match sink.finish() {
                    Ok(_) => Ok(rows),
                    Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(rows),
                    Err(error) => Err(anyhow::Error::new(error).context("cannot write to stdout")),
                },
                // The reader went away (`| head`): not a failure of the export.
                Err(ExportError::Sink(SinkError::Io(error)))
                    if error.kind() == io::ErrorKind::BrokenPipe =>
                {
                    Ok(0)
                }
                Err(error) => Err(describe(error, "stdout")),
            }
        }
        ExportOutput::File(path) => {
            let mut file = PrivateFile::create(&path)?;
            let handle = file
                .file()
                .try_clone()
                .with_context(|| format!("cannot write {}", path.display()))?;
            let stop = Arc::new(AtomicBool::new(false));
            let watcher = tokio::spawn({
                let stop = Arc::clone(&stop);
                async move {
                    crate::daemon::shutdown_signal().await;
                    stop.store(true, Ordering::Relaxed);
                }
            });
            let streamed = async {
                let sink = CsvSink::new(handle, Some(stop))
                    .with_context(|| format!("cannot write {}", path.display()))?;
                let (sink, rows) = store
                    .stream_results(query, sink)
                    .await
                    .map_err(|error| describe(error, &path.display().to_string()))?;
                sink.finish()
                    .with_context(|| format!("cannot write {}", path.display()))?;
                anyhow::Ok(rows)
            }
            .await;
            watcher.abort();
            // On failure, dropping `file` removes the temporary file.
            let rows = streamed?;
            file.commit(Replace::Allow)?;
            Ok(rows)
        }
    }
}

fn describe(error: ExportError<SinkError>, target: &str) -> anyhow::Error {
    match error {
        ExportError::Sink(SinkError::Interrupted) => {
            anyhow!("export interrupted; {target} was not written")
        }
        ExportError::Sink(SinkError::Io(error)) => {
            anyhow::Error::new(error).context(format!("cannot write {target}"))
        }
        other => anyhow::Error::new(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Cents;
    use chrono::TimeZone;

    #[test]
    fn the_header_is_rightfoots_nine_columns_in_order() {
        assert_eq!(
            CSV_EXPORT_COLUMNS.join(","),
            "Authorizer ID,Batch ID,Institution,Phone,Zip,Balance,Status,Creator,Timestamp"
        );
    }

    #[test]
    fn decimals_match_the_money_type_at_every_edge() {
        for cents in [
            0,
            7,
            -7,
            100,
            -8368,
            284_351,
            99_999_999,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            let mut buffer = [0; 24];
            assert_eq!(
                std::str::from_utf8(decimal(cents, &mut buffer)).unwrap(),
                Cents(cents).to_decimal_string(),
                "{cents}"
            );
        }
    }

    #[test]
    fn timestamps_are_rightfoots_shape_to_the_second() {
        let mut buffer = [0; 25];
        let time = Utc.with_ymd_and_hms(2026, 5, 7, 9, 4, 2).unwrap()
            + chrono::Duration::microseconds(999_999);
        assert_eq!(
            second_timestamp(time, &mut buffer),
            Some(&b"2026-05-07T09:04:02+00:00"[..])
        );
        assert_eq!(
            second_timestamp(
                Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
                &mut buffer
            ),
            None
        );
    }

    #[test]
    fn rows_are_quoted_only_where_needed_and_statuses_are_the_export_names() {
        let time = Utc.with_ymd_and_hms(2026, 5, 17, 19, 24, 12).unwrap();
        let mut sink = CsvSink::new(Vec::new(), None).unwrap();
        let rows = [
            ExportedResult {
                authorizer_unique_id: "authz-001",
                rightfoot_batch_id: "8ac1f4a6-1234-4abc-9d3e-001122334455",
                balance: Some(Cents(284_351)),
                balance_status_code: 0,
                retrieved_at: time,
            },
            ExportedResult {
                authorizer_unique_id: "say \"hi\"",
                rightfoot_batch_id: "BATCH,98765",
                balance: None,
                balance_status_code: 3400,
                retrieved_at: time,
            },
            ExportedResult {
                authorizer_unique_id: "line\nbreak",
                rightfoot_batch_id: "B-2",
                balance: Some(Cents(-8368)),
                balance_status_code: 4242,
                retrieved_at: time,
            },
        ];
        for row in &rows {
            sink.write_result(row).unwrap();
        }
        assert_eq!(sink.rows(), 3);
        let text = String::from_utf8(sink.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            "Authorizer ID,Batch ID,Institution,Phone,Zip,Balance,Status,Creator,Timestamp\n\
             authz-001,8ac1f4a6-1234-4abc-9d3e-001122334455,,,,2843.51,SUCCESS,,2026-05-17T19:24:12+00:00\n\
             \"say \"\"hi\"\"\",\"BATCH,98765\",,,,,NO_MATCH,,2026-05-17T19:24:12+00:00\n\
             \"line\nbreak\",B-2,,,,-83.68,RETRIEVAL_FAILED,,2026-05-17T19:24:12+00:00\n"
        );
        // And it reads back as the same fields.
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(&records[1][0], "say \"hi\"");
        assert_eq!(&records[1][1], "BATCH,98765");
        assert_eq!(&records[2][0], "line\nbreak");
    }

    #[test]
    fn a_set_stop_flag_ends_the_export_at_the_next_check() {
        let stop = Arc::new(AtomicBool::new(true));
        let mut sink = CsvSink::new(Vec::new(), Some(stop)).unwrap();
        let row = ExportedResult {
            authorizer_unique_id: "a",
            rightfoot_batch_id: "b",
            balance: None,
            balance_status_code: 0,
            retrieved_at: Utc.with_ymd_and_hms(2026, 5, 17, 19, 24, 12).unwrap(),
        };
        assert!(matches!(
            sink.write_result(&row),
            Err(SinkError::Interrupted)
        ));
        assert_eq!(sink.rows(), 0);
    }
}
