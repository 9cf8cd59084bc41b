//! Loading a monitor's authorizer list: inline in the config file, a YAML file, or a
//! Rightfoot-format CSV file.
//!
//! This module owns [`AuthorizerSource`] (where a monitor's configuration says its list
//! is; the config loader builds it, so the dependency runs config → authorizers), the
//! YAML item shape and the dispatch on file extension. It turns
//! every source into [`LoadedAuthorizers`]: the authorizers that pass
//! [`super::validate::preflight`], those that do not (with file and line or row), and
//! warnings. It does not own the CSV format ([`super::csv`]), the validation rules
//! ([`super::validate`]), the permission-checked read, [`LoadedAuthorizers`] and
//! [`LoadError`] (all in [`super::loaded`], re-exported here), or the config file itself
//! (the config loader hands it the inline items, and applies the permission rule to the
//! config file).
//!
//! # The YAML item shape
//!
//! An item is Rightfoot's JSON `Authorizer`: `authorizer_unique_id`, `first_name`,
//! `last_name`, a nested `address` (`street_address_line1`, `street_address_line2`,
//! `city`, `state`, `zip_code`, `country`), `phone_number`, `date_of_birth: {day,
//! month, year}`, `ssn`, `ein`, and either `account_number` + `routing_number` or
//! `debit_card_number` + `cvv` + `expiration_month` + `expiration_year` (+ optional
//! `routing_number`). An optional `metadata` mapping is taken out of the wire object
//! and becomes [`super::Authorizer::metadata`], its values written as text.
//!
//! Before validation the item is normalised the way the CSV loader builds its
//! objects, so that both formats send the same body:
//!
//! - keys whose value is `null` or `""` are dropped (they mean "absent");
//! - `day`, `month`, `year`, `expiration_month` and `expiration_year` written as digit
//!   strings (`month: 05` stays a string in YAML, because of its leading zero) become
//!   integers;
//! - unknown keys are dropped with a warning (with a did-you-mean), so that nothing
//!   the lender did not mean to send reaches Rightfoot.
//!
//! Numbers are **not** turned into strings: `ssn: 123456789` is rejected as "SSN must
//! be of type string", with a warning to quote it, because a long unquoted number
//! (an account or card number) may already have lost digits in the YAML parser.
//!
//! # Privacy
//!
//! No message or warning from this module includes a personal value: they name files,
//! lines, rows, keys and columns only, and a key or column name is left out when it
//! looks like it could be a value (see [`printable_name`]).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use super::fields;
pub use super::loaded::{LoadError, LoadedAuthorizers};
use super::loaded::{finish, printable_name, read_private_file};
use super::{ListBuilder, Metadata, Origin};
use crate::private_file::input::InputFile;
use crate::yaml::{self, Position};

/// Where a monitor's authorizers come from.
#[derive(Debug, Clone)]
pub enum AuthorizerSource {
    /// A Rightfoot-format CSV file, read at each run.
    Csv(PathBuf),
    /// A YAML file, read at each run.
    Yaml(PathBuf),
    /// A list in the configuration file itself, as parsed YAML values with positions.
    Inline(Vec<InlineAuthorizer>),
}

/// One inline authorizer as written in the configuration, with its position. `Debug`
/// is redacted: the value holds personal data.
#[derive(Clone)]
pub struct InlineAuthorizer(pub serde_saphyr::Spanned<serde_json::Value>);

impl std::fmt::Debug for InlineAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "InlineAuthorizer(line {}, [personal data redacted])",
            self.0.referenced.line()
        )
    }
}

