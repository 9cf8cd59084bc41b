//! Money as integer cents.
//!
//! Balances, thresholds and payment amounts are held as [`Cents`], an `i64` count of
//! cents. Nothing in the crate turns money into a float: text such as `150.00` or the
//! JSON number `-83.68` is parsed digit by digit, and comparisons are integer
//! comparisons. This module owns parsing, display and the JSON number text money is
//! written as; it does no I/O.

use std::fmt;
use std::str::FromStr;

use serde_json::value::RawValue;

/// An amount of US dollars, in cents. Negative amounts are real (an overdrawn account).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Cents(pub i64);

/// Why a piece of text is not an amount of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("empty amount")]
    Empty,
    #[error("invalid amount {0:?}: expected a number such as 150.00")]
    Invalid(String),
    #[error("invalid amount {0:?}: more than two decimal places")]
    TooPrecise(String),
    #[error("amount {0:?} is too large")]
    TooLarge(String),
}

impl Cents {
    pub const ZERO: Cents = Cents(0);

    /// Parses a decimal amount such as `150`, `150.5`, `-83.68` or `1e3`, exactly.
    ///
    /// Exponents (as JSON numbers may carry) are applied to the digits, never through a
    /// float. More than two significant decimal places is an error rather than a silent
    /// rounding, except for trailing zeros (`1.500` is `1.50`).
    pub fn parse(text: &str) -> Result<Cents, MoneyError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(MoneyError::Empty);
        }
        let invalid = || MoneyError::Invalid(trimmed.to_string());
        let (negative, unsigned) = match trimmed.as_bytes()[0] {
            b'-' => (true, &trimmed[1..]),
            b'+' => (false, &trimmed[1..]),
            _ => (false, trimmed),
        };
        let unsigned = unsigned.strip_prefix('$').unwrap_or(unsigned);
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => {
                let exp: i32 = unsigned[at + 1..].parse().map_err(|_| invalid())?;
                (&unsigned[..at], exp)
            }
            None => (unsigned, 0),
        };
        let (int_part, frac_part) = match mantissa.split_once('.') {
            Some((i, f)) => (i, f),
            None => (mantissa, ""),
        };
        let int_digits: String = int_part.chars().filter(|c| *c != ',').collect();
        if int_digits.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        if !int_digits.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(invalid());
        }
        // All digits, with the decimal point `scale` places from the right.
        let mut digits: Vec<u8> = int_digits.bytes().chain(frac_part.bytes()).collect();
        let mut scale: i64 = frac_part.len() as i64 - i64::from(exponent);
        // An i64 of cents has at most 19 digits. Zeros appended to a nonzero number
        // beyond that can only overflow, and a large exponent (`1e999999999`) would
        // otherwise append them one by one; to a zero they add nothing.
        if scale < 2 {
            let significant = digits.iter().skip_while(|d| **d == b'0').count() as i64;
            if significant == 0 {
                digits.clear();
                scale = 2;
            } else if significant + (2 - scale) > 19 {
                return Err(MoneyError::TooLarge(trimmed.to_string()));
            }
        }
        // Bring the scale to exactly 2 by appending zeros or removing trailing zeros.
        while scale < 2 {
            digits.push(b'0');
            scale += 1;
        }
        while scale > 2 {
            match digits.last() {
                Some(b'0') => {
                    digits.pop();
                    scale -= 1;
                }
                Some(_) => return Err(MoneyError::TooPrecise(trimmed.to_string())),
                None => break,
            }
        }
        let mut value: i64 = 0;
        for digit in digits {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(i64::from(digit - b'0')))
                .ok_or_else(|| MoneyError::TooLarge(trimmed.to_string()))?;
        }
        Ok(Cents(if negative { -value } else { value }))
    }

    /// The amount as plain decimal text, `-83.68`, as Rightfoot and CSV files write it.
    pub fn to_decimal_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }

    /// The amount as a JSON number with exactly the cents' digits (`-83.68`,
    /// `1200.00`), for the wire bodies that write balances (the local HTTP API, the
    /// sandbox). A sign and digits with a decimal point always make a valid JSON
    /// number, so this is `None` only in theory; callers write `null` then.
    pub fn to_json_number(self) -> Option<Box<RawValue>> {
        RawValue::from_string(self.to_decimal_string()).ok()
    }
}

