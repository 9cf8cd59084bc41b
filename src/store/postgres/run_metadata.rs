//! The judgement fields on PostgreSQL ([`JudgementFields`]): a run's kept fields in
//! parts (`store::run_metadata::judgement_parts`), each part one row of
//! `judgement_fields`, written in one statement.

use std::sync::Arc;

use deadpool_postgres::Transaction;
use futures_util::future::BoxFuture;

use super::PostgresStore;
use super::error::OpError;
use super::sql;
use crate::authorizers::metadata::MetadataById;
use crate::store::run_metadata::{judgement_parts, parse_judgement_parts};
use crate::store::statements::{dollars, run_metadata};
use crate::store::types::RunId;
use crate::store::{JudgementFields, StoreError};

/// The statements of this file, in PostgreSQL's spelling.
const PARTS: &str = dollars!(run_metadata::PARTS);
const PART: &str = dollars!(run_metadata::PART);
const FORGET: &str = dollars!(run_metadata::FORGET);

impl JudgementFields for PostgresStore {
    fn write_judgement_metadata(
        &self,
        run: RunId,
        metadata: Arc<MetadataById>,
        keep: Vec<String>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        // Made before the transaction, whose future must own what it holds.
        let parts = judgement_parts(&metadata, &keep);
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                forget(tx, run).await?;
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
                let rows = sql::all(tx, PARTS, &[&run.0]).await?;
                let texts = rows
                    .iter()
                    .map(|row| row.try_get::<_, &str>(0))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(parse_judgement_parts(texts))
            })
        }))
    }

    fn append_judgement_metadata(
        &self,
        run: RunId,
        first_part: u32,
        metadata: Vec<MetadataById>,
        keep: Vec<String>,
    ) -> BoxFuture<'_, Result<u32, StoreError>> {
        // Made before the transaction, whose future must own what it holds.
        let parts: Vec<String> = metadata
            .iter()
            .flat_map(|table| judgement_parts(table, &keep))
            .collect();
        let next = first_part + parts.len() as u32;
        Box::pin(self.write(move |tx| {
            Box::pin(async move {
                sql::exec(
                    tx,
                    "INSERT INTO judgement_fields (run_id, part, fields) \
                     SELECT $1, $2 + p.number - 1, p.fields \
                     FROM unnest($3::TEXT[]) WITH ORDINALITY AS p (fields, number)",
                    &[&run.0, &i64::from(first_part), &parts],
                )
                .await?;
                Ok(next)
            })
        }))
    }

    fn judgement_metadata_part(
        &self,
        run: RunId,
        part: u32,
    ) -> BoxFuture<'_, Result<Option<MetadataById>, StoreError>> {
        Box::pin(self.read(move |tx| {
            Box::pin(async move {
                let rows = sql::all(tx, PART, &[&run.0, &i64::from(part)]).await?;
                let texts = rows
                    .iter()
                    .map(|row| row.try_get::<_, &str>(0))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((!texts.is_empty()).then(|| parse_judgement_parts(texts)))
            })
        }))
    }

    fn forget_judgement_metadata(&self, run: RunId) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.write(move |tx| Box::pin(forget(tx, run))))
    }
}

async fn forget(tx: &Transaction<'_>, run: RunId) -> Result<(), OpError> {
    sql::exec(tx, FORGET, &[&run.0]).await?;
    Ok(())
}
