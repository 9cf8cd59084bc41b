//! Slack: one Block Kit message per run per route, posted to an incoming webhook.
//!
//! The message is a header (the subject's headline: worst news first), the counts and
//! the run, then the rows as section blocks (one mrkdwn line per alert, most severe
//! first), and "and N more" pointing to `balance-monitor alerts` and, when
//! `http.public_url` is set, the dashboard. It keeps to Slack's limits: at most 50
//! blocks, 150 characters of header text and 3,000 characters of text per section, and
//! a body under 40,000 bytes (Slack cuts a message's text beyond 40,000 characters).
//! Rows that do not fit are counted into "and N more", never cut in half.
//!
//! Everything from outside (ids, fields, reasons, the monitor's name) is escaped as
//! Slack asks (`&`, `<`, `>`), so it can neither mention `@channel` nor forge a link.
//!
//! Delivery: at most one message a second per webhook (the [`Pacer`]); `2xx` is
//! delivered; a `429` pushes the webhook's next slot back by its `Retry-After` and is
//! retried by the outbox no sooner; Slack's answers `invalid_payload`, `no_text`,
//! `channel_not_found` (and the other refusals listed in [`PERMANENT_ERRORS`]) are
//! permanent; other statuses follow the webhook rules (408, 429, 5xx transient). The
//! webhook URL is a secret: it is scrubbed from every answer and never named.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::config::Severity;
use crate::notify::digest::{Digest, DigestRow, Transition};
use crate::notify::post::Answer;
use crate::notify::{Links, webhook};

/// Slack's limits.
pub const MAX_BLOCKS: usize = 50;
pub const MAX_SECTION_TEXT: usize = 3000;
pub const MAX_HEADER_TEXT: usize = 150;
/// The body is kept under this many bytes.
pub const MAX_BODY_BYTES: usize = 40_000;

/// Slack's answers that no retry can change.
pub const PERMANENT_ERRORS: [&str; 9] = [
    "invalid_payload",
    "no_text",
    "channel_not_found",
    "channel_is_archived",
    "action_prohibited",
    "posting_to_general_channel_denied",
    "invalid_token",
    "no_service",
    "team_disabled",
];

/// The blocks kept for the header, the counts and "and N more".
const FRAME_BLOCKS: usize = 3;
/// What a block adds to the body beside its text.
const BLOCK_OVERHEAD: usize = 80;

/// The message for `digest`, with at most `max_rows` rows, as the bytes posted.
pub fn message(digest: &Digest, max_rows: usize, links: Links<'_>) -> Bytes {
    let counts = digest.counts();
    let test = if digest.test { "[TEST] " } else { "" };
    let headline = format!("{test}{}: {}", counts.headline(), digest.monitor);
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": cut(&headline, MAX_HEADER_TEXT), "emoji": true },
    })];
    let run = match links.run(digest.run) {
        Some(url) => format!("<{url}|{}>", escape(&digest.run_text())),
        None => escape(&digest.run_text()),
    };
    let mut summary = format!(
        "*{}*\n{} · {run} · {}",
        escape(&counts.summary()),
        escape(&digest.monitor),
        escape(&digest.run_time_text())
    );
    if digest.test {
        summary.push_str("\n_A test from balance-monitor: these alerts are examples._");
    }
    blocks.push(section(&cut(&summary, MAX_SECTION_TEXT)));

    let mut bytes: usize = blocks.iter().map(|b| b.to_string().len()).sum::<usize>() + 600;
    let columns = digest.columns();
    let mut omitted = 0;
    let mut full = false;
    for part in digest.sections(max_rows) {
        omitted += part.omitted;
        if part.rows.is_empty() {
            continue;
        }
        let heading = format!("*{} ({})*", part.transition.heading(), part.total());
        let mut text = heading.clone();
        let mut shown = 0;
        for row in &part.rows {
            let line = cut(
                &row_line(row, &columns, links),
                MAX_SECTION_TEXT - heading.len() - 1,
            );
            let fits_block = text.len() + 1 + line.len() <= MAX_SECTION_TEXT;
            let fits_body = bytes + text.len() + line.len() + 2 * BLOCK_OVERHEAD <= MAX_BODY_BYTES;
            if full || !fits_body {
                full = true;
                break;
            }
            if !fits_block {
                if blocks.len() + 1 >= MAX_BLOCKS - (FRAME_BLOCKS - 2) {
                    full = true;
                    break;
                }
                bytes += text.len() + BLOCK_OVERHEAD;
                blocks.push(section(&text));
                text = String::new();
            }
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&line);
            shown += 1;
        }
        omitted += part.rows.len() - shown;
        if shown > 0 && blocks.len() < MAX_BLOCKS - 1 {
            bytes += text.len() + BLOCK_OVERHEAD;
            blocks.push(section(&text));
        }
    }
    if omitted > 0 {
        let dashboard = links.home().map(|home| format!("<{home}|the dashboard>"));
        let more = crate::notify::digest::more_elsewhere(omitted, dashboard);
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": more }],
        }));
    }
    let body = json!({ "text": escape(&headline), "blocks": blocks });
    Bytes::from(serde_json::to_vec(&body).expect("a message of strings serializes"))
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

