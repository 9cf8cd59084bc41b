//! The sandbox's memory: batches, results, the body-hash cache, scenario cursors and
//! webhook deliveries.
//!
//! Everything lives in one [`State`] behind one `std::sync::Mutex` (see
//! [`super::App`]). Methods here are synchronous and quick; none does I/O. Results are
//! decided when a batch is created and *revealed* as the sandbox clock passes each
//! one's completion time, so "processing" needs no background task: a read at time
//! `t` sees exactly the rows completed by `t`.
//!
//! What is stored is what answers need: authorizer ids, lender metadata from CSV
//! `meta_*` columns, outcomes and times. No name, address, phone number, date of
//! birth, tax id, account or card number is kept after validation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::clock::{delta, later};
use super::outcomes::{self, Outcome};
use super::scenario::Scenario;
use crate::secret::Secret;

/// Which configured API key made a request: its index in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyId(pub usize);

/// How long an identical body returns the first response.
pub const BODY_CACHE_TTL: TimeDelta = TimeDelta::hours(24);

/// One authorizer accepted into a batch: its id and any CSV metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub authorizer_id: String,
    pub metadata: BTreeMap<String, String>,
}

/// One result row of a batch.
#[derive(Clone, Debug)]
pub struct ResultRow {
    pub authorizer_id: String,
    pub metadata: BTreeMap<String, String>,
    pub outcome: Outcome,
    pub institution: &'static str,
    /// When the result appears (its `timestamp`).
    pub completes_at: DateTime<Utc>,
}

/// A submitted batch.
#[derive(Debug)]
pub struct Batch {
    pub id: String,
    /// Creation order, for history's newest-first ordering.
    pub seq: u64,
    pub owner: KeyId,
    pub submitted_at: DateTime<Utc>,
    /// Sorted by `completes_at`: results appear at the end only, so offsets into the
    /// visible prefix stay valid while a batch fills up.
    pub rows: Vec<ResultRow>,
    /// When the last row appears (the submission time for an empty batch).
    pub completes_at: DateTime<Utc>,
    pub webhook: Option<Webhook>,
}

impl Batch {
    /// How many rows have appeared by `now`.
    pub fn visible(&self, now: DateTime<Utc>) -> usize {
        self.rows.partition_point(|row| row.completes_at <= now)
    }
}

/// A batch's completion webhook. The URL is a [`Secret`] because receivers are told to
/// put their own secret in it; it is never logged.
#[derive(Debug)]
pub struct Webhook {
    pub url: Secret,
    pub status: WebhookStatus,
}

/// Where a batch's completion webhook stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookStatus {
    /// The batch has not completed yet.
    AwaitingCompletion,
    /// An attempt is due at `next_attempt_at`.
    Scheduled {
        event_uuid: String,
        /// Attempts made so far.
        attempts: u32,
        first_attempt_at: DateTime<Utc>,
        next_attempt_at: DateTime<Utc>,
    },
    /// An attempt is being made.
    InFlight {
        event_uuid: String,
        attempts: u32,
        first_attempt_at: DateTime<Utc>,
    },
    /// The receiver answered 2xx.
    Delivered { event_uuid: String, attempts: u32 },
    /// Every attempt in the 30-minute window failed.
    GaveUp { event_uuid: String, attempts: u32 },
}

/// One webhook delivery attempt, as the handle reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookAttempt {
    pub batch_id: String,
    pub event_uuid: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Sandbox time of the attempt.
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, or `None` when it could not be reached in time.
    pub http_status: Option<u16>,
}

/// A delivery the webhook worker should make now.
#[derive(Debug)]
pub struct WebhookJob {
    pub batch_index: usize,
    pub batch_id: String,
    pub url: Secret,
    pub event_uuid: String,
    /// 1-based number of this attempt.
    pub attempt: u32,
}

/// A cached `201`: replayed byte for byte for an identical body within 24 hours.
#[derive(Clone, Debug)]
pub struct CachedCreate {
    pub created_at: DateTime<Utc>,
    pub batch_id: String,
    pub body: Vec<u8>,
}

