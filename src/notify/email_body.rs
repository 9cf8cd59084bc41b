//! The content of a digest email: subject, plain-text body, HTML body and the CSV
//! attachment.
//!
//! Both bodies carry the same information in the same order: a `[TEST]` banner when it
//! applies, the monitor, run and time (in the monitor's zone, with UTC beside it), the
//! counts by severity, then one table per section (newly firing, still firing,
//! resolved) cut at the route's `max_rows` with "and N more". The CSV lists every row,
//! including those cut from the bodies. Everything that came from configuration or the
//! rules is escaped in HTML; the CSV is written by the `csv` crate, and text cells that
//! a spreadsheet would run as a formula are prefixed with `'`.
//!
//! This module builds strings and bytes only; `email` puts them in a MIME message and
//! sends it.

use crate::notify::digest::{Digest, DigestRow, SEVERITIES, Section, Transition};
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

const TEST_BANNER: &str = "TEST NOTIFICATION: sent to check this route's delivery. \
These alerts are examples, not real balances.";

/// Renders `digest` for email, showing at most `max_rows` rows in the bodies.
pub fn render(digest: &Digest, max_rows: usize) -> EmailContent {
    let csv_name = format!(
        "balance-monitor-{}-{}.csv",
        file_name_part(&digest.monitor),
        match digest.run {
            Some(run) => format!("run-{}", run.0),
            None => "test".to_string(),
        }
    );
    let sections = digest.sections(max_rows);
    EmailContent {
        subject: digest.subject(),
        text: text_body(digest, &sections, &csv_name),
        html: html_body(digest, &sections, &csv_name),
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

fn summary_line(digest: &Digest) -> String {
    let counts = digest.counts();
    format!(
        "Firing: {} ({} new, {} still firing). Resolved: {}.",
        counts.firing(),
        counts.of(Transition::Fired),
        counts.of(Transition::Reminder),
        counts.of(Transition::Resolved)
    )
}

/// The counts table: one row per severity, one column per transition.
fn counts_table(digest: &Digest) -> (Vec<String>, Vec<Vec<String>>) {
    let counts = digest.counts();
    let headers = ["Severity", "New", "Still firing", "Resolved"]
        .map(String::from)
        .to_vec();
    let rows = SEVERITIES
        .iter()
        .map(|&severity| {
            let mut row = vec![severity.as_str().to_string()];
            row.extend(
                Transition::ALL
                    .iter()
                    .map(|&t| counts.cell(t, severity).to_string()),
            );
            row
        })
        .collect();
    (headers, rows)
}

/// The columns of a section table: severity, authorizer, each metadata key, balance
/// before → after, rule, reason.
fn alert_table(keys: &[&str], rows: &[&DigestRow]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut headers = vec!["Severity".to_string(), "Authorizer".to_string()];
    headers.extend(keys.iter().map(|k| k.to_string()));
    headers.extend(["Balance before → after", "Rule", "Reason"].map(String::from));
    let rows = rows
        .iter()
        .map(|row| {
            let mut cells = vec![
                row.severity.as_str().to_string(),
                row.subject_text().to_string(),
            ];
            cells.extend(
                keys.iter()
                    .map(|k| row.metadata_value(k).unwrap_or("").to_string()),
            );
            cells.push(row.balance_change_text());
            cells.push(row.rule.clone());
            cells.push(row.reason.clone());
            cells
        })
        .collect();
    (headers, rows)
}

/// "and N more" below a cut section, or "N not listed" when none of it fits.
fn more_text(section: &Section<'_>, csv_name: &str) -> String {
    if section.rows.is_empty() {
        format!(
            "{} not listed here (the row limit is reached); every row is in the attached {csv_name}",
            section.omitted
        )
    } else {
        format!(
            "… and {} more (every row is in the attached {csv_name})",
            section.omitted
        )
    }
}

// ---------------------------------------------------------------- plain text

fn text_body(digest: &Digest, sections: &[Section<'_>], csv_name: &str) -> String {
    let mut out = String::new();
    if digest.test {
        out.push_str(&format!("[TEST] {TEST_BANNER}\n\n"));
    }
    out.push_str(&format!(
        "balance-monitor: {}, {}\nRun time: {}\n\n",
        one_line(&digest.monitor),
        digest.run_text(),
        digest.run_time_text()
    ));
    out.push_str(&summary_line(digest));
    out.push_str("\n\n");
    let (headers, rows) = counts_table(digest);
    out.push_str(&text_table(&headers, &rows, 1));
    let keys = digest.metadata_keys();
    for section in sections.iter().filter(|s| s.total() > 0) {
        out.push_str(&format!(
            "\n{} ({})\n\n",
            section.transition.heading(),
            section.total()
        ));
        if !section.rows.is_empty() {
            let (headers, rows) = alert_table(&keys, &section.rows);
            out.push_str(&text_table(&headers, &rows, usize::MAX));
        }
        if section.omitted > 0 {
            out.push_str(&more_text(section, csv_name));
            out.push('\n');
        }
    }
    out.push_str(&format!(
        "\nThe attached {csv_name} lists all {} rows.\n",
        digest.counts().total()
    ));
    out
}

/// A plain-text table with two spaces between columns; columns from `right_from` on are
/// right-aligned (numbers). Cells are made single-line.
fn text_table(headers: &[String], rows: &[Vec<String>], right_from: usize) -> String {
    let cells: Vec<Vec<String>> = std::iter::once(headers.to_vec())
        .chain(rows.iter().cloned())
        .map(|row| row.iter().map(|c| one_line(c)).collect())
        .collect();
    let mut widths = vec![0; headers.len()];
    for row in &cells {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &cells {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = widths[i] - cell.chars().count();
            if i >= right_from {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------- HTML

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const TABLE: &str = r#"<table cellpadding="4" cellspacing="0" border="1" style="border-collapse: collapse; font-size: 14px">"#;

fn html_table(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut out = String::from(TABLE);
    out.push_str("<thead><tr>");
    for header in headers {
        out.push_str(&format!(
            r#"<th align="left" style="background: #eeeeee">{}</th>"#,
            escape_html(header)
        ));
    }
    // A line a row: the message's bodies are 8bit where they can be, and a line of
    // 8bit text may hold at most 998 bytes.
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str(&format!("<td>{}</td>", escape_html(cell)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    out
}

fn html_body(digest: &Digest, sections: &[Section<'_>], csv_name: &str) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"font-family: sans-serif\">\n",
        escape_html(&digest.subject())
    );
    if digest.test {
        out.push_str(&format!(
            "<p style=\"background: #fff3cd; border: 2px solid #e0a800; padding: 8px\">\
             <strong>[TEST]</strong> {}</p>\n",
            escape_html(TEST_BANNER)
        ));
    }
    out.push_str(&format!(
        "<h2>balance-monitor: {}</h2>\n<p>{}, {}</p>\n<p>{}</p>\n",
        escape_html(&digest.monitor),
        escape_html(&digest.run_text()),
        escape_html(&digest.run_time_text()),
        escape_html(&summary_line(digest))
    ));
    let (headers, rows) = counts_table(digest);
    out.push_str(&html_table(&headers, &rows));
    let keys = digest.metadata_keys();
    for section in sections.iter().filter(|s| s.total() > 0) {
        out.push_str(&format!(
            "<h3>{} ({})</h3>\n",
            escape_html(section.transition.heading()),
            section.total()
        ));
        if !section.rows.is_empty() {
            let (headers, rows) = alert_table(&keys, &section.rows);
            out.push_str(&html_table(&headers, &rows));
        }
        if section.omitted > 0 {
            out.push_str(&format!(
                "<p><em>{}</em></p>\n",
                escape_html(&more_text(section, csv_name))
            ));
        }
    }
    out.push_str(&format!(
        "<p>The attached {} lists all {} rows.</p>\n</body></html>\n",
        escape_html(csv_name),
        digest.counts().total()
    ));
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

    #[test]
    fn html_escapes_everything_that_came_from_outside() {
        let mut r = row(Transition::Fired, Severity::Critical, Some("<A&1>"), "r");
        r.reason = "balance < \"payment\" & 'margin'".into();
        r.metadata = vec![("loan_id".into(), "<script>alert(1)</script>".into())];
        let mut d = digest(vec![r]);
        d.monitor = "m<b>".into();
        let content = render(&d, 10);
        assert!(!content.html.contains("<script>"));
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
    }

    #[test]
    fn bodies_show_counts_sections_money_and_time() {
        use Transition::*;
        let d = digest(vec![
            row(Fired, Severity::Critical, Some("A-1"), "negative_balance"),
            row(Reminder, Severity::Warning, Some("A-2"), "balance_below"),
            row(Resolved, Severity::Info, Some("A-3"), "stale"),
        ]);
        let content = render(&d, 50);
        for body in [&content.text, &content.html] {
            assert!(body.contains("morning-ach"), "{body}");
            assert!(body.contains("run 42"), "{body}");
            assert!(
                body.contains("2025-03-14 06:30 EDT (2025-03-14 10:30 UTC)"),
                "{body}"
            );
            assert!(
                body.contains("Firing: 2 (1 new, 1 still firing). Resolved: 1."),
                "{body}"
            );
            assert!(body.contains("$1,234.56 → -$83.68"), "{body}");
            assert!(body.contains("Newly firing (1)"), "{body}");
            assert!(body.contains("Still firing (1)"), "{body}");
            assert!(body.contains("Resolved (1)"), "{body}");
            assert!(!body.contains("and 0 more"), "{body}");
            assert!(!body.contains("TEST"), "{body}");
        }
        // The counts come first, before any section.
        let counts_at = content.text.find("Severity  New").unwrap();
        assert!(counts_at < content.text.find("Newly firing").unwrap());
        assert!(
            content
                .text
                .contains("critical    1             0         0")
        );
    }

    #[test]
    fn a_large_digest_is_cut_with_and_n_more_but_the_csv_has_every_row() {
        let mut rows = fired_warnings(7);
        rows.push(row(Transition::Resolved, Severity::Info, Some("Z-1"), "r"));
        rows.push(row(Transition::Resolved, Severity::Info, Some("Z-2"), "r"));
        let content = render(&digest(rows), 3);
        for body in [&content.text, &content.html] {
            assert!(body.contains("A-2"));
            assert!(!body.contains("A-3"));
            assert!(!body.contains("Z-1"));
            assert!(body.contains("… and 4 more"));
            assert!(body.contains("Newly firing (7)"));
            assert!(body.contains("Resolved (2)"));
            assert!(body.contains("2 not listed here"));
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
        let content = render(&d, 10);
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
