//! Wire structs: Rightfoot's JSON bodies as they arrive, and the field-level decoding
//! that turns their text into exact values.
//!
//! Every struct here mirrors one response schema and is deserialized leniently: optional
//! and unknown fields are tolerated, a field the daemon does not use is dropped when its
//! value is outside the schema (a negative `total_processed` loses nothing else), ids
//! may be strings or numbers, the page cursor may be spelled `next_page_token` or
//! `nextPageToken` (README errata), and money stays as the raw JSON number text ([`RawValue`]) until [`money`] parses it digit by digit with
//! [`Cents::parse`], so no balance ever passes through an `f64`.
//!
//! This module owns the wire shapes and those field parsers. It does not own the domain
//! types the client returns (`BalanceResult`, `SubmitOutcome`, ...) nor decide what a
//! missing field means; the modules that build domain values do. Nothing here is public
//! outside the crate: the wire shapes may change without the domain types changing.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::domain::{Cents, MoneyError};

/// `201` from `POST /v1/balance_requests` (`BatchCreatedResponse`).
#[derive(Debug, Deserialize)]
pub(crate) struct BatchCreatedWire {
    #[serde(default, deserialize_with = "opt_id")]
    pub batch_id: Option<String>,
    #[serde(default)]
    pub submitted_at: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub message: Option<String>,
    #[serde(default)]
    pub failed_authorizers: Option<Vec<FailedAuthorizerWire>>,
    #[serde(default, deserialize_with = "lenient")]
    pub warnings: Option<Vec<String>>,
}

/// One entry of `failed_authorizers[]`.
#[derive(Debug, Deserialize)]
pub(crate) struct FailedAuthorizerWire {
    #[serde(default, deserialize_with = "opt_id")]
    pub authorizer_unique_id: Option<String>,
    /// A string in the schema; anything else is kept as compact JSON text.
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default, deserialize_with = "lenient")]
    pub account_type: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub row_number: Option<u64>,
}

/// `200` from `GET /v1/balances` (`BatchBalancesResponse`).
#[derive(Debug, Deserialize)]
pub(crate) struct BatchBalancesWire {
    #[serde(default, deserialize_with = "opt_id")]
    pub batch_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub total_processed: Option<u64>,
    #[serde(default)]
    pub balances: Option<Vec<BalanceRecordWire>>,
    #[serde(default)]
    pub has_more: Option<bool>,
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default, rename = "nextPageToken")]
    pub next_page_token_camel: Option<String>,
}

impl BatchBalancesWire {
    /// The cursor under either spelling, `next_page_token` first; empty means none.
    pub fn cursor(&self) -> Option<String> {
        pick_cursor(&self.next_page_token, &self.next_page_token_camel)
    }
}

/// One entry of `balances[]` (`BalanceRecord`).
#[derive(Debug, Deserialize)]
pub(crate) struct BalanceRecordWire {
    #[serde(default, deserialize_with = "opt_id")]
    pub authorizer_unique_id: Option<String>,
    /// The JSON number text, untouched; `null` and absent are `None`.
    #[serde(default)]
    pub balance: Option<Box<RawValue>>,
    #[serde(default, deserialize_with = "opt_code")]
    pub balance_status_code: Option<i64>,
    /// Deprecated spelling of `balance_status_code`, read only as a fallback (and
    /// leniently: a result is never lost to a field it does not need).
    #[serde(default, deserialize_with = "lenient_code")]
    pub status_code: Option<i64>,
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// `200` from `GET /v1/monitoring/authorizers/{id}/history`, its fields in the page's
/// order (the cursor before `has_more`, unlike the balances page).
#[derive(Debug, Deserialize)]
pub(crate) struct AuthorizerHistoryWire {
    #[serde(default, deserialize_with = "opt_id")]
    pub authorizer_unique_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub total_count: Option<u64>,
    #[serde(default)]
    pub history: Option<Vec<HistoryEntryWire>>,
    #[serde(default)]
    pub next_page_token: Option<String>,
    #[serde(default, rename = "nextPageToken")]
    pub next_page_token_camel: Option<String>,
    #[serde(default)]
    pub has_more: Option<bool>,
}

impl AuthorizerHistoryWire {
    pub fn cursor(&self) -> Option<String> {
        pick_cursor(&self.next_page_token, &self.next_page_token_camel)
    }
}

/// One entry of `history[]`.
#[derive(Debug, Deserialize)]
pub(crate) struct HistoryEntryWire {
    #[serde(default)]
    pub run_at: Option<String>,
    #[serde(default, deserialize_with = "opt_id")]
    pub batch_id: Option<String>,
    #[serde(default)]
    pub balance_amount: Option<Box<RawValue>>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub error_message: Option<String>,
}

/// The `ApiErrorResponse` envelope. Every field is a loose [`Value`] because real
/// bodies disagree with the schema: `details` is an object or a string, `error` is
/// sometimes a bare string, `status_code` sometimes a string.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ApiErrorResponseWire {
    #[serde(default)]
    pub status: Option<Value>,
    #[serde(default)]
    pub status_code: Option<Value>,
    #[serde(default)]
    pub error: Option<Value>,
    #[serde(default)]
    pub documentation_url: Option<Value>,
    /// Not in the schema; some gateways put the message at the top level.
    #[serde(default)]
    pub message: Option<Value>,
}

