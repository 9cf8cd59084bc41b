//! Query strings of the read API: decoded pairs, `limit`, and the page token.
//!
//! Parameters are read by hand rather than through a serde extractor, so that every
//! bad value is a 400 in the `ApiErrorResponse` envelope naming the parameter, like
//! Rightfoot's. Unknown parameters are ignored, as Rightfoot ignores them (the
//! `next_page_token` spelling of the cursor included: only `nextPageToken` is read).
//! A parameter given twice counts once, the first time, except where a list is
//! documented (`batch_ids`).

use super::error::ApiProblem;
use crate::rightfoot::served;

/// The decoded `name=value` pairs of a query string, in order.
pub(crate) struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn parse(raw: Option<&str>) -> QueryParams {
        QueryParams(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    /// `limit`: `default` when absent, else an integer from 1 to 100.
    pub fn limit(&self, default: u32) -> Result<u32, ApiProblem> {
        served::limit(self.first("limit"), default).ok_or_else(|| {
            let (message, suggestion) = served::INVALID_LIMIT;
            ApiProblem::bad_request(message, suggestion)
        })
    }

    /// `nextPageToken`, when present and not empty.
    pub fn page_token(&self) -> Option<&str> {
        self.first("nextPageToken")
            .filter(|token| !token.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_integers_from_1_to_100() {
        let limit = |query: &str| QueryParams::parse(Some(query)).limit(10);
        assert_eq!(limit("").unwrap(), 10);
        assert_eq!(limit("limit=1").unwrap(), 1);
        assert_eq!(limit("limit=100&limit=0").unwrap(), 100, "the first counts");
        for bad in ["0", "101", "-1", "abc", "", "1.5", "99999999999"] {
            let problem = limit(&format!("limit={bad}")).unwrap_err();
            assert_eq!(problem.status.as_u16(), 400, "{bad:?}");
        }
    }

    #[test]
    fn values_are_decoded_and_lists_kept_in_order() {
        let params = QueryParams::parse(Some(
            "batch_ids=a&batch_ids=b%20c&nextPageToken=&next_page_token=x",
        ));
        assert_eq!(params.all("batch_ids"), ["a", "b c"]);
        assert_eq!(
            params.page_token(),
            None,
            "empty, and the other spelling is ignored"
        );
    }
}
