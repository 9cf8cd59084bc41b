//! `balance-monitor calendar --year YEAR`: the weekdays on which FedACH does not settle,
//! one per line as `YYYY-MM-DD name`, from `domain::calendar`. It reads no
//! configuration; weekends are left out because every weekend is closed.

use clap::Args;

use crate::domain::BusinessCalendar;

use super::Failure;
use super::output::Output;

pub const EXAMPLES: &str = "\
Examples:
  balance-monitor calendar --year 2027
  balance-monitor calendar --year 2026 | grep Christmas";

#[derive(Debug, Args)]
pub struct CalendarArgs {
    /// The year to list, such as 2027.
    #[arg(long, value_parser = clap::value_parser!(i32).range(1900..=9999))]
    pub year: i32,
}

/// The closed weekdays of one year, as the command prints them.
pub fn closed_weekdays_text(year: i32) -> String {
    BusinessCalendar::fedach()
        .closed_weekdays(year)
        .iter()
        .map(|(day, closure)| format!("{day} {}\n", closure.name()))
        .collect()
}

pub fn calendar(args: CalendarArgs, out: &mut Output) -> Result<(), Failure> {
    out.print(&closed_weekdays_text(args.year))
}
