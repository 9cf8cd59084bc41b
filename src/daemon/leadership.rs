//! Which daemon leads: the leadership lease taken, renewed and given up for this
//! process ([`Election`]), and what it tells the rest of the daemon ([`RoleView`]).
//!
//! With PostgreSQL, two or more daemons share one database and one lease
//! (`store::Leadership`, on the server's clock). A standby tries to take it every
//! lease/3, and takes it once it is free or has run out, with the next epoch; the
//! leader renews it every lease/3. The leader steps down when a renewal is refused (the
//! lease passed on) or when none has succeeded within one lease of the last one sent
//! (measured on this host's monotonic clock from before that renewal was sent, so this
//! process gives up no later than the server lets the lease run out). Whatever this
//! process believes, the store refuses its writes once the epoch has moved
//! (`StoreError::Fenced`), so a paused or partitioned old leader writes nothing.
//!
//! With SQLite there is one daemon per file and no lease: the process is always the
//! leader.
//!
//! This module does not start or stop the leader's work (schedules, resumed runs, the
//! outbox): `term.rs` does, when `mod.rs` tells it to.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::StorageConfig;
use crate::domain::{Role, RoleView};
use crate::run::Superseded;
use crate::store::{LeadershipTake, Store};

/// The leadership of this process.
#[derive(Debug)]
pub struct Election {
    store: Store,
    holder: String,
    /// The lease; `None` with SQLite, where this process always leads.
    lease: Option<Duration>,
    view: Arc<watch::Sender<RoleView>>,
    /// While leading through a lease: its epoch, and when this process must consider it
    /// lost if no renewal has succeeded by then.
    held: Option<(i64, Instant)>,
    /// Where the holders that led before this process are told to the runs.
    superseded: Superseded,
}

/// The task that renews the lease while this process leads ([`Election::keep`]).
#[derive(Debug)]
pub struct Renewal {
    lost: CancellationToken,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Renewal {
    /// Cancelled once the lease is lost (never without a lease).
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// Stops renewing (the lease then runs out, unless released).
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::error!(%error, "the leadership renewal ended abnormally");
        }
    }
}

impl Election {
    /// The election of this process on `store`, as `holder`, with the lease `storage`
    /// configures. It starts as standby (with SQLite, as leader).
    /// The holders it finds led before it join `superseded`.
    pub fn new(
        store: Store,
        storage: &StorageConfig,
        holder: &str,
        superseded: Superseded,
    ) -> Election {
        let lease = storage.postgres.as_ref().map(|postgres| postgres.lease);
        let view = match lease {
            Some(_) => RoleView::standby(),
            None => RoleView::sole_leader(),
        };
        Election {
            store,
            holder: holder.to_string(),
            lease,
            view: Arc::new(watch::Sender::new(view)),
            held: None,
            superseded,
        }
    }

    /// What the daemon tells `/metrics`, `/healthz` and `status`, as it changes.
    pub fn view(&self) -> watch::Receiver<RoleView> {
        self.view.subscribe()
    }

    /// How long a standby waits between attempts to take the lease: a third of the
    /// lease. `None` without a lease.
    pub fn interval(&self) -> Option<Duration> {
        self.lease.map(|lease| lease / 3)
    }

    /// Tries to lead: `true` when this process now leads (always, without a lease).
    pub async fn try_take(&mut self) -> bool {
        let Some(lease) = self.lease else {
            return true;
        };
        // Who led last: once this process leads, that holder's writes are fenced.
        let before = self.store.leadership().await.ok().flatten();
        let sent = Instant::now();
        match self.store.take_leadership(self.holder.clone(), lease).await {
            Ok(LeadershipTake::Taken(taken)) => {
                tracing::info!(epoch = taken.epoch, holder = %self.holder, "took the leadership lease: this daemon now leads");
                if let Some(before) = before {
                    self.superseded.add(&before.holder);
                }
                self.held = Some((taken.epoch, sent + lease));
                publish(&self.view, Role::Leader, Some(taken.epoch));
                true
            }
            Ok(LeadershipTake::Held(current)) => {
                tracing::debug!(epoch = current.epoch, leader = %current.holder, "standing by: another daemon leads");
                false
            }
            Err(error) => {
                tracing::warn!(%error, "cannot take the leadership lease; standing by");
                false
            }
        }
    }

    /// Renews the lease every third of it, in a task of its own, so that nothing the
    /// leader does (a long judgement at the start of its term) delays a renewal.
    pub fn keep(&self) -> Renewal {
        let lost = CancellationToken::new();
        let stop = CancellationToken::new();
        let task = match (self.lease, self.held) {
            (Some(lease), Some((epoch, deadline))) => Some(tokio::spawn(renew(
                Renewing {
                    store: self.store.clone(),
                    holder: self.holder.clone(),
                    epoch,
                    lease,
                    deadline,
                    view: Arc::clone(&self.view),
                },
                lost.clone(),
                stop.clone(),
            ))),
            _ => None,
        };
        Renewal { lost, stop, task }
    }

    /// After the leader's work has stopped: gives the lease up at once when `release`
    /// (a stop), so a standby takes over without waiting it out, lets this process's
    /// writes through unfenced again, and says it stands by.
    pub async fn step_down(&mut self, release: bool) {
        let Some((epoch, _)) = self.held.take() else {
            return;
        };
        if release
            && let Err(error) = self
                .store
                .release_leadership(self.holder.clone(), epoch)
                .await
        {
            tracing::warn!(epoch, %error, "cannot give up the leadership lease; a standby takes over when it runs out");
        }
        self.store.stop_fencing();
        publish(&self.view, Role::Standby, None);
    }
}

/// What the renewal task holds.
struct Renewing {
    store: Store,
    holder: String,
    epoch: i64,
    lease: Duration,
    deadline: Instant,
    view: Arc<watch::Sender<RoleView>>,
}

/// Renews every lease/3 until `stop`, or until the lease is lost (a renewal refused, or
/// none succeeded by the deadline): then it says so (`lost`, and the view) and ends.
async fn renew(mut renewing: Renewing, lost: CancellationToken, stop: CancellationToken) {
    let epoch = renewing.epoch;
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(renewing.lease / 3) => {}
        }
        let sent = Instant::now();
        let renewed = tokio::time::timeout_at(
            renewing.deadline,
            renewing
                .store
                .renew_leadership(renewing.holder.clone(), epoch, renewing.lease),
        )
        .await;
        match renewed {
            Ok(Ok(Some(_))) => renewing.deadline = sent + renewing.lease,
            Ok(Ok(None)) => {
                tracing::warn!(
                    epoch,
                    "the leadership lease passed to another daemon: stepping down"
                );
                break;
            }
            Ok(Err(error)) if Instant::now() < renewing.deadline => {
                tracing::warn!(epoch, %error, "cannot renew the leadership lease; trying again");
            }
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(
                    epoch,
                    "no renewal of the leadership lease succeeded within the lease: stepping down"
                );
                break;
            }
        }
    }
    publish(&renewing.view, Role::Standby, None);
    lost.cancel();
}

fn publish(view: &watch::Sender<RoleView>, role: Role, epoch: Option<i64>) {
    view.send_modify(|view| {
        if view.role != role {
            view.changes += 1;
        }
        view.role = role;
        view.epoch = epoch;
    });
}
