//! The outcome of one authorizer's balance check: [`BalanceStatus`], an open set of
//! Rightfoot's `balance_status_code` values, and [`CsvStatus`], the seven names the CSV
//! export writes in its `Status` column.
//!
//! This module owns the code table, the descriptions and the code → CSV-name mapping. It
//! does not parse Rightfoot's answers (the client does) and knows nothing about HTTP.
//!
//! The mapping from codes to CSV names is ours: Rightfoot documents both lists but not
//! how one maps onto the other. We map by what the lender can do about the result:
//!
//! | code | meaning | CSV name |
//! |---|---|---|
//! | 0 | success | `SUCCESS` |
//! | 2560 | invalid phone number | `NO_MATCH` |
//! | 3000 | no tax id match | `NO_MATCH` |
//! | 3001 | no SSN match | `NO_MATCH` |
//! | 3100 | no date of birth match | `NO_MATCH` |
//! | 3400 | no match with the authorizer's details | `NO_MATCH` |
//! | 3200 | account closed | `ACCOUNT_CLOSED` |
//! | 3300 | institution not supported | `BANK_UNSUPPORTED` |
//! | 3310 | institution in testing | `BANK_UNSUPPORTED` |
//! | 9000 | other error | `PROCESSING_ERROR` |
//! | anything else | unknown | `RETRIEVAL_FAILED` |
//!
//! The identity codes (2560, 3000, 3001, 3100, 3400) all mean "the details we sent did
//! not lead to an account", which the lender fixes by correcting the authorizer's data.
//! 9000 is Rightfoot's own catch-all. An unknown code is a check that failed for a reason
//! this build does not know yet; its number is kept. No code maps to `RETRY_LIMIT`: the
//! variant exists so that a CSV export using it can be read back.

use std::fmt;
use std::str::FromStr;

/// Rightfoot's `balance_status_code`. Unknown codes are kept, never rejected.
///
/// Build values with [`BalanceStatus::from_code`], which never puts a known code in
/// [`BalanceStatus::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BalanceStatus {
    /// 0: the balance was retrieved.
    Success,
    /// 2560: the phone number is not valid.
    InvalidPhoneNumber,
    /// 3000: no tax id match.
    NoTaxIdMatch,
    /// 3001: no SSN match.
    NoSsnMatch,
    /// 3100: no date of birth match.
    NoDateOfBirthMatch,
    /// 3200: the account is closed.
    AccountClosed,
    /// 3300: the institution is not supported.
    InstitutionNotSupported,
    /// 3310: the institution is currently in testing.
    InstitutionInTesting,
    /// 3400: no match with the provided authorizer information.
    NoMatch,
    /// 9000: other error.
    OtherError,
    /// A code this build does not know, kept as sent.
    Unknown(i64),
}

impl BalanceStatus {
    /// The status for a code; unknown codes become [`BalanceStatus::Unknown`].
    pub fn from_code(code: i64) -> BalanceStatus {
        match code {
            0 => BalanceStatus::Success,
            2560 => BalanceStatus::InvalidPhoneNumber,
            3000 => BalanceStatus::NoTaxIdMatch,
            3001 => BalanceStatus::NoSsnMatch,
            3100 => BalanceStatus::NoDateOfBirthMatch,
            3200 => BalanceStatus::AccountClosed,
            3300 => BalanceStatus::InstitutionNotSupported,
            3310 => BalanceStatus::InstitutionInTesting,
            3400 => BalanceStatus::NoMatch,
            9000 => BalanceStatus::OtherError,
            other => BalanceStatus::Unknown(other),
        }
    }

    /// The numeric code, as Rightfoot sends it.
    pub fn code(self) -> i64 {
        match self {
            BalanceStatus::Success => 0,
            BalanceStatus::InvalidPhoneNumber => 2560,
            BalanceStatus::NoTaxIdMatch => 3000,
            BalanceStatus::NoSsnMatch => 3001,
            BalanceStatus::NoDateOfBirthMatch => 3100,
            BalanceStatus::AccountClosed => 3200,
            BalanceStatus::InstitutionNotSupported => 3300,
            BalanceStatus::InstitutionInTesting => 3310,
            BalanceStatus::NoMatch => 3400,
            BalanceStatus::OtherError => 9000,
            BalanceStatus::Unknown(code) => code,
        }
    }

    /// True for code 0 only.
    pub fn is_success(self) -> bool {
        self == BalanceStatus::Success
    }

    /// A short lowercase description, as the reference pages word it.
    pub fn description(self) -> &'static str {
        match self {
            BalanceStatus::Success => "success",
            BalanceStatus::InvalidPhoneNumber => "invalid phone number",
            BalanceStatus::NoTaxIdMatch => "no tax id match",
            BalanceStatus::NoSsnMatch => "no ssn match",
            BalanceStatus::NoDateOfBirthMatch => "no date of birth match",
            BalanceStatus::AccountClosed => "account closed",
            BalanceStatus::InstitutionNotSupported => "institution not supported",
            BalanceStatus::InstitutionInTesting => "institution currently in testing",
            BalanceStatus::NoMatch => "no match with provided authorizer information",
            BalanceStatus::OtherError => "other error",
            BalanceStatus::Unknown(_) => "unknown balance status code",
        }
    }

    /// The CSV export's `Status` name for this code (see the module documentation).
    pub fn csv_status(self) -> CsvStatus {
        match self {
            BalanceStatus::Success => CsvStatus::Success,
            BalanceStatus::InvalidPhoneNumber
            | BalanceStatus::NoTaxIdMatch
            | BalanceStatus::NoSsnMatch
            | BalanceStatus::NoDateOfBirthMatch
            | BalanceStatus::NoMatch => CsvStatus::NoMatch,
            BalanceStatus::AccountClosed => CsvStatus::AccountClosed,
            BalanceStatus::InstitutionNotSupported | BalanceStatus::InstitutionInTesting => {
                CsvStatus::BankUnsupported
            }
            BalanceStatus::OtherError => CsvStatus::ProcessingError,
            BalanceStatus::Unknown(_) => CsvStatus::RetrievalFailed,
        }
    }
}

