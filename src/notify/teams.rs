//! Microsoft Teams: one Adaptive Card per run per route, posted to a Workflows webhook.
//!
//! The card declares Adaptive Card version 1.5 and uses only what 1.5 defines:
//! `TextBlock`, `FactSet`, `Table` (with `TableRow` and `TableCell`) and
//! `Action.OpenUrl`. It holds the headline (worst news first), the counts, the run, a
//! table of the top rows per section (severity in color and in words, the authorizer,
//! the rule, the balances and the labelled `alert_fields`) and "and N more". The body
//! posted is a Workflows message (`type: message` with one attachment of content type
//! `application/vnd.microsoft.card.adaptive`), and it stays under 28 KB measured on the
//! serialized bytes: the rows shown are cut, never the card's frame, until it fits.
//!
//! Delivery: at most one card a second per webhook; `2xx` (Workflows answers `202`) is
//! delivered; 408, 429 and 5xx are transient, any other status permanent. The URL is a
//! secret: scrubbed from every answer, never named.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::config::Severity;
use crate::notify::digest::{Digest, DigestRow, FieldLabel, Transition};
use crate::notify::post::Answer;
use crate::notify::{Links, webhook};

/// The Adaptive Card version the card declares.
pub const CARD_VERSION: &str = "1.5";
/// The body is kept under this many bytes (Teams refuses 28 KB and more).
pub const MAX_BODY_BYTES: usize = 28_000;
/// A cell shows at most this many characters.
const MAX_CELL_CHARS: usize = 120;

/// The Workflows message for `digest` as the bytes posted: as many of the first
/// `max_rows` rows as fit under [`MAX_BODY_BYTES`].
pub fn message(digest: &Digest, max_rows: usize, links: Links<'_>) -> Bytes {
    let total = digest.rows.len();
    let mut shown = max_rows.min(total);
    loop {
        let body = serde_json::to_vec(&envelope(card(digest, shown, links)))
            .expect("a card of strings serializes");
        if body.len() < MAX_BODY_BYTES || shown == 0 {
            return Bytes::from(body);
        }
        // Rows take most of the bytes: scale down, and always by at least one row.
        let scaled = shown * (MAX_BODY_BYTES - 2_000) / body.len();
        shown = scaled.min(shown - 1);
    }
}

fn envelope(card: Value) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// The card with at most `max_rows` rows.
pub fn card(digest: &Digest, max_rows: usize, links: Links<'_>) -> Value {
    let counts = digest.counts();
    let test = if digest.test { "[TEST] " } else { "" };
    let worst = crate::notify::digest::SEVERITIES
        .into_iter()
        .find(|&s| counts.firing_with(s) > 0);
    let mut body = vec![
        json!({
            "type": "TextBlock",
            "text": format!("{test}{}: {}", counts.headline(), digest.monitor),
            "size": "Large",
            "weight": "Bolder",
            "wrap": true,
            "color": worst.map_or("Good", color),
        }),
        json!({ "type": "TextBlock", "text": counts.summary(), "wrap": true }),
        json!({
            "type": "FactSet",
            "facts": [
                { "title": "Monitor", "value": digest.monitor },
                { "title": "Run", "value": digest.run_text() },
                { "title": "Time", "value": digest.run_time_text() },
            ],
        }),
    ];
    if digest.test {
        body.push(json!({
            "type": "TextBlock",
            "text": "A test from balance-monitor: these alerts are examples.",
            "wrap": true,
            "isSubtle": true,
        }));
    }
    let columns = digest.columns();
    let mut omitted = 0;
    for section in digest.sections(max_rows) {
        omitted += section.omitted;
        if section.rows.is_empty() {
            continue;
        }
        body.push(json!({
            "type": "TextBlock",
            "text": format!("{} ({})", section.transition.heading(), section.total()),
            "weight": "Bolder",
            "spacing": "Large",
            "wrap": true,
        }));
        body.push(table(&section.rows, &columns, links));
    }
    if omitted > 0 {
        let dashboard = links.home().map(|home| format!("[the dashboard]({home})"));
        let more = crate::notify::digest::more_elsewhere(omitted, dashboard);
        body.push(json!({ "type": "TextBlock", "text": more, "wrap": true }));
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": { "width": "Full" },
    });
    if let Some(url) = links.run(digest.run) {
        card["actions"] = json!([{
            "type": "Action.OpenUrl",
            "title": format!("Open {}", digest.run_text()),
            "url": url.as_str(),
        }]);
    }
    card
}

