//! The judgement fields on SQLite ([`JudgementFields`]): a run's kept fields in parts of
//! [`PART_SIZE`] authorizers in id order, each part one row of `judgement_fields` holding
//! a JSON array of `[authorizer_unique_id, [[key, value], ...]]`, so that writing,
//! reading and deleting a large list's fields are a few rows, not one per authorizer.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use rusqlite::params;

use super::SqliteStore;
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

impl JudgementFields for SqliteStore {
    fn write_judgement_metadata(
        &self,
        run: RunId,
        metadata: Arc<MetadataById>,
        keep: Vec<String>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write(move |transaction| {
            transaction.execute(
                "DELETE FROM judgement_fields WHERE run_id = ?1",
                params![run.0],
            )?;
            let mut insert = transaction.prepare_cached(
                "INSERT INTO judgement_fields (run_id, part, fields) VALUES (?1, ?2, ?3)",
            )?;
            let mut part: Vec<(&str, Vec<(&str, &str)>)> = Vec::with_capacity(PART_SIZE);
            let mut number = 0_i64;
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
                    insert.execute(params![run.0, number, part_text(&part)])?;
                    number += 1;
                    part.clear();
                }
            }
            if !part.is_empty() {
                insert.execute(params![run.0, number, part_text(&part)])?;
            }
            Ok(())
        }))
    }

    fn judgement_metadata(&self, run: RunId) -> BoxFuture<'_, Result<MetadataById, StoreError>> {
        Box::pin(self.scan(move |transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT fields FROM judgement_fields WHERE run_id = ?1 ORDER BY part",
            )?;
            let parts = statement
                .query_map(params![run.0], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut kept: Vec<(String, Metadata)> = Vec::new();
            for text in parts {
                let part: Vec<(String, Vec<(String, String)>)> =
                    serde_json::from_str(&text).unwrap_or_default();
                kept.extend(
                    part.into_iter()
                        .map(|(id, pairs)| (id, Metadata::from_pairs(pairs))),
                );
            }
            Ok(kept.iter().map(|(id, fields)| (id, fields)).collect())
        }))
    }

    fn forget_judgement_metadata(&self, run: RunId) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write(move |transaction| {
            transaction.execute(
                "DELETE FROM judgement_fields WHERE run_id = ?1",
                params![run.0],
            )?;
            Ok(())
        }))
    }
}
