//! Which debits a run looks at: those that settle within `due_within` business days of
//! the run's local date ([`DueWindow`]), and so which authorizers it checks.
//!
//! A debit is due when the date it settles on (its own date, or the next business day
//! when that is closed) lies from the run's date through `due_within` business days
//! after it. Everything here is pure and linear in the number of debits: a debit dated
//! after the window's end cannot settle inside it, and one dated more than a fortnight
//! before its start cannot either (no run of closed days is that long), so the calendar
//! is asked only about dates near the window.

use chrono::{Days, NaiveDate};

use super::debit::Debit;
use crate::domain::BusinessCalendar;

/// The settlement dates a run covers, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueWindow {
    /// The run's local date.
    pub from: NaiveDate,
    /// `due_within` business days after it: the summary's "debits due by".
    pub through: NaiveDate,
}

impl DueWindow {
    pub fn new(calendar: &BusinessCalendar, run_date: NaiveDate, due_within: u32) -> DueWindow {
        DueWindow {
            from: run_date,
            through: calendar.add_business_days(run_date, due_within),
        }
    }

    /// The date `debit` settles on, when that is inside the window.
    pub fn settles_inside(
        &self,
        calendar: &BusinessCalendar,
        date: NaiveDate,
    ) -> Option<NaiveDate> {
        let earliest = self
            .from
            .checked_sub_days(Days::new(14))
            .unwrap_or(self.from);
        if date > self.through || date < earliest {
            return None;
        }
        let settles = calendar.settles_on(date);
        (settles >= self.from && settles <= self.through).then_some(settles)
    }
}

/// A debit inside a run's window, with the date it settles on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueDebit<'a> {
    pub debit: &'a Debit,
    pub settles_on: NaiveDate,
}

/// The debits of `debits` due in `window`, ordered by authorizer id, then settlement
/// date, then debit id.
pub fn due_debits<'a>(
    debits: &'a [Debit],
    calendar: &BusinessCalendar,
    window: &DueWindow,
) -> Vec<DueDebit<'a>> {
    let mut due: Vec<DueDebit<'a>> = debits
        .iter()
        .filter_map(|debit| {
            let settles_on = window.settles_inside(calendar, debit.date)?;
            Some(DueDebit { debit, settles_on })
        })
        .collect();
    due.sort_unstable_by(|a, b| {
        (&a.debit.authorizer_id, a.settles_on, &a.debit.debit_id).cmp(&(
            &b.debit.authorizer_id,
            b.settles_on,
            &b.debit.debit_id,
        ))
    });
    due
}

/// The distinct authorizer ids of `due` (sorted as `due` is), the ones a run checks.
pub fn authorizers_to_check<'a>(due: &[DueDebit<'a>]) -> Vec<&'a str> {
    let mut ids: Vec<&'a str> = due.iter().map(|d| d.debit.authorizer_id.as_str()).collect();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Cents;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn debit(authorizer: &str, id: &str, on: &str) -> Debit {
        Debit {
            authorizer_id: authorizer.to_string(),
            debit_id: id.to_string(),
            date: date(on),
            amount: Cents(100),
        }
    }

    #[test]
    fn a_run_covers_its_date_through_due_within_business_days() {
        let calendar = BusinessCalendar::fedach();
        // Monday 7 December 2026, two business days: through Wednesday 9 December.
        let window = DueWindow::new(&calendar, date("2026-12-07"), 2);
        assert_eq!(window.through, date("2026-12-09"));
        // Wednesday 23 December, two business days: Thursday, then Christmas and the
        // weekend, so Monday 28 December; the Friday-Christmas debit settles then.
        let christmas = DueWindow::new(&calendar, date("2026-12-23"), 2);
        assert_eq!(christmas.through, date("2026-12-28"));
        assert_eq!(
            christmas.settles_inside(&calendar, date("2026-12-25")),
            Some(date("2026-12-28"))
        );
        assert_eq!(
            christmas.settles_inside(&calendar, date("2026-12-29")),
            None
        );
        assert_eq!(
            christmas.settles_inside(&calendar, date("2026-12-22")),
            None
        );
    }

    #[test]
    fn only_debits_settling_in_the_window_are_due_and_their_authorizers_checked() {
        let calendar = BusinessCalendar::with_extra_holidays([date("2026-12-24")]);
        let debits = [
            debit("B", "b-1", "2026-12-24"), // extra holiday: settles on the 28th
            debit("A", "a-1", "2026-12-23"), // today
            debit("A", "a-2", "2026-12-30"), // after the window
            debit("C", "c-1", "2026-12-22"), // yesterday: settled already
            debit("B", "b-2", "2026-12-26"), // Saturday: settles on the 28th
            debit("D", "d-1", "2026-12-27"),
        ];
        let window = DueWindow::new(&calendar, date("2026-12-23"), 1);
        assert_eq!(window.through, date("2026-12-28"));
        let due = due_debits(&debits, &calendar, &window);
        let shown: Vec<(&str, String)> = due
            .iter()
            .map(|d| (d.debit.debit_id.as_str(), d.settles_on.to_string()))
            .collect();
        assert_eq!(
            shown,
            [
                ("a-1", "2026-12-23".to_string()),
                ("b-1", "2026-12-28".to_string()),
                ("b-2", "2026-12-28".to_string()),
                ("d-1", "2026-12-28".to_string()),
            ]
        );
        assert_eq!(authorizers_to_check(&due), ["A", "B", "D"]);
    }
}
