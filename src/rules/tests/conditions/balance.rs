//! `balance_below`, `below_payment`, `negative_balance`.

use super::*;
use crate::config::RuleKind;
use crate::rules::SkipReason;

#[test]
fn balance_below_is_strictly_below_the_amount() {
    let r = || balance_below("150.00");
    run_table(vec![
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
        case(
            "a failed check cannot be judged",
            r(),
            vec![],
            now(failed(3200)),
            Quiet,
        ),
        case(
            "a balance sent with a failure code is ignored",
            r(),
            vec![],
            now(Check::Retrieved {
                status_code: 9000,
                balance: Some(cents("1.00")),
            }),
            Quiet,
        ),
        case(
            "success without a balance cannot be judged",
            r(),
            vec![],
            now(Check::Retrieved {
                status_code: 0,
                balance: None,
            }),
            Quiet,
        ),
        case(
            "not retrieved",
            r(),
            vec![],
            now(Check::NotRetrieved),
            Quiet,
        ),
        case("rejected", r(), vec![], now(Check::Rejected), Quiet),
    ]);
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
    let with = |mut case: Case, metadata: &'static [(&'static str, &'static str)]| {
        case.metadata = metadata;
        case
    };
    let payment = &[("payment_amount", "100.00")];
    run_table(vec![
        with(
            case(
                "one cent below payment plus margin",
                r(),
                vec![],
                now(ok("124.99")),
                Fires("balance $124.99 is below the payment of $100.00 plus a margin of $25.00"),
            ),
            payment,
        ),
        with(
            case(
                "exactly payment plus margin",
                r(),
                vec![],
                now(ok("125.00")),
                Quiet,
            ),
            payment,
        ),
        with(
            case(
                "no margin: one cent below the payment",
                no_margin(),
                vec![],
                now(ok("99.99")),
                Fires("balance $99.99 is below the payment of $100.00"),
            ),
            payment,
        ),
        with(
            case(
                "no margin: exactly the payment",
                no_margin(),
                vec![],
                now(ok("100.00")),
                Quiet,
            ),
            payment,
        ),
        with(
            case(
                "payment written with a separator",
                r(),
                vec![],
                now(ok("1,000.00")),
                Fires(
                    "balance $1,000.00 is below the payment of $1,250.00 plus a margin of $25.00",
                ),
            ),
            &[("payment_amount", "1,250.00")],
        ),
        with(
            case(
                "field missing",
                r(),
                vec![],
                now(ok("1.00")),
                Skipped(SkipReason::MissingField),
            ),
            &[("loan_id", "LN-1")],
        ),
        with(
            case(
                "field blank",
                r(),
                vec![],
                now(ok("1.00")),
                Skipped(SkipReason::MissingField),
            ),
            &[("payment_amount", "  ")],
        ),
        with(
            case(
                "field not an amount",
                r(),
                vec![],
                now(ok("1.00")),
                Skipped(SkipReason::UnparsableField),
            ),
            &[("payment_amount", "n/a")],
        ),
        with(
            case(
                "field with sub-cent precision",
                r(),
                vec![],
                now(ok("1.00")),
                Skipped(SkipReason::UnparsableField),
            ),
            &[("payment_amount", "100.005")],
        ),
        // Without a balance there is nothing to judge, and nothing to report about the field.
        with(
            case(
                "failed check, field missing",
                r(),
                vec![],
                now(failed(3400)),
                Quiet,
            ),
            &[],
        ),
        with(
            case(
                "failed check, field present",
                r(),
                vec![],
                now(failed(3400)),
                Quiet,
            ),
            payment,
        ),
    ]);
}

#[test]
fn negative_balance_is_below_zero() {
    let r = || RuleKind::NegativeBalance;
    run_table(vec![
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
        case(
            "a failed check cannot be judged",
            r(),
            vec![],
            now(failed(9000)),
            Quiet,
        ),
        case(
            "not retrieved",
            r(),
            vec![],
            now(Check::NotRetrieved),
            Quiet,
        ),
    ]);
}
