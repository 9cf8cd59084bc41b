//! A store backend for fault injection: it delegates every call to a real SQLite
//! store, and while its switch is on, fails every write (and the test write) with the
//! store's own disk-full error, as SQLite does on a full disk, without touching the
//! file. Reads keep working, as they do on a full disk.
//!
//! A trait method added to the store's interface needs one delegating line here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use balance_monitor::run::MetadataById;
use balance_monitor::store::*;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

/// Turns the disk-full fault on and off; shared with the store it was made with.
#[derive(Clone, Debug, Default)]
pub struct DiskFullSwitch {
    full: Arc<AtomicBool>,
    /// Fill the disk when a judgement is about to be committed.
    at_judgement: Arc<AtomicBool>,
}

impl DiskFullSwitch {
    /// The disk fills at the next judgement's commit, which fails.
    pub fn fill_at_next_judgement(&self) {
        self.at_judgement.store(true, Ordering::SeqCst);
    }

    pub fn fill(&self) {
        self.full.store(true, Ordering::SeqCst);
    }

    pub fn free(&self) {
        self.full.store(false, Ordering::SeqCst);
    }

    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::SeqCst)
    }
}

/// The SQLite store at `path`, behind a backend whose writes fail while `switch` is on.
pub fn open_faulty(path: &Path) -> (Store, DiskFullSwitch) {
    let switch = DiskFullSwitch::default();
    let backend = FaultyStore {
        inner: Store::open(path).expect("the test database opens"),
        path: path.to_path_buf(),
        switch: switch.clone(),
    };
    (Store::from_backend(Arc::new(backend)), switch)
}

struct FaultyStore {
    inner: Store,
    path: PathBuf,
    switch: DiskFullSwitch,
}

impl FaultyStore {
    /// The error a write gets now, if any.
    fn fault(&self) -> Result<(), StoreError> {
        match self.switch.is_full() {
            true => Err(StoreError::DiskFull {
                path: self.path.clone(),
            }),
            false => Ok(()),
        }
    }
}

