//! The alert lifecycle: one alert, one run, one step.
//!
//! A rule judges each subject in each run as `Observation::Holds`,
//! `Observation::Clear` or `Observation::Unknown` (it could not judge: no balance,
//! no usable metadata, no result). `step` moves the alert's phase on and says which
//! transition, if any, that is:
//!
//! | phase | holds | clear | unknown |
//! |---|---|---|---|
//! | none | pending, or fired if `for_runs` is 1 | none | none |
//! | pending `h` | `h + 1`; fired once it reaches `for_runs` | none (reset) | unchanged |
//! | firing | stays; reminder once `repeat_interval` has passed since the last announcement | one more clear run; resolved at `resolve_after_runs` | unchanged |
//!
//! An unknown run neither breaks nor extends a streak, and brings no reminder: a
//! reminder restates a condition seen again in this run. A run where the condition holds
//! again resets the clear count of a firing alert, which is what holds a flapping alert
//! back from resolving.

use chrono::{DateTime, TimeDelta, Utc};

use super::output::TransitionKind;
use super::state::AlertPhase;

/// What one rule found about one subject in this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Observation {
    Holds,
    Clear,
    Unknown,
}

/// A rule's lifecycle settings, in the units `step` needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Consecutive holding runs before the alert fires (at least 1).
    pub hits_to_fire: u32,
    /// Consecutive clear runs before a firing alert resolves (at least 1).
    pub clears_to_resolve: u32,
    /// Time from an announcement to the next reminder.
    pub repeat: TimeDelta,
}

/// The alert's next phase (`None`: not kept) and the transition this run makes.
pub(crate) fn step(
    phase: Option<AlertPhase>,
    observation: Observation,
    policy: &Policy,
    now: DateTime<Utc>,
) -> (Option<AlertPhase>, Option<TransitionKind>) {
    match (phase, observation) {
        (_, Observation::Unknown) => (phase, None),
        (None | Some(AlertPhase::Pending { .. }), Observation::Clear) => (None, None),
        (None, Observation::Holds) => start_or_fire(1, policy, now),
        (Some(AlertPhase::Pending { hits }), Observation::Holds) => {
            start_or_fire(hits.saturating_add(1), policy, now)
        }
        (
            Some(AlertPhase::Firing {
                hits,
                fired_at,
                last_notified_at,
                ..
            }),
            Observation::Holds,
        ) => {
            let due = last_notified_at
                .checked_add_signed(policy.repeat)
                .is_some_and(|due| now >= due);
            let next = AlertPhase::Firing {
                hits: hits.saturating_add(1),
                clears: 0,
                fired_at,
                last_notified_at: if due { now } else { last_notified_at },
            };
            (Some(next), due.then_some(TransitionKind::Reminder))
        }
        (
            Some(AlertPhase::Firing {
                clears,
                fired_at,
                last_notified_at,
                ..
            }),
            Observation::Clear,
        ) => {
            let clears = clears.saturating_add(1);
            if clears >= policy.clears_to_resolve {
                (None, Some(TransitionKind::Resolved))
            } else {
                let next = AlertPhase::Firing {
                    hits: 0,
                    clears,
                    fired_at,
                    last_notified_at,
                };
                (Some(next), None)
            }
        }
    }
}

fn start_or_fire(
    hits: u32,
    policy: &Policy,
    now: DateTime<Utc>,
) -> (Option<AlertPhase>, Option<TransitionKind>) {
    if hits >= policy.hits_to_fire {
        let firing = AlertPhase::Firing {
            hits,
            clears: 0,
            fired_at: now,
            last_notified_at: now,
        };
        (Some(firing), Some(TransitionKind::Fired))
    } else {
        (Some(AlertPhase::Pending { hits }), None)
    }
}
