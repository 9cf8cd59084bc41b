//! Text that leaves the daemon in errors and records: an error's chain of causes, the
//! excerpt of a server's body (one line of it), the [`Redactor`] that removes secrets and numbers
//! that could be personal data from both, and [`count`], a number with its noun in the
//! right number ("1 chunk", "2 chunks") wherever a count is written for people.
//!
//! This module owns those three, once for the whole crate: the Rightfoot client quotes
//! error bodies and transport errors through them, `notify` its receivers' answers and
//! SMTP errors, and the store the reasons Rightfoot gives for refusing an authorizer.
//! It knows no secret type, no HTTP client and no database: callers hand it strings and
//! bytes. It depends on nothing else in the crate.

use std::fmt;

use serde_json::Value;

/// An error and its sources, joined with `: `, skipping a cause whose text an earlier
/// part already contains (some errors, lettre's for one, include their source in their
/// own `Display`).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// `n` and its noun, singular for one and plural otherwise: `count(1, "chunk")` is
/// "1 chunk", `count(2, "chunk")` "2 chunks". The plural adds an `s`; for another plural
/// use [`count_as`]. Any integer type will do (it is compared by its text).
pub fn count(n: impl fmt::Display, noun: &str) -> String {
    let n = n.to_string();
    let s = if n == "1" { "" } else { "s" };
    format!("{n} {noun}{s}")
}

/// Names joined with `, ` for a log field or a message, or `none`.
pub fn names<S: AsRef<str>>(names: &[S]) -> String {
    if names.is_empty() {
        return "none".to_string();
    }
    names
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `n` and its noun, with the plural given: `count_as(3, "batch", "batches")`.
pub fn count_as(n: impl fmt::Display, one: &str, many: &str) -> String {
    let n = n.to_string();
    let noun = if n == "1" { one } else { many };
    format!("{n} {noun}")
}

/// The text with every control character (line breaks, tabs) replaced by a space, so
/// that one value is one line.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The start of a body as one line: scrubbed by `redactor`, control characters replaced
/// by spaces, trimmed, and cut at `max_chars` characters with `…` added where cut.
/// `None` for a body with nothing to show.
pub fn excerpt(body: &[u8], redactor: &Redactor, max_chars: usize) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let cleaned = one_line(&redactor.scrub(&text));
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        return None;
    }
    let mut short: String = cleaned.chars().take(max_chars).collect();
    if short.len() < cleaned.len() {
        short.push('…');
    }
    Some(short)
}

/// Removes what must not be quoted from text before it goes into an error, a log line
/// or a record.
///
/// It knows two kinds of things to remove:
/// - known values (needles): a secret ([`Redactor::for_secret`]: the API key, an SMTP
///   password, a webhook secret) and, for a Rightfoot submission, the string values of
///   the request body ([`Redactor::with_body_strings`]: names, address, phone, SSN,
///   account numbers, the webhook URL, which may carry a secret), except
///   `authorizer_unique_id`, the lender's own id and what makes a per-row error useful.
///   Body values shorter than four characters (`CA`, `US`) are left alone; they identify
///   no one and would mangle ordinary words. Each becomes `[redacted]`.
/// - with [`Redactor::digit_runs`], every run of four or more digits (digits joined by
///   `-`, `/`, `.` or a space count as one run, as in `123-45-6789` or `01/02/1990`),
///   which could be an account number, an SSN or a date of birth whatever its source.
///   Each becomes `[digits removed]`.
#[derive(Clone, Default)]
pub struct Redactor {
    needles: Vec<String>,
    digit_runs: bool,
}

/// Never prints what it redacts.
impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} values", self.needles.len())?;
        if self.digit_runs {
            f.write_str(", digit runs")?;
        }
        f.write_str(")")
    }
}

const REDACTED: &str = "[redacted]";
const DIGITS_REMOVED: &str = "[digits removed]";
const MIN_BODY_NEEDLE: usize = 4;
const MIN_DIGIT_RUN: usize = 4;
const DIGIT_JOINERS: [char; 4] = ['-', '/', '.', ' '];

impl Redactor {
    /// A redactor for one secret value (an empty one redacts nothing).
    pub fn for_secret(secret: &str) -> Redactor {
        let mut redactor = Redactor::default();
        redactor.add(secret);
        redactor
    }

    /// A redactor for runs of four or more digits.
    pub fn digit_runs() -> Redactor {
        Redactor {
            digit_runs: true,
            ..Redactor::default()
        }
    }

    /// This redactor plus the string values of a JSON request body.
    pub fn with_body_strings(&self, body: &[u8]) -> Redactor {
        let mut redactor = self.clone();
        if let Ok(value) = serde_json::from_slice::<Value>(body) {
            redactor.collect(&value, None);
        }
        redactor
            .needles
            .sort_by_key(|needle| std::cmp::Reverse(needle.len()));
        redactor.needles.dedup();
        redactor
    }

