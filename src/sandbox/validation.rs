//! Which submitted JSON rows the sandbox rejects, and with which message.
//!
//! The checks are not written here: they are [`crate::authorizers::validate`], the
//! same code that pre-flights the daemon's own submissions, so the sandbox and the
//! client cannot drift apart. That includes the batch-level duplicate check (every
//! occurrence of a repeated `authorizer_unique_id` is rejected). This module adapts
//! it to a request body, whose rows may not even be objects, and labels each row's
//! `account_type`. It sees personal data only for the duration of the check and
//! keeps none of it.

use serde_json::{Map, Value};

use crate::authorizers::validate::{AuthorizerValidationError, check_batch};

/// Checks every row of a batch, in order: `None` for an accepted row. A row that is
/// not a JSON object has no id and is rejected as missing one.
pub fn check_rows(rows: &[Option<&Map<String, Value>>]) -> Vec<Option<AuthorizerValidationError>> {
    let objects: Vec<&Map<String, Value>> = rows.iter().flatten().copied().collect();
    let mut verdicts = check_batch(&objects).into_iter();
    rows.iter()
        .map(|row| match row {
            Some(_) => verdicts.next().flatten(),
            None => Some(AuthorizerValidationError::MissingUniqueId),
        })
        .collect()
}

/// The id to echo in `failed_authorizers`: a non-empty string as given, a number as
/// its text, none otherwise.
pub fn reported_id(row: Option<&Map<String, Value>>) -> Option<String> {
    match row?.get("authorizer_unique_id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `DEBIT_CARD` for a row that gives a debit card number and no account number,
/// `ACCOUNT_NUMBER` otherwise.
pub fn account_type(row: Option<&Map<String, Value>>) -> &'static str {
    match row {
        Some(object) if has(object, "debit_card_number") && !has(object, "account_number") => {
            "DEBIT_CARD"
        }
        _ => "ACCOUNT_NUMBER",
    }
}

fn has(object: &Map<String, Value>, key: &str) -> bool {
    !matches!(object.get(key), None | Some(Value::Null))
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
    fn non_objects_are_missing_an_id_and_the_rest_is_the_shared_validation() {
        let a = object(json!({"authorizer_unique_id": "A"}));
        let b = object(json!({"authorizer_unique_id": "B", "debit_card_number": "1"}));
        let rows = [Some(&a), None, Some(&b), Some(&a)];
        let result = check_rows(&rows);
        let objects = [&a, &b, &a];
        let shared = check_batch(&objects);
        assert_eq!(
            result,
            vec![
                shared[0],
                Some(AuthorizerValidationError::MissingUniqueId),
                shared[1],
                shared[2],
            ]
        );
        assert_eq!(
            result[0],
            Some(AuthorizerValidationError::DuplicateUniqueId)
        );
        assert_eq!(account_type(Some(&b)), "DEBIT_CARD");
        assert_eq!(account_type(Some(&a)), "ACCOUNT_NUMBER");
        assert_eq!(account_type(None), "ACCOUNT_NUMBER");
        assert_eq!(reported_id(Some(&object(json!({"x": 1})))), None);
        assert_eq!(
            reported_id(Some(&object(json!({"authorizer_unique_id": 12})))),
            Some("12".to_string())
        );
    }
}
