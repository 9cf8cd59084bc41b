//! A batch's results, page by page: `GET /v1/balances?batchId=&limit=&nextPageToken=`.
//!
//! [`BalancePages`] is a cursor: each [`BalancePages::next_page`] fetches one page (with
//! retries), so the caller can store each page before asking for the next, and stop
//! whenever it likes. [`BalancePages::into_stream`] is the same thing as a `Stream`.
//!
//! The cursor owns three rules:
//! - **End**: `has_more: false`, or a null, empty or absent cursor (under either name,
//!   `next_page_token` or `nextPageToken`), ends the results.
//! - **Loop guard**: a page whose cursor was already used, or fetching more than
//!   `ceil(accepted / limit) + page_slack` pages, is an error, never a hang.
//! - **Grace**: a 404 within `not_found_grace` of the batch's submission is "no results
//!   yet": one empty page marked [`Page::batch_not_found_yet`], then the end. After the
//!   grace it is [`ApiError::BatchNotFound`].
//!
//! It does not decide completeness (results reaching the accepted count, polling,
//! deadlines); the run that owns the batch does.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use futures_util::Stream;

use super::client::{RightfootClient, decode_json};
use super::error::ApiError;
use super::models::{BalanceRecordWire, BatchBalancesWire, money, timestamp};
use crate::domain::{BalanceStatus, Cents};

const WHAT: &str = "balance results page";

/// One authorizer's result in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceResult {
    pub authorizer_unique_id: String,
    /// Exact to the cent; `None` when the check failed. Negative means overdrawn.
    pub balance: Option<Cents>,
    /// `balance_status_code`, or the deprecated `status_code` when it is absent.
    pub status: BalanceStatus,
    /// When Rightfoot retrieved the balance, if it said.
    pub timestamp: Option<DateTime<Utc>>,
}

/// One page of a batch's results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// 1 for the first page this cursor fetched.
    pub number: u32,
    /// `batch_id` as the page reports it.
    pub batch_id: Option<String>,
    /// `total_processed` as the page reports it.
    pub total_processed: Option<u64>,
    pub results: Vec<BalanceResult>,
    /// Whether the cursor will fetch another page.
    pub has_more: bool,
    /// The cursor for the next page, if any; store it to resume with
    /// [`BalancePages::starting_after`].
    pub next_page_token: Option<String>,
    /// The batch answered 404 within the grace period: no results yet, poll again.
    pub batch_not_found_yet: bool,
}

/// A cursor over a batch's result pages. See the module documentation.
///
/// An error from a fetch (after retries) leaves the cursor where it was, so calling
/// [`BalancePages::next_page`] again retries that page; loop-guard and
/// not-found-after-grace errors are final and end the cursor.
#[derive(Debug)]
pub struct BalancePages {
    client: RightfootClient,
    batch_id: String,
    accepted: usize,
    submitted_at: DateTime<Utc>,
    limit: u32,
    max_pages: u32,
    token: Option<String>,
    seen_tokens: HashSet<String>,
    fetched: u32,
    /// Set when a page repeated a cursor: the next call reports it.
    repeated_on_page: Option<u32>,
    done: bool,
}

impl RightfootClient {
    /// A cursor over the results of `batch_id`.
    ///
    /// `accepted` (submitted minus failed rows) bounds the number of pages;
    /// `submitted_at` starts the 404 grace period. Pass the local time the `201` arrived
    /// (or Rightfoot's `submitted_at`, which is subject to clock skew). Nothing is sent
    /// until the first [`BalancePages::next_page`].
    pub fn balance_pages(
        &self,
        batch_id: &str,
        accepted: usize,
        submitted_at: DateTime<Utc>,
    ) -> BalancePages {
        let limit = self.page_limit();
        let full_pages = accepted.div_ceil(limit as usize);
        let max_pages = u32::try_from(full_pages)
            .unwrap_or(u32::MAX)
            .saturating_add(self.page_slack());
        BalancePages {
            client: self.clone(),
            batch_id: batch_id.to_string(),
            accepted,
            submitted_at,
            limit,
            max_pages,
            token: None,
            seen_tokens: HashSet::new(),
            fetched: 0,
            repeated_on_page: None,
            done: false,
        }
    }
}

impl BalancePages {
    /// Resumes after a page already read: the first request sends `token`.
    pub fn starting_after(mut self, token: impl Into<String>) -> BalancePages {
        let token = token.into();
        if !token.is_empty() {
            self.seen_tokens.insert(token.clone());
            self.token = Some(token);
        }
        self
    }

    /// The most pages this cursor will fetch.
    pub fn max_pages(&self) -> u32 {
        self.max_pages
    }

