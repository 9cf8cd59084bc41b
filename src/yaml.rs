//! The one place YAML is parsed.
//!
//! Every YAML document the daemon reads (the configuration, authorizer files, sandbox
//! scenarios, the OpenAPI document in tests) goes through [`from_str`], so the parser,
//! its limits and its error shape are decided here once. [`did_you_mean`] is the one
//! typo suggestion, for keys, closed sets of words, zones, routes and monitor names.
//! This module depends on nothing else in the crate, so that every module that reads
//! YAML can use it without an import cycle. serde-saphyr gives line/column positions and bounds alias
//! expansion (no "billion laughs"); `serde_path_to_error` adds the key path, so that an
//! error reads `config.yaml:14:7: monitors[1].schedule: ...`. Messages are ours: the
//! parser's errors are mapped from its error variants (`our_words`), so no option name,
//! Rust type name or Debug text reaches the user, and a file that is not UTF-8 is
//! placed at its first bad byte ([`utf8_text`]).

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a file, 1-based, as editors count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

impl Position {
    /// The start of a document: where a problem that belongs to no written value (a
    /// required section left out, an empty file) is reported, so that every problem
    /// names a line and a column.
    pub const DOCUMENT_START: Position = Position { line: 1, column: 1 };

    /// The position where a value was written (where an alias was used, for aliases).
    pub fn of<T>(spanned: &serde_saphyr::Spanned<T>) -> Position {
        Position {
            line: spanned.referenced.line(),
            column: spanned.referenced.column(),
        }
    }
}

/// A problem in a YAML document: the file, the position, the key path and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    pub file: PathBuf,
    pub position: Option<Position>,
    /// The key path, such as `monitors[1].schedule`; empty for the document root.
    pub key: String,
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for YamlError {}

/// Upper bounds on what one document may make the parser do. A configuration has tens
/// of keys and perhaps thousands of inline authorizers; these limits are far above
/// that and far below what would exhaust memory.
fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 64;
    budget.max_aliases = 1_000;
    budget.max_anchors = 1_000;
    budget.max_events = 5_000_000;
    budget.max_nodes = 5_000_000;
    budget.max_total_scalar_bytes = 256 * 1024 * 1024;
    budget.max_documents = 1;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    // "021000021" and "00501" must stay strings: they are routing numbers and ZIP
    // codes, not octal or decimal numbers.
    options.leading_zero_numbers_as_strings = true;
    options.legacy_octal_numbers = false;
    // YAML 1.2 booleans only: `no` is the string "no", not false.
    options.strict_booleans = true;
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    options.with_snippet = false;
    options
}

/// Deserializes one YAML document from `text`, read from `file`.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str, file: &Path) -> Result<T, YamlError> {
    let mut key = String::new();
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            key = e.path().to_string();
            e.into_inner()
        })
    });
    result.map_err(|error| {
        let error = innermost(&error);
        let position =
            error
                .location()
                .filter(|l| l.line() > 0)
                .map_or(Position::DOCUMENT_START, |l| Position {
                    line: l.line(),
                    column: l.column(),
                });
        let (position, tab) = match error {
            serde_saphyr::Error::ExternalMessage { msg, .. } if msg.contains("found a tab") => {
                first_tab_from(text, position).map_or((position, false), |at| (at, true))
            }
            _ => (position, false),
        };
        let mut key = clean_key_path(&key);
        if let serde_saphyr::Error::DuplicateMappingKey {
            key: Some(name), ..
        } = error
        {
            // The path ends where the duplicate key would have gone: name it.
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(name);
        }
        let message = if tab {
            "a tab character: YAML indents with spaces only".to_string()
        } else {
            our_words(error, text, position)
                .unwrap_or_else(|| polish_message(&error.without_snippet().to_string()))
        };
        YamlError {
            file: file.to_path_buf(),
            position: Some(position),
            key,
            message,
        }
    })
}

