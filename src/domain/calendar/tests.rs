//! The calendar against the Federal Reserve's published holiday schedules for 2026 to
//! 2030 (frbservices.org, "Holiday Schedules"): the expected dates below are copied
//! from those schedules, not computed.

use chrono::NaiveDate;

use super::{BusinessCalendar, Closure, FedHoliday};

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a test date")
}

/// The weekdays each year's published schedule closes. A holiday on a Saturday is
/// listed by the Fed with the note that the banks are open the Friday before, so it
/// closes nothing and is absent here; a Sunday holiday closes the Monday after.
const PUBLISHED: [(i32, &[&str]); 5] = [
    (
        2026,
        &[
            "2026-01-01",
            "2026-01-19",
            "2026-02-16",
            "2026-05-25",
            "2026-06-19",
            // July 4 is a Saturday: nothing closes.
            "2026-09-07",
            "2026-10-12",
            "2026-11-11",
            "2026-11-26",
            "2026-12-25",
        ],
    ),
    (
        2027,
        &[
            "2027-01-01",
            "2027-01-18",
            "2027-02-15",
            "2027-05-31",
            // June 19 is a Saturday: nothing closes.
            "2027-07-05", // July 4 is a Sunday
            "2027-09-06",
            "2027-10-11",
            "2027-11-11",
            "2027-11-25",
            // December 25 is a Saturday: nothing closes.
        ],
    ),
    (
        2028,
        &[
            // January 1 is a Saturday: nothing closes.
            "2028-01-17",
            "2028-02-21",
            "2028-05-29",
            "2028-06-19",
            "2028-07-04",
            "2028-09-04",
            "2028-10-09",
            // November 11 is a Saturday: nothing closes.
            "2028-11-23",
            "2028-12-25",
        ],
    ),
    (
        2029,
        &[
            "2029-01-01",
            "2029-01-15",
            "2029-02-19",
            "2029-05-28",
            "2029-06-19",
            "2029-07-04",
            "2029-09-03",
            "2029-10-08",
            "2029-11-12", // November 11 is a Sunday
            "2029-11-22",
            "2029-12-25",
        ],
    ),
    (
        2030,
        &[
            "2030-01-01",
            "2030-01-21",
            "2030-02-18",
            "2030-05-27",
            "2030-06-19",
            "2030-07-04",
            "2030-09-02",
            "2030-10-14",
            "2030-11-11",
            "2030-11-28",
            "2030-12-25",
        ],
    ),
];

#[test]
fn closed_weekdays_match_the_published_schedules_2026_to_2030() {
    let calendar = BusinessCalendar::fedach();
    for (year, published) in PUBLISHED {
        let computed: Vec<String> = calendar
            .closed_weekdays(year)
            .iter()
            .map(|(day, _)| day.to_string())
            .collect();
        assert_eq!(computed, published, "{year}");
    }
}

#[test]
fn the_published_dates_are_closed_and_every_other_weekday_is_open() {
    let calendar = BusinessCalendar::fedach();
    for (year, published) in PUBLISHED {
        let mut day = date(&format!("{year}-01-01"));
        while chrono::Datelike::year(&day) == year {
            let weekend = matches!(
                chrono::Datelike::weekday(&day),
                chrono::Weekday::Sat | chrono::Weekday::Sun
            );
            let holiday = published.contains(&day.to_string().as_str());
            assert_eq!(calendar.is_business_day(day), !weekend && !holiday, "{day}");
            day = day.succ_opt().expect("a next day");
        }
    }
}

#[test]
fn a_saturday_holiday_leaves_the_friday_before_open() {
    let calendar = BusinessCalendar::fedach();
    // Independence Day 2026 and Christmas 2027 fall on Saturdays.
    assert!(calendar.is_business_day(date("2026-07-03")));
    assert!(calendar.is_business_day(date("2027-12-24")));
    assert!(calendar.is_business_day(date("2027-06-18")));
    assert!(calendar.is_business_day(date("2027-12-31")));
}

