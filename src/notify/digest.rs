//! The digest: everything one route is told about one run of one monitor.
//!
//! A [`Digest`] is the notifiers' input: the monitor, the run, its time and zone, and
//! one [`DigestRow`] per alert transition (newly fired, reminder, resolved). The rules
//! and the outbox build it; this module only orders, counts, cuts and formats it, so
//! that the email and the webhook say the same thing in the same order.
//!
//! What a row may hold is decided before it gets here: the authorizer id (the lender's
//! own id), metadata already reduced to the monitor's `alert_fields`, balances, the rule
//! and a reason. No personal data enters a digest, and this module adds none.
//!
//! Order: sections in the order newly firing, still firing (reminders), resolved; within
//! a section, the most severe first, then run-level alerts, then by authorizer id and
//! rule. A route's `max_rows` is one budget spent across the sections in that order, so
//! a large digest keeps the newest and most severe rows and says "and N more" for the
//! rest.
//!
//! Counts say what they count: "3 new, 12 still firing (2 reminded now), 4 resolved".
//! "Still firing" is every alert that was firing before the run and still is, whether or
//! not its reminder is due; the digest carries those as counts by rule and severity
//! ([`FiringGroup`]), not as rows. A digest is one struct of named parts, so a new part
//! (another section, a calendar) is a new field beside these, not a new message.
//!
//! One money format everywhere: `$1,234.56` / `-$83.68` ([`Cents`]'s `Display`), for
//! balances and for the `alert_fields` that hold money (a `below_payment` rule's field).

use std::cmp::Reverse;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::Severity;
use crate::domain::{Cents, RunId};

/// One route's notification about one run of one monitor.
#[derive(Debug, Clone, PartialEq)]
pub struct Digest {
    /// The monitor's name, as configured.
    pub monitor: String,
    /// The run the alerts come from; `None` for a test digest that belongs to no run.
    pub run: Option<RunId>,
    /// When the run started (or, for a test, when the digest was made).
    pub run_time: DateTime<Utc>,
    /// The monitor's time zone: times are shown in it, with UTC beside them.
    pub zone: Tz,
    /// The transitions, in any order; the digest orders them.
    pub rows: Vec<DigestRow>,
    /// A test notification (`test-alert`): marked `[TEST]` everywhere it is shown.
    pub test: bool,
    /// Every alert firing after the run that this digest's routes are told about
    /// (silenced ones left out), counted by rule and severity: the new ones, the
    /// reminded ones and the ones still firing without a reminder.
    pub firing: Vec<FiringGroup>,
    /// How the monitor's `alert_fields` are shown, in display order.
    pub fields: Vec<FieldLabel>,
}

/// How many alerts of one rule and severity are firing after the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiringGroup {
    /// The rule's configuration name, `negative_balance`, as [`DigestRow::rule`].
    pub rule: String,
    pub severity: Severity,
    pub count: usize,
}

/// One of the monitor's `alert_fields`, as a message shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldLabel {
    /// The metadata key, `payment_amount`.
    pub field: String,
    /// What a reader sees, `Payment` (the key when no label was configured).
    pub label: String,
    /// Whether the value is an amount of money (a `below_payment` rule's field), shown
    /// as `$275.00` like every other amount.
    pub money: bool,
}

impl FieldLabel {
    /// A field shown under its own name, as text.
    pub fn plain(field: &str) -> FieldLabel {
        FieldLabel {
            field: field.to_string(),
            label: field.to_string(),
            money: false,
        }
    }
}

/// What happened to an alert in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Transition {
    /// It fired in this run.
    Fired,
    /// It was already firing and its repeat interval has passed.
    Reminder,
    /// It stopped firing in this run.
    Resolved,
}

impl Transition {
    /// The sections of a digest, in the order they are shown.
    pub const ALL: [Transition; 3] = [
        Transition::Fired,
        Transition::Reminder,
        Transition::Resolved,
    ];

    /// The name used in the webhook payload and the CSV: `fired`, `reminder`, `resolved`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Fired => "fired",
            Transition::Reminder => "reminder",
            Transition::Resolved => "resolved",
        }
    }

    /// The heading of the transition's section in an email.
    pub fn heading(self) -> &'static str {
        match self {
            Transition::Fired => "Newly firing",
            Transition::Reminder => "Still firing",
            Transition::Resolved => "Resolved",
        }
    }

    fn index(self) -> usize {
        match self {
            Transition::Fired => 0,
            Transition::Reminder => 1,
            Transition::Resolved => 2,
        }
    }
}

