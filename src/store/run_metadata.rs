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

use rusqlite::params;

use super::Store;
use super::error::StoreError;
use super::types::RunId;
use crate::authorizers::metadata::{Metadata, MetadataById};

impl Store {
    /// Keeps the fields named by `keep` of every authorizer in `metadata` for the
    /// judgement of `run`, replacing what an earlier plan of the run kept.
    /// Authorizers with none of those fields are left out.
    pub async fn write_judgement_metadata(
        &self,
        run: RunId,
        metadata: std::sync::Arc<MetadataById>,
        keep: Vec<String>,
    ) -> Result<(), StoreError> {
        self.write(move |transaction| {
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
        })
        .await
    }

    /// What [`Store::write_judgement_metadata`] kept for `run`, by authorizer id; empty
    /// when nothing was kept (or the run was judged already).
    pub async fn judgement_metadata(&self, run: RunId) -> Result<MetadataById, StoreError> {
        self.scan(move |transaction| {
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
        })
        .await
    }

    /// Forgets what was kept for `run`'s judgement (it has been judged).
    pub async fn forget_judgement_metadata(&self, run: RunId) -> Result<(), StoreError> {
        self.write(move |transaction| {
            transaction.execute(
                "DELETE FROM judgement_fields WHERE run_id = ?1",
                params![run.0],
            )?;
            Ok(())
        })
        .await
    }
}