fn pick_cursor(snake: &Option<String>, camel: &Option<String>) -> Option<String> {
    snake
        .as_deref()
        .filter(|t| !t.is_empty())
        .or(camel.as_deref().filter(|t| !t.is_empty()))
        .map(str::to_string)
}

/// A field the daemon does not use (a count, a message, a CSV row number): its value
/// when it has the documented type, `None` when it has not, so that a value outside the
/// schema never throws away the answer around it. The fields the daemon uses (ids,
/// balances, status codes, times, page tokens) are read strictly.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Option::<Value>::deserialize(deserializer)?;
    Ok(value.and_then(|value| serde_json::from_value(value).ok()))
}

/// [`opt_code`], read leniently: for the deprecated `status_code`.
fn lenient_code<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    Ok(value.and_then(|value| opt_code(value).ok().flatten()))
}

/// An opaque id: a JSON string, or a number kept as its text. `null` is `None`.
fn opt_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(serde::de::Error::custom(
            "expected an id as a string or a number",
        )),
    }
}

/// A status code: a JSON integer, or a string holding one. `null` is `None`.
fn opt_code<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let invalid = || serde::de::Error::custom("expected a status code as an integer");
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(invalid),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

/// Why a money field could not be read. Never carries the amount itself: balances are
/// personal data and must not reach error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MoneyFieldError {
    /// Neither a number nor a numeric string.
    NotANumber,
    /// A number that is not a whole count of cents, or is out of range.
    NotExactCents,
}

impl MoneyFieldError {
    pub fn describe(self) -> &'static str {
        match self {
            MoneyFieldError::NotANumber => "is not a number",
            MoneyFieldError::NotExactCents => "is not an exact amount of cents",
        }
    }
}

/// Parses a money field from its raw JSON text, exactly. `-83.68` is `Cents(-8368)`;
/// a JSON string holding a decimal (`"-83.68"`) is accepted too.
pub(crate) fn money(raw: &RawValue) -> Result<Cents, MoneyFieldError> {
    let text = raw.get().trim();
    let decimal = if text.starts_with('"') {
        serde_json::from_str::<String>(text).map_err(|_| MoneyFieldError::NotANumber)?
    } else if text.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) {
        text.to_string()
    } else {
        return Err(MoneyFieldError::NotANumber);
    };
    Cents::parse(&decimal).map_err(|error| match error {
        MoneyError::Empty | MoneyError::Invalid(_) => MoneyFieldError::NotANumber,
        MoneyError::TooPrecise(_) | MoneyError::TooLarge(_) => MoneyFieldError::NotExactCents,
    })
}

/// Parses a timestamp: RFC 3339 (`2024-08-09T18:10:44Z`, any offset), or an ISO date
/// and time without an offset, read as UTC.
pub(crate) fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
}

/// A JSON value as text: a string as itself, `null` as `None`, anything else as
/// compact JSON.
pub(crate) fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// A description of a JSON decoding error that cannot leak the body's values.
///
/// serde_json quotes the offending value in some messages (`invalid type: string
/// "…"`), and a response body may hold balances or ids. Field names are kept for
/// missing and duplicate fields; every other quoted fragment is elided.
pub(crate) fn describe_json_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let position = format!("line {} column {}", error.line(), error.column());
    match error.classify() {
        Category::Eof => format!("truncated json at {position}"),
        Category::Syntax => format!("malformed json at {position}"),
        Category::Io => format!("read error at {position}"),
        Category::Data => {
            let full = error.to_string();
            let message = full
                .rsplit_once(" at line ")
                .map_or(full.as_str(), |(m, _)| m);
            let message =
                if message.starts_with("missing field") || message.starts_with("duplicate field") {
                    message.to_string()
                } else {
                    elide_quoted(message)
                };
            format!("{message} at {position}")
        }
    }
}