/// Loads an authorizers file: `.csv` in Rightfoot's upload format, `.yaml`/`.yml` as a
/// top-level list or a mapping with an `authorizers:` list. The file is refused
/// unless it is a regular file that only its owner can access
/// ([`crate::private_file::input`]), checked on the opened handle before anything is
/// read, and reading stops at the format's size limit.
pub fn load_file(path: &Path) -> Result<LoadedAuthorizers, LoadError> {
    match extension(path).as_deref() {
        Some("csv") => super::csv::load_csv_file(path),
        Some("yaml" | "yml") => load_yaml_file(path),
        _ => Err(LoadError::UnsupportedExtension {
            file: path.to_path_buf(),
        }),
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

/// Loads an authorizer list written inline in the config file `config_file`, as the
/// config loader parsed it. The permission rule on the config file is the config
/// loader's to apply.
pub fn load_inline(
    config_file: &Path,
    items: Vec<Spanned<Value>>,
) -> Result<LoadedAuthorizers, LoadError> {
    load_yaml_items(config_file, items)
}

/// Loads a monitor's authorizers from wherever its configuration says they are.
/// `config_file` is the configuration the inline list was written in.
pub fn load_source(
    source: &AuthorizerSource,
    config_file: &Path,
) -> Result<LoadedAuthorizers, LoadError> {
    match source {
        AuthorizerSource::Csv(path) => super::csv::load_csv_file(path),
        AuthorizerSource::Yaml(path) => load_yaml_file(path),
        AuthorizerSource::Inline(items) => load_inline(
            config_file,
            items.iter().map(|item| item.0.clone()).collect(),
        ),
    }
}

// ---------------------------------------------------------------------------------
// YAML

fn load_yaml_file(path: &Path) -> Result<LoadedAuthorizers, LoadError> {
    let bytes = read_private_file(path, InputFile::AUTHORIZERS_YAML)?;
    let text = yaml::utf8_text(&bytes, path)?;
    if text.trim().is_empty() {
        return Ok(LoadedAuthorizers {
            warnings: vec![format!("{}: the file holds no authorizers", path.display())],
            ..LoadedAuthorizers::default()
        });
    }
    let document: FileDocument = yaml::from_str(text, path)?;
    load_yaml_items(path, document.0)
}

fn load_yaml_items(
    file: &Path,
    items: Vec<Spanned<Value>>,
) -> Result<LoadedAuthorizers, LoadError> {
    let mut warnings = Vec::new();
    if items.is_empty() {
        warnings.push(format!("{}: the authorizers list is empty", file.display()));
    }
    let mut authorizers = ListBuilder::with_capacity(items.len());
    let shared_file: std::sync::Arc<Path> = file.into();
    for item in items {
        let position = Position::of(&item);
        let origin = Origin::Yaml {
            file: shared_file.clone(),
            line: position.line,
            column: position.column,
        };
        let item_error = |message: &str| LoadError::Item {
            file: file.to_path_buf(),
            line: position.line,
            column: position.column,
            message: message.to_string(),
        };
        let Value::Object(mut object) = item.value else {
            return Err(item_error("an authorizers list item must be a mapping"));
        };
        let metadata = match object.remove("metadata") {
            None | Some(Value::Null) => Metadata::new(),
            Some(Value::Object(map)) => stringify_metadata(map),
            Some(_) => {
                return Err(item_error(
                    "`metadata` must be a mapping of names to values",
                ));
            }
        };
        normalise_item(&mut object, &origin, &mut warnings);
        authorizers.push(object, &metadata, origin);
    }
    Ok(finish(authorizers.finish(), warnings))
}

fn stringify_metadata(map: Map<String, Value>) -> Metadata {
    map.into_iter()
        .filter_map(|(key, value)| {
            let text = match value {
                Value::Null => return None,
                Value::String(s) => s,
                other => other.to_string(),
            };
            Some((key, text))
        })
        .collect()
}

/// Drops absent values and unknown keys, turns digit strings into integers where the
/// schema wants integers, and warns about what the lender probably meant otherwise.
fn normalise_item(object: &mut Map<String, Value>, origin: &Origin, warnings: &mut Vec<String>) {
    drop_absent(object);
    drop_unknown_keys(object, &fields::item_keys(), "", origin, warnings);
    for key in fields::INTEGERS {
        integer_from_digits(object, key);
    }
    for key in fields::item_keys()
        .into_iter()
        .filter(|k| fields::is_string_typed(k))
    {
        if matches!(object.get(key), Some(Value::Number(_) | Value::Bool(_))) {
            warnings.push(format!(
                "{origin}: `{key}` is not a string; write it in quotes"
            ));
        }
    }
    match object.get_mut("address") {
        Some(Value::Object(address)) => {
            drop_absent(address);
            drop_unknown_keys(address, fields::ADDRESS, "address.", origin, warnings);
            if matches!(address.get("zip_code"), Some(Value::Number(_))) {
                warnings.push(format!(
                    "{origin}: `address.zip_code` is not a string; write it in quotes"
                ));
            }
        }
        Some(_) => warnings.push(format!(
            "{origin}: `address` must be a mapping with a `zip_code`"
        )),
        None => {}
    }
    match object.get_mut("date_of_birth") {
        Some(Value::Object(date)) => {
            drop_absent(date);
            drop_unknown_keys(
                date,
                &fields::DATE_OF_BIRTH,
                "date_of_birth.",
                origin,
                warnings,
            );
            for key in fields::DATE_OF_BIRTH {
                integer_from_digits(date, key);
            }
        }
        Some(_) => warnings.push(format!(
            "{origin}: `date_of_birth` must be a mapping with `day`, `month` and `year`"
        )),
        None => {}
    }
}

fn drop_absent(object: &mut Map<String, Value>) {
    object.retain(|_, value| match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        _ => true,
    });
}

fn drop_unknown_keys(
    object: &mut Map<String, Value>,
    known: &[&str],
    prefix: &str,
    origin: &Origin,
    warnings: &mut Vec<String>,
) {
    let unknown: Vec<String> = object
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in unknown {
        object.remove(&key);
        let mut message = match printable_name(&key) {
            Some(name) => format!("{origin}: unknown key `{prefix}{name}`"),
            None => format!("{origin}: an unknown key"),
        };
        if prefix.is_empty() && fields::ADDRESS.contains(&key.as_str()) {
            message.push_str(", it belongs under `address`");
        } else if prefix.is_empty() && fields::DATE_OF_BIRTH.contains(&key.as_str()) {
            message.push_str(", it belongs under `date_of_birth`");
        } else if printable_name(&key).is_some()
            && let Some(best) = yaml::did_you_mean(&key, known)
        {
            message.push_str(&format!(", did you mean `{prefix}{best}`?"));
        }
        message.push_str(" (ignored)");
        warnings.push(message);
    }
}

/// `"05"` → `5` under `key`, for fields the schema types as integers; anything else is
/// left for validation to judge.
fn integer_from_digits(object: &mut Map<String, Value>, key: &str) {
    if let Some(Value::String(s)) = object.get(key)
        && (1..=4).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = s.parse::<u64>()
    {
        object.insert(key.to_string(), Value::from(n));
    }
}

/// An authorizers YAML file: a list of items, or a mapping whose only key is
/// `authorizers`, holding that list. Its visitor never echoes a scalar it did not
/// expect, since in this file a scalar may be personal data.
struct FileDocument(Vec<Spanned<Value>>);

impl<'de> Deserialize<'de> for FileDocument {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocumentVisitor { top_level: true })
    }
}

