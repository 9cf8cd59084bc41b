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
//! This module owns loading ([`source`], [`csv`]), the pre-flight checks that mirror
//! Rightfoot's own ([`validate`]) and the file-permission rule ([`permissions`]). It
//! does not own chunking, submission or storage.

pub mod csv;
pub mod permissions;
pub mod source;
pub mod validate;
pub mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Where an authorizer was defined, for error messages: a file and a line (YAML) or a
/// row (CSV, with the header as row 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A YAML list entry (in the config file or an authorizers YAML file).
    Yaml {
        file: PathBuf,
        line: u64,
        column: u64,
    },
    /// A CSV data row; the header is row 1, the first data row is row 2.
    Csv { file: PathBuf, row: u64 },
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
/// validation when the object is read: a list of 100,000 borrowers then takes a few
/// hundred bytes each, not the few kilobytes a JSON tree would.
#[derive(Clone)]
pub struct Authorizer {
    id: String,
    metadata: BTreeMap<String, String>,
    origin: Origin,
    /// The authorizer's own pre-flight verdict (everything but the batch-level
    /// duplicate check), taken from the object before it was reduced to text.
    verdict: Option<validate::AuthorizerValidationError>,
    /// Whether `authorizer_unique_id` is a non-blank string: only such ids take part in
    /// the duplicate check, as Rightfoot does.
    usable_id: bool,
    /// The wire-shaped object, including `authorizer_unique_id`, as compact JSON.
    personal: PersonalData,
}

/// The wire-shaped personal data. Its `Debug` is redacted.
#[derive(Clone)]
struct PersonalData(Box<serde_json::value::RawValue>);

impl PartialEq for PersonalData {
    fn eq(&self, other: &PersonalData) -> bool {
        self.0.get() == other.0.get()
    }
}

impl fmt::Debug for PersonalData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[personal data redacted]")
    }
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer")
            .field("authorizer_unique_id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Authorizer {
    /// Builds an authorizer from a Rightfoot-shaped JSON object. The id is read from
    /// `authorizer_unique_id` when it is a string, and is empty otherwise (pre-flight
    /// validation then rejects it).
    pub(crate) fn from_wire_object(
        object: serde_json::Map<String, serde_json::Value>,
        metadata: BTreeMap<String, String>,
        origin: Origin,
    ) -> Authorizer {
        let id = match object.get("authorizer_unique_id") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let usable_id = matches!(
            object.get("authorizer_unique_id"),
            Some(serde_json::Value::String(s)) if !s.trim().is_empty()
        );
        let verdict = validate::check_authorizer(&object).err();
        let personal = serde_json::value::to_raw_value(&object)
            .expect("a JSON object of strings, numbers and nulls always serializes");
        Authorizer {
            id,
            metadata,
            origin,
            verdict,
            usable_id,
            personal: PersonalData(personal),
        }
    }

    /// Rightfoot's `authorizer_unique_id`: lender-assigned, not personal data.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Lender metadata, such as `payment_amount` from a `meta_payment_amount` column.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Moves the metadata out (it is not part of the request body), leaving none.
    pub fn take_metadata(&mut self) -> BTreeMap<String, String> {
        std::mem::take(&mut self.metadata)
    }

    /// Where this authorizer was defined.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }
}
