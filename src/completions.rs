//! Wake-ups for batches whose completion Rightfoot announced by webhook.
//!
//! A run reading a batch registers interest with [`Completions::watch`] and waits on
//! the returned `Notify` beside its poll timer; the HTTP listener calls
//! [`Completions::signal`] when a `BALANCE_BATCH_COMPLETED` webhook names that batch.
//! Polling stays the fallback: a signal for a batch nobody watches is dropped, so an
//! unexpected or forged batch id cannot grow this map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// Shared by the HTTP listener and the runs. Cheap to clone.
///
/// A `std::sync::Mutex` suffices: it guards a map lookup and is never held across an
/// `.await`.
#[derive(Clone, Default)]
pub struct Completions {
    waiting: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
}

impl std::fmt::Debug for Completions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        write!(f, "Completions({} batches watched)", waiting.len())
    }
}

impl Completions {
    /// Registers interest in `batch_id`. A signal that arrives before the caller
    /// awaits is kept as a permit, so no wake-up is lost between polls.
    pub fn watch(&self, batch_id: &str) -> Arc<Notify> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        waiting
            .entry(batch_id.to_string())
            .or_insert_with(|| Arc::new(Notify::new()))
            .clone()
    }

    /// Drops interest in `batch_id` once it is read to the end.
    pub fn forget(&self, batch_id: &str) {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        waiting.remove(batch_id);
    }

    /// Wakes the reader of `batch_id`. Returns whether anyone was watching it.
    pub fn signal(&self, batch_id: &str) -> bool {
        let waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        match waiting.get(batch_id) {
            Some(notify) => {
                notify.notify_one();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signal_before_the_wait_is_not_lost_and_unknown_batches_are_ignored() {
        let completions = Completions::default();
        assert!(!completions.signal("unknown"));
        let notify = completions.watch("b-1");
        assert!(completions.signal("b-1"));
        // The permit stored by the signal completes this wait at once.
        tokio::time::timeout(std::time::Duration::from_secs(5), notify.notified())
            .await
            .expect("the signal was kept");
        completions.forget("b-1");
        assert!(!completions.signal("b-1"));
    }
}
