//! Scenario files: scripted outcomes per authorizer, and fault settings.
//!
//! A scenario lets a test or a demo say exactly what the "banks" answer, check after
//! check, so that drops, overdrafts and failures happen when wanted:
//!
//! ```yaml
//! # scenario.yaml
//! authorizers:
//!   A-1: [1200.00, 1150.00, 90.00, closed, unsupported, 2000.00]
//!   A-2: [-45.10, "$1,250.00", {code: 2560}, failed]
//! faults:                          # optional; each key overrides the command line
//!   error_503_percent: 5
//!   error_429_percent: 5
//!   retry_after_seconds: 30
//!   error_500_percent: 0
//!   malformed_percent: 0
//!   latency_ms: 0
//!   not_found_after_create_seconds: 20
//! ```
//!
//! Each list entry is one check's outcome:
//! - a number (`1200.00`, `-45.10`, `90`) or a quoted amount (`"$1,250.00"`) is a
//!   successful check with that balance in dollars, exact to the cent;
//! - a word is a failed check: `no_tax_id_match` (3000), `no_ssn_match` (3001),
//!   `no_dob_match` (3100), `closed` (3200), `unsupported` (3300), `testing` (3310),
//!   `no_match` (3400), `invalid_phone` (2560), `failed` (9000);
//! - `{code: N}` is a failed check with any other code N, documented or not.
//!
//! Bare numbers are always balances, never codes: `[3000, 2000]` means two balances.
//! A raw code goes in `{code: N}` so that a balance of $3,000 cannot silently become
//! "no tax ID match".
//!
//! The sequence advances by one entry each time the authorizer is checked (each
//! non-cached submission that accepts it, under any API key). After the last entry,
//! the last entry repeats. Authorizers not listed follow the default random walk
//! ([`super::outcomes::random_walk`]).
//!
//! This module owns the format and its parsing (through the project's one YAML
//! loader). It does not own the cursor into each sequence, which is sandbox state.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::faults::FaultConfig;
use super::outcomes::Outcome;
use crate::domain::Cents;
use crate::yaml::{self, YamlError};

/// Scripted outcomes and fault overrides. The default scripts nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scenario {
    /// Per authorizer id, the outcomes of its successive checks (never empty).
    pub authorizers: BTreeMap<String, Vec<Outcome>>,
    pub faults: FaultOverrides,
}

/// The `faults:` section: each key that is present replaces the configured value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultOverrides {
    pub error_500_percent: Option<u8>,
    pub error_503_percent: Option<u8>,
    pub error_429_percent: Option<u8>,
    pub retry_after_seconds: Option<u64>,
    pub latency_ms: Option<u64>,
    pub not_found_after_create_seconds: Option<u64>,
    pub malformed_percent: Option<u8>,
}

impl FaultOverrides {
    /// `base` with every present override applied.
    pub fn apply_to(&self, base: &FaultConfig) -> FaultConfig {
        FaultConfig {
            error_500_percent: self.error_500_percent.unwrap_or(base.error_500_percent),
            error_503_percent: self.error_503_percent.unwrap_or(base.error_503_percent),
            error_429_percent: self.error_429_percent.unwrap_or(base.error_429_percent),
            retry_after: self
                .retry_after_seconds
                .map_or(base.retry_after, Duration::from_secs),
            latency: self.latency_ms.map_or(base.latency, Duration::from_millis),
            not_found_after_create: self
                .not_found_after_create_seconds
                .map_or(base.not_found_after_create, Duration::from_secs),
            malformed_percent: self.malformed_percent.unwrap_or(base.malformed_percent),
        }
    }
}

/// Why a scenario file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario file {path} cannot be read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Yaml(#[from] YamlError),
}

impl Scenario {
    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Scenario::from_yaml(&text, path)?)
    }

    /// Parses scenario text; `file` names it in errors.
    pub fn from_yaml(text: &str, file: &Path) -> Result<Scenario, YamlError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawScenario {
            #[serde(default)]
            authorizers: BTreeMap<String, Steps>,
            #[serde(default)]
            faults: FaultOverrides,
        }
        let raw: RawScenario = yaml::from_str(text, file)?;
        Ok(Scenario {
            authorizers: raw
                .authorizers
                .into_iter()
                .map(|(id, steps)| (id, steps.0))
                .collect(),
            faults: raw.faults,
        })
    }

    /// The scripted outcome of check number `check` (0-based) of `authorizer_id`, if
    /// the scenario scripts that authorizer. Past the end, the last entry repeats.
    pub fn outcome(&self, authorizer_id: &str, check: usize) -> Option<Outcome> {
        let steps = self.authorizers.get(authorizer_id)?;
        steps.get(check).or_else(|| steps.last()).copied()
    }
}

/// The failure words a scenario may use, and their codes.
pub const WORDS: &[(&str, u32)] = &[
    ("no_tax_id_match", 3000),
    ("no_ssn_match", 3001),
    ("no_dob_match", 3100),
    ("closed", 3200),
    ("unsupported", 3300),
    ("testing", 3310),
    ("no_match", 3400),
    ("invalid_phone", 2560),
    ("failed", 9000),
];

/// A non-empty list of steps.
struct Steps(Vec<Outcome>);

impl<'de> Deserialize<'de> for Steps {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Steps, D::Error> {
        let steps: Vec<Step> = Vec::deserialize(deserializer)?;
        if steps.is_empty() {
            return Err(de::Error::custom(
                "the list of outcomes is empty; give at least one, such as [1200.00]",
            ));
        }
        Ok(Steps(steps.into_iter().map(|s| s.0).collect()))
    }
}