/// The `authorizers:` list of the mapping form.
struct ItemList(Vec<Spanned<Value>>);

impl<'de> Deserialize<'de> for ItemList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(DocumentVisitor { top_level: false })
            .map(|d| ItemList(d.0))
    }
}

struct DocumentVisitor {
    top_level: bool,
}

impl DocumentVisitor {
    fn wrong<E: de::Error>(&self, what: &str) -> Result<FileDocument, E> {
        Err(E::custom(format_args!(
            "found {what}, expected {}",
            Expected(self.top_level)
        )))
    }
}

struct Expected(bool);

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0 {
            "a list of authorizers, or a mapping with an `authorizers` list"
        } else {
            "a list of authorizers"
        })
    }
}

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = FileDocument;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Expected(self.top_level))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FileDocument, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Spanned<Value>>()? {
            items.push(item);
        }
        Ok(FileDocument(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FileDocument, A::Error> {
        if !self.top_level {
            return self.wrong("a mapping");
        }
        let mut items = None;
        while map.next_key::<AuthorizersKey>()?.is_some() {
            items = Some(map.next_value::<ItemList>()?.0);
        }
        items
            .map(FileDocument)
            .ok_or_else(|| de::Error::custom("missing key `authorizers`"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<FileDocument, E> {
        self.wrong("a boolean")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<FileDocument, E> {
        self.wrong("a number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<FileDocument, E> {
        self.wrong("a number")
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<FileDocument, E> {
        self.wrong("a number")
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<FileDocument, E> {
        self.wrong("a number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<FileDocument, E> {
        self.wrong("a number")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<FileDocument, E> {
        self.wrong("a string")
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<FileDocument, E> {
        self.wrong("bytes")
    }
    fn visit_unit<E: de::Error>(self) -> Result<FileDocument, E> {
        self.wrong("nothing")
    }
    fn visit_none<E: de::Error>(self) -> Result<FileDocument, E> {
        self.wrong("nothing")
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<FileDocument, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// The one key of the mapping form. Refusing other keys while the key itself is
/// being read lets the YAML loader give the key's line and column.
struct AuthorizersKey;

impl<'de> Deserialize<'de> for AuthorizersKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = AuthorizersKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the key `authorizers`")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<AuthorizersKey, E> {
                if key == "authorizers" {
                    return Ok(AuthorizersKey);
                }
                Err(match printable_name(key) {
                    Some(key) => E::custom(format_args!(
                        "unknown key `{key}` (expected only: authorizers)"
                    )),
                    None => E::custom("unknown key (expected only: authorizers)"),
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_strings_become_integers_only_where_short() {
        let mut object = Map::new();
        object.insert("month".into(), Value::from("05"));
        object.insert("day".into(), Value::from("5a"));
        object.insert("year".into(), Value::from("019470"));
        for key in ["month", "day", "year"] {
            integer_from_digits(&mut object, key);
        }
        assert_eq!(object["month"], Value::from(5));
        assert_eq!(object["day"], Value::from("5a"));
        assert_eq!(object["year"], Value::from("019470"));
    }
}
