//! The parsers of Rightfoot's answers on arbitrary bytes: a submission's `201` body, a
//! results page, an authorizer-history page and the error envelope. None may panic;
//! the first byte picks the parser, the rest is the body. The error envelope is parsed
//! with a redactor holding the API key and the string values of a request body, as
//! the client does for a submission, and its message must not quote the key.
//!
//! The CSV export (`GET /v1/balances/csv`) is not parsed by the client, which streams
//! its bytes to the caller unchanged, so there is no parser of it to drive.
#![no_main]

use balance_monitor::rightfoot::{
    ErrorEnvelope, Redactor, parse_balances_page, parse_batch_created, parse_history_page,
};
use libfuzzer_sys::fuzz_target;

const KEY: &str = "rf_live_fuzzkey_4c1d9e";
const REQUEST: &[u8] = br#"{"authorizers":[{"authorizer_unique_id":"A-1","first_name":"Jane","ssn":"123-45-6789","account_number":"000111222"}]}"#;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => {
            if let Err(error) = parse_batch_created(body) {
                let _ = error.to_string();
            }
        }
        1 => match parse_balances_page(body) {
            Ok(page) => {
                for result in &page.results {
                    let _ = result.balance.map(|cents| cents.to_string());
                }
            }
            Err(error) => {
                let _ = error.to_string();
            }
        },
        2 => {
            if let Err(error) = parse_history_page(body, "A-1") {
                let _ = error.to_string();
            }
        }
        _ => {
            let redactor = Redactor::for_secret(KEY).with_body_strings(REQUEST);
            let status = u16::from(body.first().copied().unwrap_or(0)) + 400;
            let envelope = ErrorEnvelope::parse(status, body, &redactor);
            let shown = envelope.to_string();
            assert!(!shown.contains(KEY), "the key is quoted: {shown:?}");
            assert!(
                !shown.contains("123-45-6789"),
                "the SSN is quoted: {shown:?}"
            );
        }
    }
});
