//! Where a run, one of its chunks and one of its authorizers stand: [`RunState`],
//! [`BatchState`] and [`ResultOutcome`].
//!
//! Each is a closed set with one lowercase spelling per value (`as_str`), the spelling
//! the store, the read API, the CLI and the logs all use, and [`parse`](RunState::parse)
//! to read it back. This module owns the values and their spelling; it does not decide
//! when a state changes (the run does) and does not store anything.

use std::fmt;

/// Closed sets spelt as their `as_str` text, with a parser for reading them back.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in the order declared.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling used in the database, the read API and the logs.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value spelt `text` by [`as_str`](Self::as_str); `None` for any other text.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Where a run is in its life. `complete`, `partial` and `failed` are final;
    /// `interrupted` is not: the daemon resumes such a run, which goes back to `running`.
    RunState {
        /// Created, nothing sent yet.
        Pending => "pending",
        /// Submitting chunks or reading results.
        Running => "running",
        /// Stopped by the operator (Ctrl-C on `run-now`) with its chunks at durable
        /// steps; the daemon resumes it from the batches already submitted.
        Interrupted => "interrupted",
        /// Every authorizer has a result.
        Complete => "complete",
        /// Finished, with some authorizers not retrieved or rejected.
        Partial => "partial",
        /// Finished without usable results (the reason says why).
        Failed => "failed",
    }
);

impl RunState {
    /// Whether the run is over: no further state change is accepted.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunState::Complete | RunState::Partial | RunState::Failed
        )
    }
}

text_enum!(
    /// Where one chunk is between "about to POST" and "all results read".
    BatchState {
        /// The row exists; the POST may or may not have reached Rightfoot.
        Submitting => "submitting",
        /// Rightfoot answered 201 with a batch id.
        Submitted => "submitted",
        /// Results are being paged in.
        Reading => "reading",
        /// Every accepted authorizer has a result, or the rest were marked not retrieved.
        Complete => "complete",
        /// The POST's outcome could not be learnt (for example a timeout after sending).
        Unknown => "unknown",
        /// Rightfoot refused the whole chunk, or it was abandoned.
        Failed => "failed",
    }
);

text_enum!(
    /// What is known about one authorizer in one run.
    ResultOutcome {
        /// Rightfoot returned a result (which may itself be a failed check).
        Retrieved => "retrieved",
        /// The run stopped waiting before a result came.
        NotRetrieved => "not_retrieved",
        /// Rightfoot refused the authorizer at submission.
        Rejected => "rejected",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_parses_back() {
        use RunState::*;
        for state in RunState::ALL.iter().copied() {
            assert_eq!(RunState::parse(state.as_str()), Some(state));
            assert_eq!(
                state.is_final(),
                !matches!(state, Pending | Running | Interrupted)
            );
        }
        for state in BatchState::ALL.iter().copied() {
            assert_eq!(BatchState::parse(state.as_str()), Some(state));
        }
        for outcome in ResultOutcome::ALL.iter().copied() {
            assert_eq!(ResultOutcome::parse(&outcome.to_string()), Some(outcome));
        }
    }

    #[test]
    fn other_text_is_not_a_state() {
        assert_eq!(RunState::parse("Complete"), None);
        assert_eq!(RunState::parse(""), None);
        assert_eq!(BatchState::parse("done"), None);
        assert_eq!(ResultOutcome::parse("not retrieved"), None);
    }
}
