//! The authorizers (borrowers) a monitor checks, and the personal data that identifies
//! them to Rightfoot.
//!
//! An [`Authorizer`] is an id, lender metadata (the CSV's `meta_*` columns), where it
//! was loaded from, and its personal data. The personal data (names, address, phone,
//! date of birth, SSN, EIN, account, routing and card numbers, CVV) is private to this
//! module: `Debug` shows only the id, nothing outside this module can read those
//! fields, and the only way they leave the process is [`wire::request_body`], which
//! writes the JSON body of `POST /v1/balance_requests`.
//!
//! This module owns the schema's field names ([`fields`]), loading ([`source`],
//! [`csv`]) and the pre-flight checks that mirror Rightfoot's own ([`validate`]). It
//! does not own chunking, submission or storage, nor the file-permission rule and the
//! bounded, regular-files-only read, which it shares with secret files
//! ([`crate::private_file::permissions`], [`crate::private_file::input`]).
//!
//! Layers, each using only those below it (and this module's own types):
//!
//! 1. [`fields`], [`metadata`], [`limits`], [`validate`], [`wire`]: each on its own
//!    (`limits` reads `fields` and `metadata`; `validate` reads `limits`).
//! 2. [`loaded`]: what every loader returns ([`source::LoadedAuthorizers`],
//!    [`source::LoadError`]), the permission-checked read and the pre-flight split.
//! 3. [`csv`]: Rightfoot's CSV upload format.
//! 4. [`source`]: the YAML loader and the dispatch between the formats; [`indexed`]: a
//!    CSV file as ids and byte offsets, its records read again on demand.
//! 5. [`run_list`]: the list a run plans from, a CSV file indexed or any other source
//!    loaded whole.

pub mod csv;
pub mod fields;
pub mod indexed;
pub mod limits;
pub mod loaded;
pub mod metadata;
pub mod run_list;
pub mod source;
pub mod validate;
pub mod wire;

/// The owner-only rule, shared with secret files: see [`crate::private_file::permissions`].
pub use crate::private_file::permissions;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

pub use metadata::{Fields, Metadata};

/// Where an authorizer was defined, for error messages: a file and a line (YAML) or a
/// row (CSV, with the header as row 1). The path is shared by every authorizer of the
/// file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A YAML list entry (in the config file or an authorizers YAML file).
    Yaml {
        file: Arc<Path>,
        line: u64,
        column: u64,
    },
    /// A CSV data row; the header is row 1, the first data row is row 2.
    Csv { file: Arc<Path>, row: u64 },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Yaml { file, line, column } => {
                write!(f, "{}:{line}:{column}", file.display())
            }
            Origin::Csv { file, row } => write!(f, "{} row {row}", file.display()),
        }
    }
}

/// One monitored borrower.
///
/// `Debug` prints the id only. The personal fields are reachable from this module and
/// its children alone.
///
/// The personal data is kept as the JSON text of the object Rightfoot's `Authorizer`
/// schema shapes (keys sorted, as `serde_json::Map` writes them), judged by pre-flight
/// validation when the object is read. The authorizers of one list share one text
/// ([`ListBuilder`]): every id, JSON object and metadata field one after another, each
/// authorizer holding where its own parts are. A list of 100,000 borrowers then takes
/// a few hundred bytes each, not the few kilobytes a JSON tree would, in a handful of
/// large allocations that go back to the system in one piece when the last chunk of
/// the list has been sent, rather than 100,000 small ones scattered through the heap.
#[derive(Clone)]
pub struct Authorizer {
    text: Arc<ListText>,
    id: Span,
    /// The wire-shaped object, including `authorizer_unique_id`, as compact JSON.
    personal: Span,
    metadata: Span,
    metadata_ends: Span,
    origin: Origin,
    /// The authorizer's own pre-flight verdict (everything but the batch-level
    /// duplicate check), taken from the object before it was reduced to text: the
    /// limits first, then the API's checks.
    verdict: Option<validate::Rejection>,
    /// Whether `authorizer_unique_id` is a non-blank string within the id's limits:
    /// only such ids take part in the duplicate check, as Rightfoot does.
    usable_id: bool,
}

/// Where one part of an authorizer is in its list's text (or offsets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

/// The text of a list's authorizers. Holds personal data: no `Debug` shows it.
#[derive(Default)]
struct ListText {
    text: String,
    /// Each authorizer's metadata offsets, relative to its metadata's start.
    metadata_ends: Vec<u32>,
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer")
            .field("authorizer_unique_id", &self.id())
            .finish_non_exhaustive()
    }
}

/// Builds the authorizers of one list over one shared text.
pub(crate) struct ListBuilder {
    text: ListText,
    authorizers: Vec<Authorizer>,
    /// What the authorizers point at until [`ListBuilder::finish`] hands them the text.
    unsealed: Arc<ListText>,
}

impl ListBuilder {
    /// A builder for about `capacity` authorizers.
    pub(crate) fn with_capacity(capacity: usize) -> ListBuilder {
        ListBuilder {
            text: ListText::default(),
            authorizers: Vec::with_capacity(capacity),
            unsealed: Arc::new(ListText::default()),
        }
    }

