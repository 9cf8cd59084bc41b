//! Planning a run: from a run's authorizer list to chunks with exact request bodies,
//! and rebuilding a chunk's body after a crash.
//!
//! A plan is deterministic. Valid authorizers are sorted by `authorizer_unique_id`
//! (byte order, which is also SQLite's `BINARY` order, so the members the store lists
//! for a chunk come back in the same order) and cut into chunks of `max_batch_size`;
//! each chunk's body is [`wire::request_body`] with the run's webhook URL. The same
//! list and settings always give the same bytes, which is what lets a chunk caught in
//! `submitting` be sent again safely: Rightfoot's 24-hour body cache answers an
//! identical body with the first response instead of checking anyone twice.
//!
//! This module owns that mapping and the byte-for-byte rebuild check. It writes
//! nothing; its only I/O is the list's reading of its members' records from a CSV file
//! ([`RunList::authorizers`]), to hash each chunk when it is planned and to write its
//! body when it is sent. [`super`] loads the list and stores the plan.

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::authorizers::indexed::ListReadError;
use crate::authorizers::run_list::RunList;
use crate::authorizers::{Authorizer, wire};
use crate::store::{PlannedChunk, PreflightRejection, RunPlan};

/// One chunk: its members, sorted by id, and the SHA-256 of the exact bytes to POST.
///
/// The body itself is written when the chunk is sent ([`Chunk::into_body`]), not when
/// it is planned: a run of 100,000 authorizers would otherwise hold all its bodies at
/// once. For a CSV list, the members' records are read again from the file to write
/// it, so the personal data is in memory for the chunks in flight only; a file that
/// changed since the plan is refused ([`ListReadError`]). Writing is deterministic, so
/// the bytes sent are the ones hashed here (and the sender checks that they are).
///
/// The chunks of a plan share the sorted list, each holding its range of it.
///
/// `Debug` shows the member count and the hash.
#[derive(Clone)]
pub struct Chunk {
    list: Arc<RunList>,
    range: std::ops::Range<usize>,
    webhook_url: Option<Arc<str>>,
    body_sha256: [u8; 32],
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunk")
            .field("members", &self.range.len())
            .field("body_sha256", &hex::encode(self.body_sha256))
            .finish_non_exhaustive()
    }
}

/// Two chunks are equal when they have the same members and the same body.
impl PartialEq for Chunk {
    fn eq(&self, other: &Chunk) -> bool {
        self.body_sha256 == other.body_sha256 && self.members().eq(other.members())
    }
}

impl Eq for Chunk {}

impl Chunk {
    /// The members' ids, sorted.
    pub fn members(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.range.clone().map(|index| self.list.id(index))
    }

    /// The exact request body, written anew (from the file, for a CSV list). Personal
    /// data: send it, never log or store it.
    pub fn body(&self) -> Result<Vec<u8>, ListReadError> {
        // Checked against the recorded hash by the sender, not validated again.
        let authorizers = self.list.authorizers_at(self.range.clone())?;
        Ok(wire::request_body(
            &authorizers,
            self.webhook_url.as_deref(),
        ))
    }

    /// The body; the chunk's hold on the list ends as soon as it is written.
    pub fn into_body(self) -> Result<Vec<u8>, ListReadError> {
        self.body()
    }

    /// The file the members' records are read from, if they are not in memory.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.list.file().map(|(path, _)| path)
    }

    /// SHA-256 of [`Chunk::body`]: what Rightfoot's body cache keys on.
    pub fn body_sha256(&self) -> [u8; 32] {
        self.body_sha256
    }

    fn planned(&self) -> PlannedChunk {
        PlannedChunk {
            body_sha256: self.body_sha256,
            members: self.members().map(str::to_string).collect(),
        }
    }
}

/// What a run will do with one list.
#[derive(Debug, Default)]
pub struct Plan {
    /// Authorizers pre-flight kept out, with the API's message and where they were
    /// defined. No personal data.
    pub rejected: Vec<PreflightRejection>,
    pub chunks: Vec<Chunk>,
    /// The loader's warnings (files, rows, keys; never values), for the log.
    pub warnings: Vec<String>,
}

impl Plan {
    /// The plan as the store records it (hashes and ids, no bodies).
    pub fn to_store_plan(&self) -> RunPlan {
        RunPlan {
            rejected: self.rejected.clone(),
            chunks: self.chunks.iter().map(Chunk::planned).collect(),
        }
    }

    /// Authorizers in the chunks.
    pub fn members(&self) -> usize {
        self.chunks.iter().map(|c| c.range.len()).sum()
    }
}

/// Plans a run over `list`: rejections recorded by reason and origin, valid
/// authorizers (already sorted by id) cut into chunks of at most `max_batch_size`,
/// each hashed from its body. Each chunk's authorizers are handed to `each_chunk` as
/// they are read (the run takes the judgement's fields from them), then dropped.
pub fn plan(
    mut list: RunList,
    max_batch_size: usize,
    webhook_url: Option<&str>,
    mut each_chunk: impl FnMut(&[Authorizer]),
) -> Result<Plan, ListReadError> {
    let rejected = std::mem::take(&mut list.rejected)
        .iter()
        .map(|rejected| PreflightRejection {
            authorizer_unique_id: rejected.id.clone(),
            source: rejected.origin.to_string(),
            reason: rejected.error.to_string(),
        })
        .collect();
    let warnings = std::mem::take(&mut list.warnings);
    let webhook_url: Option<Arc<str>> = webhook_url.map(Arc::from);
    let size = max_batch_size.max(1);
    let list = Arc::new(list);
    let mut chunks = Vec::with_capacity(list.len().div_ceil(size));
    for start in (0..list.len()).step_by(size) {
        let range = start..(start + size).min(list.len());
        let authorizers = list.authorizers(range.clone())?;
        let mut hasher = Sha256::new();
        wire::write_request_body(&mut hasher, &authorizers, webhook_url.as_deref())
            .expect("hashing cannot fail");
        each_chunk(&authorizers);
        chunks.push(Chunk {
            list: Arc::clone(&list),
            range,
            webhook_url: webhook_url.clone(),
            body_sha256: hasher.finalize().into(),
        });
    }
    Ok(Plan {
        rejected,
        chunks,
        warnings,
    })
}

