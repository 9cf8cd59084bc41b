//! `config::load_str` on arbitrary text: it must never panic, every problem it reports
//! must name the file, a line and a column (`config.yaml:3:7: ...`), and a
//! configuration it accepts keeps to the name limit (`MAX_NAME_CHARS`). The 1 MiB bound
//! on the file is applied where `config::load` reads it, before this parser; libFuzzer's
//! inputs stay far below it.
#![no_main]

use std::path::Path;

use balance_monitor::config::{self, ConfigError};
use balance_monitor::secret::Environment;
use libfuzzer_sys::fuzz_target;

/// A directory that does not exist, so relative paths in the input resolve to nothing.
const FILE: &str = "/nonexistent-balance-monitor-fuzz/config.yaml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = Environment::from_pairs([("RIGHTFOOT_API_KEY", "rf_fuzz_key")]);
    match config::load_str(text, Path::new(FILE), &env) {
        Ok(config) => {
            let names = config
                .monitors
                .iter()
                .map(|m| m.name.as_str())
                .chain(config.routes.keys().map(String::as_str));
            for name in names {
                assert!(
                    !name.is_empty() && name.chars().count() <= config::validate::MAX_NAME_CHARS,
                    "an accepted name outside the limit: {name:?}"
                );
            }
        }
        Err(ConfigError::Read { .. }) => panic!("load_str does not read the configuration"),
        Err(ConfigError::Invalid(problems)) => {
            assert!(
                !problems.is_empty(),
                "an invalid configuration names a problem"
            );
            for problem in problems {
                let shown = problem.to_string();
                let rest = shown
                    .strip_prefix(FILE)
                    .unwrap_or_else(|| panic!("no file name: {shown:?}"));
                let mut parts = rest.splitn(4, ':');
                let (empty, line, column) = (parts.next(), parts.next(), parts.next());
                assert_eq!(empty, Some(""), "no position: {shown:?}");
                let is_number = |p: Option<&str>| {
                    p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                };
                assert!(
                    is_number(line) && is_number(column),
                    "no line:column: {shown:?}"
                );
            }
        }
    }
});
