//! How Rust values are written to and read from columns: times, money and text enums.
//!
//! Times are stored as UTC text in one fixed-width format, `2024-08-09T18:10:44.000000Z`,
//! so that comparing the text compares the times and an operator with the `sqlite3`
//! shell can read them. Precision is the microsecond (what PostgreSQL's `timestamptz`
//! keeps); finer digits are dropped on write. Money is an integer count of cents. This
//! module owns those conversions and nothing else.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Row;
use rusqlite::types::Type;

use crate::domain::Cents;

/// The text stored for a time.
pub(crate) fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(column: usize, text: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(column, Type::Text, error.into())
        })
}

/// Reads a NOT NULL time column.
pub(crate) fn time(row: &Row<'_>, column: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text: String = row.get(column)?;
    parse_time(column, &text)
}

/// Reads a nullable time column.
pub(crate) fn optional_time(
    row: &Row<'_>,
    column: usize,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let text: Option<String> = row.get(column)?;
    text.map(|text| parse_time(column, &text)).transpose()
}

/// Reads a nullable amount of cents.
pub(crate) fn optional_cents(row: &Row<'_>, column: usize) -> rusqlite::Result<Option<Cents>> {
    Ok(row.get::<_, Option<i64>>(column)?.map(Cents))
}

/// Reads a text enum with its `from_db` parser; an unknown spelling is an error, not a
/// default (CHECK constraints keep unknown spellings out).
pub(crate) fn text_enum<T>(
    row: &Row<'_>,
    column: usize,
    parse: fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(column)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            Type::Text,
            format!("unexpected value {text:?}").into(),
        )
    })
}

/// Reads a count or index column that the schema keeps non-negative.
pub(crate) fn count(row: &Row<'_>, column: usize) -> rusqlite::Result<u32> {
    let value: i64 = row.get(column)?;
    u32::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(column, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_are_fixed_width_utc_text_that_sorts_like_time() {
        let early = Utc.with_ymd_and_hms(2024, 8, 9, 18, 10, 44).unwrap();
        let later = early + chrono::Duration::microseconds(1);
        assert_eq!(time_text(early), "2024-08-09T18:10:44.000000Z");
        assert_eq!(time_text(later), "2024-08-09T18:10:44.000001Z");
        assert!(time_text(early) < time_text(later));
        assert_eq!(
            parse_time(0, &time_text(later)).unwrap(),
            later,
            "microseconds survive a round trip"
        );
    }
}
