//! Searching everything a test collected for values that must not be there.
//!
//! [`Outputs`] gathers bytes by the place they came from (a command's stdout, a
//! database file, an email, an API answer). [`find_leaks`] searches them all for
//! [`Needle`]s (a personal value in one written form) and for words and fragments that
//! must appear nowhere, and describes each hit with its place and context. Numbers are
//! matched as whole numbers: a needle found inside a longer run of digits (a Unix
//! timestamp, a float's digits) is not a hit, and a short one with [`Edge::Word`] is
//! not a hit where a letter, digit, `-` or `_` touches it (a UUID's or a base64 line's
//! digits), a decimal point comes right before it (the fraction of a number: a
//! timestamp's microseconds, which a SQLite page may hold cut short), or bytes that are
//! not text stand on both sides of it (the inside of a binary integer in a database
//! page, four bytes of which read as four digits now and then; a value written as text
//! has text on one side at least). Words are matched case-insensitively. The search tokenizes once per place,
//! so tens of thousands of needles over megabytes take well under a second.

use std::collections::HashMap;
use std::path::Path;

use mail_parser::MessageParser;

/// How a number must stand to count as found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// No digit right before or after it.
    Digits,
    /// No letter, digit, `-` or `_` right before or after it, no `.` right before it,
    /// and not between two bytes that are not text (short values).
    Word,
}

/// One value in one written form: the digits of a number (dashes and slashes allowed
/// between them), whose owner and kind a hit names.
#[derive(Clone, Debug)]
pub struct Needle {
    pub owner: String,
    pub what: &'static str,
    pub form: String,
    pub edge: Edge,
}

/// Everything that came out of the system under test, by where it came from.
#[derive(Default)]
pub struct Outputs(pub Vec<(String, Vec<u8>)>);

impl Outputs {
    pub fn add(&mut self, place: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.0.push((place.into(), bytes.into()));
    }

    /// The file's bytes, if it exists.
    pub fn add_file(&mut self, place: &str, path: &Path) {
        if let Ok(bytes) = std::fs::read(path) {
            self.add(format!("{place} ({})", path.display()), bytes);
        }
    }

    /// A SQLite file as it stands on disk, with its `-wal` and `-journal` if any.
    pub fn add_sqlite(&mut self, when: &str, path: &Path) {
        for suffix in ["", "-wal", "-journal"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            self.add_file(&format!("the database{suffix} {when}"), Path::new(&name));
        }
    }

    /// What a command printed.
    pub fn add_output(&mut self, what: &str, stdout: &[u8], stderr: &[u8]) {
        self.add(format!("stdout of {what}"), stdout);
        self.add(format!("stderr of {what}"), stderr);
    }

    /// An email as received and each of its MIME parts decoded (base64 and
    /// quoted-printable undone, attachments included), and its decoded subject.
    pub fn add_email(&mut self, what: &str, raw: &[u8]) {
        self.add(format!("{what} as received"), raw);
        let message = MessageParser::default()
            .parse(raw)
            .unwrap_or_else(|| panic!("{what} is a MIME message"));
        for (n, part) in message.parts.iter().enumerate() {
            self.add(format!("{what}, decoded part {n}"), part.contents());
        }
        self.add(
            format!("{what}, decoded subject"),
            message.subject().unwrap_or_default().as_bytes(),
        );
    }

    /// The number of bytes collected.
    pub fn len(&self) -> usize {
        self.0.iter().map(|(_, bytes)| bytes.len()).sum()
    }
}

/// One hit: the value, its owner, the place and the text around it.
fn describe(what: &str, owner: &str, form: &str, place: &str, bytes: &[u8], at: usize) -> String {
    let from = at.saturating_sub(80);
    let to = (at + form.len() + 80).min(bytes.len());
    format!(
        "{what} of {owner} ({form}) in {place} at byte {at}: …{}…",
        String::from_utf8_lossy(&bytes[from..to]).replace('\n', "⏎")
    )
}

/// Every occurrence in `outputs` of a needle, of one of `words` (kind, lowercase word)
/// in any case, or of one of `fragments` as written.
pub fn find_leaks(
    needles: &[Needle],
    words: &[(&str, &str)],
    fragments: &[&str],
    outputs: &Outputs,
) -> Vec<String> {
    let mut by_form: HashMap<&[u8], Vec<&Needle>> = HashMap::new();
    let mut lengths: Vec<usize> = Vec::new();
    for needle in needles {
        by_form
            .entry(needle.form.as_bytes())
            .or_default()
            .push(needle);
        lengths.push(needle.form.len());
    }
    lengths.sort_unstable();
    lengths.dedup();
    let touches_word =
        |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_');
    // A control byte (but a line break or tab) or one past ASCII.
    let binary = |b: Option<&u8>| {
        b.is_some_and(|b| (*b < 0x20 && !matches!(*b, b'\t' | b'\n' | b'\r')) || *b > 0x7e)
    };
    let mut leaks = Vec::new();
    for (place, bytes) in &outputs.0 {
        // Every stretch of a needle's length that starts and ends on a digit with no
        // digit on either side.
        for start in 0..bytes.len() {
            if !bytes[start].is_ascii_digit() || (start > 0 && bytes[start - 1].is_ascii_digit()) {
                continue;
            }
            for &len in &lengths {
                let end = start + len;
                if end > bytes.len()
                    || !bytes[end - 1].is_ascii_digit()
                    || bytes.get(end).is_some_and(u8::is_ascii_digit)
                {
                    continue;
                }
                let Some(found) = by_form.get(&bytes[start..end]) else {
                    continue;
                };
                let before = start.checked_sub(1).map(|i| &bytes[i]);
                let after = bytes.get(end);
                let touched = touches_word(before)
                    || before == Some(&b'.')
                    || touches_word(after)
                    || (binary(before) && binary(after));
                for needle in found {
                    if needle.edge == Edge::Digits || !touched {
                        leaks.push(describe(
                            needle.what,
                            &needle.owner,
                            &needle.form,
                            place,
                            bytes,
                            start,
                        ));
                    }
                }
            }
        }
        let lower = String::from_utf8_lossy(bytes).to_ascii_lowercase();
        for (what, word) in words {
            for (at, _) in lower.match_indices(word) {
                leaks.push(describe(what, "someone", word, place, lower.as_bytes(), at));
            }
        }
        let text = String::from_utf8_lossy(bytes);
        for fragment in fragments {
            for (at, _) in text.match_indices(fragment) {
                leaks.push(describe(
                    "a fragment",
                    "a request body",
                    fragment,
                    place,
                    text.as_bytes(),
                    at,
                ));
            }
        }
    }
    leaks
}