impl FromStr for Cents {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cents::parse(s)
    }
}

/// Shows `$1,234.56` and `-$83.68`, as alerts do.
impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let dollars = (abs / 100).to_string();
        let mut grouped = String::with_capacity(dollars.len() + dollars.len() / 3);
        for (i, ch) in dollars.chars().enumerate() {
            if i > 0 && (dollars.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        write!(f, "{sign}${grouped}.{:02}", abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_to_json_from_the_cents_not_a_float() {
        #[derive(serde::Serialize)]
        struct Probe {
            a: Option<Box<RawValue>>,
            b: Option<Box<RawValue>>,
            c: Option<Box<RawValue>>,
            d: Option<Box<RawValue>>,
        }
        let text = serde_json::to_string(&Probe {
            a: Cents(-8368).to_json_number(),
            b: Cents(120_000).to_json_number(),
            c: Cents(7).to_json_number(),
            // Not representable exactly as an f64: 2^53 + 1 cents.
            d: Cents(9_007_199_254_740_993).to_json_number(),
        })
        .unwrap();
        assert_eq!(
            text,
            r#"{"a":-83.68,"b":1200.00,"c":0.07,"d":90071992547409.93}"#
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["a"].as_f64(), Some(-83.68));
    }

    #[test]
    fn parses_exactly() {
        let table: &[(&str, i64)] = &[
            ("150.00", 15000),
            ("150", 15000),
            ("150.5", 15050),
            ("-83.68", -8368),
            ("0.01", 1),
            ("-0.10", -10),
            ("3851.09", 385109),
            ("1,234.56", 123456),
            ("$12.00", 1200),
            ("1e3", 100000),
            ("8.368E1", 8368),
            ("1.500", 150),
            ("92233720368547758.07", i64::MAX),
            (".5", 50),
        ];
        for (text, cents) in table {
            assert_eq!(Cents::parse(text), Ok(Cents(*cents)), "{text}");
        }
    }

    /// Regression: a huge exponent appended its zeros one by one before the overflow
    /// was noticed. A Rightfoot balance of `1e999999999` (valid JSON) took a gigabyte
    /// and four seconds to refuse, on every poll; so would a lender's
    /// `meta_payment_amount` or a configured amount.
    #[test]
    fn a_huge_exponent_is_too_large_at_once() {
        let started = std::time::Instant::now();
        for text in ["1e999999999", "-5.5e2147483647", "0.01e2000000000"] {
            assert!(
                matches!(Cents::parse(text), Err(MoneyError::TooLarge(_))),
                "{text}"
            );
        }
        assert_eq!(Cents::parse("0e999999999"), Ok(Cents(0)));
        assert_eq!(Cents::parse("000e2147483647"), Ok(Cents(0)));
        assert_eq!(Cents::parse("1e16"), Ok(Cents(1_000_000_000_000_000_000)));
        assert!(matches!(Cents::parse("1e17"), Err(MoneyError::TooLarge(_))));
        assert_eq!(Cents::parse("0.00000000000000000001e20"), Ok(Cents(100)));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn rejects_what_is_not_money() {
        for text in [
            "",
            "abc",
            "1.234",
            "1.2.3",
            "--1",
            "12a",
            "1e",
            "92233720368547758.08",
            ".",
        ] {
            assert!(Cents::parse(text).is_err(), "{text:?} should be rejected");
        }
    }

    #[test]
    fn displays_like_a_statement() {
        assert_eq!(Cents(123456).to_string(), "$1,234.56");
        assert_eq!(Cents(-8368).to_string(), "-$83.68");
        assert_eq!(Cents(5).to_string(), "$0.05");
        assert_eq!(Cents(100_000_000).to_string(), "$1,000,000.00");
        assert_eq!(Cents(-8368).to_decimal_string(), "-83.68");
        assert_eq!(Cents(7).to_decimal_string(), "0.07");
    }
}
