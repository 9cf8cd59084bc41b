//! The values that cross the store's boundary: ids, states and records.
//!
//! These are the store's own row types, separate from the API's wire models and from
//! the run's domain types, so that neither a JSON field rename nor a schema change leaks
//! across. They carry no SQL and no personal data: an authorizer appears only as its
//! `authorizer_unique_id`. The ids and states they are made of are the shared
//! vocabulary of [`crate::domain`], re-exported here as part of the store's interface.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::domain::Cents;
pub use crate::domain::{
    BatchRowId, BatchState, MonitorId, ResultOutcome, RunId, RunState, RunTrigger,
};

// The database spells states, outcomes and trigger kinds as the domain does (`as_str`,
// `kind_str`); these read them back from a row.

impl RunState {
    pub(crate) fn from_db(text: &str) -> Option<Self> {
        RunState::parse(text)
    }
}

impl BatchState {
    pub(crate) fn from_db(text: &str) -> Option<Self> {
        BatchState::parse(text)
    }
}

impl ResultOutcome {
    pub(crate) fn from_db(text: &str) -> Option<Self> {
        ResultOutcome::parse(text)
    }
}

impl RunTrigger {
    pub(crate) fn from_db(kind: &str, slot: Option<DateTime<Utc>>) -> Option<Self> {
        RunTrigger::from_kind(kind, slot)
    }
}

/// A run to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewRun {
    pub monitor: MonitorId,
    pub trigger: RunTrigger,
    /// When the run was made, on the caller's clock (the run's [`crate::clock::Clock`]),
    /// so that it agrees with `started_at` and `finished_at` under a time-lapse or test
    /// clock.
    pub created_at: DateTime<Utc>,
}

/// One run as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRecord {
    pub id: RunId,
    pub monitor: MonitorId,
    pub monitor_name: String,
    pub trigger: RunTrigger,
    pub state: RunState,
    pub served_from_cache: bool,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

/// A chunk of a run as stored, with counts of its members and of the results known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchRecord {
    pub id: BatchRowId,
    pub run: RunId,
    pub chunk_index: u32,
    /// SHA-256 of the request body, lowercase hex.
    pub body_sha256: String,
    pub state: BatchState,
    pub rightfoot_batch_id: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub accepted: Option<u32>,
    pub deadline: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    /// How many authorizers were sent in this chunk.
    pub members: u32,
    /// How many of them have a result row of any outcome.
    pub results: u32,
    /// When the body was first POSTed, on the run's clock; `None` if it never was
    /// (planned, not yet sent). See [`Store::record_first_attempt`](super::BatchJournal::record_first_attempt).
    pub first_attempt_at: Option<DateTime<Utc>>,
    /// The earlier chunk that first recorded the same Rightfoot batch id, when
    /// Rightfoot answered this one from its 24-hour body cache: that chunk holds the
    /// results, this one holds none of its own.
    pub cached_from: Option<BatchRef>,
    /// When the chunk reached its end (`complete`, `unknown` or `failed`): its results
    /// read, or the run stopped waiting for them.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A chunk and the run it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchRef {
    pub run: RunId,
    pub batch: BatchRowId,
}

impl BatchRef {
    /// The chunk a row links to, from its nullable id and run columns.
    pub(crate) fn linked(batch: Option<i64>, run: Option<i64>) -> Option<BatchRef> {
        match (batch, run) {
            (Some(batch), Some(run)) => Some(BatchRef {
                batch: BatchRowId(batch),
                run: RunId(run),
            }),
            _ => None,
        }
    }
}

/// An authorizer that pre-flight validation kept out of a run. Holds no personal data:
/// the id, where the row was defined, and the API's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreflightRejection {
    /// Empty when the row had no usable id.
    pub authorizer_unique_id: String,
    /// Where the row was defined: `file:line:column` or `file row N`.
    pub source: String,
    /// The API's validation message, such as `Missing date of birth for authorizer(s).`
    pub reason: String,
}

/// One chunk of a run's plan: the SHA-256 of its exact request body and its members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedChunk {
    pub body_sha256: [u8; 32],
    pub members: Vec<String>,
}

/// Everything a run decided before sending anything, written in one transaction by
/// [`Store::start_run`](super::RunJournal::start_run).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunPlan {
    pub rejected: Vec<PreflightRejection>,
    /// Chunk `i` of the plan becomes chunk index `i`.
    pub chunks: Vec<PlannedChunk>,
}

/// How far one chunk's results have come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchResultCounts {
    pub members: u32,
    pub retrieved: u32,
    pub rejected: u32,
    pub not_retrieved: u32,
}

