//! Waiting on paused tokio time.
//!
//! The store's writer is an OS thread tokio does not see: while a test awaits it, the
//! runtime looks idle and paused time auto-advances to the next timer, so schedules
//! race ahead and send timeouts fire that real time would never reach. A running
//! `spawn_blocking` task stops that, so [`settle`] awaits beside one; paused time then
//! moves only when the test moves it ([`advance_to`]).

use std::future::Future;
use std::time::Duration;

use balance_monitor::clock::Clock;
use chrono::{DateTime, Utc};

/// How long a wait may take in real time before the test fails.
pub const GUARD: Duration = Duration::from_secs(60);

/// Awaits `future` with paused time held still, failing after [`GUARD`] of real time.
pub async fn settle<F: Future>(what: &str, future: F) -> F::Output {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let mut guard = tokio::task::spawn_blocking(move || released.recv_timeout(GUARD));
    let output = tokio::select! {
        biased;
        output = future => output,
        _ = &mut guard => panic!("{what}: still waiting after {GUARD:?} of real time"),
    };
    drop(release);
    let _ = guard.await;
    output
}

/// Moves paused time, and so the wall clock, forward to `at`.
pub async fn advance_to(clock: &Clock, at: DateTime<Utc>) {
    let now = clock.now();
    assert!(at >= now, "time only moves forward: {now} -> {at}");
    tokio::time::advance((at - now).to_std().unwrap()).await;
    assert_eq!(clock.now(), at);
}
