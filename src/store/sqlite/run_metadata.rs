//! The judgement fields on SQLite ([`JudgementFields`]): one row per authorizer and run
//! in `judgement_fields`, the kept fields as a JSON list of pairs.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use rusqlite::params;

use super::SqliteStore;
use crate::authorizers::metadata::{Metadata, MetadataById};
use crate::store::types::RunId;
use crate::store::{JudgementFields, StoreError};

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
                "INSERT INTO judgement_fields (run_id, authorizer_unique_id, fields) \
                 VALUES (?1, ?2, ?3)",
            )?;
            for (id, fields) in metadata.iter() {
                let kept: Vec<(&str, &str)> = fields
                    .iter()
                    .filter(|(key, _)| keep.iter().any(|wanted| wanted == key))
                    .collect();
                if kept.is_empty() {
                    continue;
                }
                let text = serde_json::to_string(&kept).unwrap_or_else(|_| "[]".to_string());
                insert.execute(params![run.0, id, text])?;
            }
            Ok(())
        }))
    }

    fn judgement_metadata(&self, run: RunId) -> BoxFuture<'_, Result<MetadataById, StoreError>> {
        Box::pin(self.scan(move |transaction| {
            let mut statement = transaction.prepare_cached(
                "SELECT authorizer_unique_id, fields FROM judgement_fields \
                 WHERE run_id = ?1 ORDER BY authorizer_unique_id",
            )?;
            let rows = statement
                .query_map(params![run.0], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let kept: Vec<(String, Metadata)> = rows
                .into_iter()
                .map(|(id, text)| {
                    let pairs: Vec<(String, String)> =
                        serde_json::from_str(&text).unwrap_or_default();
                    (id, Metadata::from_pairs(pairs))
                })
                .collect();
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
