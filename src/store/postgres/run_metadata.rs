//! The judgement fields on PostgreSQL ([`JudgementFields`]): a run's kept fields in parts
//! of [`PART_SIZE`] authorizers in id order, each part one row of `judgement_fields`
//! holding a JSON array of `[authorizer_unique_id, [[key, value], ...]]`, as on SQLite.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::PostgresStore;
use super::sql;
use crate::authorizers::metadata::{Metadata, MetadataById};
use crate::store::types::RunId;
use crate::store::{JudgementFields, StoreError};

/// Authorizers per row of `judgement_fields`.
const PART_SIZE: usize = 1000;

/// One part as its JSON text. Strings always serialize; an empty array stands in for
/// the impossible failure, and reads back as no fields.
fn part_text(part: &[(&str, Vec<(&str, &str)>)]) -> String {
    serde_json::to_string(part).unwrap_or_else(|_| "[]".to_string())
}

impl JudgementFields for PostgresStore {
    fn write_judgement_metadata(
        &self,
        run: RunId,
        metadata: Arc<MetadataById>,
        keep: Vec<String>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        // The parts are made before the transaction: the metadata is borrowed, and the
        // transaction's future must own what it holds.
        let mut parts: Vec<String> = Vec::new();
        let mut part: Vec<(&str, Vec<(&str, &str)>)> = Vec::with_capacity(PART_SIZE);
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
                parts.push(part_text(&part));
                part.clear();
            }
        }
        if !part.is_empty() {
            parts.push(part_text(&part));
        }
        drop(part);
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                sql::exec(
                    tx,
                    "DELETE FROM judgement_fields WHERE run_id = $1",
                    &[&run.0],
                )
                .await?;
                sql::exec(
                    tx,
                    "INSERT INTO judgement_fields (run_id, part, fields) \
                     SELECT $1, p.number - 1, p.fields \
                     FROM unnest($2::TEXT[]) WITH ORDINALITY AS p (fields, number)",
                    &[&run.0, &parts],
                )
                .await?;
                Ok(())
            })
        }))
    }

    fn judgement_metadata(&self, run: RunId) -> BoxFuture<'_, Result<MetadataById, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let rows = sql::all(
                    tx,
                    "SELECT fields FROM judgement_fields WHERE run_id = $1 ORDER BY part",
                    &[&run.0],
                )
                .await?;
                let mut kept: Vec<(String, Metadata)> = Vec::new();
                for row in rows {
                    let text: &str = row.try_get(0)?;
                    let part: Vec<(String, Vec<(String, String)>)> =
                        serde_json::from_str(text).unwrap_or_default();
                    kept.extend(
                        part.into_iter()
                            .map(|(id, pairs)| (id, Metadata::from_pairs(pairs))),
                    );
                }
                Ok(kept.iter().map(|(id, fields)| (id, fields)).collect())
            })
        }))
    }

    fn forget_judgement_metadata(&self, run: RunId) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                sql::exec(
                    tx,
                    "DELETE FROM judgement_fields WHERE run_id = $1",
                    &[&run.0],
                )
                .await?;
                Ok(())
            })
        }))
    }
}
