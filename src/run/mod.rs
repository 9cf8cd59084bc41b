//! One run of a monitor: a durable state machine in SQLite that survives crashes.
//!
//! A run checks every authorizer of one monitor once. Each step is written to the
//! store before the side effect it enables, so a crash at any point leaves a state
//! that [`resume`] continues from without checking anyone twice or losing a result:
//!
//! ```text
//! run:    pending ──plan──► running ──all chunks ended──► complete | partial | failed
//! chunk:  submitting ──POST, 201 recorded──► submitted ──► reading ──► complete
//!              │                                  └─ batch already recorded (cache) ─► complete
//!              └─ cannot be sent safely / answer unknown ──► unknown | failed
//! ```
//!
//! - **Plan** (`pending → running`, one transaction, nothing sent before it): the
//!   monitor's authorizer file is re-read (a CSV file indexed: ids and byte offsets,
//!   with the file's size, modification time and SHA-256; `load.rs`), pre-flight
//!   rejections are recorded with their reason and origin (never their data), and the
//!   valid authorizers, sorted by id, are cut into chunks of `max_batch_size`, each
//!   recorded `submitting` with the SHA-256 of its exact body and its members
//!   ([`plan`]). The judgement's metadata fields are stored as the plan reads each
//!   chunk, before anything is sent.
//! - **The file changing under the plan**: a chunk's records are read again from the
//!   file when it is sent. If the file's size or modification time differs, or the
//!   bytes read do not hash to the chunk's recorded SHA-256, that chunk and every
//!   chunk not yet sent are closed `failed` (`not sent: the authorizers file … changed
//!   since the run was planned`), chunks already sent are read to their end, and the
//!   run ends `failed` with that reason first. Nothing is sent from the changed file
//!   under the old plan; the next run plans from the file as it is then, and its
//!   unchanged chunks are answered from Rightfoot's 24-hour cache.
//! - **Chunks** (`chunk.rs` sends, `read.rs` reads): at most `max_in_flight_batches`
//!   chunks are between their POST and their end at once (one [`InFlightLimit`] shared
//!   by every run of the daemon, resized in place on reload, `in_flight.rs`). Results
//!   are upserted page by page; polling follows `poll_interval` on the [`Clock`]; a
//!   chunk ends when its results reach the accepted count, or at
//!   `submitted_at + result_deadline`, when the missing members are recorded
//!   `not_retrieved`.
//! - **End** (`finish.rs`): the final state and reason follow from the stored counts.
//!   The run returns a [`RunOutcome`]: its summary. The lender's fields its judgement
//!   needs are in the store (so that a resumed or crashed run is judged with its own
//!   list's fields), read a part at a time by the judgement.
//!
//! # Rightfoot's 24-hour body cache
//!
//! An identical body within 24 hours gets the first `201` back. That makes resending a
//! chunk after a crash safe, so the run always sends a chunk's exact bytes, and never
//! resends once the first attempt is older than the cache window (the client's
//! `post_retry_window`, 23 h by default: 24 h less an hour for clock skew). It also
//! means a list checked twice within 24 hours gets the old batch back. What is stored:
//!
//! - **The batch id was already recorded by another chunk** (of an earlier run, or of
//!   a run racing this one: the first to record the id owns it). The chunk is linked
//!   to that chunk (`cached_from`), its rejections are recorded (they are Rightfoot's
//!   answer to this run's POST), but **no results are copied**: the owner holds them,
//!   so an authorizer's history counts the check once, and those members count as
//!   `cached`. One exception keeps every result: if the owner's chunk is `complete`
//!   with members it never got a result for (its run gave up at the deadline), this
//!   chunk reads the batch for those members only and stores them as its own results
//!   (the owner has `not_retrieved` for them, so nothing is counted twice); the ones
//!   still missing at this chunk's deadline are `not_retrieved` here too. While the
//!   owner is still being read (its run is going, in this process or another), this
//!   chunk waits for it, checking the store every `poll_interval` up to its own
//!   deadline: it never completes before the results it counts as `cached` exist, so
//!   its run is never judged as having none of them.
//! - **The batch id is new to this database but `submitted_at` is older than the run**
//!   (by more than [`RunSettings::clock_skew_allowance`]). The results are not in this
//!   history yet, so they are read and stored as usual, with Rightfoot's timestamps.
//!
//! Either way the run is flagged `served_from_cache`, a warning is logged, and the
//! reason says so.
//!
//! # Recovery
//!
//! [`resume_unfinished`] (at start-up, before any new run) continues every run the
//! store lists as unfinished: a `pending` run is planned afresh; a chunk with a batch
//! id resumes reading; a chunk in `submitting` is sent again with identical bytes,
//! rebuilt from the current authorizer file by its stored members and checked against
//! its stored SHA-256 (each body rebuilt when its turn to be sent comes, from the file
//! indexed again). If the bytes differ (the file or the webhook URL changed), the
//! chunk is never sent with other data: it becomes `unknown` if it may have been sent
//! before, `failed` if it certainly was not. A chunk first sent longer ago than the
//! cache window is `unknown`, never resent.
//!
//! # One run per monitor
//!
//! [`execute`] and [`resume`] hold the monitor's run lease in the store while the run
//! is driven (`lease.rs`): a new run of a monitor another run holds is refused with
//! [`RunError::MonitorBusy`] before anything is created, and a resumed run waits for
//! the lease. So two runs of one monitor never overlap, even from two processes.
//!
//! # Cancellation
//!
//! On cancel, no new chunk starts, waits and result reads stop, and a POST already in
//! flight is allowed to finish so that its `201` is recorded. Every chunk then rests at
//! a durable step, and the run returns [`RunError::Cancelled`]; [`resume`] continues it.
//!
//! This module owns the run's steps and its decisions (what is complete, what is
//! cached, what is safe to resend). It does not schedule runs (the scheduler), choose
//! slots, evaluate alert rules, parse configuration, or speak HTTP itself (the
//! [`RightfootClient`] does). Log lines carry counts and ids, never personal data.