/// The text of a file that must be UTF-8, or an error at the first byte that is not:
/// its line and column (counted in characters, as editors do) and its byte offset.
pub fn utf8_text<'a>(bytes: &'a [u8], file: &Path) -> Result<&'a str, YamlError> {
    std::str::from_utf8(bytes).map_err(|error| {
        let offset = error.valid_up_to();
        let before = String::from_utf8_lossy(&bytes[..offset]);
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        let position = Position {
            line: 1 + before.matches('\n').count() as u64,
            column: 1 + before[line_start..].chars().count() as u64,
        };
        YamlError {
            file: file.to_path_buf(),
            position: Some(position),
            key: String::new(),
            message: format!("the file is not valid UTF-8 (byte offset {offset})"),
        }
    })
}

/// The error itself, without the wrappers that carry a snippet or an alias's second
/// location.
fn innermost(error: &serde_saphyr::Error) -> &serde_saphyr::Error {
    match error.without_snippet() {
        serde_saphyr::Error::AliasError { error, .. } => innermost(error),
        other => other,
    }
}

/// What a document whose aliases repeat too much is told.
const ALIASES_EXPAND_TOO_FAR: &str =
    "aliases (`*name`) expand to more values than a configuration can hold";

/// The parser's errors that its own text words badly (option and type names, Debug
/// output), in ours. `None` leaves the parser's text, polished by [`polish_message`].
fn our_words(error: &serde_saphyr::Error, text: &str, at: Position) -> Option<String> {
    use serde_saphyr::Error as E;
    use serde_saphyr::budget::BudgetBreach as B;
    let message = match error {
        E::DuplicateMappingKey {
            key: Some(name), ..
        } => format!("duplicate key `{name}`"),
        E::DuplicateMappingKey { key: None, .. } => "duplicate key".to_string(),
        E::MultipleDocuments { .. } => {
            "expected one YAML document, found more (a `---` line starts another)".into()
        }
        E::Budget { breach, .. } => match breach {
            B::Documents { documents } => format!(
                "expected one YAML document, found {documents} (a `---` line starts another)"
            ),
            B::Aliases { .. } => "more than 1000 aliases (`*name`) in one document".into(),
            B::Anchors { .. } => "more than 1000 anchors (`&name`) in one document".into(),
            B::Depth { .. } => "lists and mappings nested more than 64 deep".into(),
            B::Events { .. }
            | B::Nodes { .. }
            | B::AliasAnchorRatio { .. }
            | B::RecordedAnchorEvents { .. }
            | B::RecordedAnchorBytes { .. } => ALIASES_EXPAND_TOO_FAR.into(),
            B::ScalarBytes { .. } | B::InputBytes { .. } => {
                "the document holds more than 256 MiB of text".into()
            }
            _ => "the document is larger than a configuration can be".into(),
        },
        E::AliasReplayCounterOverflow { .. }
        | E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. } => ALIASES_EXPAND_TOO_FAR.into(),
        E::UnknownAnchor { .. } => match word_at(text, at).filter(|w| w.starts_with('*')) {
            Some(alias) => format!(
                "alias `{alias}` refers to no anchor (`&{}`) written before it",
                &alias[1..]
            ),
            None => "an alias refers to no anchor written before it".into(),
        },
        E::Eof { .. } => "the file ends in the middle of a value".into(),
        E::InvalidUtf8Input => "the file is not valid UTF-8".into(),
        E::InvalidScalar { ty, .. } => format!("expected {}", plain_type(ty)),
        E::NullIntoString { .. } | E::InvalidCharNull { .. } => "a value is needed here".into(),
        E::QuotingRequired { .. } => "this value must be quoted".into(),
        E::InvalidBooleanStrict { .. } => "expected true or false".into(),
        E::UnexpectedValueForUnit { .. } | E::UnexpectedValueForUnitEnumVariant { .. } => {
            "this word takes no value: write it alone".into()
        }
        E::IOError { .. } => "the file could not be read".into(),
        E::InternalSeedReusedForMapKey { .. }
        | E::ValueRequestedBeforeKey { .. }
        | E::InternalDepthUnderflow { .. }
        | E::InternalRecursionStackEmpty { .. }
        | E::RecursiveReferencesRequireWeakTypes { .. }
        | E::CannotBorrowTransformedString { .. }
        | E::InvalidOptions { .. } => "the YAML here cannot be read".into(),
        _ => return None,
    };
    Some(message)
}

