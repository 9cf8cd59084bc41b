//! The FedACH settlement calendar: which dates the Federal Reserve settles ACH on,
//! computed from the rules rather than from a table, so it holds for any year.
//!
//! Closed are Saturdays, Sundays and the eleven Federal Reserve holidays, with the
//! Reserve Banks' own observance rule: a holiday that falls on a Sunday closes the
//! Monday after, and a holiday that falls on a Saturday closes nothing (the banks are
//! open the Friday before). A lender's `extra_holidays` close more dates. On top of
//! that the calendar answers the two questions the payment plan asks: on which date a
//! debit dated on a given day settles (the next business day when its date is closed),
//! and which date lies N business days after another. It is pure: no clock, no I/O.

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// The eleven Federal Reserve holidays, in calendar order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FedHoliday {
    NewYearsDay,
    MartinLutherKingJrDay,
    WashingtonsBirthday,
    MemorialDay,
    Juneteenth,
    IndependenceDay,
    LaborDay,
    ColumbusDay,
    VeteransDay,
    Thanksgiving,
    Christmas,
}

impl FedHoliday {
    pub const ALL: [FedHoliday; 11] = [
        FedHoliday::NewYearsDay,
        FedHoliday::MartinLutherKingJrDay,
        FedHoliday::WashingtonsBirthday,
        FedHoliday::MemorialDay,
        FedHoliday::Juneteenth,
        FedHoliday::IndependenceDay,
        FedHoliday::LaborDay,
        FedHoliday::ColumbusDay,
        FedHoliday::VeteransDay,
        FedHoliday::Thanksgiving,
        FedHoliday::Christmas,
    ];

    /// The holiday's name as the Federal Reserve's schedule writes it.
    pub fn name(self) -> &'static str {
        match self {
            FedHoliday::NewYearsDay => "New Year's Day",
            FedHoliday::MartinLutherKingJrDay => "Birthday of Martin Luther King, Jr.",
            FedHoliday::WashingtonsBirthday => "Washington's Birthday",
            FedHoliday::MemorialDay => "Memorial Day",
            FedHoliday::Juneteenth => "Juneteenth National Independence Day",
            FedHoliday::IndependenceDay => "Independence Day",
            FedHoliday::LaborDay => "Labor Day",
            FedHoliday::ColumbusDay => "Columbus Day",
            FedHoliday::VeteransDay => "Veterans Day",
            FedHoliday::Thanksgiving => "Thanksgiving Day",
            FedHoliday::Christmas => "Christmas Day",
        }
    }

    /// The holiday's own date in `year`, before any observance rule.
    pub fn date(self, year: i32) -> NaiveDate {
        let fixed = |month, day| NaiveDate::from_ymd_opt(year, month, day);
        let nth = |month, weekday, n| NaiveDate::from_weekday_of_month_opt(year, month, weekday, n);
        let date = match self {
            FedHoliday::NewYearsDay => fixed(1, 1),
            FedHoliday::MartinLutherKingJrDay => nth(1, Weekday::Mon, 3),
            FedHoliday::WashingtonsBirthday => nth(2, Weekday::Mon, 3),
            FedHoliday::MemorialDay => last_weekday_of_month(year, 5, Weekday::Mon),
            FedHoliday::Juneteenth => fixed(6, 19),
            FedHoliday::IndependenceDay => fixed(7, 4),
            FedHoliday::LaborDay => nth(9, Weekday::Mon, 1),
            FedHoliday::ColumbusDay => nth(10, Weekday::Mon, 2),
            FedHoliday::VeteransDay => fixed(11, 11),
            FedHoliday::Thanksgiving => nth(11, Weekday::Thu, 4),
            FedHoliday::Christmas => fixed(12, 25),
        };
        // Every rule names a day that exists in every year chrono can represent.
        date.unwrap_or(NaiveDate::MIN)
    }

    /// The weekday the holiday closes in `year`, if any: its own date on a weekday, the
    /// Monday after when it falls on a Sunday, nothing when it falls on a Saturday.
    pub fn closes(self, year: i32) -> Option<NaiveDate> {
        let date = self.date(year);
        match date.weekday() {
            Weekday::Sat => None,
            Weekday::Sun => date.succ_opt(),
            _ => Some(date),
        }
    }
}

fn last_weekday_of_month(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, 5)
        .or_else(|| NaiveDate::from_weekday_of_month_opt(year, month, weekday, 4))
}

/// Why a date does not settle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closure {
    Weekend,
    /// A Federal Reserve holiday; `observed` when the date is the Monday after a
    /// holiday that fell on a Sunday.
    Holiday {
        holiday: FedHoliday,
        observed: bool,
    },
    /// One of the lender's `extra_holidays`.
    Extra,
}

