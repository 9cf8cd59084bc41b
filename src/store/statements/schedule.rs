//! The statements of schedule positions (`ScheduleJournal`).

/// Sets monitor `?1`'s position to slot `?2` and run `?3`, unless it is past `?2`.
pub(crate) const SET_POSITION: &str = "\
    INSERT INTO schedule_state (monitor_id, last_slot, last_run_id, updated_at) \
    VALUES (?1, ?2, ?3, now()) \
    ON CONFLICT (monitor_id) DO UPDATE SET \
        last_slot = excluded.last_slot, \
        last_run_id = excluded.last_run_id, \
        updated_at = excluded.updated_at \
    WHERE excluded.last_slot >= schedule_state.last_slot";

/// Monitor `?1`'s last slot.
pub(crate) const LAST_SLOT: &str = "SELECT last_slot FROM schedule_state WHERE monitor_id = ?1";

/// Records slots of monitor `?1` that did not run: outcome, first and last slot, count,
/// whether the count is exact, reason; once per first slot.
pub(crate) const INSERT_EVENT: &str = "\
    INSERT INTO schedule_events (monitor_id, outcome, first_slot, last_slot, \
        slot_count, slot_count_exact, reason, recorded_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, now()) \
    ON CONFLICT (monitor_id, first_slot) DO NOTHING";

/// Moves monitor `?1` to slot `?2`, keeping the run only if the slot is the same.
pub(crate) const ADVANCE: &str = "\
    INSERT INTO schedule_state (monitor_id, last_slot, last_run_id, updated_at) \
    VALUES (?1, ?2, NULL, now()) \
    ON CONFLICT (monitor_id) DO UPDATE SET \
        last_run_id = CASE WHEN excluded.last_slot = schedule_state.last_slot \
                           THEN schedule_state.last_run_id END, \
        last_slot = excluded.last_slot, \
        updated_at = excluded.updated_at";

/// Whether slot `?2` of monitor `?1` has a run or a recorded event.
pub(crate) const SLOT_ACCOUNTED_FOR: &str = "\
    SELECT EXISTS (SELECT 1 FROM runs WHERE monitor_id = ?1 AND scheduled_for = ?2) \
        OR EXISTS (SELECT 1 FROM schedule_events WHERE monitor_id = ?1 \
                   AND first_slot <= ?2 AND last_slot >= ?2)";

/// Monitor `?1`'s recorded events, by first slot.
pub(crate) const EVENTS: &str = "\
    SELECT outcome, first_slot, last_slot, slot_count, slot_count_exact, reason, recorded_at \
    FROM schedule_events WHERE monitor_id = ?1 ORDER BY first_slot";

/// Monitor `?1`'s position: its last slot and that slot's run.
pub(crate) const POSITION: &str =
    "SELECT last_slot, last_run_id FROM schedule_state WHERE monitor_id = ?1";
