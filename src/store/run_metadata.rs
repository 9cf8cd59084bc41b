//! The lender's fields a run's judgement needs (`below_payment`'s field and the
//! monitor's `alert_fields`), kept from the run's plan until the run is judged.
//!
//! The run writes them when it plans, before anything is sent; the judgement of a run
//! that a previous process finished but did not judge reads them back, so the alerts
//! show the metadata of the run's own list, not of the file as it is when the next
//! process starts. They are deleted once the run is judged. Only the fields the caller
//! names are kept: the caller passes the monitor's judgement fields, which
//! configuration validation keeps free of personal field names. Nothing here decides
//! which fields those are.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::error::StoreError;
use super::types::RunId;
use crate::authorizers::metadata::MetadataById;

pub trait JudgementFields: Send + Sync {
    /// Keeps the fields named by `keep` of every authorizer in `metadata` for the
    /// judgement of `run`, replacing what an earlier plan of the run kept.
    /// Authorizers with none of those fields are left out.
    fn write_judgement_metadata(
        &self,
        run: RunId,
        metadata: Arc<MetadataById>,
        keep: Vec<String>,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// What [`JudgementFields::write_judgement_metadata`] kept for `run`, by authorizer
    /// id; empty when nothing was kept (or the run was judged already).
    fn judgement_metadata(&self, run: RunId) -> BoxFuture<'_, Result<MetadataById, StoreError>>;

    /// Forgets what was kept for `run`'s judgement (it has been judged).
    fn forget_judgement_metadata(&self, run: RunId) -> BoxFuture<'_, Result<(), StoreError>>;
}
