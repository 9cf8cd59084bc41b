//! The HTML body of a digest email: one column at most 640 px wide, readable in a
//! narrow mail client and in dark mode.
//!
//! Mail clients keep inline styles and drop most else, so every color is inline, and a
//! `prefers-color-scheme: dark` block (with `!important`, the only way past an inline
//! style) recolors the page for clients that honour it; `color-scheme` meta tags tell
//! the others that the message supports both. Each severity has a color and its word
//! (a colored mark alone would fail a color-blind reader and a grey-scale print).
//! Everything from outside is escaped. Every line stays under 998 bytes, since the
//! message is sent 8bit where it can be. No script, no image, no remote resource.

use super::email_layout::{Layout, TEST_BANNER, capitalized, fields_text, transition_word};
use crate::config::Severity;
use crate::notify::digest::DigestRow;

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

/// One severity's look: the accent (border and word), the tint behind a row, and the
/// class the dark-mode block recolors.
struct Look {
    accent: &'static str,
    tint: &'static str,
    class: &'static str,
}

fn look(severity: Option<Severity>) -> Look {
    match severity {
        Some(Severity::Critical) => Look {
            accent: "#c62828",
            tint: "#fdecea",
            class: "bm-critical",
        },
        Some(Severity::Warning) => Look {
            accent: "#9a6700",
            tint: "#fff8c5",
            class: "bm-warning",
        },
        Some(Severity::Info) => Look {
            accent: "#0969da",
            tint: "#ddf4ff",
            class: "bm-info",
        },
        None => Look {
            accent: "#1a7f37",
            tint: "#dafbe1",
            class: "bm-resolved",
        },
    }
}

