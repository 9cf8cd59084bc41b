//! Pre-flight validation that mirrors Rightfoot's own, message for message.
//!
//! This module owns [`AuthorizerValidationError`] (the API's 27 messages), [`Rejection`]
//! (one of those, or a limit of [`super::limits`]), the checks
//! on one Rightfoot-shaped JSON object ([`check_authorizer`]), the batch-level
//! duplicate-id check ([`check_batch`]) and the split of a loaded list into valid and
//! rejected authorizers ([`preflight`]). It does no I/O and does not load, normalise or
//! report anything: the loaders and the sandbox call it.
//!
//! The same checks serve two callers: the loader, which leaves invalid authorizers out
//! of submissions and reports them with their source location, and the sandbox, which
//! answers `failed_authorizers` as the real API does. Both may hand it arbitrary JSON
//! (numbers, nulls, nested wrong types); no input makes it panic.
//!
//! # Order of the checks
//!
//! [`check_authorizer`] returns the first failure, in this fixed order:
//!
//! 1. `authorizer_unique_id`: absent, `null`, not a string, or empty/blank →
//!    *Missing authorizer unique ID*.
//! 2. `address`: absent or not an object, or `address.zip_code` absent →
//!    *Missing zip code* (the API has no "missing address" message; the ZIP code is
//!    the only required address field). A `zip_code` that is not a string matching
//!    `^\d{5}(-\d{4})?$` → *Invalid ZIP code*.
//! 3. `date_of_birth`: absent or not an object → *Missing date of birth*; then `day`,
//!    `month`, `year` in that order → *Missing day/month/year of birth*.
//! 4. `phone_number`: absent → *Missing phone number*; not a string → *Number must be
//!    of type string*; not exactly ten ASCII digits → *Invalid phone number*.
//! 5. `ssn`: not a string → *SSN must be of type string*; not nine digits or
//!    `XXX-XX-XXXX` → *Invalid SSN*.
//! 6. `ein`: not a string → *EIN must be of type string*; not nine or ten digits or
//!    `XX-XXXXXXX` → *Invalid EIN*.
//! 7. Neither `ssn` nor `ein` → *Missing SSN or EIN*.
//! 8. Both `account_number` and `debit_card_number` → *Provide either … not both*;
//!    neither → *Missing Account Number or Debit Card Number*.
//! 9. Bank account: `account_number` not a string → *Account number must be of type
//!    string*; `routing_number` absent → *Missing routing number*; `routing_number` not
//!    a string of nine digits → *Invalid routing number* (the published pages write
//!    the pattern `^\\d{9}$`, a typo for `^\d{9}$`; see the API README's errata).
//! 10. Debit card: `debit_card_number` not a string → *Debit card number must be of
//!     type string*; not sixteen digits → *Invalid debit card number*; `cvv` not a
//!     string → *CVV must be of type string*; `cvv` absent or not three or four digits
//!     → *Invalid CVV*; `expiration_month` → *Invalid expiration month*;
//!     `expiration_year` → *Invalid expiration year*; a `routing_number`, which is
//!     optional here, that is present but not nine digits → *Invalid routing number*.
//!
//! # Decisions where the API's documentation is silent
//!
//! - **Absent** means: the key is missing, or its value is `null`, or its value is the
//!   empty string. The CSV format has no way to tell an empty cell from a missing
//!   field, and the loaders drop `null` and `""` from the wire object, so the body
//!   Rightfoot receives agrees with what was checked here.
//! - **"Number must be of type string"** covers a `phone_number` that is present but
//!   not a string. The API's table describes it as "Card number was provided as a
//!   non-string type", but the debit card already has its own message (*Debit card
//!   number must be of type string*), and the phone number is the one required string
//!   field that otherwise has no type message.
//! - **Type errors without a message of their own** use the field's format message:
//!   a non-string `zip_code` is an *Invalid ZIP code*, a non-string `routing_number`
//!   is an *Invalid routing number*.
//! - **Date of birth**: the schema types `day`, `month` and `year` as integers
//!   ("between 1 and 31", "between 1 and 12", "four-digit"), and the API has no
//!   "invalid date of birth" message. A component that is not such an integer is
//!   reported as *missing*, and so is a day that does not exist in its month (31 April,
//!   29 February 2023). A wrong date of birth makes Rightfoot answer "no date of birth
//!   match" for a check the lender pays for; refusing it up front is cheaper.
//! - **A missing CVV** on a debit card is an *Invalid CVV* (the pages require it, and
//!   the API has no "missing CVV" message). A missing or non-integer
//!   `expiration_month` / `expiration_year` is an *Invalid expiration month/year*.
//! - **Duplicates** ([`check_batch`]): every occurrence of a repeated id is rejected,
//!   not only the later ones, because nothing tells which row is the right person; and
//!   the duplicate error replaces any other error those rows have, because the id has
//!   to be fixed first whatever else is wrong.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};