impl Closure {
    /// The name `balance-monitor calendar` prints beside the date.
    pub fn name(self) -> String {
        match self {
            Closure::Weekend => "weekend".to_string(),
            Closure::Holiday {
                holiday,
                observed: false,
            } => holiday.name().to_string(),
            Closure::Holiday {
                holiday,
                observed: true,
            } => format!("{} (observed)", holiday.name()),
            Closure::Extra => "extra holiday".to_string(),
        }
    }
}

/// The FedACH calendar with a lender's extra closures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BusinessCalendar {
    /// Sorted, without repeats.
    extra: Vec<NaiveDate>,
}

impl BusinessCalendar {
    /// The Federal Reserve's calendar alone.
    pub fn fedach() -> BusinessCalendar {
        BusinessCalendar::default()
    }

    /// The Federal Reserve's calendar, with `extra` dates closed too.
    pub fn with_extra_holidays(extra: impl IntoIterator<Item = NaiveDate>) -> BusinessCalendar {
        let mut extra: Vec<NaiveDate> = extra.into_iter().collect();
        extra.sort_unstable();
        extra.dedup();
        BusinessCalendar { extra }
    }

    /// The lender's extra closures, sorted.
    pub fn extra_holidays(&self) -> &[NaiveDate] {
        &self.extra
    }

    /// Why `date` does not settle, or `None` on a business day.
    pub fn closure(&self, date: NaiveDate) -> Option<Closure> {
        if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            return Some(Closure::Weekend);
        }
        if let Some(closure) = fed_holiday_on(date) {
            return Some(closure);
        }
        self.extra
            .binary_search(&date)
            .is_ok()
            .then_some(Closure::Extra)
    }

    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        self.closure(date).is_none()
    }

    /// The date a debit dated `date` settles on: `date` itself on a business day,
    /// otherwise the next business day.
    pub fn settles_on(&self, date: NaiveDate) -> NaiveDate {
        let mut day = date;
        while !self.is_business_day(day) {
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        day
    }

    /// The business day `n` business days after `date` (`n = 0` is `settles_on(date)`).
    /// From a closed date, the first business day after it counts as one.
    pub fn add_business_days(&self, date: NaiveDate, n: u32) -> NaiveDate {
        let mut left = n;
        if !self.is_business_day(date) {
            left = left.saturating_sub(1);
        }
        let mut day = self.settles_on(date);
        while left > 0 {
            day = self.settles_on(next_day(day));
            left -= 1;
        }
        day
    }

    /// The weekdays of `year` on which FedACH does not settle, in order, with why.
    pub fn closed_weekdays(&self, year: i32) -> Vec<(NaiveDate, Closure)> {
        let mut closed: Vec<(NaiveDate, Closure)> = Vec::new();
        let Some(mut day) = NaiveDate::from_ymd_opt(year, 1, 1) else {
            return closed;
        };
        while day.year() == year {
            match self.closure(day) {
                None | Some(Closure::Weekend) => {}
                Some(closure) => closed.push((day, closure)),
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        closed
    }
}

/// The Federal Reserve holiday that closes `date`, a weekday.
fn fed_holiday_on(date: NaiveDate) -> Option<Closure> {
    let year = date.year();
    let month = date.month();
    // A Sunday holiday's Monday stays in the holiday's month (none falls on the last
    // day of a month), so the holidays of the date's own month suffice.
    FedHoliday::ALL
        .iter()
        .filter(|holiday| holiday_month(**holiday) == month)
        .find_map(|holiday| {
            let closes = holiday.closes(year)?;
            (closes == date).then(|| Closure::Holiday {
                holiday: *holiday,
                observed: closes != holiday.date(year),
            })
        })
}

/// The month each holiday (and its Monday observance) falls in.
fn holiday_month(holiday: FedHoliday) -> u32 {
    match holiday {
        FedHoliday::NewYearsDay | FedHoliday::MartinLutherKingJrDay => 1,
        FedHoliday::WashingtonsBirthday => 2,
        FedHoliday::MemorialDay => 5,
        FedHoliday::Juneteenth => 6,
        FedHoliday::IndependenceDay => 7,
        FedHoliday::LaborDay => 9,
        FedHoliday::ColumbusDay => 10,
        FedHoliday::VeteransDay | FedHoliday::Thanksgiving => 11,
        FedHoliday::Christmas => 12,
    }
}

fn next_day(date: NaiveDate) -> NaiveDate {
    date.checked_add_days(Days::new(1)).unwrap_or(date)
}

#[cfg(test)]
mod tests;