    /// Pages fetched so far.
    pub fn pages_fetched(&self) -> u32 {
        self.fetched
    }

    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Page>, ApiError> {
        if self.done {
            return Ok(None);
        }
        if let Some(page) = self.repeated_on_page {
            self.done = true;
            return Err(ApiError::PageTokenRepeated {
                batch_id: self.batch_id.clone(),
                page,
            });
        }
        if self.fetched >= self.max_pages {
            self.done = true;
            return Err(ApiError::TooManyPages {
                batch_id: self.batch_id.clone(),
                max_pages: self.max_pages,
                accepted: self.accepted,
            });
        }
        let mut url = self.client.endpoint(&["v1", "balances"]);
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("batchId", &self.batch_id)
                .append_pair("limit", &self.limit.to_string());
            if let Some(token) = &self.token {
                query.append_pair("nextPageToken", token);
            }
        }
        let body = match self.client.get_body(url, WHAT).await {
            Ok(body) => body,
            Err(ApiError::NotFound(envelope)) => {
                self.done = true;
                self.fetched += 1;
                let since = Utc::now().signed_duration_since(self.submitted_at);
                let grace = chrono::Duration::from_std(self.client.not_found_grace())
                    .unwrap_or(chrono::Duration::MAX);
                if since <= grace {
                    return Ok(Some(Page {
                        number: self.fetched,
                        batch_id: Some(self.batch_id.clone()),
                        total_processed: None,
                        results: Vec::new(),
                        has_more: false,
                        next_page_token: None,
                        batch_not_found_yet: true,
                    }));
                }
                return Err(ApiError::BatchNotFound {
                    batch_id: self.batch_id.clone(),
                    seconds_since_submission: since.num_seconds(),
                    envelope,
                });
            }
            Err(error) => return Err(error),
        };
        let parsed = parse_balances_page(&body)?;
        let next = parsed.next_page_token;
        self.fetched += 1;
        let has_more = next.is_some();
        if let Some(token) = next.clone() {
            if !self.seen_tokens.insert(token.clone()) {
                self.repeated_on_page = Some(self.fetched);
            }
            self.token = Some(token);
        } else {
            if parsed.said_more_without_token {
                tracing::warn!(
                    batch_id = %self.batch_id,
                    page = self.fetched,
                    "Rightfoot said has_more without a page token; treating the page as the last"
                );
            }
            self.done = true;
            self.token = None;
        }
        Ok(Some(Page {
            number: self.fetched,
            batch_id: parsed.batch_id,
            total_processed: parsed.total_processed,
            results: parsed.results,
            has_more,
            next_page_token: next,
            batch_not_found_yet: false,
        }))
    }

    /// The pages as a stream, which ends after the last page or after the first error.
    pub fn into_stream(self) -> impl Stream<Item = Result<Page, ApiError>> + Send + 'static {
        futures_util::stream::unfold(Some(self), |state| async move {
            let mut pages = state?;
            match pages.next_page().await {
                Ok(Some(page)) => Some((Ok(page), Some(pages))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        })
    }
}

/// One results page as its body says it, before the cursor's rules apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalancesPageBody {
    pub batch_id: Option<String>,
    pub total_processed: Option<u64>,
    pub results: Vec<BalanceResult>,
    /// The cursor for the next page, when the body has one and does not say
    /// `has_more: false`; `None` ends the results.
    pub next_page_token: Option<String>,
    /// `has_more: true` without a cursor (the cursor treats the page as the last).
    pub said_more_without_token: bool,
}

/// Parses the body of a `GET /v1/balances` answer: what [`BalancePages::next_page`]
/// does with the bytes it receives. Public so that it can be driven with arbitrary
/// bytes (the `rightfoot_responses` fuzz target); any input gives a page or an
/// [`ApiError::Decode`] that quotes no value but the authorizer id.
pub fn parse_balances_page(body: &[u8]) -> Result<BalancesPageBody, ApiError> {
    let wire: BatchBalancesWire = decode_json(body, WHAT)?;
    let next = wire.cursor();
    let results = wire
        .balances
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, record)| balance_result(index, record))
        .collect::<Result<Vec<_>, _>>()?;
    let has_more = wire.has_more.unwrap_or(next.is_some()) && next.is_some();
    Ok(BalancesPageBody {
        batch_id: wire.batch_id,
        total_processed: wire.total_processed,
        results,
        said_more_without_token: wire.has_more == Some(true) && next.is_none(),
        next_page_token: if has_more { next } else { None },
    })
}

/// A wire record → a result, or a decode error naming the row but none of its values.
fn balance_result(index: usize, record: BalanceRecordWire) -> Result<BalanceResult, ApiError> {
    let fail = |reason: String| ApiError::Decode { what: WHAT, reason };
    let id = record
        .authorizer_unique_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| fail(format!("balances[{index}] has no authorizer_unique_id")))?;
    let code = record
        .balance_status_code
        .or(record.status_code)
        .ok_or_else(|| {
            fail(format!(
                "the result for authorizer {id} has no balance_status_code"
            ))
        })?;
    let balance = match &record.balance {
        None => None,
        Some(raw) => Some(
            money(raw)
                .map_err(|e| fail(format!("the balance for authorizer {id} {}", e.describe())))?,
        ),
    };
    let timestamp = match record.timestamp.as_deref() {
        None | Some("") => None,
        Some(text) => Some(timestamp(text).ok_or_else(|| {
            fail(format!(
                "the timestamp for authorizer {id} is not a date and time"
            ))
        })?),
    };
    Ok(BalanceResult {
        authorizer_unique_id: id,
        balance,
        status: BalanceStatus::from_code(code),
        timestamp,
    })
}
