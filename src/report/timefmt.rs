//! How the read-side commands write times, durations, changes and table columns.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::Cents;

/// `2025-03-14 09:00 EDT`: a time in a zone, to the minute.
pub fn local_minutes(time: DateTime<Utc>, zone: Tz) -> String {
    time.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// `2025-03-14 13:00 UTC`.
pub fn utc_minutes(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `2025-03-14 09:00:05 EDT (13:00:05 UTC)`: to the second, with UTC beside it.
pub fn local_and_utc_seconds(time: DateTime<Utc>, zone: Tz) -> String {
    let local = time.with_timezone(&zone);
    if local.date_naive() == time.date_naive() {
        format!(
            "{} ({} UTC)",
            local.format("%Y-%m-%d %H:%M:%S %Z"),
            time.format("%H:%M:%S")
        )
    } else {
        format!(
            "{} ({} UTC)",
            local.format("%Y-%m-%d %H:%M:%S %Z"),
            time.format("%Y-%m-%d %H:%M:%S")
        )
    }
}

/// `850ms`, `12.3s`, `4m12s`, `1h02m`, `3d04h`.
pub fn duration(span: Duration) -> String {
    let seconds = span.as_secs();
    match seconds {
        0 => format!("{}ms", span.as_millis()),
        1..60 => format!("{:.1}s", span.as_secs_f64()),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        3600..86_400 => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{}d{:02}h", seconds / 86_400, seconds % 86_400 / 3600),
    }
}

/// `+$12.00`, `-$1,060.00`, `$0.00`.
pub fn change(cents: i64) -> String {
    if cents > 0 {
        format!("+{}", Cents(cents))
    } else {
        Cents(cents).to_string()
    }
}

/// Left-aligned columns separated by two spaces; `right` marks the columns aligned to
/// the right (numbers, money). Widths count characters, which is right for the text
/// these tables hold (no wide or combining characters).
pub fn table(header: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let lines = std::iter::once(header.iter().map(|h| (*h).to_string()).collect::<Vec<_>>())
        .chain(rows.iter().cloned());
    for row in lines {
        let mut line = String::new();
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if i > 0 {
                line.push_str("  ");
            }
            if right.contains(&i) {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if i != last {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_show_the_zone_and_utc() {
        let time = Utc.with_ymd_and_hms(2025, 3, 14, 13, 0, 5).unwrap();
        let new_york: Tz = "America/New_York".parse().unwrap();
        assert_eq!(local_minutes(time, new_york), "2025-03-14 09:00 EDT");
        assert_eq!(utc_minutes(time), "2025-03-14 13:00 UTC");
        assert_eq!(
            local_and_utc_seconds(time, new_york),
            "2025-03-14 09:00:05 EDT (13:00:05 UTC)"
        );
        let late = Utc.with_ymd_and_hms(2025, 3, 15, 2, 0, 0).unwrap();
        assert_eq!(
            local_and_utc_seconds(late, new_york),
            "2025-03-14 22:00:00 EDT (2025-03-15 02:00:00 UTC)"
        );
    }

    #[test]
    fn durations_and_changes_read_naturally() {
        let table_ = [
            (Duration::from_millis(850), "850ms"),
            (Duration::from_millis(12_340), "12.3s"),
            (Duration::from_secs(252), "4m12s"),
            (Duration::from_secs(3720), "1h02m"),
            (Duration::from_secs(2 * 86_400 + 3600), "2d01h"),
        ];
        for (span, text) in table_ {
            assert_eq!(duration(span), text);
        }
        assert_eq!(change(1200), "+$12.00");
        assert_eq!(change(-106_000), "-$1,060.00");
        assert_eq!(change(0), "$0.00");
    }

    #[test]
    fn tables_align_text_left_and_numbers_right() {
        let text = table(
            &["ID", "NAME", "AMOUNT"],
            &[
                vec!["1".into(), "a".into(), "$1.00".into()],
                vec!["10".into(), "longer".into(), "$1,000.00".into()],
            ],
            &[0, 2],
        );
        assert_eq!(
            text,
            "ID  NAME       AMOUNT\n 1  a           $1.00\n10  longer  $1,000.00\n"
        );
    }
}
