//! The authorizer CSV loader (`authorizers::csv::parse_csv_bytes`, which the daemon and
//! the sandbox's CSV upload share) on arbitrary bytes. It must never panic; every
//! authorizer it accepts must give a JSON request body; and no warning, error,
//! rejection or `Debug` output may quote a cell: here, any run of eight or more digits
//! below the first line (an SSN, an account or card number) must not appear in them,
//! except as an authorizer id, which is the lender's own reference. Every id accepted,
//! or shown in a rejection, keeps to the limits (`authorizers::limits`: at most 128
//! characters, no control character). The size bound on the file (512 MiB) is applied
//! where the file is read, before this parser.
#![no_main]

use std::path::Path;

use balance_monitor::authorizers::csv::parse_csv_bytes;
use balance_monitor::authorizers::limits::id_within_limits;
use balance_monitor::authorizers::wire::request_body;
use libfuzzer_sys::fuzz_target;

/// Runs of at least eight ASCII digits after the first line break.
fn long_digit_runs(data: &[u8]) -> Vec<String> {
    let Some(start) = data.iter().position(|&b| b == b'\n') else {
        return Vec::new();
    };
    data[start..]
        .split(|b| !b.is_ascii_digit())
        .filter(|run| run.len() >= 8)
        .map(|run| String::from_utf8_lossy(run).into_owned())
        .collect()
}

fn assert_quotes_none(text: &str, runs: &[String], what: &str) {
    for run in runs {
        assert!(
            !text.contains(run.as_str()),
            "{what} quotes the cell digits {run}: {text:?}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let runs = long_digit_runs(data);
    match parse_csv_bytes(data, Path::new("authorizers.csv")) {
        Err(error) => assert_quotes_none(&error.to_string(), &runs, "an error"),
        Ok(loaded) => {
            for warning in &loaded.warnings {
                assert_quotes_none(warning, &runs, "a warning");
            }
            for rejected in &loaded.rejected {
                assert!(
                    id_within_limits(&rejected.id),
                    "a rejection shows an id outside the limits"
                );
                let shown = format!("{} {}", rejected.origin, rejected.error);
                assert_quotes_none(&shown, &runs, "a rejection");
            }
            for authorizer in &loaded.valid {
                assert!(
                    id_within_limits(authorizer.id()),
                    "an accepted id outside the limits"
                );
                // The id is shown, escaped as `Debug` escapes a string.
                let id = format!("{:?}", authorizer.id());
                let debug = format!("{authorizer:?}").replace(&id, "");
                assert_quotes_none(&debug, &runs, "an authorizer's Debug");
            }
            if !loaded.valid.is_empty() {
                let body = request_body(&loaded.valid, None);
                let parsed: serde_json::Value =
                    serde_json::from_slice(&body).expect("the request body is JSON");
                assert!(parsed.is_object());
            }
        }
    }
});
