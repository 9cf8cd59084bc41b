//! Pre-flight validation that mirrors Rightfoot's own, message for message.
//!
//! The same checks serve two callers: the loader, which leaves invalid authorizers out
//! of submissions and reports them with their source location, and the sandbox, which
//! answers `failed_authorizers` exactly as the real API does.

/// Rightfoot's `AuthorizerValidationError`: `Display` is the API's exact message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthorizerValidationError {
    MissingUniqueId,
}

impl std::fmt::Display for AuthorizerValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthorizerValidationError::MissingUniqueId => {
                "Missing authorizer unique ID for authorizer(s)."
            }
        })
    }
}

/// Checks one Rightfoot-shaped authorizer object, returning the first error in the
/// API's order. Duplicate ids are a batch-level check: see [`check_batch`].
pub fn check_authorizer(
    object: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), AuthorizerValidationError> {
    match object.get("authorizer_unique_id") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(()),
        _ => Err(AuthorizerValidationError::MissingUniqueId),
    }
}