/// `3300 institution not supported`, `4242 unknown balance status code`.
impl fmt::Display for BalanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.description())
    }
}

/// Serialized as the bare code, so a stored status reads back as the same value.
impl serde::Serialize for BalanceStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for BalanceStatus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        i64::deserialize(deserializer).map(BalanceStatus::from_code)
    }
}

/// The `Status` column of `GET /v1/balances/csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CsvStatus {
    Success,
    NoMatch,
    AccountClosed,
    BankUnsupported,
    RetrievalFailed,
    RetryLimit,
    ProcessingError,
}

impl CsvStatus {
    pub const ALL: [CsvStatus; 7] = [
        CsvStatus::Success,
        CsvStatus::NoMatch,
        CsvStatus::AccountClosed,
        CsvStatus::BankUnsupported,
        CsvStatus::RetrievalFailed,
        CsvStatus::RetryLimit,
        CsvStatus::ProcessingError,
    ];

    /// The name as the CSV writes it, e.g. `BANK_UNSUPPORTED`.
    pub fn as_str(self) -> &'static str {
        match self {
            CsvStatus::Success => "SUCCESS",
            CsvStatus::NoMatch => "NO_MATCH",
            CsvStatus::AccountClosed => "ACCOUNT_CLOSED",
            CsvStatus::BankUnsupported => "BANK_UNSUPPORTED",
            CsvStatus::RetrievalFailed => "RETRIEVAL_FAILED",
            CsvStatus::RetryLimit => "RETRY_LIMIT",
            CsvStatus::ProcessingError => "PROCESSING_ERROR",
        }
    }
}

impl fmt::Display for CsvStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a CSV `Status` cell is not one of the seven names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown csv status {0:?}: expected one of SUCCESS, NO_MATCH, ACCOUNT_CLOSED, BANK_UNSUPPORTED, RETRIEVAL_FAILED, RETRY_LIMIT, PROCESSING_ERROR"
)]
pub struct UnknownCsvStatus(pub String);

impl FromStr for CsvStatus {
    type Err = UnknownCsvStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CsvStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s.trim())
            .ok_or_else(|| UnknownCsvStatus(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code_round_trips_and_maps() {
        let table: &[(i64, BalanceStatus, CsvStatus)] = &[
            (0, BalanceStatus::Success, CsvStatus::Success),
            (2560, BalanceStatus::InvalidPhoneNumber, CsvStatus::NoMatch),
            (3000, BalanceStatus::NoTaxIdMatch, CsvStatus::NoMatch),
            (3001, BalanceStatus::NoSsnMatch, CsvStatus::NoMatch),
            (3100, BalanceStatus::NoDateOfBirthMatch, CsvStatus::NoMatch),
            (3200, BalanceStatus::AccountClosed, CsvStatus::AccountClosed),
            (
                3300,
                BalanceStatus::InstitutionNotSupported,
                CsvStatus::BankUnsupported,
            ),
            (
                3310,
                BalanceStatus::InstitutionInTesting,
                CsvStatus::BankUnsupported,
            ),
            (3400, BalanceStatus::NoMatch, CsvStatus::NoMatch),
            (9000, BalanceStatus::OtherError, CsvStatus::ProcessingError),
            (
                4242,
                BalanceStatus::Unknown(4242),
                CsvStatus::RetrievalFailed,
            ),
            (-1, BalanceStatus::Unknown(-1), CsvStatus::RetrievalFailed),
        ];
        for (code, status, csv) in table {
            assert_eq!(BalanceStatus::from_code(*code), *status, "{code}");
            assert_eq!(status.code(), *code);
            assert_eq!(status.csv_status(), *csv, "{code}");
            assert_eq!(status.is_success(), *code == 0);
            assert!(!status.description().is_empty());
        }
        assert_eq!(
            BalanceStatus::Unknown(4242).to_string(),
            "4242 unknown balance status code"
        );
        assert_eq!(
            BalanceStatus::AccountClosed.to_string(),
            "3200 account closed"
        );
    }

    #[test]
    fn serde_uses_the_bare_code_and_keeps_unknown_codes() {
        let status: BalanceStatus = serde_json::from_str("4242").unwrap();
        assert_eq!(status, BalanceStatus::Unknown(4242));
        assert_eq!(
            serde_json::to_string(&BalanceStatus::NoSsnMatch).unwrap(),
            "3001"
        );
    }

    #[test]
    fn csv_names_parse_back() {
        for status in CsvStatus::ALL {
            assert_eq!(status.as_str().parse::<CsvStatus>(), Ok(status));
        }
        assert!("success".parse::<CsvStatus>().is_err());
    }
}