mod chunk;
mod debits;
mod finish;
mod in_flight;
mod lease;
mod load;
pub mod plan;
mod read;
pub mod unsuccessful;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use finish::RunSummary;
pub use in_flight::{InFlightLimit, InFlightSlot};
pub use lease::{LEASE_TTL, MonitorBusy, MonitorLease, RENEW_EVERY, Superseded, holder};
pub use plan::{Chunk, Plan};

use chunk::{Body, ChunkEnd, ChunkWork, RunInProgress};
use load::{load, load_due, plan_and_keep_fields};
use plan::CurrentList;

use crate::clock::Clock;
#[cfg(test)]
use crate::config::CompletionWebhook;
use crate::config::{Monitor, RightfootConfig, RuleKind};
use crate::domain::{BatchState, RunId, RunState, RunTrigger};
use crate::rightfoot::RightfootClient;
use crate::secret::Secret;
use crate::store::{BatchRecord, NewRun, RunRecord, RunStateChange, Store, StoreError};

pub use crate::http::WEBHOOK_TOKEN_PARAMETER;

/// The default [`RunSettings::clock_skew_allowance`].
pub const DEFAULT_CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(5 * 60);

/// How runs behave, from the `rightfoot:` section of the configuration.
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// How often a submitted chunk is polled for results.
    pub poll_interval: Duration,
    /// How long after `submitted_at` results are awaited; also how long a submission
    /// that gets no answer is retried.
    pub result_deadline: Duration,
    /// Authorizers per chunk (Rightfoot takes at most 1,000).
    pub max_batch_size: usize,
    /// Chunks between their POST and their end at once, across every run sharing the
    /// context's [`InFlightLimit`].
    pub max_in_flight_batches: usize,
    /// The `webhook_url` put in every request body. It is part of the bytes, so a
    /// changed URL or token makes a chunk planned before the change unsendable.
    pub webhook_url: Option<Secret>,
    /// How much older than the run's start Rightfoot's `submitted_at` may be (clock
    /// skew) before the batch is taken for one served from the cache.
    pub clock_skew_allowance: Duration,
}

impl RunSettings {
    /// The settings the configuration asks for. The webhook URL is the configured
    /// `public_url` with the token added as the [`WEBHOOK_TOKEN_PARAMETER`] query
    /// parameter.
    pub fn from_config(config: &RightfootConfig) -> RunSettings {
        let webhook_url = config.completion_webhook.as_ref().map(|hook| {
            Secret::new(crate::http::completion_webhook_url(
                &hook.public_url,
                &hook.token,
            ))
        });
        RunSettings {
            poll_interval: config.poll_interval,
            result_deadline: config.result_deadline,
            max_batch_size: config.max_batch_size,
            max_in_flight_batches: config.max_in_flight_batches,
            webhook_url,
            clock_skew_allowance: DEFAULT_CLOCK_SKEW_ALLOWANCE,
        }
    }
}