/// Severities from the most to the least severe, the order counts are shown in.
pub const SEVERITIES: [Severity; 3] = [Severity::Critical, Severity::Warning, Severity::Info];

fn severity_index(severity: Severity) -> usize {
    match severity {
        Severity::Critical => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
    }
}

/// One alert transition.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestRow {
    pub transition: Transition,
    pub severity: Severity,
    /// The authorizer the alert is about; `None` when it is about the run itself
    /// (`run_failed`).
    pub authorizer_id: Option<String>,
    /// Metadata the monitor's `alert_fields` allow, already filtered, in display order.
    pub metadata: Vec<(String, String)>,
    /// The balance before this run, when known.
    pub balance_before: Option<Cents>,
    /// The balance this run found, when known.
    pub balance_after: Option<Cents>,
    /// The rule's configuration name, `negative_balance`.
    pub rule: String,
    /// Why it fired or resolved, in words, for people.
    pub reason: String,
}

impl DigestRow {
    /// The authorizer id, or `(the run)` for a run-level alert.
    pub fn subject_text(&self) -> &str {
        self.authorizer_id.as_deref().unwrap_or("(the run)")
    }

    /// The value of `field` as a message shows it: money in the one money format
    /// (`275.00` becomes `$275.00`), anything else as it is; `None` when absent.
    pub fn field_text(&self, field: &FieldLabel) -> Option<String> {
        let value = self.metadata_value(&field.field)?;
        if field.money
            && let Ok(amount) = Cents::parse(value)
        {
            return Some(amount.to_string());
        }
        Some(value.to_string())
    }

    /// The metadata value for `key`, if the row has one.
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `$1,234.56 → -$83.68`; an unknown balance is `—`.
    pub fn balance_change_text(&self) -> String {
        format!(
            "{} → {}",
            money_text(self.balance_before),
            money_text(self.balance_after)
        )
    }

    fn sort_key(&self) -> (Reverse<Severity>, Option<&str>, &str, &str) {
        (
            Reverse(self.severity),
            self.authorizer_id.as_deref(),
            &self.rule,
            &self.reason,
        )
    }
}

/// `$1,234.56`, or `—` when the amount is unknown.
pub fn money_text(amount: Option<Cents>) -> String {
    amount.map_or_else(|| "—".to_string(), |c| c.to_string())
}

/// How many rows the digest has, by transition and severity, and how many alerts are
/// firing after the run. Counts always cover every row, including those cut from a
/// message by `max_rows`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `[transition][severity]`, in [`Transition::ALL`] and [`SEVERITIES`] order.
    cells: [[usize; 3]; 3],
    /// Alerts firing after the run, by severity (never fewer than the rows fired and
    /// reminded).
    firing: [usize; 3],
}

impl Counts {
    /// Rows with this transition.
    pub fn of(&self, transition: Transition) -> usize {
        self.cells[transition.index()].iter().sum()
    }

    /// Rows with this transition and severity.
    pub fn cell(&self, transition: Transition, severity: Severity) -> usize {
        self.cells[transition.index()][severity_index(severity)]
    }

    /// Alerts firing after this run: the new ones and every one still firing.
    pub fn firing(&self) -> usize {
        self.firing.iter().sum()
    }

    /// Firing alerts of this severity.
    pub fn firing_with(&self, severity: Severity) -> usize {
        self.firing[severity_index(severity)]
    }

    /// Alerts that were firing before this run and still are, reminded now or not.
    pub fn still_firing(&self) -> usize {
        self.firing() - self.of(Transition::Fired)
    }

    /// Every row.
    pub fn total(&self) -> usize {
        self.cells.iter().flatten().sum()
    }

    /// `3 new, 12 still firing (2 reminded now), 4 resolved`: what each number counts.
    pub fn summary(&self) -> String {
        let reminded = self.of(Transition::Reminder);
        let reminded = match reminded {
            0 => String::new(),
            n => format!(" ({n} reminded now)"),
        };
        format!(
            "{} new, {} still firing{reminded}, {} resolved",
            self.of(Transition::Fired),
            self.still_firing(),
            self.of(Transition::Resolved)
        )
    }

