//! The bound on chunks in flight (`max_in_flight_batches`): one for the daemon's
//! lifetime, shared by every run, and resized in place when a reload changes it.
//!
//! A chunk holds a slot from its POST (or its resumed read) to its end. The bound is a
//! tokio [`Semaphore`] whose permits are the slots. Growing adds permits; shrinking
//! forgets the free ones at once and owes the rest, which are forgotten as the chunks
//! holding them end instead of being returned. While anything is owed no permit is
//! free, so no chunk starts until the count in flight is below the new limit: a run
//! that straddles a reload never has more chunks in flight than the limit it starts
//! them under. `std::sync::Mutex` around the counts: it is held for a few arithmetic
//! steps, never across an `.await`.
//!
//! This module owns the count and nothing else: which chunk waits for a slot is the
//! chunk driver's business.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The shared in-flight bound. Cheap to clone; clones share the slots.
#[derive(Clone, Debug)]
pub struct InFlightLimit {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    semaphore: Arc<Semaphore>,
    counts: Mutex<Counts>,
}

#[derive(Debug)]
struct Counts {
    limit: usize,
    /// Permits held by chunks still in flight that a shrink has taken back: each is
    /// forgotten when its chunk ends.
    owed: usize,
}

/// One chunk's slot; it goes back (or pays what a shrink owes) when dropped.
#[derive(Debug)]
pub struct InFlightSlot {
    permit: Option<OwnedSemaphorePermit>,
    inner: Arc<Inner>,
}

impl InFlightLimit {
    /// A bound of `limit` chunks (at least one).
    pub fn new(limit: usize) -> InFlightLimit {
        let limit = limit.max(1);
        InFlightLimit {
            inner: Arc::new(Inner {
                semaphore: Arc::new(Semaphore::new(limit)),
                counts: Mutex::new(Counts { limit, owed: 0 }),
            }),
        }
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.inner.counts().limit
    }

    /// Changes the limit (at least one). Chunks already in flight keep their slots; new
    /// ones start only while fewer than the new limit are in flight.
    pub fn resize(&self, limit: usize) {
        let limit = limit.max(1);
        let mut counts = self.inner.counts();
        if limit < counts.limit {
            let cut = counts.limit - limit;
            let forgotten = self.inner.semaphore.forget_permits(cut);
            counts.owed += cut - forgotten;
        } else {
            let grown = limit - counts.limit;
            let repaid = grown.min(counts.owed);
            counts.owed -= repaid;
            self.inner.semaphore.add_permits(grown - repaid);
        }
        counts.limit = limit;
    }

    /// Waits for a slot. `None` only if the semaphore were closed, which it never is.
    pub async fn acquire(&self) -> Option<InFlightSlot> {
        let permit = Arc::clone(&self.inner.semaphore)
            .acquire_owned()
            .await
            .ok()?;
        Some(InFlightSlot {
            permit: Some(permit),
            inner: Arc::clone(&self.inner),
        })
    }
}

impl Inner {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for InFlightSlot {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        // Under the lock, so that a resize sees either the permit held or returned.
        let mut counts = self.inner.counts();
        if counts.owed > 0 {
            counts.owed -= 1;
            permit.forget();
        } else {
            drop(permit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free(limit: &InFlightLimit) -> usize {
        limit.inner.semaphore.available_permits()
    }

    #[tokio::test]
    async fn growing_adds_slots_at_once() {
        let limit = InFlightLimit::new(1);
        let _held = limit.acquire().await.unwrap();
        limit.resize(3);
        assert_eq!((limit.limit(), free(&limit)), (3, 2));
    }

    #[tokio::test]
    async fn shrinking_below_the_slots_in_use_starts_nothing_until_enough_end() {
        let limit = InFlightLimit::new(4);
        let mut held: Vec<InFlightSlot> = Vec::new();
        for _ in 0..3 {
            held.push(limit.acquire().await.unwrap());
        }
        limit.resize(2);
        // One free slot forgotten, one owed by the three in flight.
        assert_eq!(free(&limit), 0);
        held.pop();
        assert_eq!(free(&limit), 0, "the first slot to end pays the debt");
        held.pop();
        assert_eq!(free(&limit), 1, "one in flight under a limit of two");
        drop(held);
        assert_eq!(free(&limit), 2);
    }

    #[tokio::test]
    async fn growing_while_owing_repays_before_adding() {
        let limit = InFlightLimit::new(4);
        let held: Vec<InFlightSlot> = futures_util::future::join_all(
            (0..4).map(|_| async { limit.acquire().await.unwrap() }),
        )
        .await;
        limit.resize(1);
        limit.resize(3);
        assert_eq!(free(&limit), 0, "four in flight, limit three");
        drop(held);
        assert_eq!((limit.limit(), free(&limit)), (3, 3));
    }

    #[tokio::test]
    async fn the_limit_is_at_least_one() {
        let limit = InFlightLimit::new(0);
        assert_eq!(limit.limit(), 1);
        limit.resize(0);
        assert_eq!((limit.limit(), free(&limit)), (1, 1));
    }
}