use super::limits::{self, LimitError};
use super::{Authorizer, Origin};

/// Rightfoot's `AuthorizerValidationError`: `Display` is the API's exact message text.
///
/// The variants are in the order of the OpenAPI enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthorizerValidationError {
    MissingUniqueId,
    MissingZipCode,
    InvalidZipCode,
    MissingDayOfBirth,
    MissingMonthOfBirth,
    MissingYearOfBirth,
    InvalidPhoneNumber,
    MissingPhoneNumber,
    MissingDateOfBirth,
    SsnNotString,
    InvalidSsn,
    EinNotString,
    InvalidEin,
    /// A non-string `phone_number` (see the module documentation for why).
    NumberNotString,
    MissingAccountOrCardNumber,
    AccountNumberNotString,
    DebitCardNumberNotString,
    InvalidDebitCardNumber,
    CvvNotString,
    InvalidCvv,
    InvalidExpirationMonth,
    InvalidExpirationYear,
    InvalidRoutingNumber,
    MissingRoutingNumber,
    MissingSsnOrEin,
    BothAccountAndCardNumber,
    DuplicateUniqueId,
}

impl AuthorizerValidationError {
    /// Every variant, in the order of the OpenAPI enum.
    pub const ALL: &[Self] = &[
        Self::MissingUniqueId,
        Self::MissingZipCode,
        Self::InvalidZipCode,
        Self::MissingDayOfBirth,
        Self::MissingMonthOfBirth,
        Self::MissingYearOfBirth,
        Self::InvalidPhoneNumber,
        Self::MissingPhoneNumber,
        Self::MissingDateOfBirth,
        Self::SsnNotString,
        Self::InvalidSsn,
        Self::EinNotString,
        Self::InvalidEin,
        Self::NumberNotString,
        Self::MissingAccountOrCardNumber,
        Self::AccountNumberNotString,
        Self::DebitCardNumberNotString,
        Self::InvalidDebitCardNumber,
        Self::CvvNotString,
        Self::InvalidCvv,
        Self::InvalidExpirationMonth,
        Self::InvalidExpirationYear,
        Self::InvalidRoutingNumber,
        Self::MissingRoutingNumber,
        Self::MissingSsnOrEin,
        Self::BothAccountAndCardNumber,
        Self::DuplicateUniqueId,
    ];

