//! `balance_below`, `below_payment`, `negative_balance`.

use super::*;
use crate::config::RuleKind;
use crate::rules::SkipReason;

#[test]
fn balance_below_is_strictly_below_the_amount() {
    let r = || balance_below("150.00");
    let mut table = vec![
        case(
            "one cent below",
            r(),
            vec![],
            now(ok("149.99")),
            Fires("balance $149.99 is below $150.00"),
        ),
        case(
            "exactly at the amount is not below",
            r(),
            vec![],
            now(ok("150.00")),
            Quiet,
        ),
        case("one cent above", r(), vec![], now(ok("150.01")), Quiet),
        case(
            "overdrawn is below",
            r(),
            vec![],
            now(ok("-5.00")),
            Fires("balance -$5.00 is below $150.00"),
        ),
        case(
            "zero is below",
            r(),
            vec![],
            now(ok("0")),
            Fires("balance $0.00 is below $150.00"),
        ),
    ];
    table.extend(without_a_balance(r));
    run_table(table);
}

#[test]
fn below_payment_compares_with_payment_plus_margin() {
    let r = || RuleKind::BelowPayment {
        field: "payment_amount".to_string(),
        margin: cents("25.00"),
    };
    let no_margin = || RuleKind::BelowPayment {
        field: "payment_amount".to_string(),
        margin: Cents::ZERO,
    };
    // One row: no earlier runs; the judged check and the lender's fields it is judged with.
    let judged = |name: &'static str,
                  rule: RuleKind,
                  check: Check,
                  metadata: &'static [(&'static str, &'static str)],
                  expect: Expect| {
        let mut judged = case(name, rule, vec![], now(check), expect);
        judged.metadata = metadata;
        judged
    };
    let payment = &[("payment_amount", "100.00")];
    let unparsable = || Skipped(SkipReason::UnparsableField);
    let missing = || Skipped(SkipReason::MissingField);
    run_table(vec![
        judged(
            "one cent below payment plus margin",
            r(),
            ok("124.99"),
            payment,
            Fires("balance $124.99 is below the payment of $100.00 plus a margin of $25.00"),
        ),
        judged(
            "exactly payment plus margin",
            r(),
            ok("125.00"),
            payment,
            Quiet,
        ),
        judged(
            "no margin: one cent below the payment",
            no_margin(),
            ok("99.99"),
            payment,
            Fires("balance $99.99 is below the payment of $100.00"),
        ),
        judged(
            "no margin: exactly the payment",
            no_margin(),
            ok("100.00"),
            payment,
            Quiet,
        ),
        judged(
            "payment written with a separator",
            r(),
            ok("1,000.00"),
            &[("payment_amount", "1,250.00")],
            Fires("balance $1,000.00 is below the payment of $1,250.00 plus a margin of $25.00"),
        ),
        judged(
            "field missing",
            r(),
            ok("1.00"),
            &[("loan_id", "LN-1")],
            missing(),
        ),
        judged(
            "field blank",
            r(),
            ok("1.00"),
            &[("payment_amount", "  ")],
            missing(),
        ),
        judged(
            "field not an amount",
            r(),
            ok("1.00"),
            &[("payment_amount", "n/a")],
            unparsable(),
        ),
        judged(
            "field with sub-cent precision",
            r(),
            ok("1.00"),
            &[("payment_amount", "100.005")],
            unparsable(),
        ),
        // Without a balance there is nothing to judge, and nothing to report about the field.
        judged("failed check, field missing", r(), failed(3400), &[], Quiet),
        judged(
            "failed check, field present",
            r(),
            failed(3400),
            payment,
            Quiet,
        ),
    ]);
}

#[test]
fn negative_balance_is_below_zero() {
    let r = || RuleKind::NegativeBalance;
    let mut table = vec![
        case("zero is not negative", r(), vec![], now(ok("0.00")), Quiet),
        case(
            "one cent overdrawn",
            r(),
            vec![],
            now(ok("-0.01")),
            Fires("balance -$0.01 is negative"),
        ),
        case(
            "large overdraft",
            r(),
            vec![],
            now(ok("-1234.56")),
            Fires("balance -$1,234.56 is negative"),
        ),
    ];
    table.extend(without_a_balance(r));
    run_table(table);
}

/// The checks a rule on the balance cannot judge: no balance, or one it must not trust.
fn without_a_balance(rule: impl Fn() -> RuleKind) -> Vec<Case> {
    vec![
        case(
            "a failed check cannot be judged",
            rule(),
            vec![],
            now(failed(3200)),
            Quiet,
        ),
        case(
            "a balance sent with a failure code is ignored",
            rule(),
            vec![],
            now(Check::Retrieved {
                status_code: 9000,
                balance: Some(cents("1.00")),
            }),
            Quiet,
        ),
        case(
            "success without a balance cannot be judged",
            rule(),
            vec![],
            now(Check::Retrieved {
                status_code: 0,
                balance: None,
            }),
            Quiet,
        ),
        case(
            "not retrieved",
            rule(),
            vec![],
            now(Check::NotRetrieved),
            Quiet,
        ),
        case("rejected", rule(), vec![], now(Check::Rejected), Quiet),
    ]
}