    /// Adds an authorizer from a Rightfoot-shaped JSON object. The id is read from
    /// `authorizer_unique_id` when it is a string, and is empty otherwise (pre-flight
    /// validation then rejects it).
    pub(crate) fn push(
        &mut self,
        object: serde_json::Map<String, serde_json::Value>,
        metadata: &Metadata,
        origin: Origin,
    ) {
        let (usable_id, verdict) = verdict(&object, metadata);
        self.push_judged(object, metadata, origin, usable_id, verdict);
    }

    /// Adds an authorizer read again from a file it was indexed from, whose row passed
    /// pre-flight then (the caller checks that the bytes are the ones planned): it is
    /// not validated a second time.
    pub(crate) fn push_indexed(
        &mut self,
        object: serde_json::Map<String, serde_json::Value>,
        metadata: &Metadata,
        origin: Origin,
    ) {
        self.push_judged(object, metadata, origin, true, None);
    }

    fn push_judged(
        &mut self,
        object: serde_json::Map<String, serde_json::Value>,
        metadata: &Metadata,
        origin: Origin,
        usable_id: bool,
        verdict: Option<validate::Rejection>,
    ) {
        let text = &mut self.text.text;
        let start = text.len();
        match object.get("authorizer_unique_id") {
            Some(serde_json::Value::String(s)) => text.push_str(s),
            Some(serde_json::Value::Number(n)) => {
                use std::fmt::Write as _;
                let _ = write!(text, "{n}");
            }
            _ => {}
        }
        let id = Span {
            start,
            end: text.len(),
        };
        let json = serde_json::to_string(&object)
            .expect("a JSON object of strings, numbers and nulls always serializes");
        drop(object);
        text.push_str(&json);
        let personal = Span {
            start: id.end,
            end: text.len(),
        };
        let fields = metadata.fields();
        text.push_str(fields.text());
        let metadata = Span {
            start: personal.end,
            end: text.len(),
        };
        let ends = &mut self.text.metadata_ends;
        let ends_start = ends.len();
        ends.extend_from_slice(fields.ends());
        self.authorizers.push(Authorizer {
            text: Arc::clone(&self.unsealed),
            id,
            personal,
            metadata,
            metadata_ends: Span {
                start: ends_start,
                end: ends.len(),
            },
            origin,
            verdict,
            usable_id,
        });
    }

    /// The authorizers, in the order they were added.
    pub(crate) fn finish(self) -> Vec<Authorizer> {
        let ListBuilder {
            mut text,
            mut authorizers,
            unsealed,
        } = self;
        drop(unsealed);
        text.text.shrink_to_fit();
        text.metadata_ends.shrink_to_fit();
        let sealed = Arc::new(text);
        for authorizer in &mut authorizers {
            authorizer.text = Arc::clone(&sealed);
        }
        authorizers
    }
}

/// An authorizer object's own pre-flight verdict (everything but the batch-level
/// duplicate check: the limits first, then the API's checks), and whether its id is a
/// non-blank string within the limits, which alone take part in the duplicate check.
pub(crate) fn verdict(
    object: &serde_json::Map<String, serde_json::Value>,
    metadata: &Metadata,
) -> (bool, Option<validate::Rejection>) {
    let usable_id = matches!(
        object.get("authorizer_unique_id"),
        Some(serde_json::Value::String(s))
            if !s.trim().is_empty() && limits::id_within_limits(s)
    );
    let verdict = match limits::check_limits(object, metadata) {
        Err(limit) => Some(validate::Rejection::Limit(limit)),
        Ok(()) => validate::check_authorizer(object)
            .err()
            .map(validate::Rejection::Api),
    };
    (usable_id, verdict)
}

impl Authorizer {
    /// Builds one authorizer from a Rightfoot-shaped JSON object (see
    /// [`ListBuilder::push`]); a list is built with a [`ListBuilder`].
    #[cfg(test)]
    pub(crate) fn from_wire_object(
        object: serde_json::Map<String, serde_json::Value>,
        metadata: Metadata,
        origin: Origin,
    ) -> Authorizer {
        let mut list = ListBuilder::with_capacity(1);
        list.push(object, &metadata, origin);
        list.finish()
            .pop()
            .expect("the builder holds the authorizer just added")
    }

    fn part(&self, span: Span) -> &str {
        &self.text.text[span.start..span.end]
    }

    /// Rightfoot's `authorizer_unique_id`: lender-assigned, not personal data.
    pub fn id(&self) -> &str {
        self.part(self.id)
    }

    /// Lender metadata, such as `payment_amount` from a `meta_payment_amount` column.
    pub fn metadata(&self) -> metadata::Fields<'_> {
        metadata::Fields::new(
            self.part(self.metadata),
            &self.text.metadata_ends[self.metadata_ends.start..self.metadata_ends.end],
        )
    }

    /// The wire-shaped object as compact JSON. Personal data.
    fn personal(&self) -> &str {
        self.part(self.personal)
    }

    /// Where this authorizer was defined.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }
}

/// A JSON object literal as the map the checks take, for the unit tests of this folder.
#[cfg(test)]
pub(crate) fn json_object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("the tests give objects"),
    }
}
