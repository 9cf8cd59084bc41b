//! What a simulated balance check finds: a balance in cents or a failure code.
//!
//! This module owns the default, unscripted behaviour of the sandbox's "banks": a
//! deterministic random walk per authorizer, a small share of failure codes, a made-up
//! institution name, and the tables that name codes (the CSV export's `Status` column
//! and the history endpoint's `error_message`). Everything here is a pure function of
//! its arguments: no clock, no state, no I/O. It knows nothing of scripted outcomes
//! (scenario files) or of which of the two applies to a check (the sandbox's state
//! decides).
//!
//! The walk is seeded by the authorizer id and the sandbox day (a SHA-256 hash, so it
//! is the same on every platform and every run): checking the same authorizer twice on
//! one day gives the same answer, and consecutive days move by a bounded amount.

use chrono::{Datelike, NaiveDate};
use sha2::{Digest, Sha256};

use crate::domain::Cents;

/// The result of one balance check, as the API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `balance_status_code` 0 and a balance, possibly negative (overdrawn).
    Balance(Cents),
    /// A non-zero `balance_status_code` and a `null` balance.
    Failed(u32),
}

impl Outcome {
    /// The `balance_status_code` (and the deprecated `status_code`).
    pub fn status_code(self) -> u32 {
        match self {
            Outcome::Balance(_) => 0,
            Outcome::Failed(code) => code,
        }
    }

    pub fn balance(self) -> Option<Cents> {
        match self {
            Outcome::Balance(cents) => Some(cents),
            Outcome::Failed(_) => None,
        }
    }
}

/// The codes the Rightfoot pages document, with their descriptions. The set is open:
/// the real service may send others, and a scenario may script others.
pub const DOCUMENTED_CODES: &[(u32, &str)] = &[
    (0, "Success"),
    (2560, "Invalid phone number"),
    (3000, "No tax ID match"),
    (3001, "No SSN match"),
    (3100, "No date of birth match"),
    (3200, "Account closed"),
    (3300, "Institution not supported"),
    (3310, "Institution currently in testing"),
    (3400, "No match with provided authorizer information"),
    (9000, "Other error"),
];

/// The history endpoint's `error_message` for a failed check ("Institution not
/// supported", as the page's example shows), or `None` for success.
pub fn error_message(code: u32) -> Option<String> {
    if code == 0 {
        return None;
    }
    Some(match DOCUMENTED_CODES.iter().find(|(c, _)| *c == code) {
        Some((_, text)) => (*text).to_string(),
        None => format!("Unknown error (code {code})"),
    })
}

/// The CSV export's `Status` column.
///
/// The pages list seven names but never map codes to them, so this mapping is the
/// sandbox's reading: the three "no match" codes and 3400 are `NO_MATCH`; 3200 is
/// `ACCOUNT_CLOSED`; 3300 and 3310 (unsupported, in testing) are `BANK_UNSUPPORTED`;
/// 9000 ("other error", a retrieval that did not succeed) is `RETRIEVAL_FAILED`; 2560
/// (an invalid phone number: input Rightfoot could not process) and any undocumented
/// code are `PROCESSING_ERROR`. `RETRY_LIMIT` has no code and is never produced.
pub fn export_status(code: u32) -> &'static str {
    match code {
        0 => "SUCCESS",
        3000 | 3001 | 3100 | 3400 => "NO_MATCH",
        3200 => "ACCOUNT_CLOSED",
        3300 | 3310 => "BANK_UNSUPPORTED",
        9000 => "RETRIEVAL_FAILED",
        _ => "PROCESSING_ERROR",
    }
}

/// Invented institution names: the sandbox knows no real bank, and says so.
const INSTITUTIONS: &[&str] = &[
    "Sandbox National Bank",
    "Example Federal Credit Union",
    "Demo Savings and Loan",
    "Fictional Trust Company",
    "Placeholder Community Bank",
    "Simulated State Bank",
];

/// The (invented) institution an authorizer banks with, fixed per authorizer.
pub fn institution(authorizer_id: &str) -> &'static str {
    let index = hash64(&[b"institution", authorizer_id.as_bytes()]) % INSTITUTIONS.len() as u64;
    INSTITUTIONS[index as usize]
}

/// How many past daily steps the walk sums. Consecutive days share all but one step,
/// so balances drift rather than jump, and the cost is bounded whatever the date.
const WALK_WINDOW_DAYS: i64 = 30;
/// The largest daily step, in cents (±$150.00).
const MAX_STEP_CENTS: i64 = 15_000;

