//! What both bodies of a digest email show, in order, computed once so that the plain
//! text (`email_body`) and the HTML (`email_html`) cannot disagree: the headline, the
//! counts, the link to the run, the rows grouped by severity and then resolved, the
//! field columns under their labels, "and N more" and the footer.

use crate::config::Severity;
use crate::notify::Links;
use crate::notify::digest::{Digest, DigestRow, FieldLabel, SEVERITIES, Transition};

pub(crate) const TEST_BANNER: &str = "TEST NOTIFICATION: sent to check this route's delivery. \
These alerts are examples, not real balances.";

/// What both bodies show, in order: computed once so that they cannot disagree.
pub(crate) struct Layout<'a> {
    pub digest: &'a Digest,
    pub headline: String,
    pub summary: String,
    pub run_url: Option<url::Url>,
    pub groups: Vec<Group<'a>>,
    pub columns: Vec<FieldLabel>,
    /// "… and N more …", when rows were left out.
    pub more: Option<String>,
    pub footer: String,
    pub links: Links<'a>,
}

/// The rows shown of one severity (firing) or of the resolved ones.
pub(crate) struct Group<'a> {
    /// `Some` for firing rows of that severity, `None` for the resolved rows.
    pub severity: Option<Severity>,
    /// `Critical (3)`: the group's rows in the whole digest.
    pub heading: String,
    pub rows: Vec<&'a DigestRow>,
}

impl<'a> Layout<'a> {
    pub fn new(
        digest: &'a Digest,
        max_rows: usize,
        links: Links<'a>,
        csv_name: &str,
    ) -> Layout<'a> {
        let counts = digest.counts();
        let sections = digest.sections(max_rows);
        let omitted: usize = sections.iter().map(|s| s.omitted).sum();
        let shown: Vec<&DigestRow> = sections
            .iter()
            .flat_map(|s| s.rows.iter().copied())
            .collect();
        let mut groups = Vec::new();
        for severity in SEVERITIES {
            let total = counts.cell(Transition::Fired, severity)
                + counts.cell(Transition::Reminder, severity);
            let rows: Vec<&DigestRow> = shown
                .iter()
                .copied()
                .filter(|r| r.transition != Transition::Resolved && r.severity == severity)
                .collect();
            if total > 0 {
                groups.push(Group {
                    severity: Some(severity),
                    heading: format!("{} ({total})", capitalized(severity.as_str())),
                    rows,
                });
            }
        }
        let resolved = counts.of(Transition::Resolved);
        if resolved > 0 {
            groups.push(Group {
                severity: None,
                heading: format!("Resolved ({resolved})"),
                rows: shown
                    .iter()
                    .copied()
                    .filter(|r| r.transition == Transition::Resolved)
                    .collect(),
            });
        }
        let more = (omitted > 0).then(|| {
            format!(
                "{}, not listed here: every row is in the attached {csv_name}",
                crate::notify::digest::more_text(omitted)
            )
        });
        let test = if digest.test { "[TEST] " } else { "" };
        Layout {
            digest,
            headline: format!("{test}{}: {}", counts.headline(), digest.monitor),
            summary: counts.summary(),
            run_url: links.run(digest.run),
            groups,
            columns: digest.columns(),
            more,
            footer: format!(
                "The attached {csv_name} lists all {} rows. On the monitoring host, `balance-monitor alerts` shows every firing alert.",
                counts.total()
            ),
            links,
        }
    }
}

/// `critical` → `Critical`.
pub(crate) fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `new`, `reminder` or `resolved`: what happened to the alert in this run.
pub(crate) fn transition_word(row: &DigestRow) -> &'static str {
    match row.transition {
        Transition::Fired => "new",
        Transition::Reminder => "still firing, reminder",
        Transition::Resolved => "resolved",
    }
}

/// `Loan: L-77 · Payment: $275.00`: the row's `alert_fields` under their labels.
pub(crate) fn fields_text(row: &DigestRow, columns: &[FieldLabel]) -> String {
    columns
        .iter()
        .filter_map(|c| Some(format!("{}: {}", c.label, row.field_text(c)?)))
        .collect::<Vec<_>>()
        .join(" · ")
}