/// All of the sandbox's mutable state.
pub struct State {
    batches: Vec<Batch>,
    by_id: HashMap<String, usize>,
    body_cache: HashMap<(KeyId, [u8; 32]), CachedCreate>,
    /// Per key and authorizer, the (batch index, row index) of every check.
    history: HashMap<(KeyId, String), Vec<(usize, usize)>>,
    /// Per authorizer id, how many scripted checks have been made.
    scenario_cursor: HashMap<String, usize>,
    /// Batches whose webhook is not yet delivered or abandoned.
    pending_webhooks: Vec<usize>,
    webhook_log: Vec<WebhookAttempt>,
    checks_performed: u64,
    /// Batches in flight: created, and not yet read to their last row (see
    /// [`State::batch_read_out`]).
    open_batches: HashSet<usize>,
    /// The most batches ever in flight at once.
    most_open_batches: usize,
    /// Seeded: fault draws and completion order repeat for a repeated request sequence.
    pub rng: fastrand::Rng,
    /// The faults still to be dealt in the current blocks (see [`super::faults`]).
    pub fault_deck: super::faults::FaultDeck,
    body_cache_ttl: TimeDelta,
}

impl State {
    pub fn new(seed: u64) -> State {
        State {
            batches: Vec::new(),
            by_id: HashMap::new(),
            body_cache: HashMap::new(),
            history: HashMap::new(),
            scenario_cursor: HashMap::new(),
            pending_webhooks: Vec::new(),
            webhook_log: Vec::new(),
            checks_performed: 0,
            open_batches: HashSet::new(),
            most_open_batches: 0,
            rng: fastrand::Rng::with_seed(seed),
            fault_deck: super::faults::FaultDeck::default(),
            body_cache_ttl: BODY_CACHE_TTL,
        }
    }

    /// The same state with another body-cache lifetime.
    pub fn with_body_cache_ttl(mut self, ttl: std::time::Duration) -> State {
        self.body_cache_ttl = TimeDelta::from_std(ttl).unwrap_or(BODY_CACHE_TTL);
        self
    }

    pub fn batch(&self, id: &str) -> Option<&Batch> {
        self.by_id.get(id).and_then(|&i| self.batches.get(i))
    }

    pub fn batches_created(&self) -> usize {
        self.batches.len()
    }

    pub fn checks_performed(&self) -> u64 {
        self.checks_performed
    }

    /// The most batches in flight at once so far: from their creation to the results
    /// page that served their last row, as a reader sees a chunk in flight.
    pub fn most_open_batches(&self) -> usize {
        self.most_open_batches
    }

    /// A results page served the last row of a complete batch: it is no longer in
    /// flight.
    pub fn batch_read_out(&mut self, id: &str) {
        if let Some(index) = self.by_id.get(id) {
            self.open_batches.remove(index);
        }
    }

    pub fn webhook_log(&self) -> &[WebhookAttempt] {
        &self.webhook_log
    }

    /// The cached response for this key and body hash, if it is younger than 24 hours.
    pub fn cached(&self, key: KeyId, hash: &[u8; 32], now: DateTime<Utc>) -> Option<&CachedCreate> {
        self.body_cache
            .get(&(key, *hash))
            .filter(|cached| now < later(cached.created_at, self.body_cache_ttl))
    }

    /// Remembers a `201` body for this key and body hash, forgetting expired entries.
    pub fn cache(&mut self, key: KeyId, hash: [u8; 32], entry: CachedCreate, now: DateTime<Utc>) {
        let ttl = self.body_cache_ttl;
        self.body_cache
            .retain(|_, cached| now < later(cached.created_at, ttl));
        self.body_cache.insert((key, hash), entry);
    }

    /// Creates a batch: decides every outcome now (scripted, or the random walk for the
    /// submission's day) and spreads completion times evenly over `processing_time`
    /// in a seeded random order. Returns the new batch.
    pub fn create_batch(
        &mut self,
        owner: KeyId,
        accepted: Vec<Accepted>,
        webhook_url: Option<Secret>,
        now: DateTime<Utc>,
        processing_time: Duration,
        scenario: &Scenario,
    ) -> &Batch {
        let id = uuid::Uuid::new_v4().to_string();
        let index = self.batches.len();
        let count = accepted.len();
        let mut order: Vec<usize> = (0..count).collect();
        self.rng.shuffle(&mut order);
        let day = now.date_naive();
        let total = delta(processing_time);
        let mut rows: Vec<ResultRow> = accepted
            .into_iter()
            .zip(order)
            .map(|(item, position)| {
                let outcome = self.next_outcome(&item.authorizer_id, day, scenario);
                // Row at position p (0-based) appears at (p + 1) / count of the way.
                let offset = total * (position as i32 + 1) / (count.max(1) as i32);
                ResultRow {
                    institution: outcomes::institution(&item.authorizer_id),
                    authorizer_id: item.authorizer_id,
                    metadata: item.metadata,
                    outcome,
                    completes_at: later(now, offset),
                }
            })
            .collect();
        rows.sort_by_key(|row| row.completes_at);
        self.checks_performed += count as u64;
        for (row_index, row) in rows.iter().enumerate() {
            self.history
                .entry((owner, row.authorizer_id.clone()))
                .or_default()
                .push((index, row_index));
        }
        let completes_at = rows.last().map_or(now, |row| row.completes_at);
        let webhook = webhook_url.map(|url| Webhook {
            url,
            status: WebhookStatus::AwaitingCompletion,
        });
        if webhook.is_some() {
            self.pending_webhooks.push(index);
        }
        self.batches.push(Batch {
            id: id.clone(),
            seq: index as u64,
            owner,
            submitted_at: now,
            rows,
            completes_at,
            webhook,
        });
        self.by_id.insert(id, index);
        if count > 0 {
            self.open_batches.insert(index);
            self.most_open_batches = self.most_open_batches.max(self.open_batches.len());
        }
        &self.batches[index]
    }