    /// The API's message, exactly as Rightfoot writes it in `failed_authorizers[].error`.
    pub fn message(&self) -> &'static str {
        use AuthorizerValidationError::*;
        match self {
            MissingUniqueId => "Missing authorizer unique ID for authorizer(s).",
            MissingZipCode => "Missing zip code for authorizer(s).",
            InvalidZipCode => {
                "Invalid ZIP code for authorizer(s). Must be 5 digits or in 5+4 format (e.g., 94107 or 94107-1234)."
            }
            MissingDayOfBirth => "Missing day of birth for authorizer(s).",
            MissingMonthOfBirth => "Missing month of birth for authorizer(s).",
            MissingYearOfBirth => "Missing year of birth for authorizer(s).",
            InvalidPhoneNumber => {
                "Invalid phone number for authorizer(s). Phone number must be 10 digits long without dashes and parentheses."
            }
            MissingPhoneNumber => "Missing phone number for authorizer(s).",
            MissingDateOfBirth => "Missing date of birth for authorizer(s).",
            SsnNotString => "SSN must be of type string for authorizer(s).",
            InvalidSsn => "Invalid SSN for authorizer(s).",
            EinNotString => "EIN must be of type string for authorizer(s).",
            InvalidEin => "Invalid EIN for authorizer(s).",
            NumberNotString => "Number must be of type string for authorizer(s).",
            MissingAccountOrCardNumber => {
                "Missing Account Number or Debit Card Number for authorizer(s)."
            }
            AccountNumberNotString => "Account number must be of type string for authorizer(s).",
            DebitCardNumberNotString => {
                "Debit card number must be of type string for authorizer(s)."
            }
            InvalidDebitCardNumber => {
                "Invalid debit card number for authorizer(s). Must be 16 digits."
            }
            CvvNotString => "CVV must be of type string for authorizer(s).",
            InvalidCvv => "Invalid CVV for authorizer(s). Must be 3 or 4 digits.",
            InvalidExpirationMonth => {
                "Invalid expiration month for authorizer(s). Must be between 1 and 12."
            }
            InvalidExpirationYear => "Invalid expiration year for authorizer(s). Must be 4 digits.",
            InvalidRoutingNumber => {
                "Invalid routing number for authorizer(s). Routing number must be 9 digits long."
            }
            MissingRoutingNumber => "Missing routing number for authorizer(s).",
            MissingSsnOrEin => "Missing SSN or EIN for authorizer(s).",
            BothAccountAndCardNumber => {
                "Provide either Account Number or Debit Card Number for authorizer(s), not both."
            }
            DuplicateUniqueId => "Duplicate authorizer unique ID not allowed.",
        }
    }

    /// The variant whose message is exactly `message`, for reading the API's
    /// `failed_authorizers[].error` back. `None` for a message this version does not
    /// know.
    pub fn from_message(message: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.message() == message)
    }
}

impl fmt::Display for AuthorizerValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for AuthorizerValidationError {}

use AuthorizerValidationError as E;

/// The value under `key`, with `null` and `""` counted as absent.
fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    match object.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(value) => Some(value),
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `s` has the shape of `pattern`, where `9` stands for an ASCII digit and any other
/// byte for itself.
fn has_shape(s: &str, pattern: &str) -> bool {
    s.len() == pattern.len()
        && s.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
            b'9' => c.is_ascii_digit(),
            _ => c == p,
        })
}

fn is_zip_code(s: &str) -> bool {
    has_shape(s, "99999") || has_shape(s, "99999-9999")
}

fn is_ssn(s: &str) -> bool {
    has_shape(s, "999999999") || has_shape(s, "999-99-9999")
}

fn is_ein(s: &str) -> bool {
    (all_digits(s) && (s.len() == 9 || s.len() == 10)) || has_shape(s, "99-9999999")
}

fn is_routing_number(value: &Value) -> bool {
    matches!(value, Value::String(s) if has_shape(s, "999999999"))
}

/// An integer JSON number in `range`; floats, strings and everything else are not.
fn integer_in(value: Option<&Value>, range: std::ops::RangeInclusive<u64>) -> Option<u64> {
    value.and_then(Value::as_u64).filter(|n| range.contains(n))
}

/// Checks one Rightfoot-shaped authorizer object, returning the first error in the
/// order given in the module documentation. Duplicate ids are a batch-level check:
/// see [`check_batch`].
pub fn check_authorizer(object: &Map<String, Value>) -> Result<(), AuthorizerValidationError> {
    check_id(object)?;
    check_address(object)?;
    check_date_of_birth(object)?;
    check_phone_number(object)?;
    check_tax_ids(object)?;
    check_payment(object)
}

fn check_id(object: &Map<String, Value>) -> Result<(), E> {
    match object.get("authorizer_unique_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(()),
        _ => Err(E::MissingUniqueId),
    }
}

fn check_address(object: &Map<String, Value>) -> Result<(), E> {
    let Some(Value::Object(address)) = present(object, "address") else {
        return Err(E::MissingZipCode);
    };
    match present(address, "zip_code") {
        None => Err(E::MissingZipCode),
        Some(Value::String(zip)) if is_zip_code(zip) => Ok(()),
        Some(_) => Err(E::InvalidZipCode),
    }
}