#[test]
fn a_sunday_holiday_closes_the_monday_after_and_is_named_observed() {
    let calendar = BusinessCalendar::fedach();
    assert_eq!(
        calendar.closure(date("2027-07-05")),
        Some(Closure::Holiday {
            holiday: FedHoliday::IndependenceDay,
            observed: true
        })
    );
    assert_eq!(
        calendar.closure(date("2027-07-05")).map(Closure::name),
        Some("Independence Day (observed)".to_string())
    );
    assert_eq!(
        calendar.closure(date("2026-12-25")).map(Closure::name),
        Some("Christmas Day".to_string())
    );
}

#[test]
fn a_debit_dated_on_a_closed_day_settles_on_the_next_business_day() {
    let calendar = BusinessCalendar::fedach();
    let cases = [
        ("2026-12-25", "2026-12-28"), // Friday Christmas → Monday
        ("2026-12-26", "2026-12-28"), // Saturday
        ("2026-11-26", "2026-11-27"), // Thanksgiving → Friday
        ("2026-07-03", "2026-07-03"), // open
        ("2026-07-04", "2026-07-06"), // Saturday holiday: Monday is open
        ("2027-07-03", "2027-07-06"), // Saturday, Sunday, observed Monday
        ("2026-12-07", "2026-12-07"),
    ];
    for (dated, settles) in cases {
        assert_eq!(calendar.settles_on(date(dated)), date(settles), "{dated}");
    }
}

#[test]
fn adding_business_days_skips_weekends_and_holidays() {
    let calendar = BusinessCalendar::fedach();
    let cases = [
        ("2026-12-07", 0, "2026-12-07"),
        ("2026-12-07", 2, "2026-12-09"), // Mon + 2 = Wed
        ("2026-12-04", 1, "2026-12-07"), // Fri + 1 = Mon
        ("2026-12-23", 2, "2026-12-28"), // Wed + 2: Thu, then Christmas and the weekend
        ("2026-11-25", 1, "2026-11-27"), // over Thanksgiving
        ("2026-12-05", 0, "2026-12-07"), // a Saturday: the next business day
        ("2026-12-05", 1, "2026-12-07"), // from a closed day Monday counts as one
        ("2026-12-05", 2, "2026-12-08"),
        ("2027-07-02", 1, "2027-07-06"), // Fri + 1 over the observed Monday
    ];
    for (from, n, expected) in cases {
        assert_eq!(
            calendar.add_business_days(date(from), n),
            date(expected),
            "{from} + {n}"
        );
    }
}

#[test]
fn extra_holidays_close_their_dates() {
    let calendar = BusinessCalendar::with_extra_holidays([
        date("2026-12-24"),
        date("2026-12-24"),
        date("2026-12-31"),
    ]);
    assert_eq!(calendar.extra_holidays().len(), 2);
    assert_eq!(calendar.closure(date("2026-12-24")), Some(Closure::Extra));
    assert_eq!(
        calendar.add_business_days(date("2026-12-23"), 1),
        date("2026-12-28")
    );
    assert_eq!(calendar.settles_on(date("2026-12-31")), date("2027-01-04"));
    let closed: Vec<String> = calendar
        .closed_weekdays(2026)
        .iter()
        .rev()
        .take(3)
        .map(|(day, closure)| format!("{day} {}", closure.name()))
        .collect();
    assert_eq!(
        closed,
        [
            "2026-12-31 extra holiday",
            "2026-12-25 Christmas Day",
            "2026-12-24 extra holiday"
        ]
    );
    // The Fed's own calendar is unchanged.
    assert!(BusinessCalendar::fedach().is_business_day(date("2026-12-24")));
}

#[test]
fn every_rule_holds_over_a_century() {
    // Each holiday closes at most one weekday, never a weekend, and the calendar never
    // names a weekend as a holiday, for every year from 2000 to 2100.
    let calendar = BusinessCalendar::fedach();
    for year in 2000..=2100 {
        let closed = calendar.closed_weekdays(year);
        assert!(closed.len() <= 11, "{year}");
        for holiday in FedHoliday::ALL {
            if let Some(day) = holiday.closes(year) {
                assert!(!calendar.is_business_day(day), "{year} {holiday:?}");
                assert!(
                    !matches!(
                        chrono::Datelike::weekday(&day),
                        chrono::Weekday::Sat | chrono::Weekday::Sun
                    ),
                    "{year} {holiday:?}"
                );
            }
        }
    }
}