/// The unscripted outcome of checking `authorizer_id` on `day`.
///
/// - About 1.5% of authorizers bank somewhere unsupported (3300) and 0.5% have a
///   closed account (3200): properties of the account, so they repeat every day.
/// - On about 3% of days a check fails transiently with 3000, 3100, 3400 or 9000.
/// - Otherwise the balance is a base (−$500.00 to $5,500.00, fixed per authorizer)
///   plus the sum of the last 30 daily steps of up to ±$150.00, so some authorizers
///   are overdrawn some of the time.
pub fn random_walk(authorizer_id: &str, day: NaiveDate) -> Outcome {
    let id = authorizer_id.as_bytes();
    let sticky = hash64(&[b"account", id]) % 1000;
    if sticky < 15 {
        return Outcome::Failed(3300);
    }
    if sticky < 20 {
        return Outcome::Failed(3200);
    }
    let day_number = i64::from(day.num_days_from_ce());
    let day_bytes = day_number.to_be_bytes();
    let transient = hash64(&[b"transient", id, &day_bytes]);
    if transient % 100 < 3 {
        const TRANSIENT: [u32; 4] = [3000, 3100, 3400, 9000];
        return Outcome::Failed(TRANSIENT[((transient / 100) % 4) as usize]);
    }
    let base = (hash64(&[b"base", id]) % 600_000) as i64 - 50_000;
    let walk: i64 = (0..WALK_WINDOW_DAYS)
        .map(|back| {
            let step_day = (day_number - back).to_be_bytes();
            let h = hash64(&[b"step", id, &step_day]);
            (h % (2 * MAX_STEP_CENTS as u64 + 1)) as i64 - MAX_STEP_CENTS
        })
        .sum();
    Outcome::Balance(Cents(base + walk))
}

/// The first 8 bytes of SHA-256 over length-prefixed parts: stable across platforms,
/// Rust versions and runs (unlike `std`'s hashers).
pub(crate) fn hash64(parts: &[&[u8]]) -> u64 {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, d).unwrap()
    }

    #[test]
    fn the_walk_is_deterministic_per_authorizer_and_day() {
        assert_eq!(random_walk("A-1", day(3)), random_walk("A-1", day(3)));
        let week: Vec<Outcome> = (1..=7).map(|d| random_walk("A-1", day(d))).collect();
        assert!(
            week.windows(2).any(|w| w[0] != w[1]),
            "the balance should move"
        );
    }

    #[test]
    fn consecutive_days_drift_by_a_bounded_amount() {
        for n in 0..200 {
            let id = format!("drift-{n}");
            if let (Outcome::Balance(a), Outcome::Balance(b)) =
                (random_walk(&id, day(10)), random_walk(&id, day(11)))
            {
                assert!((a.0 - b.0).abs() <= 2 * MAX_STEP_CENTS, "{id}: {a} -> {b}");
            }
        }
    }

    #[test]
    fn a_population_has_overdrafts_and_a_small_share_of_failures() {
        let outcomes: Vec<Outcome> = (0..2000)
            .map(|n| random_walk(&format!("pop-{n}"), day(5)))
            .collect();
        let failed = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Failed(_)))
            .count();
        let negative = outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Balance(c) if c.0 < 0))
            .count();
        assert!((40..=200).contains(&failed), "{failed} failures in 2000");
        assert!(negative > 20, "{negative} overdrawn in 2000");
        assert!(negative < 600, "{negative} overdrawn in 2000");
    }

    #[test]
    fn codes_have_export_names_and_messages() {
        let table: &[(u32, &str, Option<&str>)] = &[
            (0, "SUCCESS", None),
            (3000, "NO_MATCH", Some("No tax ID match")),
            (3001, "NO_MATCH", Some("No SSN match")),
            (3100, "NO_MATCH", Some("No date of birth match")),
            (
                3400,
                "NO_MATCH",
                Some("No match with provided authorizer information"),
            ),
            (3200, "ACCOUNT_CLOSED", Some("Account closed")),
            (3300, "BANK_UNSUPPORTED", Some("Institution not supported")),
            (
                3310,
                "BANK_UNSUPPORTED",
                Some("Institution currently in testing"),
            ),
            (9000, "RETRIEVAL_FAILED", Some("Other error")),
            (2560, "PROCESSING_ERROR", Some("Invalid phone number")),
            (4242, "PROCESSING_ERROR", Some("Unknown error (code 4242)")),
        ];
        for (code, status, message) in table {
            assert_eq!(export_status(*code), *status, "{code}");
            assert_eq!(error_message(*code).as_deref(), *message, "{code}");
        }
    }
}
