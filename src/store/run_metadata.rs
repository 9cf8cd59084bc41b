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
use crate::authorizers::metadata::{Metadata, MetadataById};

/// Authorizers per stored part of a run's judgement fields.
const PART_SIZE: usize = 1000;

/// The fields named by `keep` of every authorizer in `metadata`, as the JSON texts both
/// backends store: parts of [`PART_SIZE`] authorizers in id order, each an array of
/// `[authorizer_unique_id, [[key, value], ...]]`, so a large list is a few rows.
/// Authorizers with none of those fields are left out.
pub(super) fn judgement_parts(metadata: &MetadataById, keep: &[String]) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part: Vec<(&str, Vec<(&str, &str)>)> = Vec::with_capacity(PART_SIZE);
    let mut flush = |part: &mut Vec<(&str, Vec<(&str, &str)>)>| {
        // Strings always serialize; an empty array stands in for the impossible
        // failure, and reads back as no fields.
        parts.push(serde_json::to_string(&*part).unwrap_or_else(|_| "[]".to_string()));
        part.clear();
    };
    for (id, fields) in metadata.iter() {
        let kept: Vec<(&str, &str)> = fields
            .iter()
            .filter(|(key, _)| keep.iter().any(|wanted| wanted == key))
            .collect();
        if kept.is_empty() {
            continue;
        }
        part.push((id, kept));
        if part.len() == PART_SIZE {
            flush(&mut part);
        }
    }
    if !part.is_empty() {
        flush(&mut part);
    }
    parts
}

/// The stored parts read back, in part order.
pub(super) fn parse_judgement_parts<'a>(texts: impl IntoIterator<Item = &'a str>) -> MetadataById {
    let mut kept: Vec<(String, Metadata)> = Vec::new();
    for text in texts {
        let part: Vec<(String, Vec<(String, String)>)> =
            serde_json::from_str(text).unwrap_or_default();
        kept.extend(
            part.into_iter()
                .map(|(id, pairs)| (id, Metadata::from_pairs(pairs))),
        );
    }
    kept.iter().map(|(id, fields)| (id, fields)).collect()
}

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

    /// Adds to what is kept for `run`'s judgement, as [`JudgementFields::write_judgement_metadata`]
    /// keeps it, without forgetting what is there: each table of `metadata` (in id
    /// order, after every id written before) becomes its own parts, numbered from
    /// `first_part`. Returns the number the next part takes. A run that writes its fields
    /// a chunk at a time forgets them first, then appends.
    fn append_judgement_metadata(
        &self,
        run: RunId,
        first_part: u32,
        metadata: Vec<MetadataById>,
        keep: Vec<String>,
    ) -> BoxFuture<'_, Result<u32, StoreError>>;

    /// The part numbered `part` of what was kept for `run` (parts are in id order), or
    /// `None` past the last: the judgement reads them one at a time, beside its pages.
    fn judgement_metadata_part(
        &self,
        run: RunId,
        part: u32,
    ) -> BoxFuture<'_, Result<Option<MetadataById>, StoreError>>;

    /// Forgets what was kept for `run`'s judgement (it has been judged).
    fn forget_judgement_metadata(&self, run: RunId) -> BoxFuture<'_, Result<(), StoreError>>;
}
