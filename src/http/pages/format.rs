//! How the pages write times, durations, money, states and severities: pure
//! functions into the small view structs the templates print.
//!
//! A time is written in the monitor's zone, with the UTC instant in its tooltip and
//! its `datetime` attribute. A state or severity is never only a colour: each has a
//! symbol and a word, and the colour class only repeats them.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::{BalanceStatus, Cents, Decision};
/// `text` safe in HTML text and quoted attribute values: the one escaper the emails'
/// HTML bodies use too.
pub use crate::notify::email_html::escape_html as escape;

/// A time as a page shows it.
#[derive(Clone, Debug)]
pub struct When {
    /// In the monitor's zone, to the minute, with the zone's abbreviation.
    pub local: String,
    /// The same instant in UTC, to the second: the tooltip.
    pub utc: String,
    /// RFC 3339, for the `datetime` attribute.
    pub iso: String,
}

impl When {
    /// The `<time>` element: local text, UTC tooltip.
    pub fn html(&self) -> String {
        format!(
            r#"<time datetime="{}" title="{}">{}</time>"#,
            escape(&self.iso),
            escape(&self.utc),
            escape(&self.local)
        )
    }

    pub fn new(time: DateTime<Utc>, zone: Tz) -> When {
        When {
            local: time
                .with_timezone(&zone)
                .format("%Y-%m-%d %H:%M %Z")
                .to_string(),
            utc: time.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            iso: time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

/// A short span: `45s`, `3m 05s`, `2h 10m`, `3d 4h`.
pub fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// An amount with its currency, exact to the cent.
pub fn money(cents: Option<Cents>) -> String {
    match cents {
        Some(cents) => format!("{cents} USD"),
        None => "—".to_string(),
    }
}

/// A Rightfoot status code with its meaning: `0 balance retrieved`.
pub fn code_meaning(code: i64) -> String {
    format!("{code} {}", BalanceStatus::from_code(code).description())
}

/// A labelled state: symbol, word and colour class.
#[derive(Clone, Debug)]
pub struct Badge {
    pub symbol: &'static str,
    pub word: String,
    /// `good`, `warn`, `bad` or `quiet`.
    pub tone: &'static str,
}

impl Badge {
    /// The badge's `<span>`: symbol (hidden from screen readers) and word.
    pub fn html(&self) -> String {
        format!(
            r#"<span class="badge {}"><span aria-hidden="true">{}</span> {}</span>"#,
            self.tone,
            self.symbol,
            escape(&self.word)
        )
    }
}

/// A run's state as a badge.
pub fn run_state(state: &str) -> Badge {
    let (symbol, tone) = match state {
        "complete" => ("✓", "good"),
        "partial" => ("◐", "warn"),
        "failed" => ("✗", "bad"),
        "interrupted" => ("‖", "warn"),
        _ => ("…", "quiet"),
    };
    Badge {
        symbol,
        word: state.to_string(),
        tone,
    }
}

/// An alert severity as a badge.
pub fn severity(severity: &str) -> Badge {
    let (symbol, tone) = match severity {
        "critical" => ("▲", "bad"),
        "warning" => ("●", "warn"),
        _ => ("○", "quiet"),
    };
    Badge {
        symbol,
        word: severity.to_string(),
        tone,
    }
}

/// An alert's or a notification's state as a badge.
pub fn alert_state(state: &str) -> Badge {
    let (symbol, tone) = match state {
        "firing" => ("!", "bad"),
        "resolved" => ("✓", "good"),
        "failed" => ("✗", "bad"),
        "pending" => ("…", "warn"),
        "delivered" => ("✓", "good"),
        _ => ("·", "quiet"),
    };
    Badge {
        symbol,
        word: state.to_string(),
        tone,
    }
}

/// A debit's decision as a badge.
pub fn decision(decision: Decision) -> Badge {
    let (symbol, tone) = match decision {
        Decision::Send => ("✓", "good"),
        // A geometric shape, not an emoji: a host without an emoji font still draws it.
        Decision::Hold => ("■", "bad"),
        Decision::Unknown => ("?", "warn"),
    };
    Badge {
        symbol,
        word: decision.as_str().to_string(),
        tone,
    }
}

/// The value of `name` in a query string to put back into a link, percent-encoded.
pub fn query_value(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_short_and_exact() {
        assert_eq!(span(-3), "0s");
        assert_eq!(span(45), "45s");
        assert_eq!(span(185), "3m 05s");
        assert_eq!(span(7800), "2h 10m");
        assert_eq!(span(273_600), "3d 4h");
    }

    #[test]
    fn times_are_local_with_utc_beside() {
        let time = DateTime::parse_from_rfc3339("2026-03-02T14:05:09Z")
            .unwrap()
            .with_timezone(&Utc);
        let when = When::new(time, chrono_tz::America::New_York);
        assert_eq!(when.local, "2026-03-02 09:05 EST");
        assert_eq!(when.utc, "2026-03-02 14:05:09 UTC");
        assert_eq!(when.iso, "2026-03-02T14:05:09Z");
    }

    #[test]
    fn money_keeps_every_cent_and_names_the_currency() {
        assert_eq!(money(Some(Cents(-8368))), "-$83.68 USD");
        assert_eq!(money(Some(Cents(123_456_789))), "$1,234,567.89 USD");
        assert_eq!(money(None), "—");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let badge = Badge {
            symbol: "!",
            word: "<b>".into(),
            tone: "bad",
        };
        assert_eq!(
            badge.html(),
            r#"<span class="badge bad"><span aria-hidden="true">!</span> &lt;b&gt;</span>"#
        );
    }

    #[test]
    fn a_badge_is_never_only_a_colour() {
        for badge in [
            run_state("failed"),
            severity("critical"),
            alert_state("firing"),
            decision(Decision::Hold),
        ] {
            assert!(!badge.symbol.is_empty() && !badge.word.is_empty());
        }
    }
}
