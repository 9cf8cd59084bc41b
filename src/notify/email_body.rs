//! The content of a digest email: subject, plain-text body, HTML body and the CSV
//! attachment.
//!
//! Both bodies say the same in the same order: a `[TEST]` banner when it applies, the
//! headline (worst news first: `3 critical, 2 warning, 2 resolved`), the counts
//! (`3 new, 12 still firing (2 reminded now), 4 resolved`), the monitor, run and time
//! (in the monitor's zone, with UTC beside it), then the rows grouped by severity
//! (critical, warning, info, then resolved), each marked by its word and, in HTML, its
//! color, and "and N more" for rows beyond the route's `max_rows`. A row shows the
//! authorizer, whether it is new or a reminder, the rule, the balances and the
//! `alert_fields` under their labels, money always as `$1,234.56`. With
//! `http.public_url`, each row links to its borrower's page and the digest to its run.
//! The HTML (`email_html`) is one narrow column that reads on a phone and in dark mode;
//! what both bodies show, in order, is computed once (`email_layout`). The CSV lists
//! every row, including those cut from the bodies.
//!
//! This module builds strings and bytes only; `email` puts them in a MIME message and
//! sends it.

use super::email_layout::{Layout, TEST_BANNER, fields_text, transition_word};
use crate::notify::Links;
use crate::notify::digest::Digest;
use crate::text::one_line;

/// A rendered digest email, ready to be put in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The attachment's file name: `balance-monitor-<monitor>-run-<id>.csv`.
    pub csv_name: String,
    /// Every row of the digest, in display order.
    pub csv: Vec<u8>,
}

/// Renders `digest` for email, showing at most `max_rows` rows in the bodies.
pub fn render(digest: &Digest, max_rows: usize, links: Links<'_>) -> EmailContent {
    let csv_name = format!(
        "balance-monitor-{}-{}.csv",
        file_name_part(&digest.monitor),
        match digest.run {
            Some(run) => format!("run-{}", run.0),
            None => "test".to_string(),
        }
    );
    let layout = Layout::new(digest, max_rows, links, &csv_name);
    EmailContent {
        subject: digest.subject(),
        text: text_body(&layout),
        html: super::email_html::html_body(&layout),
        csv_name,
        csv: csv(digest),
    }
}

/// Keeps letters, digits, `-`, `_` and `.`; anything else becomes `_`.
fn file_name_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

// ---------------------------------------------------------------- plain text

fn text_body(layout: &Layout<'_>) -> String {
    let digest = layout.digest;
    let mut out = String::new();
    if digest.test {
        out.push_str(&format!("[TEST] {TEST_BANNER}\n\n"));
    }
    out.push_str(&one_line(&layout.headline));
    out.push('\n');
    out.push_str(&layout.summary);
    out.push_str("\n\n");
    out.push_str(&format!(
        "Monitor: {}\nRun: {}{}\nTime: {}\n",
        one_line(&digest.monitor),
        digest.run_text(),
        layout
            .run_url
            .as_ref()
            .map(|u| format!(" <{u}>"))
            .unwrap_or_default(),
        digest.run_time_text()
    ));
    for group in &layout.groups {
        out.push_str(&format!("\n== {} ==\n", group.heading.to_uppercase()));
        for row in &group.rows {
            out.push_str(&format!(
                "\n* [{}] {} ({})\n",
                row.severity.as_str(),
                one_line(row.subject_text()),
                transition_word(row)
            ));
            out.push_str(&format!(
                "  {}: {}\n",
                one_line(&row.rule),
                row.balance_change_text()
            ));
            let fields = fields_text(row, &layout.columns);
            if !fields.is_empty() {
                out.push_str(&format!("  {}\n", one_line(&fields)));
            }
            out.push_str(&format!("  {}\n", one_line(&row.reason)));
            if let Some(url) = layout.links.authorizer(row.authorizer_id.as_deref()) {
                out.push_str(&format!("  {url}\n"));
            }
        }
        if group.rows.is_empty() {
            out.push_str("\n  (not listed here: the row limit is reached)\n");
        }
    }
    if let Some(more) = &layout.more {
        out.push_str(&format!("\n{more}\n"));
    }
    out.push_str(&format!("\n{}\n", layout.footer));
    out
}

// ---------------------------------------------------------------- CSV