/// Replaces every `"…"` and `` `…` `` fragment with `…`.
fn elide_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut open: Option<char> = None;
    for ch in message.chars() {
        match open {
            Some(quote) if ch == quote => open = None,
            Some(_) => {}
            None if ch == '"' || ch == '`' => {
                open = Some(ch);
                out.push('…');
            }
            None => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn money_is_exact_from_the_number_text() {
        let table: &[(&str, i64)] = &[
            ("-83.68", -8368),
            ("3851.09", 385109),
            ("12345678901.23", 1234567890123),
            ("0.1", 10),
            ("0", 0),
            ("1e2", 10000),
            ("\"-83.68\"", -8368),
            // A value whose f64 round trip is inexact: 0.29 * 100 = 28.999999999999996.
            ("0.29", 29),
            ("90071992547409.93", 9007199254740993),
        ];
        for (text, cents) in table {
            assert_eq!(money(&raw(text)), Ok(Cents(*cents)), "{text}");
        }
        assert_eq!(money(&raw("1.234")), Err(MoneyFieldError::NotExactCents));
        assert_eq!(money(&raw("true")), Err(MoneyFieldError::NotANumber));
        assert_eq!(money(&raw("{\"a\":1}")), Err(MoneyFieldError::NotANumber));
        assert_eq!(money(&raw("\"abc\"")), Err(MoneyFieldError::NotANumber));
        assert_eq!(money(&raw("1e30")), Err(MoneyFieldError::NotExactCents));
    }

    #[test]
    fn balance_null_and_absent_are_none() {
        let records: Vec<BalanceRecordWire> = serde_json::from_str(
            r#"[{"authorizer_unique_id":"a","balance":null,"balance_status_code":3300},
                {"authorizer_unique_id":7,"status_code":"0"}]"#,
        )
        .unwrap();
        assert!(records[0].balance.is_none());
        assert_eq!(records[0].balance_status_code, Some(3300));
        assert!(records[1].balance.is_none());
        assert_eq!(records[1].authorizer_unique_id.as_deref(), Some("7"));
        assert_eq!(records[1].status_code, Some(0));
    }

    #[test]
    fn cursor_under_either_name() {
        let snake: BatchBalancesWire =
            serde_json::from_str(r#"{"next_page_token":"a","has_more":true}"#).unwrap();
        let camel: BatchBalancesWire =
            serde_json::from_str(r#"{"nextPageToken":"b","has_more":true}"#).unwrap();
        let both: BatchBalancesWire =
            serde_json::from_str(r#"{"next_page_token":"a","nextPageToken":"b"}"#).unwrap();
        let empty: BatchBalancesWire =
            serde_json::from_str(r#"{"next_page_token":"","nextPageToken":null}"#).unwrap();
        assert_eq!(snake.cursor().as_deref(), Some("a"));
        assert_eq!(camel.cursor().as_deref(), Some("b"));
        assert_eq!(both.cursor().as_deref(), Some("a"));
        assert_eq!(empty.cursor(), None);
    }

    #[test]
    fn timestamps_with_and_without_offsets() {
        let z = timestamp("2024-08-09T18:10:44Z").unwrap();
        assert_eq!(z.to_rfc3339(), "2024-08-09T18:10:44+00:00");
        let offset = timestamp("2024-08-09T20:10:44+02:00").unwrap();
        assert_eq!(offset, z);
        assert_eq!(timestamp("2024-08-09T18:10:44").unwrap(), z);
        assert_eq!(timestamp("2024-08-09 18:10:44.000").unwrap(), z);
        assert!(timestamp("yesterday").is_none());
    }

    #[test]
    fn json_error_descriptions_elide_values() {
        let err =
            serde_json::from_str::<BatchBalancesWire>(r#"{"has_more":"secret-ish"}"#).unwrap_err();
        let text = describe_json_error(&err);
        assert!(!text.contains("secret-ish"), "{text}");
        assert!(text.contains("line 1"), "{text}");
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Needs {
            batch_id: String,
        }
        let err = serde_json::from_str::<Needs>("{}").unwrap_err();
        assert!(describe_json_error(&err).contains("missing field `batch_id`"));
        let err = serde_json::from_str::<BatchBalancesWire>(r#"{"balances":[{"#).unwrap_err();
        assert!(describe_json_error(&err).starts_with("truncated json"));
    }
}