    fn collect(&mut self, value: &Value, key: Option<&str>) {
        match value {
            Value::String(s)
                if key != Some("authorizer_unique_id") && s.chars().count() >= MIN_BODY_NEEDLE =>
            {
                self.add(s);
            }
            Value::Array(items) => items.iter().for_each(|v| self.collect(v, None)),
            Value::Object(map) => map.iter().for_each(|(k, v)| self.collect(v, Some(k))),
            _ => {}
        }
    }

    fn add(&mut self, needle: &str) {
        if !needle.is_empty() {
            self.needles.push(needle.to_string());
        }
    }

    /// The text with every known value replaced by `[redacted]` and, for a
    /// [`Redactor::digit_runs`], every long digit run by `[digits removed]`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), REDACTED);
            }
        }
        if self.digit_runs {
            out = remove_digit_runs(&out);
        }
        out
    }

    /// A JSON value with every string (keys included) scrubbed.
    pub fn scrub_value(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.scrub(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.scrub_value(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.scrub(k), self.scrub_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// `text` with every run of [`MIN_DIGIT_RUN`] or more digits replaced by the marker.
fn remove_digit_runs(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // The run: digits, and single joiners that are followed by a digit.
        let start = i;
        let mut end = i;
        let mut digits = 0;
        let mut j = i;
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                digits += 1;
                end = j + 1;
                j += 1;
            } else if DIGIT_JOINERS.contains(&chars[j])
                && chars.get(j + 1).is_some_and(char::is_ascii_digit)
            {
                j += 1;
            } else {
                break;
            }
        }
        if digits >= MIN_DIGIT_RUN {
            out.push_str(DIGITS_REMOVED);
        } else {
            out.extend(&chars[start..end]);
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_singular_for_one_only() {
        for (n, text) in [
            (0u64, "0 chunks"),
            (1, "1 chunk"),
            (2, "2 chunks"),
            (21, "21 chunks"),
        ] {
            assert_eq!(count(n, "chunk"), text);
        }
        assert_eq!(count_as(1u32, "batch", "batches"), "1 batch");
        assert_eq!(count_as(3u32, "batch", "batches"), "3 batches");
    }

    #[test]
    fn secrets_and_body_values_are_redacted_but_not_the_id() {
        let body = br#"{"authorizers":[{"authorizer_unique_id":"a-1","ssn":"123456789",
            "first_name":"Jane","address":{"state":"CA"}}],"webhook_url":"https://x.example/h?s=abcd"}"#;
        let redactor = Redactor::for_secret("rf_live_k3y").with_body_strings(body);
        let shown = redactor.scrub("ssn 123456789 of Jane (a-1) in CA, key rf_live_k3y");
        assert_eq!(
            shown,
            "ssn [redacted] of [redacted] (a-1) in CA, key [redacted]"
        );
        let value =
            redactor.scrub_value(&serde_json::json!({"Jane": ["https://x.example/h?s=abcd", 1]}));
        assert_eq!(value, serde_json::json!({"[redacted]": ["[redacted]", 1]}));
        assert!(!format!("{redactor:?}").contains("Jane"));
        assert_eq!(Redactor::for_secret("").scrub("plain"), "plain");
        assert_eq!(
            Redactor::for_secret("s3cr3t").scrub("a s3cr3t b s3cr3t"),
            "a [redacted] b [redacted]"
        );
    }

    #[test]
    fn numbers_that_could_be_personal_data_are_removed_from_reasons() {
        let table = [
            (
                "Invalid routing number 021000021.",
                "Invalid routing number [digits removed].",
            ),
            (
                "SSN 123-45-6789 does not match",
                "SSN [digits removed] does not match",
            ),
            ("date of birth 01/02/1990", "date of birth [digits removed]"),
            (
                "card 4111 1111 1111 1111 expired",
                "card [digits removed] expired",
            ),
            (
                "Routing number must be 9 digits long.",
                "Routing number must be 9 digits long.",
            ),
            (
                "The maximum batch size is 1,000",
                "The maximum batch size is 1,000",
            ),
            ("CVV 123 and zip 9021", "CVV 123 and zip [digits removed]"),
            ("", ""),
        ];
        let redactor = Redactor::digit_runs();
        for (reason, stored) in table {
            assert_eq!(redactor.scrub(reason), stored, "{reason}");
        }
    }

    #[test]
    fn excerpts_are_one_scrubbed_line_cut_at_the_limit() {
        let redactor = Redactor::for_secret("hunter2");
        assert_eq!(
            excerpt(b"<html>\n<b>hunter2</b>\t</html>", &redactor, 200).as_deref(),
            Some("<html> <b>[redacted]</b> </html>")
        );
        assert_eq!(excerpt(b" \n\r ", &redactor, 200), None);
        let long = excerpt("é".repeat(10).as_bytes(), &redactor, 4).unwrap();
        assert_eq!(long, "éééé…");
    }

    #[test]
    fn an_error_chain_skips_causes_already_quoted() {
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl fmt::Display for Layer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Layer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let error = Layer(
            "send failed: refused",
            Some(Box::new(Layer(
                "refused",
                Some(Box::new(Layer("os error 111", None))),
            ))),
        );
        assert_eq!(error_chain(&error), "send failed: refused: os error 111");
    }
}