impl RunJournal for FaultyStore {
    fn ensure_monitor<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<MonitorId, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.ensure_monitor(name).await
        })
    }
    fn create_run(&self, run: NewRun) -> BoxFuture<'_, Result<RunId, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.create_run(run).await
        })
    }
    fn set_run_state(
        &self,
        run: RunId,
        change: RunStateChange,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.set_run_state(run, change).await
        })
    }
    fn mark_run_served_from_cache(&self, run: RunId) -> BoxFuture<'_, Result<(), StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.mark_run_served_from_cache(run).await
        })
    }
    fn start_run(
        &self,
        run: RunId,
        at: DateTime<Utc>,
        plan: RunPlan,
    ) -> BoxFuture<'_, Result<Vec<BatchRowId>, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.start_run(run, at, plan).await
        })
    }
    fn preflight_rejections(
        &self,
        run: RunId,
    ) -> BoxFuture<'_, Result<Vec<PreflightRejection>, StoreError>> {
        self.inner.preflight_rejections(run)
    }
    fn run_tally(&self, run: RunId) -> BoxFuture<'_, Result<RunTally, StoreError>> {
        self.inner.run_tally(run)
    }
    fn run(&self, run: RunId) -> BoxFuture<'_, Result<Option<RunRecord>, StoreError>> {
        self.inner.run(run)
    }
    fn unfinished_runs(&self) -> BoxFuture<'_, Result<Vec<UnfinishedRun>, StoreError>> {
        self.inner.unfinished_runs()
    }
}
impl BatchJournal for FaultyStore {
    fn begin_batch(
        &self,
        run: RunId,
        chunk_index: u32,
        chunk: PlannedChunk,
    ) -> BoxFuture<'_, Result<BatchRowId, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.begin_batch(run, chunk_index, chunk).await
        })
    }
    fn record_first_attempt(
        &self,
        batch: BatchRowId,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<DateTime<Utc>, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.record_first_attempt(batch, at).await
        })
    }
    fn mark_batch_submitted(
        &self,
        batch: BatchRowId,
        submitted: BatchSubmitted,
    ) -> BoxFuture<'_, Result<Option<BatchRef>, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.mark_batch_submitted(batch, submitted).await
        })
    }
    fn set_batch_state(
        &self,
        batch: BatchRowId,
        state: BatchState,
        reason: Option<String>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.set_batch_state(batch, state, reason).await
        })
    }
    fn batch_ids_used_before<'a>(
        &'a self,
        rightfoot_batch_id: &'a str,
        run: RunId,
    ) -> BoxFuture<'a, Result<Vec<RunId>, StoreError>> {
        self.inner.batch_ids_used_before(rightfoot_batch_id, run)
    }
    fn batch_members(&self, batch: BatchRowId) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        self.inner.batch_members(batch)
    }
    fn members_without_result(
        &self,
        batch: BatchRowId,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        self.inner.members_without_result(batch)
    }
    fn cached_gaps(
        &self,
        batch: BatchRowId,
    ) -> BoxFuture<'_, Result<Option<Vec<String>>, StoreError>> {
        self.inner.cached_gaps(batch)
    }
    fn run_batches(&self, run: RunId) -> BoxFuture<'_, Result<Vec<BatchRecord>, StoreError>> {
        self.inner.run_batches(run)
    }
    fn batch_result_counts(
        &self,
        batch: BatchRowId,
    ) -> BoxFuture<'_, Result<BatchResultCounts, StoreError>> {
        self.inner.batch_result_counts(batch)
    }
    fn record_webhook_event<'a>(
        &'a self,
        event_uuid: &'a str,
        rightfoot_batch_id: Option<&'a str>,
        received_at: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner
                .record_webhook_event(event_uuid, rightfoot_batch_id, received_at)
                .await
        })
    }
}
impl ResultJournal for FaultyStore {
    fn upsert_results<'a>(
        &'a self,
        run: RunId,
        batch: BatchRowId,
        rows: &'a [ResultRow],
    ) -> BoxFuture<'a, Result<UpsertOutcome, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.upsert_results(run, batch, rows).await
        })
    }
    fn mark_not_retrieved<'a>(
        &'a self,
        batch: BatchRowId,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.mark_not_retrieved(batch, reason).await
        })
    }
    fn mark_cached_gaps_not_retrieved<'a>(
        &'a self,
        batch: BatchRowId,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner
                .mark_cached_gaps_not_retrieved(batch, reason)
                .await
        })
    }
    fn authorizer_history<'a>(
        &'a self,
        authorizer_unique_id: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, StoreError>> {
        self.inner.authorizer_history(authorizer_unique_id, limit)
    }
}
impl ScheduleJournal for FaultyStore {
    fn schedule_state(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Option<ScheduleState>, StoreError>> {
        self.inner.schedule_state(monitor)
    }
    fn set_schedule_state(
        &self,
        monitor: MonitorId,
        state: ScheduleState,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.set_schedule_state(monitor, state).await
        })
    }
    fn advance_schedule(
        &self,
        monitor: MonitorId,
        to: DateTime<Utc>,
        events: Vec<SlotEvent>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.advance_schedule(monitor, to, events).await
        })
    }
    fn schedule_position(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Option<SchedulePosition>, StoreError>> {
        self.inner.schedule_position(monitor)
    }
    fn schedule_events(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<ScheduleEvent>, StoreError>> {
        self.inner.schedule_events(monitor)
    }
}
impl AlertState for FaultyStore {
    fn balance_memory(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<MemoryRow>, StoreError>> {
        self.inner.balance_memory(monitor)
    }
    fn open_alerts(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<OpenAlertRow>, StoreError>> {
        self.inner.open_alerts(monitor)
    }
    fn next_unjudged_run(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Option<RunForJudgement>, StoreError>> {
        self.inner.next_unjudged_run(monitor)
    }
    fn run_checks(&self, run: RunId) -> BoxFuture<'_, Result<Vec<RunCheck>, StoreError>> {
        self.inner.run_checks(run)
    }
    fn commit_judgement(
        &self,
        monitor: MonitorId,
        run: RunId,
        judgement: Judgement,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        if self.switch.at_judgement.swap(false, Ordering::SeqCst) {
            self.switch.fill();
        }
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.commit_judgement(monitor, run, judgement).await
        })
    }
    fn judged_runs_after(
        &self,
        monitor: MonitorId,
        after: RunId,
    ) -> BoxFuture<'_, Result<Vec<RunId>, StoreError>> {
        self.inner.judged_runs_after(monitor, after)
    }
    fn run_checks_page(
        &self,
        run: RunId,
        after: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RunCheck>, StoreError>> {
        self.inner.run_checks_page(run, after, limit)
    }
    fn balance_memory_page(
        &self,
        monitor: MonitorId,
        after: String,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<MemoryRow>, StoreError>> {
        self.inner.balance_memory_page(monitor, after, limit)
    }
    fn open_alerts_between(
        &self,
        monitor: MonitorId,
        after: String,
        through: Option<String>,
    ) -> BoxFuture<'_, Result<Vec<OpenAlertRow>, StoreError>> {
        self.inner.open_alerts_between(monitor, after, through)
    }
    fn open_run_alerts(
        &self,
        monitor: MonitorId,
    ) -> BoxFuture<'_, Result<Vec<OpenAlertRow>, StoreError>> {
        self.inner.open_run_alerts(monitor)
    }
    fn commit_judgement_parts(
        &self,
        monitor: MonitorId,
        run: RunId,
        judged_at: DateTime<Utc>,
        parts: tokio::sync::mpsc::Receiver<JudgementPart>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        if self.switch.at_judgement.swap(false, Ordering::SeqCst) {
            self.switch.fill();
        }
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner
                .commit_judgement_parts(monitor, run, judged_at, parts)
                .await
        })
    }
}
impl Outbox for FaultyStore {
    fn queue_notification(
        &self,
        notification: NewNotification,
    ) -> BoxFuture<'_, Result<i64, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.queue_notification(notification).await
        })
    }
    fn due_notifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<QueuedNotification>, StoreError>> {
        self.inner.due_notifications(now, limit)
    }
    fn next_notification_due(&self) -> BoxFuture<'_, Result<Option<DateTime<Utc>>, StoreError>> {
        self.inner.next_notification_due()
    }
    fn record_attempt(
        &self,
        id: i64,
        at: DateTime<Utc>,
        outcome: AttemptOutcome,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.record_attempt(id, at, outcome).await
        })
    }
    fn notifications(&self) -> BoxFuture<'_, Result<Vec<NotificationRecord>, StoreError>> {
        self.inner.notifications()
    }
}
impl ReadQueries for FaultyStore {
    fn history_page<'a>(
        &'a self,
        authorizer: &'a str,
        before_run: Option<RunId>,
        limit: u32,
    ) -> BoxFuture<'a, Result<HistoryPage, StoreError>> {
        self.inner.history_page(authorizer, before_run, limit)
    }
    fn batch_results_page<'a>(
        &'a self,
        rightfoot_batch_id: &'a str,
        after: Option<String>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Option<BatchResultsPage>, StoreError>> {
        self.inner
            .batch_results_page(rightfoot_batch_id, after, limit)
    }
    fn batch_results_after<'a>(
        &'a self,
        rightfoot_batch_id: &'a str,
        after: Option<String>,
        limit: u32,
    ) -> BoxFuture<'a, Result<Option<BatchResultsPage>, StoreError>> {
        self.inner
            .batch_results_after(rightfoot_batch_id, after, limit)
    }
    fn unknown_batch_ids(
        &self,
        rightfoot_batch_ids: Vec<String>,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        self.inner.unknown_batch_ids(rightfoot_batch_ids)
    }
    fn runs_page(
        &self,
        monitor_name: Option<String>,
        before: Option<RunId>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Paged<RunRecord>, StoreError>> {
        self.inner.runs_page(monitor_name, before, limit)
    }
    fn alerts_page(
        &self,
        state: Option<AlertStateFilter>,
        before: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Paged<AlertRecord>, StoreError>> {
        self.inner.alerts_page(state, before, limit)
    }
    fn metrics_snapshot(&self) -> BoxFuture<'_, Result<MetricsSnapshot, StoreError>> {
        self.inner.metrics_snapshot()
    }
    fn schedule_positions(
        &self,
    ) -> BoxFuture<'_, Result<BTreeMap<String, DateTime<Utc>>, StoreError>> {
        self.inner.schedule_positions()
    }
}
impl Reports for FaultyStore {
    fn authorizer_checks(
        &self,
        query: HistoryQuery,
    ) -> BoxFuture<'_, Result<Option<Vec<AuthorizerCheck>>, StoreError>> {
        self.inner.authorizer_checks(query)
    }
    fn monitor_id<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<MonitorId>, StoreError>> {
        self.inner.monitor_id(name)
    }
    fn recent_runs(
        &self,
        monitor: Option<MonitorId>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RunOverview>, StoreError>> {
        self.inner.recent_runs(monitor, limit)
    }
    fn run_notifications(&self, run: RunId) -> BoxFuture<'_, Result<RunNotifications, StoreError>> {
        self.inner.run_notifications(run)
    }
}
impl Export for FaultyStore {
    fn stream_rows(
        &self,
        query: ExportQuery,
        sink: BoxedSink,
    ) -> BoxFuture<'_, Result<(BoxedSink, u64), ExportError<BoxedSink>>> {
        self.inner.stream_rows(query, sink)
    }
}
impl Maintenance for FaultyStore {
    fn description(&self) -> String {
        self.inner.description()
    }
    fn schema_version(&self) -> BoxFuture<'_, Result<i64, StoreError>> {
        self.inner.schema_version()
    }
    fn quick_check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.quick_check()
    }
    fn check_writable(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.check_writable().await
        })
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        self.inner.close()
    }
    fn backup_to<'a>(
        &'a self,
        destination: &'a Path,
        options: BackupOptions,
        progress: ProgressFn,
    ) -> BoxFuture<'a, Result<BackupSummary, BackupError>> {
        self.inner.backup_to(destination, options, progress)
    }
    fn prune_step(
        &self,
        cutoff: DateTime<Utc>,
        budget: u64,
    ) -> BoxFuture<'_, Result<PruneSummary, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.prune_step(cutoff, budget).await
        })
    }
    fn runs_kept_before(&self, cutoff: DateTime<Utc>) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.runs_kept_before(cutoff)
    }
}
impl RunLeases for FaultyStore {
    fn take_run_lease(
        &self,
        request: LeaseRequest,
    ) -> BoxFuture<'_, Result<LeaseTake, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.take_run_lease(request).await
        })
    }
    fn set_run_lease_run(
        &self,
        monitor: MonitorId,
        holder: String,
        run: RunId,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.set_run_lease_run(monitor, holder, run).await
        })
    }
    fn renew_run_lease(
        &self,
        monitor: MonitorId,
        holder: String,
        ttl: std::time::Duration,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.renew_run_lease(monitor, holder, ttl).await
        })
    }
    fn release_run_lease(
        &self,
        monitor: MonitorId,
        holder: String,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.release_run_lease(monitor, holder).await
        })
    }
    fn run_lease(&self, monitor: MonitorId) -> BoxFuture<'_, Result<Option<RunLease>, StoreError>> {
        self.inner.run_lease(monitor)
    }
}
impl Leadership for FaultyStore {
    fn take_leadership(
        &self,
        holder: String,
        lease: std::time::Duration,
    ) -> BoxFuture<'_, Result<LeadershipTake, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.take_leadership(holder, lease).await
        })
    }
    fn renew_leadership(
        &self,
        holder: String,
        epoch: i64,
        lease: std::time::Duration,
    ) -> BoxFuture<'_, Result<Option<LeaderLease>, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.renew_leadership(holder, epoch, lease).await
        })
    }
    fn release_leadership(
        &self,
        holder: String,
        epoch: i64,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.release_leadership(holder, epoch).await
        })
    }
    fn leadership(&self) -> BoxFuture<'_, Result<Option<LeaderLease>, StoreError>> {
        self.inner.leadership()
    }
    fn stop_fencing(&self) {
        self.inner.stop_fencing()
    }
}
impl Silences for FaultyStore {
    fn add_silence(&self, silence: NewSilence) -> BoxFuture<'_, Result<i64, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.add_silence(silence).await
        })
    }
    fn silences(
        &self,
        at: Option<DateTime<Utc>>,
    ) -> BoxFuture<'_, Result<Vec<SilenceRecord>, StoreError>> {
        self.inner.silences(at)
    }
    fn expire_silence(
        &self,
        id: i64,
        at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<Option<SilenceRecord>, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.expire_silence(id, at).await
        })
    }
    fn held_alerts(&self, monitor: MonitorId) -> BoxFuture<'_, Result<Vec<HeldAlert>, StoreError>> {
        self.inner.held_alerts(monitor)
    }
}
impl Dashboard for FaultyStore {
    fn firing_alert_counts(&self) -> BoxFuture<'_, Result<Vec<FiringCount>, StoreError>> {
        self.inner.firing_alert_counts()
    }
    fn outbox_backlog(&self) -> BoxFuture<'_, Result<Vec<OutboxBacklog>, StoreError>> {
        self.inner.outbox_backlog()
    }
    fn at_risk_counts(
        &self,
        monitor: MonitorId,
        instants: Vec<DateTime<Utc>>,
    ) -> BoxFuture<'_, Result<Vec<u64>, StoreError>> {
        self.inner.at_risk_counts(monitor, instants)
    }
    fn run_alerts(&self, run: RunId) -> BoxFuture<'_, Result<Vec<AlertRecord>, StoreError>> {
        self.inner.run_alerts(run)
    }
    fn authorizer_timeline(
        &self,
        authorizer: String,
        since: DateTime<Utc>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Option<Vec<AuthorizerCheck>>, StoreError>> {
        self.inner.authorizer_timeline(authorizer, since, limit)
    }
    fn authorizer_alerts<'a>(
        &'a self,
        authorizer: &'a str,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<AlertRecord>, StoreError>> {
        self.inner.authorizer_alerts(authorizer, limit)
    }
    fn alerts_filtered(
        &self,
        filter: AlertFilter,
        before: Option<i64>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Paged<AlertRecord>, StoreError>> {
        self.inner.alerts_filtered(filter, before, limit)
    }
    fn undelivered(&self, limit: u32) -> BoxFuture<'_, Result<Vec<UndeliveredRow>, StoreError>> {
        self.inner.undelivered(limit)
    }
    fn retry_notification(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.retry_notification(id, now).await
        })
    }
}
impl Backend for FaultyStore {}