/// What every run needs. The daemon builds one from the live configuration for each run
/// (see `daemon::live`); every context it builds shares one [`InFlightLimit`], which a
/// reload resizes. Cheap to clone; clones share the in-flight bound.
#[derive(Clone, Debug)]
pub struct RunContext {
    pub store: Store,
    pub client: RightfootClient,
    /// Every wall-clock read and wait of a run goes through it.
    pub clock: Clock,
    pub settings: RunSettings,
    /// The configuration file, which inline authorizer lists are read from and which
    /// errors about them name.
    pub config_file: PathBuf,
    /// Completion webhooks wake the reader of their batch through this; polling at
    /// `poll_interval` remains the fallback.
    pub completions: crate::completions::Completions,
    /// At most `max_in_flight_batches` chunks in flight, across every run sharing it.
    pub in_flight: InFlightLimit,
    /// The daemons that led before this one: their run leases are taken over at once.
    pub superseded: Superseded,
}

/// The lender's metadata (`meta_*` columns) of the authorizers of one list, by id.
pub use crate::authorizers::metadata::MetadataById;

/// What a run came to. The lender's fields its judgement needs are in the store (the
/// plan wrote them before anything was sent), for the judgement to read a part at a
/// time.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub summary: RunSummary,
}

/// The metadata fields judging `monitor`'s runs reads: the `below_payment` rules'
/// fields and the `alert_fields`. Configuration validation keeps personal field names
/// out of both, so these alone may be stored.
pub fn judgement_fields(monitor: &Monitor) -> Vec<String> {
    let mut fields: Vec<String> = monitor
        .rules
        .iter()
        .filter_map(|rule| match &rule.kind {
            RuleKind::BelowPayment { field, .. } => Some(field.clone()),
            _ => None,
        })
        .chain(monitor.alert_fields.iter().cloned())
        .collect();
    fields.sort();
    fields.dedup();
    fields
}

impl RunContext {
    pub fn new(
        store: Store,
        client: RightfootClient,
        clock: Clock,
        settings: RunSettings,
        config_file: PathBuf,
    ) -> RunContext {
        RunContext {
            in_flight: InFlightLimit::new(settings.max_in_flight_batches),
            store,
            client,
            clock,
            settings,
            config_file,
            completions: crate::completions::Completions::default(),
            superseded: Superseded::default(),
        }
    }
}

/// Why a run did not reach a final state. A run that ends `failed` is not an error:
/// its [`RunSummary`] says why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The store failed (disk full, locked, closed...). The run stays unfinished and
    /// resumes from its last durable step.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Cancelled: every chunk rests at a durable step and [`resume`] continues it.
    #[error("{run} was interrupted at a resumable step; it continues when resumed")]
    Cancelled { run: RunId },
    #[error("{run} does not exist")]
    NotFound { run: RunId },
    /// Another run of the monitor holds its lease: nothing was created or sent.
    #[error("{0}")]
    MonitorBusy(MonitorBusy),
    /// [`resume`] was given another monitor than the run's.
    #[error("{run} belongs to monitor {expected:?}, not {given:?}")]
    WrongMonitor {
        run: RunId,
        expected: String,
        given: String,
    },
    /// The store holds something the run cannot continue from.
    #[error("{run}: {message}")]
    Inconsistent { run: RunId, message: String },
}

/// Creates a run of `monitor` for `trigger` and drives it to its end, holding the
/// monitor's run lease throughout. Judging it is the caller's (the daemon's pipeline).
///
/// While another run of the monitor holds the lease, nothing is created and
/// [`RunError::MonitorBusy`] names that run. A scheduled or catch-up slot that already
/// has a run fails with [`StoreError::SlotTaken`] (inside [`RunError::Store`]). On
/// cancellation the run is left resumable and [`RunError::Cancelled`] is returned.
pub async fn execute(
    ctx: &RunContext,
    monitor: &Monitor,
    trigger: RunTrigger,
    cancel: CancellationToken,
) -> Result<RunOutcome, RunError> {
    let monitor_id = ctx.store.ensure_monitor(&monitor.name).await?;
    let lease = MonitorLease::take(&ctx.store, monitor_id, &monitor.name, None, &ctx.superseded)
        .await?
        .map_err(RunError::MonitorBusy)?;
    let outcome = async {
        let run = ctx
            .store
            .create_run(NewRun {
                created_at: ctx.clock.now(),
                monitor: monitor_id,
                trigger,
            })
            .await?;
        lease.cover(run).await?;
        resume_leased(ctx, Some(monitor), run, cancel).await
    }
    .await;
    lease.release().await;
    outcome
}