/// Where the first tab at or after `from` is. The scanner reports a tab where the
/// value it was reading began, which may be lines before the tab.
fn first_tab_from(text: &str, from: Position) -> Option<Position> {
    let skip = usize::try_from(from.line).ok()?.checked_sub(1)?;
    text.lines()
        .enumerate()
        .skip(skip)
        .find_map(|(index, line)| {
            let column = line.chars().position(|c| c == '\t')?;
            Some(Position {
                line: index as u64 + 1,
                column: column as u64 + 1,
            })
        })
}

/// The word written at `at` (up to a space, a comma or a closing bracket).
fn word_at(text: &str, at: Position) -> Option<&str> {
    let line = text
        .lines()
        .nth(usize::try_from(at.line).ok()?.checked_sub(1)?)?;
    let start = line
        .char_indices()
        .nth(usize::try_from(at.column).ok()?.checked_sub(1)?)?
        .0;
    let rest = &line[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}'))
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|w| !w.is_empty())
}

/// A Rust primitive's name as a reader of the file would say it.
fn plain_type(name: &str) -> &'static str {
    match name {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, zero or more",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "bool" => "true or false",
        "char" => "a single character",
        _ => "a value of another kind",
    }
}

/// The key path as the user wrote it: `serde_saphyr::Spanned` wraps values in a
/// struct whose field `value` would otherwise show up as a path segment, and a key the
/// path could not name (`?`) is left out.
fn clean_key_path(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    path.split('.')
        .filter(|segment| *segment != "value" && *segment != "?")
        .collect::<Vec<_>>()
        .join(".")
}

/// Drops serde-saphyr's " at line N, column M" suffix (the position is printed in
/// front) and adds a did-you-mean to unknown keys and variants.
fn polish_message(raw: &str) -> String {
    let message = match raw.rfind(" at line ") {
        Some(at) if raw[at..].contains(", column ") => &raw[..at],
        _ => raw,
    };
    let friendlier = match message {
        "expected sequence start" => Some("expected a list"),
        "expected mapping start" => Some("expected a mapping of keys to values"),
        "expected string scalar" => Some("expected a single value, not a list or mapping"),
        _ => None,
    };
    if let Some(text) = friendlier {
        return text.to_string();
    }
    // serde's own messages name the Rust type a number was read into.
    if let Some((head, ty)) = message.rsplit_once(", expected ")
        && plain_type(ty) != plain_type("")
    {
        return format!("{head}, expected {}", plain_type(ty));
    }
    for kind in ["unknown field `", "unknown variant `"] {
        if let Some(rest) = message.strip_prefix(kind)
            && let Some((name, tail)) = rest.split_once('`')
        {
            // serde-saphyr writes the allowed names as "expected one of a, b, c".
            let expected: Vec<&str> = tail
                .trim_start_matches(", expected one of ")
                .split(", ")
                .map(|s| s.trim_matches('`'))
                .filter(|s| !s.is_empty() && !s.starts_with("there are no"))
                .collect();
            let mut out = if kind.contains("field") {
                format!("unknown key `{name}`")
            } else {
                format!("unknown value `{name}`")
            };
            if let Some(best) = did_you_mean(name, &expected) {
                out.push_str(&format!(", did you mean `{best}`?"));
            }
            match expected.split_last() {
                None => {}
                Some(_) if kind.contains("field") => {
                    out.push_str(&format!(" (expected one of: {})", expected.join(", ")));
                }
                Some((only, [])) => out.push_str(&format!(" (use {only})")),
                Some((last, rest)) => {
                    out.push_str(&format!(" (use {} or {last})", rest.join(", ")));
                }
            }
            return out;
        }
    }
    message.to_string()
}