/// The section's rows as a table: a header row, then one row per alert.
fn table(rows: &[&DigestRow], columns: &[FieldLabel], links: Links<'_>) -> Value {
    let mut headers = vec!["Severity", "Authorizer", "Rule", "Balance"];
    headers.extend(columns.iter().map(|c| c.label.as_str()));
    let header = json!({
        "type": "TableRow",
        "style": "emphasis",
        "cells": headers.iter().map(|h| cell(h, None, true)).collect::<Vec<_>>(),
    });
    let mut table_rows = vec![header];
    for row in rows {
        let (marker, tint) = match row.transition {
            Transition::Resolved => ("✓", "Good"),
            _ => ("●", color(row.severity)),
        };
        let subject = match links.authorizer(row.authorizer_id.as_deref()) {
            Some(url) => format!("[{}]({url})", markdown_text(row.subject_text())),
            None => markdown_text(row.subject_text()),
        };
        let mut cells = vec![
            cell(
                &format!("{marker} {}", row.severity.as_str()),
                Some(tint),
                true,
            ),
            cell(&subject, None, false),
            cell(&markdown_text(&row.rule), None, false),
            cell(&markdown_text(&row.balance_change_text()), None, false),
        ];
        cells.extend(columns.iter().map(|c| {
            cell(
                &markdown_text(&row.field_text(c).unwrap_or_default()),
                None,
                false,
            )
        }));
        table_rows.push(json!({ "type": "TableRow", "cells": cells }));
    }
    json!({
        "type": "Table",
        "firstRowAsHeader": true,
        "showGridLines": true,
        "columns": (0..headers.len()).map(|_| json!({ "width": 1 })).collect::<Vec<_>>(),
        "rows": table_rows,
    })
}

fn cell(text: &str, color: Option<&str>, bold: bool) -> Value {
    let mut block = json!({ "type": "TextBlock", "text": cut(text), "wrap": true });
    if let Some(color) = color {
        block["color"] = json!(color);
    }
    if bold {
        block["weight"] = json!("Bolder");
    }
    json!({ "type": "TableCell", "items": [block] })
}

/// Adaptive Card colors: critical `Attention` (red), warning `Warning` (amber), info
/// `Accent` (blue).
fn color(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "Attention",
        Severity::Warning => "Warning",
        Severity::Info => "Accent",
    }
}

/// Text with the markdown characters a TextBlock would interpret escaped.
fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in crate::text::one_line(text).chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '`' | '<' | '>'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_CELL_CHARS {
        return text.to_string();
    }
    let mut short: String = text.chars().take(MAX_CELL_CHARS - 1).collect();
    short.push('…');
    short
}

/// Whether an answer other than `2xx` rules out another attempt: any status
/// other than 408, 429 and 5xx.
pub(crate) fn is_permanent(answer: &Answer) -> bool {
    !webhook::is_transient_status(answer.answer.status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::digest::tests::{digest, fired_warnings};

    #[test]
    fn a_large_digest_fits_under_28_kb_and_counts_the_rest() {
        let d = digest(fired_warnings(5000));
        let bytes = message(&d, 10_000, Links::default());
        assert!(bytes.len() < MAX_BODY_BYTES, "{}", bytes.len());
        let json: Value = serde_json::from_slice(&bytes).unwrap();
        let card = &json["attachments"][0]["content"];
        assert_eq!(card["version"], CARD_VERSION);
        let body = card["body"].as_array().unwrap();
        let rows = body
            .iter()
            .filter(|b| b["type"] == "Table")
            .map(|t| t["rows"].as_array().unwrap().len() - 1)
            .sum::<usize>();
        assert!(rows > 10, "{rows}");
        let more = body.last().unwrap()["text"].as_str().unwrap();
        assert!(
            more.contains(&crate::notify::digest::more_text(5000 - rows)),
            "{more}"
        );
    }
}