/// Why a chunk's body cannot be rebuilt byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RebuildError {
    /// A member is no longer in the list, or no longer passes pre-flight.
    MemberMissing { authorizer_unique_id: String },
    /// Every member is there, but the bytes differ (an authorizer's data, or the
    /// webhook URL, changed).
    BodyChanged,
    /// The file changed again, or cannot be read, since it was indexed for the rebuild.
    Unreadable(ListReadError),
}

impl fmt::Display for RebuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RebuildError::MemberMissing {
                authorizer_unique_id,
            } => write!(
                f,
                "authorizer {authorizer_unique_id:?} is no longer in the authorizers list, or no longer passes pre-flight"
            ),
            RebuildError::BodyChanged => f.write_str(
                "the authorizers' data or the webhook url changed since the chunk was planned, so its body is no longer the one recorded",
            ),
            RebuildError::Unreadable(error) => error.fmt(f),
        }
    }
}

/// The current list, for rebuilding chunk bodies after a restart.
pub(crate) struct CurrentList {
    list: RunList,
}

impl CurrentList {
    pub(crate) fn new(list: RunList) -> CurrentList {
        CurrentList { list }
    }

    /// The body of a chunk with `members` (in stored, sorted order), if it hashes to
    /// `stored_sha256` (lowercase hex, as the store keeps it).
    pub(crate) fn rebuild(
        &self,
        members: &[String],
        webhook_url: Option<&str>,
        stored_sha256: &str,
    ) -> Result<Vec<u8>, RebuildError> {
        let positions = members
            .iter()
            .map(|id| {
                self.list
                    .position(id)
                    .ok_or_else(|| RebuildError::MemberMissing {
                        authorizer_unique_id: id.clone(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let authorizers = self
            .list
            .authorizers_at(positions.into_iter())
            .map_err(RebuildError::Unreadable)?;
        let body = wire::request_body(&authorizers, webhook_url);
        if hex::encode(Sha256::digest(&body)) == stored_sha256 {
            Ok(body)
        } else {
            Err(RebuildError::BodyChanged)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorizers::csv::{COLUMNS, parse_csv_bytes};

    fn plan_of(list: RunList, size: usize, url: Option<&str>) -> Plan {
        super::plan(list, size, url, |_| {}).unwrap()
    }

    /// A CSV list of valid bank-account authorizers with these ids.
    fn list(ids: &[&str], ssn: &str) -> RunList {
        let mut text = COLUMNS.join(",");
        for id in ids {
            text.push_str(&format!(
                "\n{id},Ada,Lovelace,1 Main St,,Springfield,MI,49007,US,5558671309,02/01/1970,{ssn},,90871234565,021000021,,,,"
            ));
        }
        RunList::from_loaded(
            parse_csv_bytes(text.as_bytes(), std::path::Path::new("list.csv")).unwrap(),
        )
    }

    #[test]
    fn chunks_are_sorted_by_id_and_cut_at_the_batch_size() {
        let plan = plan_of(list(&["c", "a", "e", "b", "d"], "318527946"), 2, None);
        let members: Vec<Vec<&str>> = plan.chunks.iter().map(|c| c.members().collect()).collect();
        assert_eq!(members, [vec!["a", "b"], vec!["c", "d"], vec!["e"]]);
        assert_eq!(plan.members(), 5);
        let again = plan_of(list(&["e", "d", "c", "b", "a"], "318527946"), 2, None);
        assert_eq!(
            plan.chunks, again.chunks,
            "the order of the file does not matter"
        );
    }

    #[test]
    fn a_rebuild_is_byte_for_byte_or_refused() {
        let plan = plan_of(
            list(&["a", "b"], "318527946"),
            10,
            Some("https://x.test/h?token=t"),
        );
        let chunk = &plan.chunks[0];
        let stored = hex::encode(chunk.body_sha256());
        assert_eq!(stored, hex::encode(Sha256::digest(chunk.body().unwrap())));
        let members: Vec<String> = chunk.members().map(str::to_string).collect();

        let same = CurrentList::new(list(&["b", "a", "z"], "318527946"));
        assert_eq!(
            same.rebuild(&members, Some("https://x.test/h?token=t"), &stored),
            Ok(chunk.body().unwrap())
        );
        assert_eq!(
            same.rebuild(&members, None, &stored),
            Err(RebuildError::BodyChanged),
            "the webhook url is part of the bytes"
        );
        let changed = CurrentList::new(list(&["a", "b"], "318527947"));
        assert_eq!(
            changed.rebuild(&members, Some("https://x.test/h?token=t"), &stored),
            Err(RebuildError::BodyChanged)
        );
        let missing = CurrentList::new(list(&["a"], "318527946"));
        assert_eq!(
            missing.rebuild(&members, Some("https://x.test/h?token=t"), &stored),
            Err(RebuildError::MemberMissing {
                authorizer_unique_id: "b".into()
            })
        );
    }

    #[test]
    fn debug_shows_no_body() {
        let plan = plan_of(list(&["a"], "318527946"), 10, None);
        let shown = format!("{:?}", plan.chunks[0]);
        assert!(!shown.contains("318527946"), "{shown}");
        assert!(shown.contains("members: 1"), "{shown}");
    }
}
