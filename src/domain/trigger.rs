//! Why a run exists: [`RunTrigger`].
//!
//! Scheduled and catch-up runs answer one cron slot (a fire time in UTC); a manual run
//! answers none, so it can never take a slot from the schedule. This module owns the
//! three kinds and their spelling (`schedule`, `catch_up`, `manual`); it does not
//! compute slots (the schedule does) or decide to catch up (the scheduler does).

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};

/// Why a run exists: a cron slot fired, a missed slot is caught up, or an operator
/// asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunTrigger {
    /// The cron fired on time.
    Schedule { slot: DateTime<Utc> },
    /// A slot missed while the daemon was down, run late under the catch-up policy.
    CatchUp { slot: DateTime<Utc> },
    /// Started by an operator.
    Manual,
}

impl RunTrigger {
    /// The cron slot, if any.
    pub fn slot(self) -> Option<DateTime<Utc>> {
        match self {
            RunTrigger::Schedule { slot } | RunTrigger::CatchUp { slot } => Some(slot),
            RunTrigger::Manual => None,
        }
    }

    /// The kind's spelling, as the database, the read API and the logs write it.
    pub fn kind_str(self) -> &'static str {
        match self {
            RunTrigger::Schedule { .. } => "schedule",
            RunTrigger::CatchUp { .. } => "catch_up",
            RunTrigger::Manual => "manual",
        }
    }

    /// The trigger of kind `kind` with `slot`; `None` for an unknown kind, or a slot
    /// where the kind takes none (and the other way round).
    pub fn from_kind(kind: &str, slot: Option<DateTime<Utc>>) -> Option<Self> {
        match (kind, slot) {
            ("schedule", Some(slot)) => Some(RunTrigger::Schedule { slot }),
            ("catch_up", Some(slot)) => Some(RunTrigger::CatchUp { slot }),
            ("manual", None) => Some(RunTrigger::Manual),
            _ => None,
        }
    }
}

/// The kind and its slot, as the logs write it: `schedule 2026-12-07T12:30:00Z`,
/// `catch_up 2026-12-07T12:30:00Z` or `manual`.
impl fmt::Display for RunTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.slot() {
            Some(slot) => write!(
                f,
                "{} {}",
                self.kind_str(),
                slot.to_rfc3339_opts(SecondsFormat::AutoSi, true)
            ),
            None => f.write_str(self.kind_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_with_their_slot() {
        let slot = DateTime::parse_from_rfc3339("2026-03-02T14:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for trigger in [
            RunTrigger::Schedule { slot },
            RunTrigger::CatchUp { slot },
            RunTrigger::Manual,
        ] {
            assert_eq!(
                RunTrigger::from_kind(trigger.kind_str(), trigger.slot()),
                Some(trigger)
            );
        }
        assert_eq!(RunTrigger::from_kind("manual", Some(slot)), None);
        assert_eq!(RunTrigger::from_kind("schedule", None), None);
        assert_eq!(RunTrigger::from_kind("cron", Some(slot)), None);
    }

    #[test]
    fn displays_as_its_kind_and_slot() {
        let slot = DateTime::parse_from_rfc3339("2026-12-07T12:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            RunTrigger::Schedule { slot }.to_string(),
            "schedule 2026-12-07T12:30:00Z"
        );
        assert_eq!(
            RunTrigger::CatchUp { slot }.to_string(),
            "catch_up 2026-12-07T12:30:00Z"
        );
        assert_eq!(RunTrigger::Manual.to_string(), "manual");
    }
}