/// One alert on one line: marker, severity, the authorizer (linked to its page when
/// there is one), the rule, the balances, the labelled fields, and why.
fn row_line(
    row: &DigestRow,
    columns: &[crate::notify::digest::FieldLabel],
    links: Links<'_>,
) -> String {
    let marker = match (row.transition, row.severity) {
        (Transition::Resolved, _) => ":white_check_mark:",
        (_, Severity::Critical) => ":red_circle:",
        (_, Severity::Warning) => ":large_orange_circle:",
        (_, Severity::Info) => ":large_blue_circle:",
    };
    let subject = escape(row.subject_text());
    let subject = match links.authorizer(row.authorizer_id.as_deref()) {
        Some(url) => format!("<{url}|{subject}>"),
        None => format!("*{subject}*"),
    };
    let mut line = format!(
        "{marker} *{}* · {subject} · {} · {}",
        row.severity.as_str(),
        escape(&row.rule),
        escape(&row.balance_change_text())
    );
    for column in columns {
        if let Some(value) = row.field_text(column) {
            line.push_str(&format!(" · {}: {}", escape(&column.label), escape(&value)));
        }
    }
    line.push_str(&format!(
        " — {}",
        escape(&crate::text::one_line(&row.reason))
    ));
    line
}

/// Slack's escaping of text: `&`, `<` and `>`.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` bytes of `text`, cut at a character boundary with `…`.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Whether an answer other than `2xx` rules out another attempt: Slack's refusals in [`PERMANENT_ERRORS`] whatever the status, and any status
/// other than 408, 429 and 5xx.
pub(crate) fn is_permanent(answer: &Answer) -> bool {
    PERMANENT_ERRORS.contains(&answer.body.trim())
        || !webhook::is_transient_status(answer.answer.status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::digest::tests::{digest, fired_warnings, row};

    fn parsed(bytes: &Bytes) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn a_large_digest_keeps_to_every_limit_and_counts_the_rest() {
        let d = digest(fired_warnings(5000));
        let bytes = message(&d, 10_000, Links::default());
        assert!(bytes.len() <= MAX_BODY_BYTES, "{}", bytes.len());
        let json = parsed(&bytes);
        let blocks = json["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS, "{}", blocks.len());
        let mut lines = 0;
        for block in blocks {
            if block["type"] == "section" {
                let text = block["text"]["text"].as_str().unwrap();
                assert!(text.chars().count() <= MAX_SECTION_TEXT);
                lines += text.lines().filter(|l| l.contains("A-")).count();
            }
        }
        let more = blocks.last().unwrap()["elements"][0]["text"]
            .as_str()
            .unwrap();
        assert!(
            more.contains(&crate::notify::digest::more_text(5000 - lines)),
            "{more}"
        );
        assert!(more.contains("balance-monitor alerts"));
        assert!(lines > 50, "{lines} rows shown");
    }

    #[test]
    fn outside_text_is_escaped_and_links_follow_the_public_url() {
        let mut r = row(
            Transition::Fired,
            Severity::Critical,
            Some("A<1>"),
            "negative_balance",
        );
        r.reason = "<!channel> & more".into();
        let d = digest(vec![r]);
        let base: url::Url = "https://monitor.example/bm/".parse().unwrap();
        let links = Links {
            public_url: Some(&base),
        };
        let text = String::from_utf8(message(&d, 10, links).to_vec()).unwrap();
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(text.contains("&lt;!channel&gt; &amp; more"), "{text}");
        assert!(
            text.contains("<https://monitor.example/bm/authorizers/A%3C1%3E|A&lt;1&gt;>"),
            "{text}"
        );
        assert!(
            text.contains("<https://monitor.example/bm/runs/42|run 42>"),
            "{text}"
        );
    }
}
