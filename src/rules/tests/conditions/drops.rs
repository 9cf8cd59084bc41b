//! `drop_percent` and `drop_amount`: the reference, the threshold, the window's edges.

use super::*;
use crate::config::RuleKind;

#[test]
fn drop_percent_against_the_previous_successful_balance() {
    let r = || RuleKind::DropPercent {
        percent: 4000,
        window: None,
    };
    let start = |balance: &str| vec![(days(0), ok(balance))];
    run_table(vec![
        case(
            "first run: no history, no drop",
            r(),
            vec![],
            now(ok("1.00")),
            Quiet,
        ),
        case(
            "exactly 40%",
            r(),
            start("1000.00"),
            now(ok("600.00")),
            Fires("balance fell 40% from the previous balance $1,000.00 to $600.00 (alert at 40%)"),
        ),
        case(
            "one cent short of 40%",
            r(),
            start("1000.00"),
            now(ok("600.01")),
            Quiet,
        ),
        case(
            "a fractional drop is shown to the hundredth",
            r(),
            start("3.00"),
            now(ok("1.79")),
            Fires("balance fell 40.33% from the previous balance $3.00 to $1.79 (alert at 40%)"),
        ),
        case(
            "a rise is no drop",
            r(),
            start("100.00"),
            now(ok("900.00")),
            Quiet,
        ),
        case(
            "compared with the previous balance, not the highest",
            r(),
            vec![(days(0), ok("1000.00")), (days(1), ok("700.00"))],
            (days(2), ok("420.00")),
            Fires("balance fell 40% from the previous balance $700.00 to $420.00 (alert at 40%)"),
        ),
        case(
            "a failed check in between is skipped over",
            r(),
            vec![(days(0), ok("1000.00")), (days(1), failed(9000))],
            (days(2), ok("500.00")),
            Fires("balance fell 50% from the previous balance $1,000.00 to $500.00 (alert at 40%)"),
        ),
        case(
            "only failed checks before: no history",
            r(),
            vec![(days(0), failed(3200))],
            now(ok("1.00")),
            Quiet,
        ),
        case(
            "from zero there is no percentage",
            r(),
            start("0.00"),
            now(ok("-100.00")),
            Quiet,
        ),
        case(
            "from an overdraft there is no percentage",
            r(),
            start("-10.00"),
            now(ok("-100.00")),
            Quiet,
        ),
        case(
            "this run failed",
            r(),
            start("1000.00"),
            now(failed(3200)),
            Quiet,
        ),
    ]);
}

#[test]
fn drop_percent_within_a_window_uses_the_highest_balance() {
    let r = || RuleKind::DropPercent {
        percent: 4000,
        window: Some(Duration::from_secs(7 * 86_400)),
    };
    let history = || vec![(days(0), ok("1000.00")), (days(6), ok("900.00"))];
    run_table(vec![
        case(
            "the highest in the window, not the previous",
            r(),
            vec![(days(0), ok("1000.00")), (days(1), ok("700.00"))],
            (days(2), ok("600.00")),
            Fires(
                "balance fell 40% from the highest balance in the last 7d, $1,000.00, to $600.00 (alert at 40%)",
            ),
        ),
        case(
            "a balance exactly a window old is in the window",
            r(),
            history(),
            (days(7), ok("600.00")),
            Fires(
                "balance fell 40% from the highest balance in the last 7d, $1,000.00, to $600.00 (alert at 40%)",
            ),
        ),
        // 1,000.00 has left the window; from 900.00 the fall is 33%.
        case(
            "one microsecond later it is not",
            r(),
            history(),
            (days(7) + micros(1), ok("600.00")),
            Quiet,
        ),
        case(
            "nothing in the window: no drop",
            r(),
            vec![(days(0), ok("1000.00"))],
            (days(8), ok("1.00")),
            Quiet,
        ),
        case(
            "a later higher balance replaces an earlier one",
            r(),
            vec![
                (days(0), ok("500.00")),
                (days(1), ok("2000.00")),
                (days(2), ok("1500.00")),
            ],
            (days(3), ok("1200.00")),
            Fires(
                "balance fell 40% from the highest balance in the last 7d, $2,000.00, to $1,200.00 (alert at 40%)",
            ),
        ),
    ]);
}

#[test]
fn drop_amount_with_and_without_a_window() {
    let r = || RuleKind::DropAmount {
        amount: cents("500.00"),
        window: None,
    };
    let windowed = || RuleKind::DropAmount {
        amount: cents("500.00"),
        window: Some(Duration::from_secs(3 * 86_400)),
    };
    let start = |balance: &str| vec![(days(0), ok(balance))];
    let history = || vec![(days(0), ok("2000.00")), (days(1), ok("1800.00"))];
    run_table(vec![
        case(
            "first run: no history, no drop",
            r(),
            vec![],
            now(ok("-1000.00")),
            Quiet,
        ),
        case(
            "exactly the amount",
            r(),
            start("1000.00"),
            now(ok("500.00")),
            Fires(
                "balance fell $500.00 from the previous balance $1,000.00 to $500.00 (alert at $500.00)",
            ),
        ),
        case(
            "one cent short",
            r(),
            start("1000.00"),
            now(ok("500.01")),
            Quiet,
        ),
        case(
            "into an overdraft",
            r(),
            start("-100.00"),
            now(ok("-600.00")),
            Fires(
                "balance fell $500.00 from the previous balance -$100.00 to -$600.00 (alert at $500.00)",
            ),
        ),
        case(
            "a rise is no drop",
            r(),
            start("-600.00"),
            now(ok("1000.00")),
            Quiet,
        ),
        case(
            "window: a balance exactly a window old counts",
            windowed(),
            history(),
            (days(3), ok("1500.00")),
            Fires(
                "balance fell $500.00 from the highest balance in the last 3d, $2,000.00, to $1,500.00 (alert at $500.00)",
            ),
        ),
        case(
            "window: one microsecond later it does not",
            windowed(),
            history(),
            (days(3) + micros(1), ok("1500.00")),
            Quiet,
        ),
    ]);
}
