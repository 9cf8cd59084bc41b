//! Unix signals as the daemon's controls: SIGTERM and SIGINT stop, SIGHUP reloads.
//!
//! [`forward_signals`] turns them into [`Control`] messages for `serve`, and
//! [`shutdown_signal`] is the plain "stop on SIGINT or SIGTERM" future the foreground
//! commands (`sandbox`, `run-now`, `export-csv`, `demo`) wait on. This module decides
//! nothing about what a stop or a reload does.

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Control;

/// Watches SIGHUP, SIGTERM and SIGINT from now on and sends each as a [`Control`]; the
/// task ends when the receiver is dropped. Call it before anything starts: a signal
/// that comes while runs are being resumed or the schedule applied must be handled (a
/// SIGTERM stops cleanly once started, a SIGHUP reloads), not take its default action
/// and end the process on the spot.
pub fn forward_signals() -> anyhow::Result<(mpsc::Receiver<Control>, JoinHandle<()>)> {
    let mut hangup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let (control, controls) = mpsc::channel(8);
    let forwarder = tokio::spawn(async move {
        loop {
            let sent = tokio::select! {
                _ = terminate.recv() => control.send(Control::Stop).await,
                _ = interrupt.recv() => control.send(Control::Stop).await,
                _ = hangup.recv() => control.send(Control::Reload).await,
            };
            if sent.is_err() {
                break;
            }
        }
    });
    Ok((controls, forwarder))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
