//! Every branch of [`decide`], table-driven: each row is the evidence, the expected
//! decision and the exact reason.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 8, 12, 0, 0).unwrap()
}

fn hours_ago(hours: i64) -> DateTime<Utc> {
    now() - Duration::hours(hours)
}

fn rules() -> DecisionRules {
    DecisionRules {
        margin: Cents(2_500),
        fresh_for: std::time::Duration::from_secs(24 * 3600),
    }
}

fn balance(cents: i64, hours: i64) -> Option<(Cents, DateTime<Utc>)> {
    Some((Cents(cents), hours_ago(hours)))
}

fn latest(outcome: Outcome, hours: i64) -> Option<Observation> {
    Some(Observation {
        outcome,
        at: hours_ago(hours),
    })
}

fn evidence(
    latest: Option<Observation>,
    last_balance: Option<(Cents, DateTime<Utc>)>,
    returns_in_a_row: u32,
) -> Evidence {
    Evidence {
        now: now(),
        latest,
        last_balance,
        returns_in_a_row,
    }
}

const AMOUNT: Cents = Cents(18_000);

#[test]
fn every_case_decides_with_its_exact_reason() {
    use Decision::*;
    let closed = Outcome::Failed(BalanceStatus::AccountClosed);
    let cases: Vec<(&str, Evidence, Decision, &str)> = vec![
        (
            "covers amount and margin",
            evidence(
                latest(Outcome::Balance(Cents(25_000)), 2),
                balance(25_000, 2),
                0,
            ),
            Send,
            "balance 250.00 >= 180.00 + 25.00",
        ),
        (
            "exactly amount plus margin is enough",
            evidence(
                latest(Outcome::Balance(Cents(20_500)), 2),
                balance(20_500, 2),
                0,
            ),
            Send,
            "balance 205.00 >= 180.00 + 25.00",
        ),
        (
            "one cent short",
            evidence(
                latest(Outcome::Balance(Cents(20_499)), 2),
                balance(20_499, 2),
                0,
            ),
            Hold,
            "balance 204.99 < 180.00 + 25.00",
        ),
        (
            "covers the amount but not the margin",
            evidence(
                latest(Outcome::Balance(Cents(12_000)), 2),
                balance(12_000, 2),
                0,
            ),
            Hold,
            "balance 120.00 < 180.00 + 25.00",
        ),
        (
            "negative",
            evidence(
                latest(Outcome::Balance(Cents(-8_368)), 2),
                balance(-8_368, 2),
                0,
            ),
            Hold,
            "negative balance -83.68 < 180.00 + 25.00",
        ),
        (
            "exactly fresh_for old is still fresh",
            evidence(
                latest(Outcome::Balance(Cents(25_000)), 24),
                balance(25_000, 24),
                0,
            ),
            Send,
            "balance 250.00 >= 180.00 + 25.00",
        ),
        (
            "older than fresh_for",
            evidence(
                latest(Outcome::Balance(Cents(25_000)), 25),
                balance(25_000, 25),
                0,
            ),
            Unknown,
            "stale since 2026-12-07 11:00 UTC",
        ),
        (
            "account closed",
            evidence(latest(closed, 1), balance(25_000, 3), 0),
            Hold,
            "account closed (3200)",
        ),
        (
            "account closed, and nothing else known",
            evidence(latest(closed, 30), None, 0),
            Hold,
            "account closed (3200)",
        ),
        (
            "two returns in a row, whatever the balance",
            evidence(
                latest(Outcome::Balance(Cents(99_999)), 1),
                balance(99_999, 1),
                2,
            ),
            Hold,
            TWO_RETURNS,
        ),
        (
            "three returns in a row",
            evidence(None, None, 3),
            Hold,
            TWO_RETURNS,
        ),
        (
            "one return is not enough to hold",
            evidence(
                latest(Outcome::Balance(Cents(25_000)), 1),
                balance(25_000, 1),
                1,
            ),
            Send,
            "balance 250.00 >= 180.00 + 25.00",
        ),
        (
            "a fresh balance outweighs a later failure",
            evidence(
                latest(Outcome::Failed(BalanceStatus::OtherError), 1),
                balance(25_000, 5),
                0,
            ),
            Send,
            "balance 250.00 >= 180.00 + 25.00",
        ),
        (
            "failed with a code",
            evidence(latest(Outcome::Failed(BalanceStatus::NoMatch), 1), None, 0),
            Unknown,
            "failed with code 3400: no match with provided authorizer information",
        ),
        (
            "failed with an undocumented code",
            evidence(
                latest(Outcome::Failed(BalanceStatus::Unknown(4242)), 1),
                None,
                0,
            ),
            Unknown,
            "failed with code 4242: unknown balance status code",
        ),
        (
            "failed, with a stale balance behind it",
            evidence(
                latest(Outcome::Failed(BalanceStatus::OtherError), 1),
                balance(25_000, 48),
                0,
            ),
            Unknown,
            "failed with code 9000: other error",
        ),
        (
            "institution not supported",
            evidence(
                latest(Outcome::Failed(BalanceStatus::InstitutionNotSupported), 1),
                None,
                0,
            ),
            Unknown,
            "institution not supported (code 3300)",
        ),
        (
            "institution in testing",
            evidence(
                latest(Outcome::Failed(BalanceStatus::InstitutionInTesting), 1),
                None,
                0,
            ),
            Unknown,
            "institution currently in testing (code 3310)",
        ),
        (
            "not retrieved",
            evidence(latest(Outcome::NotRetrieved, 1), balance(25_000, 30), 0),
            Unknown,
            "not retrieved",
        ),
        (
            "rejected at submission",
            evidence(latest(Outcome::Rejected, 1), None, 0),
            Unknown,
            "rejected at submission",
        ),
        (
            "success without a balance",
            evidence(latest(Outcome::NoBalance, 1), None, 0),
            Unknown,
            "retrieved without a balance",
        ),
        (
            "a stale balance and no later check",
            evidence(None, balance(25_000, 72), 0),
            Unknown,
            "stale since 2026-12-05 12:00 UTC",
        ),
        (
            "never checked",
            evidence(None, None, 0),
            Unknown,
            "never checked",
        ),
    ];
    let mut failures = Vec::new();
    for (name, evidence, decision, reason) in &cases {
        let verdict = decide(AMOUNT, rules(), evidence);
        if verdict.decision != *decision || verdict.reason != *reason {
            failures.push(format!(
                "{name}: got {} {:?}, expected {decision} {reason:?}",
                verdict.decision, verdict.reason
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_closed_account_before_a_later_balance_is_not_closed() {
    let verdict = decide(
        AMOUNT,
        rules(),
        &evidence(
            latest(Outcome::Failed(BalanceStatus::AccountClosed), 5),
            balance(25_000, 1),
            0,
        ),
    );
    assert_eq!(verdict.decision, Decision::Send);
}

#[test]
fn the_verdict_carries_the_balance_it_rests_on() {
    let verdict = decide(
        AMOUNT,
        rules(),
        &evidence(
            latest(Outcome::Balance(Cents(12_000)), 2),
            balance(12_000, 2),
            0,
        ),
    );
    assert_eq!(verdict.balance, Some(Cents(12_000)));
    assert_eq!(verdict.checked_at, Some(hours_ago(2)));
    let closed = decide(
        AMOUNT,
        rules(),
        &evidence(
            latest(Outcome::Failed(BalanceStatus::AccountClosed), 1),
            None,
            0,
        ),
    );
    assert_eq!(
        (closed.balance, closed.checked_at),
        (None, Some(hours_ago(1)))
    );
}

#[test]
fn a_zero_margin_needs_only_the_amount() {
    let rules = DecisionRules {
        margin: Cents::ZERO,
        ..rules()
    };
    let verdict = decide(
        AMOUNT,
        rules,
        &evidence(
            latest(Outcome::Balance(AMOUNT), 1),
            Some((AMOUNT, hours_ago(1))),
            0,
        ),
    );
    assert_eq!(
        (verdict.decision, verdict.reason.as_str()),
        (Decision::Send, "balance 180.00 >= 180.00 + 0.00")
    );
}
