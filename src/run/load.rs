//! Loading a run's list and planning it: the steps between a `pending` run and the
//! plan the store records.
//!
//! [`load`] indexes a CSV file or loads any other source whole
//! ([`crate::authorizers::run_list`]); [`load_due`] loads a monitor with `debits` whole
//! and narrows it to the authorizers with a debit due; [`plan_and_keep_fields`] plans
//! the list off the async runtime (reading each chunk's records from the file to hash
//! its body) and stores the judgement's fields chunk by chunk as the plan reads them,
//! so neither the personal data nor the whole list's metadata is held at once. This
//! module does not record the plan or send anything ([`super`] does).

use super::plan::{self, Plan};
use super::{MetadataById, RunContext, RunError, debits, judgement_fields};
use crate::authorizers::indexed::ListReadError;
use crate::authorizers::run_list::{RunList, load_run_list};
use crate::authorizers::source::{LoadError, load_source};
use crate::config::{AuthorizerSource, Monitor};
use crate::domain::RunId;
use crate::store::RunRecord;

/// Loads a monitor's list for a run off the async runtime (the file is read at each
/// run): a CSV file indexed, any other source loaded whole.
pub(super) async fn load(ctx: &RunContext, source: &AuthorizerSource) -> Result<RunList, String> {
    let source = source.clone();
    let config_file = ctx.config_file.clone();
    tokio::task::spawn_blocking(move || load_run_list(&source, &config_file))
        .await
        .map_err(|error| format!("loading the authorizers stopped: {error}"))?
        .map_err(|error: LoadError| error.to_string())
}

/// A monitor with `debits`: its list loaded whole and narrowed to the authorizers with
/// a debit due (the narrowing reads every authorizer's metadata and origin).
pub(super) async fn load_due(
    ctx: &RunContext,
    monitor: &Monitor,
    debits_config: &crate::config::Debits,
    record: &RunRecord,
) -> Result<(RunList, debits::DueList), String> {
    let source = monitor.authorizers.clone();
    let config_file = ctx.config_file.clone();
    let loaded = tokio::task::spawn_blocking(move || load_source(&source, &config_file))
        .await
        .map_err(|error| format!("loading the authorizers stopped: {error}"))?
        .map_err(|error: LoadError| format!("cannot load the authorizers: {error}"))?;
    let date = debits::run_date(monitor, record.trigger, record.created_at);
    let (narrowed, list) = debits::narrow(monitor, debits_config, date, loaded).await?;
    Ok((RunList::from_loaded(narrowed), list))
}

/// Plans `list` off the async runtime, and stores the judgement's fields as the plan
/// reads each chunk (before anything is sent, so that a run a crash leaves finished
/// but unjudged is judged with its own list's fields, not the file's later ones). The
/// inner error is the file changing while the plan read it.
pub(super) async fn plan_and_keep_fields(
    ctx: &RunContext,
    monitor: &Monitor,
    run: RunId,
    list: RunList,
) -> Result<Result<Plan, ListReadError>, RunError> {
    /// Chunks' fields per store write: a few large transactions, a bounded buffer.
    const CHUNKS_PER_WRITE: usize = 50;
    let keep = monitor.needs_metadata().then(|| judgement_fields(monitor));
    let webhook_url = ctx
        .settings
        .webhook_url
        .as_ref()
        .map(|url| url.expose().to_string());
    let size = ctx.settings.max_batch_size;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<MetadataById>(CHUNKS_PER_WRITE);
    let wanted = keep.is_some();
    let planning = tokio::task::spawn_blocking(move || {
        plan::plan(list, size, webhook_url.as_deref(), |authorizers| {
            if wanted {
                let table: MetadataById = authorizers
                    .iter()
                    .map(|authorizer| (authorizer.id(), authorizer.metadata()))
                    .collect();
                // A receiver gone has stopped on a store error, which is returned.
                let _ = sender.blocking_send(table);
            }
        })
    });
    if let Some(keep) = &keep {
        ctx.store.forget_judgement_metadata(run).await?;
        let mut next_part = 0;
        let mut tables = Vec::with_capacity(CHUNKS_PER_WRITE);
        loop {
            let more = receiver.recv_many(&mut tables, CHUNKS_PER_WRITE).await > 0;
            if !tables.is_empty() {
                next_part = ctx
                    .store
                    .append_judgement_metadata(
                        run,
                        next_part,
                        std::mem::take(&mut tables),
                        keep.clone(),
                    )
                    .await?;
            }
            if !more {
                break;
            }
        }
    }
    planning.await.map_err(|error| RunError::Inconsistent {
        run,
        message: format!("planning stopped: {error}"),
    })
}
