//! What the sandbox reads from a request apart from its body's content: the largest
//! body it reads ([`MAX_BODY_BYTES`]) and the query string ([`query_pairs`],
//! [`query_value`], [`parse_limit`]).
//!
//! This module does not know the routes or their parameters' meanings; a bad `limit`
//! is answered with Rightfoot's message as an [`ApiError`].

use super::error::ApiError;
use crate::rightfoot::served;

/// The largest request body read, well above 1,000 JSON authorizers or 5,000 CSV rows.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Query-string pairs, percent-decoded, in order (repeated keys kept).
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The first value of `name` in `pairs`.
pub fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Parses a `limit` parameter: absent means `default`; otherwise an integer 1..=100.
pub fn parse_limit(value: Option<&str>, default: u32) -> Result<usize, ApiError> {
    let (message, suggestion) = served::INVALID_LIMIT;
    served::limit(value, default)
        .map(|limit| limit as usize)
        .ok_or_else(|| ApiError::bad_request(message, suggestion))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn limits_are_1_to_100() {
        assert_eq!(parse_limit(None, 10).unwrap(), 10);
        assert_eq!(parse_limit(Some("1"), 10).unwrap(), 1);
        assert_eq!(parse_limit(Some("100"), 10).unwrap(), 100);
        for bad in [
            "0",
            "101",
            "-1",
            "ten",
            "",
            "1.5",
            "99999999999999999999999",
        ] {
            let error = parse_limit(Some(bad), 10).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn query_pairs_keep_repeats_and_decode() {
        let pairs = query_pairs(Some("batch_ids=a&batch_ids=b%20c&limit=5"));
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[1].1, "b c");
        assert_eq!(query_value(&pairs, "limit"), Some("5"));
        assert_eq!(query_value(&pairs, "nope"), None);
        assert!(query_pairs(None).is_empty());
    }
}