/// Drives an existing run from wherever it stands to its end: plans a `pending` run,
/// continues a `running` one, and returns the summary of one already finished.
///
/// `monitor` is the run's monitor as now configured; `None` if it is no longer in the
/// configuration, in which case chunks with a batch id are still read but nothing is
/// (re)sent. An unfinished run holds its monitor's run lease while it is driven,
/// waiting for it while another live process holds it.
pub async fn resume(
    ctx: &RunContext,
    monitor: Option<&Monitor>,
    run: RunId,
    cancel: CancellationToken,
) -> Result<RunOutcome, RunError> {
    let Some(record) = ctx.store.run(run).await? else {
        return Err(RunError::NotFound { run });
    };
    if record.state.is_final() {
        return resume_leased(ctx, monitor, run, cancel).await;
    }
    let Some(lease) = MonitorLease::take_waiting(
        &ctx.store,
        record.monitor,
        &record.monitor_name,
        run,
        &ctx.superseded,
        &cancel,
    )
    .await?
    else {
        return Err(RunError::Cancelled { run });
    };
    let outcome = async {
        lease.cover(run).await?;
        resume_leased(ctx, monitor, run, cancel).await
    }
    .await;
    lease.release().await;
    outcome
}

/// [`resume`] for a caller that holds the run's monitor lease.
async fn resume_leased(
    ctx: &RunContext,
    monitor: Option<&Monitor>,
    run: RunId,
    cancel: CancellationToken,
) -> Result<RunOutcome, RunError> {
    let record = ctx
        .store
        .run(run)
        .await?
        .ok_or(RunError::NotFound { run })?;
    if let Some(monitor) = monitor
        && monitor.name != record.monitor_name
    {
        return Err(RunError::WrongMonitor {
            run,
            expected: record.monitor_name,
            given: monitor.name.clone(),
        });
    }
    if record.state.is_final() {
        let summary = finish::finish(&ctx.store, run, ctx.clock.now(), None).await?;
        return Ok(RunOutcome { summary });
    }
    drive(ctx, monitor, record, &cancel).await
}

/// Resumes every unfinished run in the store, concurrently, matching each to its
/// monitor in `monitors` by name. Call it once at start-up, before any new run.
///
/// Returns each run's outcome; only a failure to list the runs is an error.
pub async fn resume_unfinished(
    ctx: &RunContext,
    monitors: &[Monitor],
    cancel: CancellationToken,
) -> Result<Vec<(RunId, Result<RunOutcome, RunError>)>, RunError> {
    let unfinished = ctx.store.unfinished_runs().await?;
    let resumes = unfinished.into_iter().map(|unfinished| {
        let run = unfinished.run.id;
        let monitor = monitors
            .iter()
            .find(|monitor| monitor.name == unfinished.run.monitor_name);
        let cancel = cancel.clone();
        async move { (run, resume(ctx, monitor, run, cancel).await) }
    });
    Ok(futures_util::future::join_all(resumes).await)
}

/// Marks a run that sent nothing failed for `reason`, and finishes it.
async fn fail_unsent(ctx: &RunContext, run: RunId, reason: String) -> Result<RunSummary, RunError> {
    ctx.store
        .set_run_state(
            run,
            RunStateChange::new(RunState::Failed, ctx.clock.now()).because(reason),
        )
        .await?;
    finish::finish(&ctx.store, run, ctx.clock.now(), None).await
}

