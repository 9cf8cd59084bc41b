//! The CSV export as a byte stream: `GET /v1/balances/csv?batch_ids=a&batch_ids=b`.
//!
//! [`RightfootClient::export_balances_csv`] retries until the response headers arrive
//! with a success status, then hands back a [`CsvExport`] whose body is read chunk by
//! chunk, never buffered whole: exports can be large. A failure half-way through the
//! body is returned from the stream and not retried, since the caller has already
//! consumed part of it. A `403` (a batch that is not ours) is [`ApiError::Forbidden`].
//!
//! It names the export's columns ([`CSV_EXPORT_COLUMNS`]) for every writer of the
//! format, and does not parse the CSV or write files.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use reqwest::{Method, Response};

use super::client::RightfootClient;
use super::error::{ApiError, Redactor};
use super::retry::{Replay, with_retries};

/// The nine fixed columns of Rightfoot's CSV export, in its order; one `meta_<key>`
/// column per metadata key follows them, sorted. The sandbox's export, `export-csv` and
/// the local HTTP API's export write this header.
pub const CSV_EXPORT_COLUMNS: [&str; 9] = [
    "Authorizer ID",
    "Batch ID",
    "Institution",
    "Phone",
    "Zip",
    "Balance",
    "Status",
    "Creator",
    "Timestamp",
];

/// A CSV export whose body has not been read yet.
#[derive(Debug)]
pub struct CsvExport {
    response: Response,
    redactor: Redactor,
}

impl RightfootClient {
    /// Starts the CSV export of `batch_ids` (at least one). The download as a whole may
    /// take up to the configured `export_timeout`.
    pub async fn export_balances_csv<I, S>(&self, batch_ids: I) -> Result<CsvExport, ApiError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut url = self.endpoint(&["v1", "balances", "csv"]);
        let mut count = 0;
        {
            let mut query = url.query_pairs_mut();
            for id in batch_ids {
                query.append_pair("batch_ids", id.as_ref());
                count += 1;
            }
        }
        if count == 0 {
            return Err(ApiError::InvalidRequest(
                "a csv export needs at least one batch id".into(),
            ));
        }
        let redactor = self.redactor();
        let (response, _attempts) = with_retries(
            self.retry_policy(),
            Replay::Idempotent,
            "export balances csv",
            || {
                let request = self
                    .request(Method::GET, url.clone())
                    .timeout(self.export_timeout());
                self.attempt_head(request, redactor)
            },
        )
        .await?;
        Ok(CsvExport {
            response,
            redactor: redactor.clone(),
        })
    }
}

impl CsvExport {
    /// `Content-Type`, normally `text/csv; charset=utf-8`.
    pub fn content_type(&self) -> Option<&str> {
        header(&self.response, CONTENT_TYPE)
    }

    /// `Content-Disposition`, normally `attachment; filename="batch-export-<ts>.csv"`.
    pub fn content_disposition(&self) -> Option<&str> {
        header(&self.response, CONTENT_DISPOSITION)
    }

    /// The next chunk of the body as it arrives, or `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, ApiError> {
        self.response
            .chunk()
            .await
            .map_err(|e| ApiError::from_transport(e, &self.redactor))
    }

    /// The body as a stream of chunks.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, ApiError>> + Send + 'static {
        let redactor = self.redactor;
        self.response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| ApiError::from_transport(e, &redactor)))
    }
}

fn header(response: &Response, name: reqwest::header::HeaderName) -> Option<&str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}
