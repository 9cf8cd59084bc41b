//! The ids that cross module boundaries: [`MonitorId`], [`RunId`] and [`BatchRowId`].
//!
//! Each is the row id the store gives a monitor, a run or a chunk, wrapped so that one
//! cannot be passed where another is meant. This module owns the types and how they
//! print (`run 42`); it does not issue them (the store does) and knows nothing of SQL.

use std::fmt;

macro_rules! row_id {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($label, " {}"), self.0)
            }
        }
    };
}

row_id!(
    /// A monitor's row id. Stable for the life of the database.
    MonitorId,
    "monitor"
);
row_id!(
    /// A run's row id; also the run number shown to operators.
    RunId,
    "run"
);
row_id!(
    /// The store's id for one submitted chunk. Not Rightfoot's batch id, which is an
    /// opaque string known only after the 201.
    BatchRowId,
    "batch row"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_with_their_kind() {
        assert_eq!(MonitorId(3).to_string(), "monitor 3");
        assert_eq!(RunId(42).to_string(), "run 42");
        assert_eq!(BatchRowId(7).to_string(), "batch row 7");
    }
}