/// One scripted check outcome, as written in the file.
struct Step(Outcome);

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Step, D::Error> {
        deserializer.deserialize_any(StepVisitor).map(Step)
    }
}

struct StepVisitor;

fn balance<E: de::Error>(text: &str) -> Result<Outcome, E> {
    Cents::parse(text)
        .map(Outcome::Balance)
        .map_err(|e| E::custom(format!("{e}")))
}

impl<'de> Visitor<'de> for StepVisitor {
    type Value = Outcome;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a balance such as 1200.00, a failure word such as closed, or {code: 3001}")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Outcome, E> {
        balance(&v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Outcome, E> {
        balance(&v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Outcome, E> {
        // `{}` prints the shortest text that reads back as the same float, which for
        // an amount written with at most two decimals is that amount's text.
        balance(&format!("{v}"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Outcome, E> {
        if let Some((_, code)) = WORDS.iter().find(|(word, _)| *word == v) {
            return Ok(Outcome::Failed(*code));
        }
        if Cents::parse(v).is_ok() {
            return balance(v);
        }
        let words: Vec<&str> = WORDS.iter().map(|(w, _)| *w).collect();
        let mut message = format!("unknown outcome `{v}`");
        if let Some(best) = yaml::did_you_mean(v, &words) {
            message.push_str(&format!(", did you mean `{best}`?"));
        }
        message.push_str(&format!(
            " (expected a balance, {{code: N}} or one of: {})",
            words.join(", ")
        ));
        Err(E::custom(message))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outcome, A::Error> {
        let mut code: Option<u32> = None;
        while let Some(key) = map.next_key::<String>()? {
            if key != "code" {
                return Err(de::Error::custom(format!(
                    "unknown key `{key}` in an outcome (expected only `code`)"
                )));
            }
            if code.is_some() {
                return Err(de::Error::custom("duplicate key `code`"));
            }
            code = Some(map.next_value()?);
        }
        match code {
            None => Err(de::Error::custom("an outcome map needs a `code`")),
            Some(0) => Err(de::Error::custom(
                "code 0 is success and needs a balance; write the balance, such as 0.00",
            )),
            Some(code) => Ok(Outcome::Failed(code)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, YamlError> {
        Scenario::from_yaml(text, Path::new("scenario.yaml"))
    }

    #[test]
    fn reads_balances_words_and_codes() {
        let scenario = parse(
            "authorizers:\n  A-1: [1200.00, 1150.00, 90.00, closed, unsupported, 2000.00]\n  \
             1286672: [-45.10, \"$1,250.00\", {code: 2560}, failed, 3000, 0.1, 7]\n",
        )
        .unwrap();
        assert_eq!(
            scenario.authorizers["A-1"],
            vec![
                Outcome::Balance(Cents(120_000)),
                Outcome::Balance(Cents(115_000)),
                Outcome::Balance(Cents(9_000)),
                Outcome::Failed(3200),
                Outcome::Failed(3300),
                Outcome::Balance(Cents(200_000)),
            ]
        );
        assert_eq!(
            scenario.authorizers["1286672"],
            vec![
                Outcome::Balance(Cents(-4_510)),
                Outcome::Balance(Cents(125_000)),
                Outcome::Failed(2560),
                Outcome::Failed(9000),
                Outcome::Balance(Cents(300_000)),
                Outcome::Balance(Cents(10)),
                Outcome::Balance(Cents(700)),
            ]
        );
    }

    #[test]
    fn the_last_outcome_repeats() {
        let scenario = parse("authorizers:\n  A-1: [10.00, closed]\n").unwrap();
        let outcomes: Vec<_> = (0..4).map(|n| scenario.outcome("A-1", n)).collect();
        assert_eq!(
            outcomes,
            vec![
                Some(Outcome::Balance(Cents(1000))),
                Some(Outcome::Failed(3200)),
                Some(Outcome::Failed(3200)),
                Some(Outcome::Failed(3200)),
            ]
        );
        assert_eq!(scenario.outcome("not-scripted", 0), None);
    }

    #[test]
    fn reads_fault_overrides() {
        let scenario =
            parse("faults:\n  error_503_percent: 5\n  retry_after_seconds: 30\n").unwrap();
        assert_eq!(scenario.faults.error_503_percent, Some(5));
        assert_eq!(scenario.faults.retry_after_seconds, Some(30));
        assert!(scenario.authorizers.is_empty());
    }

    #[test]
    fn rejections_name_the_key_and_the_problem() {
        let table: &[(&str, &str, &str)] = &[
            (
                "authorizers:\n  A-1: [clsoed]\n",
                "authorizers",
                "did you mean `closed`?",
            ),
            ("authorizers:\n  A-1: []\n", "authorizers", "empty"),
            (
                "authorizers:\n  A-1: [1.234]\n",
                "authorizers",
                "more than two decimal places",
            ),
            (
                "authorizers:\n  A-1: [{code: 0}]\n",
                "authorizers",
                "code 0 is success",
            ),
            (
                "authorizers:\n  A-1: [{cod: 3}]\n",
                "authorizers",
                "unknown key `cod`",
            ),
            (
                "faults:\n  error_503_percnt: 5\n",
                "faults",
                "did you mean `error_503_percent`?",
            ),
            ("authorisers: {}\n", "", "did you mean `authorizers`?"),
        ];
        for (text, key, needle) in table {
            let error = parse(text).unwrap_err();
            let shown = error.to_string();
            assert!(shown.starts_with("scenario.yaml:"), "{shown}");
            assert!(error.key.starts_with(key), "{text:?}: key {:?}", error.key);
            assert!(shown.contains(needle), "{text:?}: {shown}");
        }
    }
}