/// Every row: `transition,severity,authorizer_id,meta_<key>...,balance_before,
/// balance_after,rule,reason`. Money is plain decimal (`-83.68`), as Rightfoot's own CSV
/// writes it; a run-level alert has an empty `authorizer_id`. Metadata columns carry
/// the `meta_` prefix of Rightfoot's upload format, so they cannot collide with the
/// fixed columns.
pub fn csv(digest: &Digest) -> Vec<u8> {
    let keys = digest.metadata_keys();
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["transition", "severity", "authorizer_id"]
        .map(String::from)
        .to_vec();
    header.extend(keys.iter().map(|k| format!("meta_{k}")));
    header.extend(["balance_before", "balance_after", "rule", "reason"].map(String::from));
    let mut records = vec![header.iter().map(|h| defuse_formula(h)).collect::<Vec<_>>()];
    for row in digest.ordered_rows() {
        let mut record = vec![
            row.transition.as_str().to_string(),
            row.severity.as_str().to_string(),
            defuse_formula(row.authorizer_id.as_deref().unwrap_or("")),
        ];
        record.extend(
            keys.iter()
                .map(|k| defuse_formula(row.metadata_value(k).unwrap_or(""))),
        );
        record.push(
            row.balance_before
                .map(|c| c.to_decimal_string())
                .unwrap_or_default(),
        );
        record.push(
            row.balance_after
                .map(|c| c.to_decimal_string())
                .unwrap_or_default(),
        );
        record.push(defuse_formula(&row.rule));
        record.push(defuse_formula(&row.reason));
        records.push(record);
    }
    for record in records {
        writer
            .write_record(&record)
            .expect("writing CSV to a Vec cannot fail");
    }
    writer
        .into_inner()
        .expect("flushing CSV to a Vec cannot fail")
}

