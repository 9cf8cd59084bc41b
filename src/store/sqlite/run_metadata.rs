//! The judgement fields on SQLite ([`JudgementFields`]): a run's kept fields in parts
//! (`store::run_metadata::judgement_parts`), each part one row of `judgement_fields`,
//! so that writing, reading and deleting a large list's fields are a few rows, not one
//! per authorizer.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use rusqlite::params;

use super::SqliteStore;
use crate::authorizers::metadata::MetadataById;
use crate::store::run_metadata::{judgement_parts, parse_judgement_parts};
use crate::store::statements::run_metadata::{FORGET, PART, PARTS};
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
            forget(transaction, run)?;
            let mut insert = transaction.prepare_cached(
                "INSERT INTO judgement_fields (run_id, part, fields) VALUES (?1, ?2, ?3)",
            )?;
            for (number, part) in judgement_parts(&metadata, &keep).iter().enumerate() {
                insert.execute(params![run.0, number as i64, part])?;
            }
            Ok(())
        }))
    }

    fn judgement_metadata(&self, run: RunId) -> BoxFuture<'_, Result<MetadataById, StoreError>> {
        Box::pin(self.scan(move |transaction| {
            let mut statement = transaction.prepare_cached(PARTS)?;
            let parts = statement
                .query_map(params![run.0], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(parse_judgement_parts(parts.iter().map(String::as_str)))
        }))
    }

    fn append_judgement_metadata(
        &self,
        run: RunId,
        first_part: u32,
        metadata: Vec<MetadataById>,
        keep: Vec<String>,
    ) -> BoxFuture<'_, Result<u32, StoreError>> {
        Box::pin(self.write(move |transaction| {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO judgement_fields (run_id, part, fields) VALUES (?1, ?2, ?3)",
            )?;
            let mut number = first_part;
            for table in &metadata {
                for part in judgement_parts(table, &keep) {
                    insert.execute(params![run.0, i64::from(number), part])?;
                    number += 1;
                }
            }
            Ok(number)
        }))
    }

    fn judgement_metadata_part(
        &self,
        run: RunId,
        part: u32,
    ) -> BoxFuture<'_, Result<Option<MetadataById>, StoreError>> {
        Box::pin(self.scan(move |transaction| {
            let mut statement = transaction.prepare_cached(PART)?;
            let text = statement
                .query_map(params![run.0, i64::from(part)], |row| {
                    row.get::<_, String>(0)
                })?
                .next()
                .transpose()?;
            Ok(text.map(|text| parse_judgement_parts([text.as_str()])))
        }))
    }

    fn forget_judgement_metadata(&self, run: RunId) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write(move |transaction| {
            forget(transaction, run)?;
            Ok(())
        }))
    }
}

fn forget(transaction: &rusqlite::Transaction<'_>, run: RunId) -> rusqlite::Result<usize> {
    transaction.execute(FORGET, params![run.0])
}