    /// `3 critical, 2 warning, 2 resolved`: the firing alerts by severity, worst first,
    /// then the resolved ones; a part that is zero is left out.
    pub fn headline(&self) -> String {
        let mut parts: Vec<String> = SEVERITIES
            .iter()
            .filter(|&&s| self.firing_with(s) > 0)
            .map(|&s| format!("{} {}", self.firing_with(s), s.as_str()))
            .collect();
        let resolved = self.of(Transition::Resolved);
        if resolved > 0 || parts.is_empty() {
            parts.push(format!("{resolved} resolved"));
        }
        parts.join(", ")
    }
}

/// One section of a digest as a message shows it: the rows that fit, and how many did
/// not.
#[derive(Debug, Clone, PartialEq)]
pub struct Section<'a> {
    pub transition: Transition,
    /// The rows shown, in order.
    pub rows: Vec<&'a DigestRow>,
    /// Rows of this section cut by `max_rows` ("and N more").
    pub omitted: usize,
}

impl Section<'_> {
    /// Every row of the section, shown or not.
    pub fn total(&self) -> usize {
        self.rows.len() + self.omitted
    }
}

impl Digest {
    /// The counts by transition and severity over every row, and the firing alerts.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for row in &self.rows {
            counts.cells[row.transition.index()][severity_index(row.severity)] += 1;
        }
        for group in &self.firing {
            counts.firing[severity_index(group.severity)] += group.count;
        }
        for severity in SEVERITIES {
            let i = severity_index(severity);
            let announced = counts.cells[0][i] + counts.cells[1][i];
            counts.firing[i] = counts.firing[i].max(announced);
        }
        counts
    }

    /// The firing groups the rows themselves show (fired and reminded, by rule and
    /// severity): for a digest made without the judgement's counts (a test, or one
    /// queued by an earlier version).
    pub fn firing_from_rows(rows: &[DigestRow]) -> Vec<FiringGroup> {
        let mut groups: Vec<FiringGroup> = Vec::new();
        for row in rows.iter().filter(|r| r.transition != Transition::Resolved) {
            match groups
                .iter_mut()
                .find(|g| g.rule == row.rule && g.severity == row.severity)
            {
                Some(group) => group.count += 1,
                None => groups.push(FiringGroup {
                    rule: row.rule.clone(),
                    severity: row.severity,
                    count: 1,
                }),
            }
        }
        groups
    }

    /// The rules this digest speaks of (firing after the run, or with a row), most
    /// severe first, then by name; each with its firing count and worst severity.
    pub fn rule_groups(&self) -> Vec<FiringGroup> {
        let mut groups: Vec<FiringGroup> = Vec::new();
        let mut add = |rule: &str, severity: Severity, count: usize| match groups
            .iter_mut()
            .find(|g| g.rule == rule)
        {
            Some(group) => {
                group.count += count;
                group.severity = group.severity.max(severity);
            }
            None => groups.push(FiringGroup {
                rule: rule.to_string(),
                severity,
                count,
            }),
        };
        let counted = match self.firing.is_empty() {
            true => Digest::firing_from_rows(&self.rows),
            false => self.firing.clone(),
        };
        for group in &counted {
            add(&group.rule, group.severity, group.count);
        }
        for row in &self.rows {
            add(&row.rule, row.severity, 0);
        }
        groups.sort_by(|a, b| (Reverse(a.severity), &a.rule).cmp(&(Reverse(b.severity), &b.rule)));
        groups
    }

    /// Every row in display order: by section, then most severe first, run-level alerts
    /// before authorizers, then authorizer id and rule.
    pub fn ordered_rows(&self) -> Vec<&DigestRow> {
        let mut rows: Vec<&DigestRow> = self.rows.iter().collect();
        rows.sort_by(|a, b| (a.transition, a.sort_key()).cmp(&(b.transition, b.sort_key())));
        rows
    }

    /// The three sections (empty ones included), with at most `max_rows` rows shown in
    /// all: the budget goes to newly firing rows first, then reminders, then resolved.
    pub fn sections(&self, max_rows: usize) -> Vec<Section<'_>> {
        let ordered = self.ordered_rows();
        let mut budget = max_rows;
        Transition::ALL
            .iter()
            .map(|&transition| {
                let all: Vec<&DigestRow> = ordered
                    .iter()
                    .copied()
                    .filter(|row| row.transition == transition)
                    .collect();
                let shown = all.len().min(budget);
                budget -= shown;
                Section {
                    transition,
                    omitted: all.len() - shown,
                    rows: all.into_iter().take(shown).collect(),
                }
            })
            .collect()
    }

    /// The metadata keys of all rows, in the order they first appear.
    pub fn metadata_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for row in self.ordered_rows() {
            for (key, _) in &row.metadata {
                if !keys.contains(&key.as_str()) {
                    keys.push(key);
                }
            }
        }
        keys
    }

    /// The columns a message shows beside the authorizer: the configured
    /// [`Digest::fields`] in their order, then any other key a row holds, as text
    /// under its own name.
    pub fn columns(&self) -> Vec<FieldLabel> {
        let mut columns = self.fields.clone();
        for key in self.metadata_keys() {
            if !columns.iter().any(|c| c.field == key) {
                columns.push(FieldLabel::plain(key));
            }
        }
        columns
    }

    /// `run 42`, or `no run` for a test digest without one.
    pub fn run_text(&self) -> String {
        match self.run {
            Some(run) => run.to_string(),
            None => "no run".to_string(),
        }
    }

    /// The run time in the monitor's zone with UTC beside it.
    pub fn run_time_text(&self) -> String {
        time_text(self.run_time, self.zone)
    }

    /// The email subject, worst news first: `3 critical, 2 warning, 2 resolved:
    /// morning-ach [balance-monitor]`, with a leading `[TEST]` for a test digest.
    ///
    /// It names neither the run nor a time, so the same situation always reads the
    /// same and mail clients can thread a monitor's digests.
    pub fn subject(&self) -> String {
        let test = if self.test { "[TEST] " } else { "" };
        format!(
            "{test}{}: {} [balance-monitor]",
            self.counts().headline(),
            self.monitor
        )
    }
}