async fn drive(
    ctx: &RunContext,
    monitor: Option<&Monitor>,
    mut record: RunRecord,
    cancel: &CancellationToken,
) -> Result<RunOutcome, RunError> {
    let run = record.id;
    let failed_early = |summary| RunOutcome { summary };
    // Chunks planned in this call, by index; the others' bodies are rebuilt.
    let mut planned: Vec<Option<Chunk>> = Vec::new();
    let mut due_list = None;
    if record.state == RunState::Pending {
        if cancel.is_cancelled() {
            return Err(RunError::Cancelled { run });
        }
        let Some(monitor) = monitor else {
            let reason = format!(
                "monitor {:?} is no longer in the configuration; nothing was sent",
                record.monitor_name
            );
            return fail_unsent(ctx, run, reason).await.map(failed_early);
        };
        let loaded =
            match &monitor.debits {
                None => load(ctx, &monitor.authorizers)
                    .await
                    .map_err(|error| format!("cannot load the authorizers: {error}")),
                Some(debits_config) => load_due(ctx, monitor, debits_config, &record).await.map(
                    |(list, due)| {
                        tracing::info!(monitor = %monitor.name, run = run.0, "{}", due.summary());
                        due_list = Some(due);
                        list
                    },
                ),
            };
        let list = match loaded {
            Ok(list) => list,
            Err(reason) => {
                tracing::warn!(monitor = %monitor.name, run = run.0, reason = %reason, "run failed");
                return fail_unsent(ctx, run, reason).await.map(failed_early);
            }
        };
        if let Some((file, identity)) = list.file() {
            tracing::info!(
                monitor = %monitor.name,
                run = run.0,
                file = %file.display(),
                bytes = identity.size,
                sha256 = %hex::encode(identity.sha256),
                "authorizers file indexed; records are read from it again as chunks are sent"
            );
        }
        let plan = match plan_and_keep_fields(ctx, monitor, run, list).await? {
            Ok(plan) => plan,
            Err(error) => {
                let reason = format!("{error}; nothing was sent");
                tracing::warn!(monitor = %monitor.name, run = run.0, reason = %reason, "run failed");
                return fail_unsent(ctx, run, reason).await.map(failed_early);
            }
        };
        for warning in &plan.warnings {
            tracing::warn!(monitor = %monitor.name, run = run.0, "{warning}");
        }
        ctx.store
            .start_run(run, ctx.clock.now(), plan.to_store_plan())
            .await?;
        tracing::info!(
            monitor = %monitor.name,
            run = run.0,
            trigger = %record.trigger,
            authorizers = plan.members() + plan.rejected.len(),
            rejected_preflight = plan.rejected.len(),
            chunks = plan.chunks.len(),
            "run started"
        );
        planned = plan.chunks.into_iter().map(Some).collect();
        record = ctx
            .store
            .run(run)
            .await?
            .ok_or(RunError::NotFound { run })?;
    } else {
        if record.state == RunState::Interrupted {
            // Stopped by the operator; back to running from the batches it submitted.
            ctx.store
                .set_run_state(run, RunStateChange::new(RunState::Running, ctx.clock.now()))
                .await?;
        }
        tracing::info!(monitor = %record.monitor_name, run = run.0, "run resumed");
    }
    let in_progress = RunInProgress {
        ctx,
        run,
        monitor: &record.monitor_name,
        started_at: record.started_at.unwrap_or(record.created_at),
        cancel,
        stopped: std::sync::OnceLock::new(),
    };
    let batches = ctx.store.run_batches(run).await?;
    let work = prepare(&in_progress, monitor, batches, planned).await?;
    let ends =
        futures_util::future::try_join_all(work.into_iter().map(|w| in_progress.drive_chunk(w)))
            .await?;
    if ends.contains(&ChunkEnd::Interrupted) {
        tracing::info!(monitor = %record.monitor_name, run = run.0, "run interrupted at a resumable step");
        return Err(RunError::Cancelled { run });
    }
    let summary = finish::finish(
        &ctx.store,
        run,
        ctx.clock.now(),
        in_progress.stopped.get().cloned(),
    )
    .await?;
    match (monitor.and_then(|m| m.debits.as_ref()), &due_list) {
        (Some(debits), Some(list)) => {
            let [send, hold, unknown] =
                debits::decide_and_record(&ctx.store, debits, run, list).await?;
            tracing::info!(monitor = %record.monitor_name, run = run.0, send, hold, unknown, "debits due by {} decided", list.window.through);
        }
        (Some(_), None) => {
            tracing::warn!(monitor = %record.monitor_name, run = run.0, "a resumed run's debits are not decided");
        }
        _ => {}
    }
    Ok(RunOutcome { summary })
}

