//! Opaque keyset cursors: the `next_page_token` of every paged route.
//!
//! A cursor is URL-safe base64 (no padding) of `<kind>1.<scope>.<key>`:
//! - `kind` names the route (`h` history, `b` a batch's balances, `r` runs, `a`
//!   alerts), so a token from one route is refused by another;
//! - `scope` is the first 8 hex digits of the SHA-256 of what the walk is over (the
//!   authorizer id, the batch id, the `monitor` or `state` filter), so a token used
//!   with another authorizer or filter is refused instead of silently paging a
//!   different list;
//! - `key` is the last row's key (a run id, an authorizer id, an alert id); the next
//!   page starts strictly after it (see `store::queries`).
//!
//! Clients must treat tokens as opaque; the format may change with the `1`. Nothing in
//! a token is secret or trusted: it only selects rows the caller may read anyway, and a
//! token that does not decode, has the wrong kind or scope, or a key of the wrong type
//! is a 400. This module encodes and decodes; it does not query.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::error::ApiProblem;

/// Which walk a cursor belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Walk {
    History,
    Balances,
    Runs,
    Alerts,
}

impl Walk {
    fn tag(self) -> &'static str {
        match self {
            Walk::History => "h1",
            Walk::Balances => "b1",
            Walk::Runs => "r1",
            Walk::Alerts => "a1",
        }
    }
}

fn scope_digest(scope: &str) -> String {
    hex::encode(&Sha256::digest(scope.as_bytes())[..4])
}

/// The token for the page after the row whose key is `key`.
pub(crate) fn encode(walk: Walk, scope: &str, key: &str) -> String {
    let text = format!("{}.{}.{key}", walk.tag(), scope_digest(scope));
    URL_SAFE_NO_PAD.encode(text.as_bytes())
}

/// The key in `token`, if it is a token of `walk` over `scope`.
pub(crate) fn decode(walk: Walk, scope: &str, token: &str) -> Result<String, ApiProblem> {
    let text = URL_SAFE_NO_PAD
        .decode(token.trim().trim_end_matches('='))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)?;
    let mut parts = text.splitn(3, '.');
    let (Some(tag), Some(digest), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    if tag != walk.tag() || digest != scope_digest(scope) || key.is_empty() {
        return Err(invalid());
    }
    Ok(key.to_string())
}

/// [`decode`] for a key that is a positive row id.
pub(crate) fn decode_id(walk: Walk, scope: &str, token: &str) -> Result<i64, ApiProblem> {
    decode(walk, scope, token)?
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(invalid)
}

fn invalid() -> ApiProblem {
    ApiProblem::bad_request(
        "Invalid page token.",
        "Please pass the next_page_token of the previous response unchanged, with the same path and filters.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_only_on_its_own_walk_and_scope() {
        let token = encode(Walk::History, "AUTH-1", "42");
        assert!(!token.contains('.') && !token.contains('='), "{token}");
        assert_eq!(decode_id(Walk::History, "AUTH-1", &token).unwrap(), 42);
        assert!(
            decode(Walk::History, "AUTH-2", &token).is_err(),
            "another authorizer"
        );
        assert!(
            decode(Walk::Runs, "AUTH-1", &token).is_err(),
            "another route"
        );

        let with_dots = encode(Walk::Balances, "BATCH-1", "id.with.dots");
        assert_eq!(
            decode(Walk::Balances, "BATCH-1", &with_dots).unwrap(),
            "id.with.dots"
        );
        assert!(decode_id(Walk::Balances, "BATCH-1", &with_dots).is_err());
    }

    #[test]
    fn garbage_is_refused() {
        for token in [
            "",
            "%%%",
            "bm90IGEgdG9rZW4",
            &URL_SAFE_NO_PAD.encode("h1..42"),
            &URL_SAFE_NO_PAD.encode(format!("h1.{}.", scope_digest("A"))),
            &URL_SAFE_NO_PAD.encode(format!("h1.{}.-3", scope_digest("A"))),
            &URL_SAFE_NO_PAD.encode(format!("h1.{}.x", scope_digest("A"))),
        ] {
            let problem = decode_id(Walk::History, "A", token).unwrap_err();
            assert_eq!(problem.status.as_u16(), 400, "{token:?}");
            assert_eq!(problem.message, "Invalid page token.");
        }
    }
}
