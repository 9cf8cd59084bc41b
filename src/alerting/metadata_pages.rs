//! A run's stored metadata fields, read a part at a time in id order beside the
//! judgement's pages, so that the judgement never holds the whole list's fields.
//!
//! The run's plan stores the fields in parts of up to 1,000 authorizers in id order
//! (`store::JudgementFields`); [`MetadataPages::page`] reads parts until it has passed
//! the page's last id, hands over the fields of the page's ids, and keeps only the
//! part it has not finished. A fresh run and one resumed or judged by a later process
//! read the same stored copy, so the metadata is the run's own list's in both.

use crate::authorizers::metadata::MetadataById;
use crate::domain::RunId;
use crate::store::{Store, StoreError};

pub(crate) struct MetadataPages<'a> {
    store: &'a Store,
    run: RunId,
    next_part: u32,
    /// No part is left to read (or the monitor needs no fields).
    done: bool,
    /// Parts read and not yet passed, in id order.
    parts: Vec<MetadataById>,
}

impl<'a> MetadataPages<'a> {
    /// The pages of `run`'s stored fields; none at all when `needed` is false.
    pub fn new(store: &'a Store, run: RunId, needed: bool) -> MetadataPages<'a> {
        MetadataPages {
            store,
            run,
            next_part: 0,
            done: !needed,
            parts: Vec::new(),
        }
    }

    /// The fields of the ids after `after` through `through` (to the end with `None`).
    /// Pages are asked for in order, each starting where the last ended.
    pub async fn page(
        &mut self,
        after: &str,
        through: Option<&str>,
    ) -> Result<MetadataById, StoreError> {
        let passed = |last: Option<&str>| match (last, through) {
            (Some(last), Some(through)) => last > through,
            _ => false,
        };
        while !self.done && !passed(self.parts.last().and_then(MetadataById::last_id)) {
            match self
                .store
                .judgement_metadata_part(self.run, self.next_part)
                .await?
            {
                Some(part) => {
                    self.parts.push(part);
                    self.next_part += 1;
                }
                None => self.done = true,
            }
        }
        let in_page = |id: &str| id > after && through.is_none_or(|through| id <= through);
        let page: MetadataById = self
            .parts
            .iter()
            .flat_map(MetadataById::iter)
            .filter(|(id, _)| in_page(id))
            .collect();
        self.parts.retain(|part| {
            part.last_id()
                .is_some_and(|last| through.is_some_and(|through| last > through))
        });
        Ok(page)
    }
}