fn check_date_of_birth(object: &Map<String, Value>) -> Result<(), E> {
    let Some(Value::Object(date)) = present(object, "date_of_birth") else {
        return Err(E::MissingDateOfBirth);
    };
    check_date_of_birth_object(date)
}

/// The `day`, `month` and `year` checks on a `date_of_birth` object, for the CSV
/// loader's warning on a malformed date.
pub(crate) fn check_date_of_birth_object(date: &Map<String, Value>) -> Result<(), E> {
    let day = integer_in(date.get("day"), 1..=31).ok_or(E::MissingDayOfBirth)?;
    let month = integer_in(date.get("month"), 1..=12).ok_or(E::MissingMonthOfBirth)?;
    let year = integer_in(date.get("year"), 1000..=9999).ok_or(E::MissingYearOfBirth)?;
    // All three are in range, so the casts are lossless.
    match chrono::NaiveDate::from_ymd_opt(year as i32, month as u32, day as u32) {
        Some(_) => Ok(()),
        None => Err(E::MissingDayOfBirth),
    }
}

fn check_phone_number(object: &Map<String, Value>) -> Result<(), E> {
    match present(object, "phone_number") {
        None => Err(E::MissingPhoneNumber),
        Some(Value::String(phone)) if has_shape(phone, "9999999999") => Ok(()),
        Some(Value::String(_)) => Err(E::InvalidPhoneNumber),
        Some(_) => Err(E::NumberNotString),
    }
}

fn check_tax_ids(object: &Map<String, Value>) -> Result<(), E> {
    let ssn = present(object, "ssn");
    match ssn {
        Some(Value::String(s)) if !is_ssn(s) => return Err(E::InvalidSsn),
        Some(Value::String(_)) | None => {}
        Some(_) => return Err(E::SsnNotString),
    }
    let ein = present(object, "ein");
    match ein {
        Some(Value::String(s)) if !is_ein(s) => return Err(E::InvalidEin),
        Some(Value::String(_)) | None => {}
        Some(_) => return Err(E::EinNotString),
    }
    if ssn.is_none() && ein.is_none() {
        return Err(E::MissingSsnOrEin);
    }
    Ok(())
}

fn check_payment(object: &Map<String, Value>) -> Result<(), E> {
    let account = present(object, "account_number");
    let card = present(object, "debit_card_number");
    let routing = present(object, "routing_number");
    match (account, card) {
        (Some(_), Some(_)) => Err(E::BothAccountAndCardNumber),
        (None, None) => Err(E::MissingAccountOrCardNumber),
        (Some(account), None) => {
            if !account.is_string() {
                return Err(E::AccountNumberNotString);
            }
            match routing {
                None => Err(E::MissingRoutingNumber),
                Some(r) if is_routing_number(r) => Ok(()),
                Some(_) => Err(E::InvalidRoutingNumber),
            }
        }
        (None, Some(card)) => {
            match card {
                Value::String(s) if has_shape(s, "9999999999999999") => {}
                Value::String(_) => return Err(E::InvalidDebitCardNumber),
                _ => return Err(E::DebitCardNumberNotString),
            }
            match present(object, "cvv") {
                Some(Value::String(cvv)) if has_shape(cvv, "999") || has_shape(cvv, "9999") => {}
                Some(Value::String(_)) | None => return Err(E::InvalidCvv),
                Some(_) => return Err(E::CvvNotString),
            }
            integer_in(object.get("expiration_month"), 1..=12).ok_or(E::InvalidExpirationMonth)?;
            integer_in(object.get("expiration_year"), 1000..=9999)
                .ok_or(E::InvalidExpirationYear)?;
            match routing {
                Some(r) if !is_routing_number(r) => Err(E::InvalidRoutingNumber),
                _ => Ok(()),
            }
        }
    }
}