/// Decides what each chunk still needs. Chunks that already ended get their members
/// without a result recorded (a crash may have come between the two writes); chunks
/// in `submitting` get their body, planned now or rebuilt and checked, or are closed
/// if it cannot be had byte for byte. Reads come first: their deadlines are running.
async fn prepare(
    in_progress: &RunInProgress<'_>,
    monitor: Option<&Monitor>,
    batches: Vec<BatchRecord>,
    mut planned: Vec<Option<Chunk>>,
) -> Result<Vec<ChunkWork>, RunError> {
    let ctx = in_progress.ctx;
    let mut reads = Vec::new();
    let mut sends = Vec::new();
    // Loaded on the first chunk that needs rebuilding, at most once; each body is
    // rebuilt when its chunk's turn to be sent comes.
    let mut current: Option<Result<Arc<CurrentList>, String>> = None;
    for batch in batches {
        match batch.state {
            BatchState::Submitted | BatchState::Reading => reads.push(ChunkWork::Read { batch }),
            BatchState::Complete | BatchState::Unknown | BatchState::Failed => {
                if batch.cached_from.is_none() && batch.results < batch.members {
                    let reason = batch
                        .reason
                        .clone()
                        .unwrap_or_else(|| format!("chunk ended {}", batch.state));
                    ctx.store.mark_not_retrieved(batch.id, &reason).await?;
                }
            }
            BatchState::Submitting => {
                let index = batch.chunk_index as usize;
                if let Some(chunk) = planned.get_mut(index).and_then(Option::take) {
                    sends.push(ChunkWork::Send {
                        batch,
                        body: Body::Planned(chunk),
                    });
                    continue;
                }
                if current.is_none() {
                    current = Some(match monitor {
                        None => Err("its monitor is no longer in the configuration".to_string()),
                        Some(monitor) => load(ctx, &monitor.authorizers)
                            .await
                            .map(|list| Arc::new(CurrentList::new(list)))
                            .map_err(|error| format!("the authorizers cannot be loaded: {error}")),
                    });
                }
                match current.as_ref() {
                    Some(Ok(list)) => sends.push(ChunkWork::Send {
                        batch,
                        body: Body::Rebuild(Arc::clone(list)),
                    }),
                    Some(Err(why)) => in_progress.close_unbuildable(&batch, why).await?,
                    None => {
                        in_progress
                            .close_unbuildable(&batch, "the authorizers were not loaded")
                            .await?
                    }
                }
            }
        }
    }
    reads.extend(sends);
    Ok(reads)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rightfoot_config(webhook: Option<CompletionWebhook>) -> RightfootConfig {
        RightfootConfig {
            base_url: url::Url::parse("https://api.rightfoot.com").unwrap(),
            api_key: Secret::new("rf_live_unit"),
            api_key_source: "api_key_env: RIGHTFOOT_API_KEY".to_string(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_secs(45),
            result_deadline: Duration::from_secs(75 * 60),
            not_found_grace: Duration::from_secs(300),
            max_batch_size: 1000,
            max_in_flight_batches: 4,
            completion_webhook: webhook,
        }
    }

    #[test]
    fn settings_come_from_the_configuration_and_hide_the_webhook_token() {
        let settings = RunSettings::from_config(&rightfoot_config(Some(CompletionWebhook {
            public_url: url::Url::parse("https://monitor.lender.example/rightfoot/done").unwrap(),
            token: Secret::new("s3cr3t-token"),
        })));
        assert_eq!(settings.poll_interval, Duration::from_secs(45));
        assert_eq!(settings.result_deadline, Duration::from_secs(75 * 60));
        assert_eq!(
            (settings.max_batch_size, settings.max_in_flight_batches),
            (1000, 4)
        );
        assert_eq!(settings.clock_skew_allowance, DEFAULT_CLOCK_SKEW_ALLOWANCE);
        assert_eq!(
            settings.webhook_url.as_ref().map(Secret::expose),
            Some("https://monitor.lender.example/rightfoot/done?token=s3cr3t-token")
        );
        let shown = format!("{settings:?}");
        assert!(!shown.contains("s3cr3t-token"), "{shown}");
        assert!(
            RunSettings::from_config(&rightfoot_config(None))
                .webhook_url
                .is_none()
        );
    }
}
