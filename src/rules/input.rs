//! What one evaluation is given: the monitor's rule settings ([`MonitorRules`]), the
//! run's own facts ([`RunFacts`]) and one [`AuthorizerFacts`] per authorizer of the run.
//!
//! These types borrow from what the caller already holds (the configuration, the loaded
//! authorizer list, the results read back from the store), so building them costs no
//! allocation per authorizer. They carry no personal data: an authorizer is its id, its
//! check outcome and the lender's metadata (`meta_*` columns), which the configuration
//! keeps free of personal-data names.

use crate::authorizers::metadata::Fields;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Monitor, Rule};
use crate::domain::{Cents, RunId, RunState};

/// The part of a monitor's configuration that rules read.
#[derive(Clone, Copy, Debug)]
pub struct MonitorRules<'a> {
    /// The monitor's name; the first part of every fingerprint.
    pub monitor: &'a str,
    pub rules: &'a [Rule],
    /// While an alert stays firing, it is announced again once this much time has passed
    /// since it was last announced.
    pub repeat_interval: Duration,
    /// Whether a resolution is announced (it is always a transition; see
    /// [`Transition::notify`](super::Transition::notify)).
    pub send_resolved: bool,
    /// Metadata keys whose values transitions may carry beside the authorizer id.
    pub alert_fields: &'a [String],
}

impl<'a> From<&'a Monitor> for MonitorRules<'a> {
    fn from(monitor: &'a Monitor) -> MonitorRules<'a> {
        MonitorRules {
            monitor: &monitor.name,
            rules: &monitor.rules,
            repeat_interval: monitor.repeat_interval,
            send_resolved: monitor.send_resolved,
            alert_fields: &monitor.alert_fields,
        }
    }
}

/// What is known about the run as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunFacts {
    pub run: RunId,
    /// The instant this run's observations stand for. Pass the run's cron slot when it
    /// has one (a manual run: when it finished), so that a `repeat_interval` of 24h with
    /// a daily schedule lands on every daily run instead of drifting with run times.
    /// Rules keep times to the microsecond, as the store does: the sub-microsecond part
    /// is dropped, so a state reloaded from the store equals the one kept in memory.
    pub now: DateTime<Utc>,
    /// The run's final state. Rules evaluate finished runs only.
    pub state: RunState,
    /// False when the run could not submit its authorizers to Rightfoot (refused,
    /// abandoned, or it never got that far).
    pub submitted: bool,
    /// True when the Rightfoot API stayed unreachable after the retry policy gave up.
    pub api_unreachable: bool,
    // The share not retrieved is not a field: `run_failed` counts it from the
    // authorizers given to `evaluate` (`Check::NotRetrieved` among all of them), so it
    // cannot disagree with them.
    /// True when the authorizer slice given to `rules::evaluate` is the
    /// monitor's whole list for this run, every member included (not-retrieved and
    /// rejected ones as such). Authorizers in the previous state but not in the slice
    /// have then left the list: their state is dropped and their firing alerts resolve.
    /// False when the list could not be loaded: authorizers missing from the slice keep
    /// their state untouched and get no transition.
    pub authorizer_list_complete: bool,
}

/// The outcome of one authorizer's check in this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Rightfoot returned a result. `status_code` 0 is success; any other value is a
    /// failed check, kept as sent.
    Retrieved {
        status_code: i64,
        balance: Option<Cents>,
    },
    /// The run stopped waiting before a result came.
    NotRetrieved,
    /// Rightfoot (or the pre-flight check) refused the authorizer at submission.
    Rejected,
}

impl Check {
    /// A successful check with a balance: status code 0 and a balance present. Only
    /// these balances are judged and remembered; a balance sent with a failure code is
    /// ignored.
    pub fn successful_balance(&self) -> Option<Cents> {
        match *self {
            Check::Retrieved {
                status_code: 0,
                balance,
            } => balance,
            _ => None,
        }
    }

    /// Rightfoot's status code, when a result was retrieved.
    pub fn status_code(&self) -> Option<i64> {
        match *self {
            Check::Retrieved { status_code, .. } => Some(status_code),
            _ => None,
        }
    }
}

/// Metadata for an authorizer that has none.
pub const NO_METADATA: Fields<'static> = Fields::EMPTY;

/// One authorizer of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorizerFacts<'a> {
    /// `authorizer_unique_id`.
    pub id: &'a str,
    pub check: Check,
    /// The lender's metadata (`meta_*` columns, without the prefix), as
    /// [`Authorizer::metadata`](crate::authorizers::Authorizer::metadata) holds it.
    /// `below_payment` reads its field here (a blank value counts as missing), and
    /// transitions copy the `alert_fields` found here.
    pub metadata: Fields<'a>,
}

impl<'a> AuthorizerFacts<'a> {
    /// An authorizer without metadata.
    pub fn new(id: &'a str, check: Check) -> AuthorizerFacts<'a> {
        AuthorizerFacts {
            id,
            check,
            metadata: NO_METADATA,
        }
    }

    /// A successful check with `balance`.
    pub fn balance(id: &'a str, balance: Cents) -> AuthorizerFacts<'a> {
        AuthorizerFacts::new(
            id,
            Check::Retrieved {
                status_code: 0,
                balance: Some(balance),
            },
        )
    }

    pub fn with_metadata(self, metadata: impl Into<Fields<'a>>) -> AuthorizerFacts<'a> {
        AuthorizerFacts {
            metadata: metadata.into(),
            ..self
        }
    }
}