const STYLE: &str = "<style>
body { margin: 0; padding: 0; }
a { color: #0b57d0; }
@media (prefers-color-scheme: dark) {
  body, .bm-page { background: #0d1117 !important; }
  .bm-card { background: #161b22 !important; color: #e6edf3 !important; }
  .bm-muted { color: #9da7b3 !important; }
  a { color: #8ab4f8 !important; }
  .bm-critical { background: #3b1416 !important; border-color: #ff7b72 !important; }
  .bm-critical .bm-word { color: #ff7b72 !important; }
  .bm-warning { background: #3a2e05 !important; border-color: #e3b341 !important; }
  .bm-warning .bm-word { color: #e3b341 !important; }
  .bm-info { background: #0c2a47 !important; border-color: #79c0ff !important; }
  .bm-info .bm-word { color: #79c0ff !important; }
  .bm-resolved { background: #0f2f1c !important; border-color: #56d364 !important; }
  .bm-resolved .bm-word { color: #56d364 !important; }
  .bm-test { background: #3a2e05 !important; color: #f2cc60 !important; }
}
@media (max-width: 480px) {
  .bm-pad { padding-left: 12px !important; padding-right: 12px !important; }
}
</style>";

pub(crate) fn html_body(layout: &Layout<'_>) -> String {
    let digest = layout.digest;
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta name=\"supported-color-schemes\" content=\"light dark\">\n\
         <title>{}</title>\n{STYLE}\n</head>\n\
         <body class=\"bm-page\" style=\"margin: 0; padding: 0; background: #f3f4f6\">\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" class=\"bm-page\" style=\"background: #f3f4f6\">\n\
         <tr><td align=\"center\" style=\"padding: 16px 8px\">\n\
         <table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" class=\"bm-card\" \
         style=\"max-width: 640px; background: #ffffff; color: #1f2328; border-radius: 8px; \
         font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; font-size: 15px; line-height: 1.45\">\n",
        escape_html(&digest.subject())
    );
    if digest.test {
        out.push_str(&format!(
            "<tr><td class=\"bm-pad bm-test\" style=\"padding: 12px 20px; background: #fff3cd; color: #6b4e00; border-radius: 8px 8px 0 0\">\
             <strong>[TEST]</strong> {}</td></tr>\n",
            escape_html(TEST_BANNER)
        ));
    }
    let run = match &layout.run_url {
        Some(url) => format!(
            "<a href=\"{}\">{}</a>",
            escape_html(url.as_str()),
            escape_html(&digest.run_text())
        ),
        None => escape_html(&digest.run_text()),
    };
    out.push_str(&format!(
        "<tr><td class=\"bm-pad\" style=\"padding: 20px 20px 8px\">\n\
         <div class=\"bm-muted\" style=\"color: #57606a; font-size: 13px\">balance-monitor · {}</div>\n\
         <h1 style=\"font-size: 21px; line-height: 1.3; margin: 4px 0 6px\">{}</h1>\n\
         <div style=\"font-size: 15px; font-weight: 600\">{}</div>\n\
         <div class=\"bm-muted\" style=\"color: #57606a; font-size: 13px; margin-top: 4px\">{run} · {}</div>\n\
         </td></tr>\n",
        escape_html(&digest.monitor),
        escape_html(&layout.headline),
        escape_html(&layout.summary),
        escape_html(&digest.run_time_text()),
    ));
    for group in &layout.groups {
        let look = look(group.severity);
        let word = match group.severity {
            Some(severity) => capitalized(severity.as_str()),
            None => "Resolved".to_string(),
        };
        out.push_str(&format!(
            "<tr><td class=\"bm-pad\" style=\"padding: 16px 20px 4px\">\
             <h2 class=\"{}\" style=\"font-size: 16px; margin: 0; padding: 2px 0 2px 10px; border-left: 6px solid {}; background: transparent\">\
             <span class=\"bm-word\" style=\"color: {}\">■ {}</span></h2></td></tr>\n",
            look.class,
            look.accent,
            look.accent,
            escape_html(&group.heading.replacen(&word, &word.to_uppercase(), 1)),
        ));
        for row in &group.rows {
            out.push_str(&row_html(row, layout, &look));
        }
        if group.rows.is_empty() {
            out.push_str(
                "<tr><td class=\"bm-pad bm-muted\" style=\"padding: 4px 20px; color: #57606a\">\
                 Not listed here: the row limit is reached.</td></tr>\n",
            );
        }
    }
    if let Some(more) = &layout.more {
        out.push_str(&format!(
            "<tr><td class=\"bm-pad\" style=\"padding: 12px 20px 0\"><em>{}</em></td></tr>\n",
            escape_html(more)
        ));
    }
    out.push_str(&format!(
        "<tr><td class=\"bm-pad bm-muted\" style=\"padding: 16px 20px 20px; color: #57606a; font-size: 13px\">{}</td></tr>\n\
         </table>\n</td></tr></table>\n</body></html>\n",
        escape_html(&layout.footer)
    ));
    out
}

fn row_html(row: &DigestRow, layout: &Layout<'_>, look: &Look) -> String {
    let subject = escape_html(row.subject_text());
    let subject = match layout.links.authorizer(row.authorizer_id.as_deref()) {
        Some(url) => format!(
            "<a href=\"{}\" style=\"font-weight: 700\">{subject}</a>",
            escape_html(url.as_str())
        ),
        None => format!("<strong>{subject}</strong>"),
    };
    let fields = fields_text(row, &layout.columns);
    let fields = match fields.is_empty() {
        true => String::new(),
        false => format!("<div>{}</div>\n", escape_html(&fields)),
    };
    format!(
        "<tr><td class=\"bm-pad\" style=\"padding: 6px 20px\">\n\
         <div class=\"{}\" style=\"border-left: 4px solid {}; background: {}; padding: 8px 12px; border-radius: 4px\">\n\
         <div><span class=\"bm-word\" style=\"color: {}; font-weight: 700; font-size: 12px; letter-spacing: 0.04em\">{}</span> \
         {subject} <span class=\"bm-muted\" style=\"color: #57606a; font-size: 13px\">· {}</span></div>\n\
         <div>{} · <span style=\"white-space: nowrap\">{}</span></div>\n{fields}\
         <div class=\"bm-muted\" style=\"color: #57606a; font-size: 13px\">{}</div>\n\
         </div></td></tr>\n",
        look.class,
        look.accent,
        look.tint,
        look.accent,
        escape_html(&row.severity.as_str().to_uppercase()),
        escape_html(transition_word(row)),
        escape_html(&row.rule),
        escape_html(&row.balance_change_text()),
        escape_html(&row.reason),
    )
}
