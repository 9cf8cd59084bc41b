//! Which submitted rows the sandbox rejects, and with which message.
//!
//! Per-row checks are not written here: they are [`crate::authorizers::validate`],
//! the same code that pre-flights the daemon's own submissions, so the sandbox and the
//! client cannot drift apart. This module adds what a single row cannot know (a
//! duplicate `authorizer_unique_id` in the batch) and the `account_type` label. It
//! sees personal data only for the duration of the check and keeps none of it.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::authorizers::validate::{AuthorizerValidationError, check_authorizer};

/// Why one row was rejected. `Display` is the API's exact message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("{0}")]
    Invalid(AuthorizerValidationError),
    #[error("Duplicate authorizer unique ID not allowed.")]
    DuplicateId,
}

/// Checks every row of a batch, in order: `None` for an accepted row.
///
/// A row that is not a JSON object has no id to report and is rejected as missing
/// one. An id that already appeared in an earlier row rejects the later row with the
/// duplicate message; the first occurrence is checked on its own merits. (Rightfoot
/// does not say which occurrence it keeps; this is the sandbox's choice.)
///
/// This is the swap point for `authorizers::validate::check_batch` once it lands.
pub fn check_rows(rows: &[Option<&Map<String, Value>>]) -> Vec<Option<RowError>> {
    let mut seen: HashSet<&str> = HashSet::new();
    rows.iter()
        .map(|row| {
            let Some(object) = row else {
                return Some(RowError::Invalid(
                    AuthorizerValidationError::MissingUniqueId,
                ));
            };
            let repeated = match object.get("authorizer_unique_id") {
                Some(Value::String(id)) => !seen.insert(id.as_str()),
                _ => false,
            };
            match check_authorizer(object) {
                Err(error) => Some(RowError::Invalid(error)),
                Ok(()) if repeated => Some(RowError::DuplicateId),
                Ok(()) => None,
            }
        })
        .collect()
}

/// The id to echo in `failed_authorizers`: a string as given, a number as its text.
pub fn reported_id(row: Option<&Map<String, Value>>) -> Option<String> {
    match row?.get("authorizer_unique_id")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `DEBIT_CARD` for a row that gives a debit card number and no account number,
/// `ACCOUNT_NUMBER` otherwise.
pub fn account_type(row: Option<&Map<String, Value>>) -> &'static str {
    match row {
        Some(object)
            if object.contains_key("debit_card_number")
                && !object.contains_key("account_number") =>
        {
            "DEBIT_CARD"
        }
        _ => "ACCOUNT_NUMBER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("the test passes objects"),
        }
    }

    #[test]
    fn later_duplicates_and_missing_ids_are_rejected() {
        let a = object(json!({"authorizer_unique_id": "A"}));
        let b = object(json!({"authorizer_unique_id": "B", "debit_card_number": "1"}));
        let none = object(json!({"first_name": "x"}));
        let rows = [Some(&a), Some(&b), Some(&a), None, Some(&none)];
        let result = check_rows(&rows);
        assert_eq!(
            result,
            vec![
                None,
                None,
                Some(RowError::DuplicateId),
                Some(RowError::Invalid(
                    AuthorizerValidationError::MissingUniqueId
                )),
                Some(RowError::Invalid(
                    AuthorizerValidationError::MissingUniqueId
                )),
            ]
        );
        assert_eq!(
            RowError::DuplicateId.to_string(),
            "Duplicate authorizer unique ID not allowed."
        );
        assert_eq!(account_type(Some(&b)), "DEBIT_CARD");
        assert_eq!(account_type(Some(&a)), "ACCOUNT_NUMBER");
        assert_eq!(reported_id(Some(&none)), None);
    }
}