impl BatchResultCounts {
    /// A chunk of `members` with no result yet.
    pub(crate) fn of_members(members: u32) -> BatchResultCounts {
        BatchResultCounts {
            members,
            ..BatchResultCounts::default()
        }
    }

    /// Sets the count of `outcome`.
    pub(crate) fn set(&mut self, outcome: ResultOutcome, number: u32) {
        match outcome {
            ResultOutcome::Retrieved => self.retrieved = number,
            ResultOutcome::Rejected => self.rejected = number,
            ResultOutcome::NotRetrieved => self.not_retrieved = number,
        }
    }

    /// Members with no result row of any outcome yet.
    pub fn without_result(&self) -> u32 {
        self.members
            .saturating_sub(self.retrieved + self.rejected + self.not_retrieved)
    }
}

/// What a run's rows add up to: the store counts, the run decides what they mean.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunTally {
    /// Authorizers in the run's chunks.
    pub members: u32,
    /// Sum of the accepted counts of the chunks Rightfoot answered.
    pub accepted: u32,
    pub preflight_rejected: u32,
    /// Members with a `rejected` result (Rightfoot's `failed_authorizers`).
    pub api_rejected: u32,
    /// `retrieved` results with status code 0.
    pub succeeded: u32,
    /// `retrieved` results with any other code, by code.
    pub failed_by_code: BTreeMap<i64, u32>,
    pub not_retrieved: u32,
    /// Members of chunks served from the cache (`cached_from` set) without a result row
    /// of this run: their results are the earlier chunk's.
    pub cached: u32,
    /// Members of other chunks that have no result row yet.
    pub awaiting: u32,
    /// Chunks by state.
    pub chunks: BTreeMap<&'static str, u32>,
}

impl RunTally {
    /// Counts `number` retrieved results with balance status `code`.
    pub(crate) fn add_status(&mut self, code: i64, number: u32) {
        if code == 0 {
            self.succeeded = number;
        } else {
            self.failed_by_code.insert(code, number);
        }
    }

    /// Chunks in `state`.
    pub fn chunks_in(&self, state: BatchState) -> u32 {
        self.chunks.get(state.as_str()).copied().unwrap_or(0)
    }

    /// `retrieved` results of any status code.
    pub fn retrieved(&self) -> u32 {
        self.succeeded + self.failed_by_code.values().sum::<u32>()
    }
}

/// A run that has not reached a final state, with its chunks: what a restart resumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnfinishedRun {
    pub run: RunRecord,
    pub batches: Vec<BatchRecord>,
}

/// An authorizer that Rightfoot refused at submission, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedAuthorizer {
    pub authorizer_unique_id: String,
    pub reason: String,
}

/// What Rightfoot's 201 said about a chunk, and how long the run will wait for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchSubmitted {
    pub rightfoot_batch_id: String,
    /// Rightfoot's `submitted_at`.
    pub submitted_at: DateTime<Utc>,
    /// Authorizers Rightfoot accepted: members minus `failed`.
    pub accepted: u32,
    pub failed: Vec<FailedAuthorizer>,
    pub deadline: DateTime<Utc>,
}

/// One balance as Rightfoot returned it in a results page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultRow {
    pub authorizer_unique_id: String,
    /// `None` when Rightfoot could not read the balance.
    pub balance: Option<Cents>,
    /// Rightfoot's `balance_status_code`: 0 is success; any other value is kept as is.
    pub balance_status_code: i64,
    /// Rightfoot's `timestamp`.
    pub retrieved_at: DateTime<Utc>,
}

/// What one call to `upsert_results` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpsertOutcome {
    /// Rows inserted, or changed because the result differs from the one stored.
    pub written: usize,
    /// Rows identical to the stored result: nothing was written.
    pub unchanged: usize,
    /// Ids that are not members of the batch; nothing was stored for them.
    pub not_members: Vec<String>,
}

impl UpsertOutcome {
    /// Counts one member's row: `written` when the statement changed it.
    pub(crate) fn count(&mut self, written: bool) {
        if written {
            self.written += 1;
        } else {
            self.unchanged += 1;
        }
    }
}

/// One entry of an authorizer's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub run: RunId,
    pub monitor_name: String,
    pub outcome: ResultOutcome,
    pub balance: Option<Cents>,
    pub balance_status_code: Option<i64>,
    pub retrieved_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

/// Where a monitor's schedule stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduleState {
    /// The latest cron slot seen (run, or recorded as missed or skipped). Before the
    /// first slot, the scheduler stores the instant it first saw the monitor here, so
    /// that slots after that instant are never silently lost.
    pub last_slot: DateTime<Utc>,
    /// The run created for a slot, if any.
    pub last_run: Option<RunId>,
}