/// Checks a batch: each object with [`check_authorizer`], then ids that occur more
/// than once. The result has one entry per object, in order; `None` means valid.
///
/// Every occurrence of a repeated id is rejected with
/// [`AuthorizerValidationError::DuplicateUniqueId`], the first one included, and that
/// error replaces whatever else was wrong with those objects: nothing says which of
/// two rows with one id is the right person, and the id must be fixed first anyway.
/// Ids are compared exactly (case and whitespace matter); objects without a usable id
/// are reported as missing it and take no part in the duplicate check.
pub fn check_batch(objects: &[&Map<String, Value>]) -> Vec<Option<AuthorizerValidationError>> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for object in objects {
        if let Some(id) = usable_id(object) {
            *counts.entry(id).or_default() += 1;
        }
    }
    objects
        .iter()
        .map(|object| match usable_id(object) {
            Some(id) if counts[id] > 1 => Some(E::DuplicateUniqueId),
            _ => check_authorizer(object).err(),
        })
        .collect()
}

fn usable_id(object: &Map<String, Value>) -> Option<&str> {
    match object.get("authorizer_unique_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
        _ => None,
    }
}

/// Why pre-flight leaves an authorizer out: one of the API's own messages, or one of
/// this daemon's limits on text ([`super::limits`]), which the API does not check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejection {
    Api(AuthorizerValidationError),
    Limit(LimitError),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Api(error) => error.fmt(f),
            Rejection::Limit(error) => error.fmt(f),
        }
    }
}

impl From<AuthorizerValidationError> for Rejection {
    fn from(error: AuthorizerValidationError) -> Rejection {
        Rejection::Api(error)
    }
}

impl From<LimitError> for Rejection {
    fn from(error: LimitError) -> Rejection {
        Rejection::Limit(error)
    }
}

/// An authorizer left out of submissions: its id (empty when the id itself is outside
/// the limits, so that it is neither printed nor stored), where it was defined, and
/// what is wrong. It holds no personal data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub id: String,
    pub origin: Origin,
    pub error: Rejection,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.id.is_empty() {
            write!(f, "{}: authorizer rejected: {}", self.origin, self.error)
        } else {
            write!(
                f,
                "{}: authorizer `{}` rejected: {}",
                self.origin, self.id, self.error
            )
        }
    }
}