/// A text cell a spreadsheet would evaluate (`=`, `+`, `-`, `@`, tab or carriage return
/// first) gets a leading `'`, unless it is a plain number such as `-83.68`.
fn defuse_formula(text: &str) -> String {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && crate::domain::Cents::parse(text).is_err() {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Severity;
    use crate::notify::digest::tests::{digest, fired_warnings, row};
    use crate::notify::digest::{FieldLabel, Transition};

    fn plain(d: &Digest, max_rows: usize) -> EmailContent {
        render(d, max_rows, Links::default())
    }

    #[test]
    fn html_escapes_everything_that_came_from_outside() {
        let mut r = row(Transition::Fired, Severity::Critical, Some("<A&1>"), "r");
        r.reason = "balance < \"payment\" & 'margin'".into();
        r.metadata = vec![("loan_id".into(), "<script>alert(1)</script>".into())];
        let mut d = digest(vec![r]);
        d.monitor = "m<b>".into();
        let content = plain(&d, 10);
        assert!(!content.html.contains("<script>alert"));
        assert!(!content.html.contains("<A&1>"));
        assert!(!content.html.contains("m<b>"));
        assert!(content.html.contains("&lt;A&amp;1&gt;"));
        assert!(
            content
                .html
                .contains("&lt;script&gt;alert(1)&lt;/script&gt;")
        );
        assert!(
            content
                .html
                .contains("balance &lt; &quot;payment&quot; &amp; &#39;margin&#39;")
        );
        assert!(content.html.contains("m&lt;b&gt;"));
        // The plain text shows the values as they are.
        assert!(content.text.contains("<A&1>"));
        assert!(content.html.lines().all(|l| l.len() < 998));
    }

    #[test]
    fn bodies_lead_with_the_headline_and_group_rows_by_severity() {
        use Transition::*;
        let mut below = row(Fired, Severity::Warning, Some("A-2"), "below_payment");
        below.metadata = vec![
            ("loan_id".into(), "L-2".into()),
            ("payment_amount".into(), "275.00".into()),
        ];
        let mut d = digest(vec![
            row(Fired, Severity::Critical, Some("A-1"), "negative_balance"),
            below,
            row(
                Reminder,
                Severity::Critical,
                Some("A-0"),
                "negative_balance",
            ),
            row(Resolved, Severity::Info, Some("A-3"), "stale"),
        ]);
        d.fields = vec![FieldLabel {
            field: "payment_amount".into(),
            label: "Payment".into(),
            money: true,
        }];
        let content = plain(&d, 50);
        assert_eq!(
            content.subject,
            "2 critical, 1 warning, 1 resolved: morning-ach [balance-monitor]"
        );
        for body in [&content.text, &content.html] {
            assert!(
                body.contains("2 new, 1 still firing (1 reminded now), 1 resolved"),
                "{body}"
            );
            assert!(
                body.contains("2025-03-14 06:30 EDT (2025-03-14 10:30 UTC)"),
                "{body}"
            );
            assert!(body.contains("$1,234.56 → -$83.68"), "{body}");
            assert!(body.contains("Payment: $275.00"), "{body}");
            assert!(!body.contains("payment_amount"), "{body}");
            assert!(
                body.contains("loan_id: L-2"),
                "an unlabelled field keeps its name: {body}"
            );
            let critical = body.find("CRITICAL").unwrap();
            let warning = body.find("WARNING").unwrap();
            let resolved = body.find("RESOLVED").unwrap();
            assert!(critical < warning && warning < resolved, "{body}");
            assert!(!body.contains("and 0 more"), "{body}");
            assert!(!body.contains("TEST"), "{body}");
        }
        assert!(content.html.contains("prefers-color-scheme: dark"));
        assert!(content.html.contains("#c62828"), "critical is red");
        assert!(
            !content.html.contains("href"),
            "no links without a public URL"
        );
    }

    #[test]
    fn with_a_public_url_rows_link_to_their_borrower_and_the_digest_to_its_run() {
        let d = digest(vec![row(
            Transition::Fired,
            Severity::Critical,
            Some("A 1/2"),
            "r",
        )]);
        let base: url::Url = "https://monitor.lender.example/".parse().unwrap();
        let content = render(
            &d,
            10,
            Links {
                public_url: Some(&base),
            },
        );
        for body in [&content.text, &content.html] {
            assert!(
                body.contains("https://monitor.lender.example/runs/42"),
                "{body}"
            );
            assert!(
                body.contains("https://monitor.lender.example/authorizers/A%201%2F2"),
                "{body}"
            );
        }
    }

    #[test]
    fn a_large_digest_is_cut_with_and_n_more_but_the_csv_has_every_row() {
        let mut rows = fired_warnings(7);
        rows.push(row(Transition::Resolved, Severity::Info, Some("Z-1"), "r"));
        rows.push(row(Transition::Resolved, Severity::Info, Some("Z-2"), "r"));
        let content = plain(&digest(rows), 3);
        for body in [&content.text, &content.html] {
            assert!(body.contains("A-2"));
            assert!(!body.contains("A-3"));
            assert!(!body.contains("Z-1"));
            assert!(body.contains("… and 6 more alerts"), "{body}");
            assert!(
                body.contains("Warning (7)") || body.contains("WARNING (7)"),
                "{body}"
            );
            assert!(
                body.contains("Resolved (2)") || body.contains("RESOLVED (2)"),
                "{body}"
            );
        }
        let csv = String::from_utf8(content.csv).unwrap();
        assert_eq!(csv.lines().count(), 10, "{csv}");
        assert!(csv.contains("A-6"));
        assert!(csv.contains("Z-2"));
        assert_eq!(content.csv_name, "balance-monitor-morning-ach-run-42.csv");
    }

    #[test]
    fn test_digests_carry_a_banner_in_both_bodies() {
        let mut d = digest(vec![row(Transition::Fired, Severity::Info, Some("X"), "r")]);
        d.test = true;
        d.run = None;
        let content = plain(&d, 10);
        assert!(content.subject.starts_with("[TEST] "));
        assert!(content.text.starts_with("[TEST] TEST NOTIFICATION"));
        assert!(content.html.contains("<strong>[TEST]</strong>"));
        assert!(content.text.contains("no run"));
        assert_eq!(content.csv_name, "balance-monitor-morning-ach-test.csv");
    }

    #[test]
    fn csv_quotes_properly_and_defuses_formulas() {
        let mut r = row(
            Transition::Fired,
            Severity::Critical,
            Some("=HYPERLINK(\"x\")"),
            "r",
        );
        r.reason = "line one\nline \"two\", with comma".into();
        r.metadata = vec![("loan_id".into(), "@SUM(A1)".into())];
        let mut run_level = row(Transition::Resolved, Severity::Critical, None, "run_failed");
        run_level.metadata.clear();
        run_level.balance_before = None;
        let d = digest(vec![r, run_level]);
        let bytes = csv(&d);
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(
            headers,
            [
                "transition",
                "severity",
                "authorizer_id",
                "meta_loan_id",
                "balance_before",
                "balance_after",
                "rule",
                "reason"
            ]
        );
        let records: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0][2], "'=HYPERLINK(\"x\")");
        assert_eq!(records[0][3], "'@SUM(A1)");
        assert_eq!(records[0][4], "1234.56");
        assert_eq!(records[0][5], "-83.68");
        assert_eq!(records[0][7], "line one\nline \"two\", with comma");
        assert_eq!(
            records[1][..6],
            ["resolved", "critical", "", "", "", "-83.68"]
        );
    }
}