/// The closest candidate by edit distance, if it is close enough to be a typo.
pub fn did_you_mean<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|(d, c)| *d <= (c.len().max(name.len()) / 3).max(1) + 1)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        poll_interval: Option<String>,
        items: Option<Vec<Item>>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        schedule: String,
    }

    fn err(text: &str) -> YamlError {
        from_str::<Doc>(text, Path::new("c.yaml")).unwrap_err()
    }

    #[test]
    fn unknown_key_has_position_path_and_suggestion() {
        let e = err("poll_interval: 3s\nitems:\n  - schedul: x\n");
        assert_eq!(e.position, Some(Position { line: 3, column: 5 }));
        assert_eq!(e.key, "items[0].schedul");
        assert!(
            e.message.contains("did you mean `schedule`?"),
            "{}",
            e.message
        );
        assert!(
            e.to_string()
                .starts_with("c.yaml:3:5: items[0].schedul: unknown key")
        );
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Choice {
        two: Option<Two>,
        three: Option<Three>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "snake_case")]
    enum Two {
        Skip,
        RunOnce,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "snake_case")]
    enum Three {
        Smtp,
        Sendmail,
        File,
    }

    #[test]
    fn unknown_word_of_a_closed_set_names_the_allowed_words() {
        let e = from_str::<Choice>(
            "three: sendmial
",
            Path::new("c.yaml"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "c.yaml:1:8: three: unknown value `sendmial`, did you mean `sendmail`? (use smtp, sendmail or file)"
        );
        let e = from_str::<Choice>("\ntwo: always\n", Path::new("c.yaml")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "c.yaml:2:6: two: unknown value `always` (use skip or run_once)"
        );
    }

    #[test]
    fn leading_zeros_stay_strings() {
        let doc: Doc = from_str("poll_interval: 021000021\n", Path::new("c.yaml")).unwrap();
        assert_eq!(doc.poll_interval.as_deref(), Some("021000021"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let result = from_str::<serde_json::Value>(&bomb, Path::new("bomb.yaml"));
        assert!(result.is_err());
    }

    #[test]
    fn parser_words_become_ours_with_the_key_named() {
        let e = err("poll_interval: 1s\npoll_interval: 2s\n");
        assert_eq!(
            e.to_string(),
            "c.yaml:2:1: poll_interval: duplicate key `poll_interval`"
        );
        let e = err("items:\n  - schedule: a\n    schedule: b\n");
        assert_eq!(e.key, "items[0].schedule");
        assert_eq!(e.message, "duplicate key `schedule`");
        let e = err("poll_interval: 1s\n---\npoll_interval: 2s\n");
        assert_eq!(e.position.map(|p| p.line), Some(2));
        assert!(
            e.message.starts_with("expected one YAML document, found 2"),
            "{e}"
        );
        let e = err("poll_interval: *nowhere\n");
        assert_eq!(
            e.position,
            Some(Position {
                line: 1,
                column: 16
            })
        );
        assert!(
            e.message
                .starts_with("alias `*nowhere` refers to no anchor"),
            "{e}"
        );
        let e = from_str::<Choice>("two: {skip: 1}\n", Path::new("c.yaml")).unwrap_err();
        assert!(e.message.contains("takes no value"), "{e}");
        let e = from_str::<u32>("-3\n", Path::new("c.yaml")).unwrap_err();
        assert!(!e.message.contains("u32"), "{e}");
    }

    #[test]
    fn text_that_is_not_utf8_is_placed_at_its_first_bad_byte() {
        let file = Path::new("c.yaml");
        assert_eq!(utf8_text(b"a: \xc3\xa9\n", file), Ok("a: \u{e9}\n"));
        let e = utf8_text(b"a: 1\nb: \xc3\xa9\xff\n", file).unwrap_err();
        assert_eq!(e.position, Some(Position { line: 2, column: 5 }));
        assert_eq!(
            e.to_string(),
            "c.yaml:2:5: the file is not valid UTF-8 (byte offset 10)"
        );
        let e = utf8_text(b"\x80", file).unwrap_err();
        assert_eq!(e.position, Some(Position::DOCUMENT_START));
    }

    #[test]
    fn did_you_mean_picks_close_names_only() {
        assert_eq!(
            did_you_mean("pol_interval", &["poll_interval", "base_url"]),
            Some("poll_interval")
        );
        assert_eq!(did_you_mean("zzzzzz", &["poll_interval", "base_url"]), None);
    }
}