/// Splits a loaded list into the authorizers that pass [`check_batch`] and those that
/// do not, keeping the order of each.
pub fn preflight(authorizers: Vec<Authorizer>) -> (Vec<Authorizer>, Vec<Rejected>) {
    // `check_batch`, over the verdicts each authorizer took when it was read.
    let errors: Vec<Option<Rejection>> = {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for authorizer in authorizers.iter().filter(|a| a.usable_id) {
            *counts.entry(authorizer.id()).or_default() += 1;
        }
        authorizers
            .iter()
            .map(|a| {
                if a.usable_id && counts[a.id()] > 1 {
                    Some(Rejection::Api(E::DuplicateUniqueId))
                } else {
                    a.verdict
                }
            })
            .collect()
    };
    // In place: a long list is not copied into a second vector of the valid ones.
    let mut valid = authorizers;
    let mut rejected = Vec::new();
    let mut errors = errors.into_iter();
    valid.retain_mut(|authorizer| match errors.next().flatten() {
        None => true,
        Some(error) => {
            let id = authorizer.id();
            rejected.push(Rejected {
                id: if limits::id_within_limits(id) {
                    id.to_string()
                } else {
                    String::new()
                },
                origin: authorizer.origin.clone(),
                error,
            });
            false
        }
    });
    (valid, rejected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::authorizers::json_object as object;

    /// An object that breaks every rule at once reports them one by one, in the
    /// documented order, as each is fixed.
    #[test]
    fn errors_come_in_the_documented_order() {
        let mut a = object(json!({
            "authorizer_unique_id": 7,
            "address": {"zip_code": 94107},
            "date_of_birth": {"day": 0, "month": 0, "year": 0},
            "phone_number": 5558671309u64,
            "ssn": 1, "ein": 2,
            "account_number": 3, "debit_card_number": 4,
        }));
        let mut seen = Vec::new();
        let fixes: &[(&str, Value)] = &[
            ("authorizer_unique_id", json!("A-1")),
            ("address", json!({"zip_code": "94107"})),
            ("date_of_birth", json!({"day": 1, "month": 0, "year": 0})),
            ("date_of_birth", json!({"day": 1, "month": 2, "year": 0})),
            ("date_of_birth", json!({"day": 1, "month": 2, "year": 1990})),
            ("phone_number", json!("5558671309")),
            ("ssn", json!("123456789")),
            ("ein", json!(null)),
            ("debit_card_number", json!("")),
            ("account_number", json!("1")),
            ("routing_number", json!("021000021")),
        ];
        for (key, fixed) in fixes {
            seen.push(check_authorizer(&a).unwrap_err());
            a.insert(key.to_string(), fixed.clone());
        }
        assert_eq!(check_authorizer(&a), Ok(()));
        use AuthorizerValidationError::*;
        assert_eq!(
            seen,
            [
                MissingUniqueId,
                InvalidZipCode,
                MissingDayOfBirth,
                MissingMonthOfBirth,
                MissingYearOfBirth,
                NumberNotString,
                SsnNotString,
                EinNotString,
                BothAccountAndCardNumber,
                AccountNumberNotString,
                MissingRoutingNumber,
            ]
        );
    }

    #[test]
    fn null_and_empty_string_are_absent() {
        let base = object(json!({
            "authorizer_unique_id": "A-1",
            "address": {"zip_code": "94107"},
            "date_of_birth": {"day": 1, "month": 2, "year": 1990},
            "phone_number": "5558671309",
            "ssn": "123-45-6789",
            "account_number": "1",
            "routing_number": "021000021",
        }));
        let with = |key: &str, value: Value| {
            let mut o = base.clone();
            o.insert(key.to_string(), value);
            check_authorizer(&o)
        };
        assert_eq!(with("ein", json!(null)), Ok(()));
        assert_eq!(with("ein", json!("")), Ok(()));
        assert_eq!(with("debit_card_number", json!("")), Ok(()));
        assert_eq!(with("ssn", json!("")), Err(E::MissingSsnOrEin));
        assert_eq!(
            with("phone_number", json!(null)),
            Err(E::MissingPhoneNumber)
        );
        assert_eq!(
            with("routing_number", json!("")),
            Err(E::MissingRoutingNumber)
        );
        assert_eq!(
            with("routing_number", json!(21000021)),
            Err(E::InvalidRoutingNumber)
        );
        assert_eq!(
            with("authorizer_unique_id", json!("  ")),
            Err(E::MissingUniqueId)
        );
        assert_eq!(with("address", json!("94107")), Err(E::MissingZipCode));
        // A float is not an integer, even when it is whole.
        assert_eq!(
            with(
                "date_of_birth",
                json!({"day": 1.0, "month": 2, "year": 1990})
            ),
            Err(E::MissingDayOfBirth)
        );
        // 29 February exists in leap years only.
        assert_eq!(
            with(
                "date_of_birth",
                json!({"day": 29, "month": 2, "year": 2000})
            ),
            Ok(())
        );
        assert_eq!(
            with(
                "date_of_birth",
                json!({"day": 29, "month": 2, "year": 2023})
            ),
            Err(E::MissingDayOfBirth)
        );
    }

    #[test]
    fn formats_are_exact() {
        assert!(is_zip_code("94107") && is_zip_code("94107-1234"));
        assert!(!is_zip_code("9410") && !is_zip_code("94107-123") && !is_zip_code("94107 1234"));
        assert!(
            !is_zip_code("٩٤١٠٧"),
            "non-ASCII digits are not digits here"
        );
        assert!(is_ssn("123456789") && is_ssn("123-45-6789"));
        assert!(!is_ssn("12345678") && !is_ssn("1234567890") && !is_ssn("12-345-6789"));
        assert!(is_ein("123456789") && is_ein("1234567890") && is_ein("12-3456789"));
        assert!(!is_ein("12345678") && !is_ein("12345678901") && !is_ein("123-456789"));
        assert!(is_routing_number(&json!("021000021")));
        assert!(!is_routing_number(&json!("\\d{9}")) && !is_routing_number(&json!("02100002a")));
    }
}