    fn next_outcome(
        &mut self,
        authorizer_id: &str,
        day: chrono::NaiveDate,
        scenario: &Scenario,
    ) -> Outcome {
        if !scenario.authorizers.contains_key(authorizer_id) {
            return outcomes::random_walk(authorizer_id, day);
        }
        let cursor = self
            .scenario_cursor
            .entry(authorizer_id.to_string())
            .or_insert(0);
        let outcome = scenario.outcome(authorizer_id, *cursor);
        *cursor += 1;
        outcome.unwrap_or_else(|| outcomes::random_walk(authorizer_id, day))
    }

    /// Whether `key` has ever submitted `authorizer_id`.
    pub fn knows_authorizer(&self, key: KeyId, authorizer_id: &str) -> bool {
        self.history.contains_key(&(key, authorizer_id.to_string()))
    }

    /// The checks of `authorizer_id` under `key` whose results have appeared by `now`,
    /// newest submission first, as (batch, row).
    pub fn history(
        &self,
        key: KeyId,
        authorizer_id: &str,
        now: DateTime<Utc>,
    ) -> Vec<(&Batch, &ResultRow)> {
        let Some(entries) = self.history.get(&(key, authorizer_id.to_string())) else {
            return Vec::new();
        };
        let mut found: Vec<(&Batch, &ResultRow)> = entries
            .iter()
            .filter_map(|&(b, r)| {
                let batch = self.batches.get(b)?;
                let row = batch.rows.get(r)?;
                (row.completes_at <= now).then_some((batch, row))
            })
            .collect();
        found.sort_by_key(|(batch, _)| std::cmp::Reverse(batch.seq));
        found
    }

    /// Starts the webhooks that are due at `now` (marking them in flight) and returns
    /// them, with the earliest sandbox time at which another will be due.
    pub fn due_webhooks(&mut self, now: DateTime<Utc>) -> (Vec<WebhookJob>, Option<DateTime<Utc>>) {
        let mut due = Vec::new();
        let mut next: Option<DateTime<Utc>> = None;
        let mut earliest = |at: DateTime<Utc>| {
            next = Some(next.map_or(at, |n: DateTime<Utc>| n.min(at)));
        };
        for &index in &self.pending_webhooks {
            let Some(batch) = self.batches.get_mut(index) else {
                continue;
            };
            let completes_at = batch.completes_at;
            let batch_id = batch.id.clone();
            let Some(webhook) = batch.webhook.as_mut() else {
                continue;
            };
            let (event_uuid, attempts, first_attempt_at) = match &webhook.status {
                WebhookStatus::AwaitingCompletion if completes_at <= now => {
                    (uuid::Uuid::new_v4().to_string(), 0, now)
                }
                WebhookStatus::AwaitingCompletion => {
                    earliest(completes_at);
                    continue;
                }
                WebhookStatus::Scheduled {
                    event_uuid,
                    attempts,
                    first_attempt_at,
                    next_attempt_at,
                } => {
                    if *next_attempt_at > now {
                        earliest(*next_attempt_at);
                        continue;
                    }
                    (event_uuid.clone(), *attempts, *first_attempt_at)
                }
                _ => continue,
            };
            due.push(WebhookJob {
                batch_index: index,
                batch_id,
                url: webhook.url.clone(),
                event_uuid: event_uuid.clone(),
                attempt: attempts + 1,
            });
            webhook.status = WebhookStatus::InFlight {
                event_uuid,
                attempts: attempts + 1,
                first_attempt_at,
            };
        }
        (due, next)
    }