impl JudgementFields for FaultyStore {
    fn write_judgement_metadata(
        &self,
        run: RunId,
        metadata: Arc<MetadataById>,
        keep: Vec<String>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner
                .write_judgement_metadata(run, metadata, keep)
                .await
        })
    }
    fn judgement_metadata(&self, run: RunId) -> BoxFuture<'_, Result<MetadataById, StoreError>> {
        self.inner.judgement_metadata(run)
    }
    fn append_judgement_metadata(
        &self,
        run: RunId,
        first_part: u32,
        metadata: Vec<MetadataById>,
        keep: Vec<String>,
    ) -> BoxFuture<'_, Result<u32, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner
                .append_judgement_metadata(run, first_part, metadata, keep)
                .await
        })
    }
    fn judgement_metadata_part(
        &self,
        run: RunId,
        part: u32,
    ) -> BoxFuture<'_, Result<Option<MetadataById>, StoreError>> {
        self.inner.judgement_metadata_part(run, part)
    }
    fn forget_judgement_metadata(&self, run: RunId) -> BoxFuture<'_, Result<(), StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.forget_judgement_metadata(run).await
        })
    }
}

impl DebitLedger for FaultyStore {
    fn record_decisions(
        &self,
        run: RunId,
        decisions: Vec<DecisionRow>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.record_decisions(run, decisions).await
        })
    }
    fn run_decisions(&self, run: RunId) -> BoxFuture<'_, Result<Vec<DecisionRow>, StoreError>> {
        self.inner.run_decisions(run)
    }
    fn latest_decisions(
        &self,
        query: DecisionQuery,
    ) -> BoxFuture<'_, Result<Vec<StoredDecision>, StoreError>> {
        self.inner.latest_decisions(query)
    }
    fn decision_tally(
        &self,
        from: chrono::NaiveDate,
        through: chrono::NaiveDate,
        monitor: Option<String>,
    ) -> BoxFuture<'_, Result<DecisionTally, StoreError>> {
        self.inner.decision_tally(from, through, monitor)
    }
    fn import_returns(
        &self,
        returns: Vec<NewReturn>,
        imported_at: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<ReturnImport, StoreError>> {
        let fault = self.fault();
        Box::pin(async move {
            fault?;
            self.inner.import_returns(returns, imported_at).await
        })
    }
    fn returns_in_a_row(
        &self,
        authorizers: Vec<String>,
        settled_before: chrono::NaiveDate,
    ) -> BoxFuture<'_, Result<BTreeMap<String, u32>, StoreError>> {
        self.inner.returns_in_a_row(authorizers, settled_before)
    }
}
