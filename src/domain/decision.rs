//! [`Decision`]: what becomes of a debit that is due: `send`, `hold` or `unknown`.
//!
//! This module owns the three values and their one spelling (the configuration's
//! `recheck.only`, the store, the `debits` command, the read API and the digests all
//! use it). Which decision a debit gets is `debits::decide`'s business, not this one's.

use std::fmt;

/// The decision about one debit due before the ACH cut-off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// A fresh balance covers the amount and the margin: submit the debit.
    Send,
    /// The balance does not cover it, the account is closed, or the last two debits
    /// came back: do not submit it.
    Hold,
    /// No fresh balance to decide on.
    Unknown,
}

impl Decision {
    /// Every value, in the order reports list them.
    pub const ALL: [Decision; 3] = [Decision::Send, Decision::Hold, Decision::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Send => "send",
            Decision::Hold => "hold",
            Decision::Unknown => "unknown",
        }
    }

    /// The value spelt `text` by [`as_str`](Self::as_str); `None` for any other text.
    pub fn parse(text: &str) -> Option<Decision> {
        Decision::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Decision;

    #[test]
    fn every_spelling_parses_back_and_nothing_else_does() {
        for decision in Decision::ALL {
            assert_eq!(Decision::parse(decision.as_str()), Some(decision));
        }
        assert_eq!(Decision::parse("Send"), None);
        assert_eq!(Decision::parse(""), None);
    }
}