    /// Records the result of a delivery attempt and schedules the next one, if the
    /// retry window allows.
    pub fn record_webhook_attempt(
        &mut self,
        job: &WebhookJob,
        http_status: Option<u16>,
        now: DateTime<Utc>,
        next_offset: impl Fn(u32) -> Option<TimeDelta>,
    ) {
        self.webhook_log.push(WebhookAttempt {
            batch_id: job.batch_id.clone(),
            event_uuid: job.event_uuid.clone(),
            attempt: job.attempt,
            at: now,
            http_status,
        });
        let Some(webhook) = self
            .batches
            .get_mut(job.batch_index)
            .and_then(|batch| batch.webhook.as_mut())
        else {
            return;
        };
        let WebhookStatus::InFlight {
            event_uuid,
            attempts,
            first_attempt_at,
        } = webhook.status.clone()
        else {
            return;
        };
        let delivered = http_status.is_some_and(|s| (200..300).contains(&s));
        webhook.status = if delivered {
            WebhookStatus::Delivered {
                event_uuid,
                attempts,
            }
        } else {
            match next_offset(attempts + 1) {
                Some(offset) => WebhookStatus::Scheduled {
                    event_uuid,
                    attempts,
                    first_attempt_at,
                    next_attempt_at: later(first_attempt_at, offset),
                },
                None => WebhookStatus::GaveUp {
                    event_uuid,
                    attempts,
                },
            }
        };
        if matches!(
            webhook.status,
            WebhookStatus::Delivered { .. } | WebhookStatus::GaveUp { .. }
        ) {
            self.pending_webhooks.retain(|&i| i != job.batch_index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2025-01-06T12:00:00Z".parse().unwrap()
    }

    fn accepted(n: usize) -> Vec<Accepted> {
        (0..n)
            .map(|i| Accepted {
                authorizer_id: format!("A-{i}"),
                metadata: BTreeMap::new(),
            })
            .collect()
    }

    #[test]
    fn results_appear_evenly_over_the_processing_time() {
        let mut state = State::new(7);
        let ten_minutes = Duration::from_secs(600);
        let batch = state.create_batch(
            KeyId(0),
            accepted(10),
            None,
            now(),
            ten_minutes,
            &Scenario::default(),
        );
        assert_eq!(batch.visible(now()), 0);
        assert_eq!(batch.visible(now() + TimeDelta::minutes(1)), 1);
        assert_eq!(batch.visible(now() + TimeDelta::seconds(299)), 4);
        assert_eq!(batch.visible(now() + TimeDelta::minutes(5)), 5);
        assert_eq!(batch.visible(now() + TimeDelta::minutes(10)), 10);
        assert_eq!(batch.completes_at, now() + TimeDelta::minutes(10));
        let mut ids: Vec<&str> = batch
            .rows
            .iter()
            .map(|r| r.authorizer_id.as_str())
            .collect();
        assert_ne!(
            ids[0..3],
            ["A-0", "A-1", "A-2"],
            "completion order is shuffled"
        );
        ids.sort();
        assert_eq!(ids.len(), 10);
    }

    #[test]
    fn the_cache_expires_after_24_hours() {
        let mut state = State::new(0);
        let entry = CachedCreate {
            created_at: now(),
            batch_id: "b".into(),
            body: Vec::new(),
        };
        state.cache(KeyId(0), [1; 32], entry, now());
        assert!(
            state
                .cached(KeyId(0), &[1; 32], now() + TimeDelta::hours(23))
                .is_some()
        );
        assert!(state.cached(KeyId(1), &[1; 32], now()).is_none());
        assert!(
            state
                .cached(KeyId(0), &[1; 32], now() + TimeDelta::hours(24))
                .is_none()
        );
    }

    #[test]
    fn the_end_of_time_saturates_instead_of_panicking() {
        let mut state = State::new(0);
        let end = DateTime::<Utc>::MAX_UTC;
        let batch = state.create_batch(
            KeyId(0),
            accepted(3),
            None,
            end,
            Duration::from_secs(600),
            &Scenario::default(),
        );
        assert_eq!(batch.visible(end), 3);
        assert_eq!(batch.completes_at, end);
        let entry = CachedCreate {
            created_at: end,
            batch_id: "b".into(),
            body: Vec::new(),
        };
        state.cache(KeyId(0), [2; 32], entry, end);
        // The 24 hours cannot be added to the last instant: the entry is expired at once.
        assert!(state.cached(KeyId(0), &[2; 32], end).is_none());
    }
}