/// `… and 6 more alerts`: the words every message uses for rows it leaves out.
pub fn more_text(omitted: usize) -> String {
    let noun = if omitted == 1 { "alert" } else { "alerts" };
    format!("… and {omitted} more {noun}")
}

/// "… and 6 more alerts, not listed here: run `balance-monitor alerts` on the
/// monitoring host", with " or open " and `dashboard` (a link, in the message's own
/// markup) when there is one: where a chat message sends its reader for the rest.
pub fn more_elsewhere(omitted: usize, dashboard: Option<String>) -> String {
    let mut more = format!(
        "{}, not listed here: run `balance-monitor alerts` on the monitoring host",
        more_text(omitted)
    );
    if let Some(link) = dashboard {
        more.push_str(&format!(" or open {link}"));
    }
    more
}

/// `2025-03-14 06:30 EDT (2025-03-14 10:30 UTC)`: a time in `zone`, with UTC beside it.
pub fn time_text(time: DateTime<Utc>, zone: Tz) -> String {
    format!(
        "{} ({})",
        time.with_timezone(&zone).format("%Y-%m-%d %H:%M %Z"),
        time.format("%Y-%m-%d %H:%M UTC")
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn row(
        transition: Transition,
        severity: Severity,
        authorizer: Option<&str>,
        rule: &str,
    ) -> DigestRow {
        DigestRow {
            transition,
            severity,
            authorizer_id: authorizer.map(str::to_string),
            metadata: vec![("loan_id".into(), format!("L-{}", authorizer.unwrap_or("0")))],
            balance_before: Some(Cents(123456)),
            balance_after: Some(Cents(-8368)),
            rule: rule.into(),
            reason: format!("{rule} for {}", authorizer.unwrap_or("the run")),
        }
    }

    /// `count` warnings fired for `A-0`, `A-1`, …, for the tests that cut a long digest.
    pub(crate) fn fired_warnings(count: usize) -> Vec<DigestRow> {
        (0..count)
            .map(|i| {
                row(
                    Transition::Fired,
                    Severity::Warning,
                    Some(&format!("A-{i}")),
                    "r",
                )
            })
            .collect()
    }

    pub(crate) fn digest(rows: Vec<DigestRow>) -> Digest {
        Digest {
            monitor: "morning-ach".into(),
            run: Some(RunId(42)),
            run_time: Utc.with_ymd_and_hms(2025, 3, 14, 10, 30, 0).unwrap(),
            zone: chrono_tz::America::New_York,
            rows,
            test: false,
            firing: Vec::new(),
            fields: Vec::new(),
        }
    }

    #[test]
    fn subject_counts_firing_and_resolved_and_marks_tests() {
        use Transition::*;
        let rows = vec![
            row(Fired, Severity::Critical, Some("A-1"), "negative_balance"),
            row(Fired, Severity::Warning, Some("A-2"), "balance_below"),
            row(Reminder, Severity::Warning, Some("A-3"), "balance_below"),
            row(Resolved, Severity::Info, Some("A-4"), "stale"),
        ];
        let mut d = digest(rows);
        assert_eq!(
            d.subject(),
            "1 critical, 2 warning, 1 resolved: morning-ach [balance-monitor]"
        );
        d.test = true;
        assert_eq!(
            d.subject(),
            "[TEST] 1 critical, 2 warning, 1 resolved: morning-ach [balance-monitor]"
        );
        d.test = false;
        d.rows.retain(|r| r.transition != Resolved);
        assert_eq!(
            d.subject(),
            "1 critical, 2 warning: morning-ach [balance-monitor]"
        );
        d.rows = vec![row(Resolved, Severity::Info, Some("A-4"), "stale")];
        assert_eq!(d.subject(), "1 resolved: morning-ach [balance-monitor]");
    }

    #[test]
    fn still_firing_counts_every_alert_firing_before_not_only_reminders() {
        use Transition::*;
        let mut d = digest(vec![
            row(Fired, Severity::Critical, Some("A-1"), "negative_balance"),
            row(Fired, Severity::Critical, Some("A-2"), "negative_balance"),
            row(Fired, Severity::Warning, Some("A-3"), "balance_below"),
            row(Reminder, Severity::Warning, Some("A-4"), "balance_below"),
            row(Reminder, Severity::Warning, Some("A-5"), "balance_below"),
            row(Resolved, Severity::Info, Some("A-6"), "stale"),
        ]);
        // Firing after the run: the 3 new, the 2 reminded and 10 more not yet due.
        d.firing = vec![
            FiringGroup {
                rule: "negative_balance".into(),
                severity: Severity::Critical,
                count: 6,
            },
            FiringGroup {
                rule: "balance_below".into(),
                severity: Severity::Warning,
                count: 9,
            },
        ];
        let counts = d.counts();
        assert_eq!(
            counts.summary(),
            "3 new, 12 still firing (2 reminded now), 1 resolved"
        );
        assert_eq!(counts.headline(), "6 critical, 9 warning, 1 resolved");
        let groups: Vec<(String, usize)> = d
            .rule_groups()
            .into_iter()
            .map(|g| (g.rule, g.count))
            .collect();
        assert_eq!(
            groups,
            [
                ("negative_balance".to_string(), 6),
                ("balance_below".to_string(), 9),
                ("stale".to_string(), 0)
            ]
        );
        // Without the judgement's counts, the rows are what is known.
        d.firing.clear();
        assert_eq!(
            d.counts().summary(),
            "3 new, 2 still firing (2 reminded now), 1 resolved"
        );
    }

    #[test]
    fn money_fields_take_the_one_money_format() {
        let mut r = row(
            Transition::Fired,
            Severity::Critical,
            Some("A"),
            "below_payment",
        );
        r.metadata = vec![
            ("payment_amount".into(), "1275.5".into()),
            ("loan_id".into(), "275.00".into()),
        ];
        let money = FieldLabel {
            field: "payment_amount".into(),
            label: "Payment".into(),
            money: true,
        };
        assert_eq!(r.field_text(&money).unwrap(), "$1,275.50");
        assert_eq!(
            r.field_text(&FieldLabel::plain("loan_id")).unwrap(),
            "275.00"
        );
        r.metadata[0].1 = "n/a".into();
        assert_eq!(
            r.field_text(&money).unwrap(),
            "n/a",
            "text that is not money stays text"
        );
    }

    #[test]
    fn subject_is_stable_across_runs_times_and_row_order() {
        use Transition::*;
        let a = digest(vec![
            row(Fired, Severity::Critical, Some("A-1"), "negative_balance"),
            row(Resolved, Severity::Info, Some("A-4"), "stale"),
        ]);
        let mut b = a.clone();
        b.run = Some(RunId(43));
        b.run_time = Utc.with_ymd_and_hms(2025, 3, 17, 10, 30, 0).unwrap();
        b.rows.reverse();
        b.rows[0].authorizer_id = Some("B-9".into());
        assert_eq!(a.subject(), b.subject());
    }

    #[test]
    fn counts_cover_every_row_by_transition_and_severity() {
        use Transition::*;
        let d = digest(vec![
            row(Fired, Severity::Critical, Some("A-1"), "r"),
            row(Fired, Severity::Critical, Some("A-2"), "r"),
            row(Reminder, Severity::Warning, Some("A-3"), "r"),
            row(Resolved, Severity::Critical, Some("A-4"), "r"),
        ]);
        let c = d.counts();
        assert_eq!(c.cell(Fired, Severity::Critical), 2);
        assert_eq!(c.cell(Reminder, Severity::Warning), 1);
        assert_eq!(c.cell(Resolved, Severity::Critical), 1);
        assert_eq!(c.firing(), 3);
        assert_eq!(c.firing_with(Severity::Critical), 2);
        assert_eq!(c.firing_with(Severity::Info), 0);
        assert_eq!(c.total(), 4);
    }

    #[test]
    fn rows_are_ordered_by_section_then_severity_then_run_first_then_id() {
        use Transition::*;
        let d = digest(vec![
            row(Resolved, Severity::Critical, Some("A-0"), "r"),
            row(Fired, Severity::Warning, Some("A-1"), "r"),
            row(Fired, Severity::Critical, Some("B-2"), "r"),
            row(Fired, Severity::Critical, None, "run_failed"),
            row(Fired, Severity::Critical, Some("A-3"), "r"),
            row(Reminder, Severity::Info, Some("A-4"), "r"),
        ]);
        let order: Vec<&str> = d.ordered_rows().iter().map(|r| r.subject_text()).collect();
        assert_eq!(order, ["(the run)", "A-3", "B-2", "A-1", "A-4", "A-0"]);
    }

    #[test]
    fn max_rows_is_one_budget_spent_in_section_order() {
        use Transition::*;
        let mut rows = Vec::new();
        for i in 0..4 {
            rows.push(row(Fired, Severity::Warning, Some(&format!("F-{i}")), "r"));
        }
        for i in 0..3 {
            rows.push(row(
                Reminder,
                Severity::Warning,
                Some(&format!("R-{i}")),
                "r",
            ));
        }
        rows.push(row(Resolved, Severity::Info, Some("Z-0"), "r"));
        let d = digest(rows);
        let sections = d.sections(5);
        let shown: Vec<usize> = sections.iter().map(|s| s.rows.len()).collect();
        let omitted: Vec<usize> = sections.iter().map(|s| s.omitted).collect();
        assert_eq!(shown, [4, 1, 0]);
        assert_eq!(omitted, [0, 2, 1]);
        assert_eq!(sections[1].rows[0].subject_text(), "R-0");
        let all = d.sections(usize::MAX);
        assert_eq!(all.iter().map(|s| s.omitted).sum::<usize>(), 0);
        assert_eq!(
            all.iter().map(Section::total).collect::<Vec<_>>(),
            [4, 3, 1]
        );
    }

    #[test]
    fn times_show_the_zone_and_utc_across_daylight_saving() {
        let ny = chrono_tz::America::New_York;
        let summer = Utc.with_ymd_and_hms(2025, 3, 14, 10, 30, 0).unwrap();
        assert_eq!(
            time_text(summer, ny),
            "2025-03-14 06:30 EDT (2025-03-14 10:30 UTC)"
        );
        let winter = Utc.with_ymd_and_hms(2025, 1, 2, 3, 5, 0).unwrap();
        assert_eq!(
            time_text(winter, ny),
            "2025-01-01 22:05 EST (2025-01-02 03:05 UTC)"
        );
    }

    #[test]
    fn balances_read_like_a_statement() {
        let mut r = row(Transition::Fired, Severity::Critical, Some("A"), "r");
        assert_eq!(r.balance_change_text(), "$1,234.56 → -$83.68");
        r.balance_before = None;
        assert_eq!(r.balance_change_text(), "— → -$83.68");
    }

    #[test]
    fn metadata_keys_keep_first_appearance_order() {
        let mut a = row(Transition::Fired, Severity::Critical, Some("A"), "r");
        a.metadata = vec![
            ("loan_id".into(), "1".into()),
            ("payment_amount".into(), "2".into()),
        ];
        let mut b = row(Transition::Fired, Severity::Warning, Some("B"), "r");
        b.metadata = vec![
            ("branch".into(), "x".into()),
            ("loan_id".into(), "3".into()),
        ];
        let d = digest(vec![b, a]);
        assert_eq!(d.metadata_keys(), ["loan_id", "payment_amount", "branch"]);
    }
}
