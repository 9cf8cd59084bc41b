//! The limits this daemon sets on an authorizer's text, where Rightfoot's schema sets
//! none, and the reason a row outside them is left out.
//!
//! Rightfoot's OpenAPI schema gives patterns for the ZIP code, routing, card and CVV
//! fields and no `maxLength` anywhere. Without limits of our own, a 100,000-character id
//! or a NUL byte in a name would be sent to the API, stored in the database and printed
//! in messages. So, checked on every authorizer as it is loaded, before the API's own
//! checks (`validate.rs`):
//!
//! - `authorizer_unique_id`: at most [`MAX_ID_CHARS`] characters;
//! - every other text field (names, address lines, phone, tax ids, account and card
//!   numbers, and each metadata key and value): at most [`MAX_FIELD_CHARS`] characters;
//! - no control character (NUL, a line break, a tab, DEL or a C1 control) anywhere.
//!
//! An authorizer outside these limits is rejected on its own, with its row or line, as
//! a [`LimitError`]; the rest of the list is checked as usual. The message names the
//! field, never its value. This module does no I/O.

use std::fmt;

use serde_json::{Map, Value};

use super::fields;
use super::metadata::Metadata;

/// The most characters an `authorizer_unique_id` may have.
pub const MAX_ID_CHARS: usize = 128;

/// The most characters any other text field, metadata key or metadata value may have.
pub const MAX_FIELD_CHARS: usize = 256;

/// Why an authorizer is outside the limits. Names the field only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitError {
    /// The field is longer than its limit, in characters.
    TooLong { field: &'static str, max: usize },
    /// The field holds a control character (NUL, a line break, a tab, DEL…).
    ControlCharacter { field: &'static str },
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::TooLong { field, max } => {
                write!(f, "`{field}` is longer than {max} characters")
            }
            LimitError::ControlCharacter { field } => {
                write!(f, "`{field}` holds a control character")
            }
        }
    }
}

impl std::error::Error for LimitError {}

/// Whether `id` is within the id's limits, so that it may be printed and stored.
pub fn id_within_limits(id: &str) -> bool {
    check_text("authorizer_unique_id", id, MAX_ID_CHARS).is_ok()
}

/// Checks every text of a Rightfoot-shaped object and its metadata against the limits,
/// returning the first field outside them (the id first).
pub fn check_limits(object: &Map<String, Value>, metadata: &Metadata) -> Result<(), LimitError> {
    if let Some(Value::String(id)) = object.get("authorizer_unique_id") {
        check_text("authorizer_unique_id", id, MAX_ID_CHARS)?;
    }
    check_object(object)?;
    for (key, value) in metadata.iter() {
        check_text("metadata", key, MAX_FIELD_CHARS)?;
        check_text("metadata", value, MAX_FIELD_CHARS)?;
    }
    Ok(())
}

fn check_object(object: &Map<String, Value>) -> Result<(), LimitError> {
    for (key, value) in object {
        let field = field_name(key);
        match value {
            Value::String(text) if key != "authorizer_unique_id" => {
                check_text(field, text, MAX_FIELD_CHARS)?;
            }
            Value::Object(inner) => check_object(inner)?,
            _ => {}
        }
    }
    Ok(())
}

/// The schema's name for `key`, as a static string for the message; a key the schema
/// does not know is named as "a field" (the loaders drop such keys before this).
fn field_name(key: &str) -> &'static str {
    fields::CSV_COLUMNS
        .iter()
        .chain(fields::DATE_OF_BIRTH.iter())
        .find(|known| **known == key)
        .copied()
        .unwrap_or("a field")
}

fn check_text(field: &'static str, text: &str, max: usize) -> Result<(), LimitError> {
    // Bytes bound characters from above: a short text needs no counting.
    if text.len() > max && text.chars().count() > max {
        return Err(LimitError::TooLong { field, max });
    }
    if text.chars().any(char::is_control) {
        return Err(LimitError::ControlCharacter { field });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::authorizers::json_object as object;

    #[test]
    fn each_limit_names_its_field() {
        let none = Metadata::new();
        let check = |value: Value| check_limits(&object(value), &none).map_err(|e| e.to_string());
        assert_eq!(
            check(json!({"authorizer_unique_id": "A".repeat(128)})),
            Ok(())
        );
        assert_eq!(
            check(json!({"authorizer_unique_id": "A".repeat(129)})),
            Err("`authorizer_unique_id` is longer than 128 characters".to_string())
        );
        // Characters, not bytes.
        assert_eq!(check(json!({"first_name": "é".repeat(256)})), Ok(()));
        assert_eq!(
            check(json!({"first_name": "é".repeat(257)})),
            Err("`first_name` is longer than 256 characters".to_string())
        );
        assert_eq!(
            check(json!({"address": {"city": "Spring\u{0}field"}})),
            Err("`city` holds a control character".to_string())
        );
        assert_eq!(
            check(json!({"authorizer_unique_id": "A-1\n"})),
            Err("`authorizer_unique_id` holds a control character".to_string())
        );
        let metadata = Metadata::from_pairs([("note", "x\u{7f}")]);
        assert_eq!(
            check_limits(&object(json!({})), &metadata).map_err(|e| e.to_string()),
            Err("`metadata` holds a control character".to_string())
        );
        assert!(id_within_limits("A-1") && !id_within_limits("A\u{0}1"));
    }
}
