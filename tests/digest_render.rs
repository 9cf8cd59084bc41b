//! The digest email as a reader sees it: the HTML part of a digest like the demo's
//! (below-payment, negative and low balances, a failed check, two resolutions; loan and
//! payment fields under their labels) rendered by headless Chromium, light and dark, on
//! a phone-sized and a desktop-sized window.
//!
//! A probe script, added to a copy of the page only, reports what rendered: the visible
//! text, every amount of money in it, every link, the card's background and the
//! critical mark's color, and whether the page scrolls sideways. The test checks the
//! subject's order (worst news first), one money format everywhere (no bare `275.00`
//! beside `$180.00`), the links to the run and each borrower when `http.public_url` is
//! set (and none without it), dark mode taking effect, and no sideways scrolling at
//! 390 px. The screenshots are kept in `target/tmp/digest-screenshots/` to be looked at.

use std::path::{Path, PathBuf};

use balance_monitor::config::Severity;
use balance_monitor::domain::{Cents, RunId};
use balance_monitor::notify::digest::{FieldLabel, FiringGroup};
use balance_monitor::notify::email_body::render;
use balance_monitor::notify::{Digest, DigestRow, Links, Transition};
use chrono::{TimeZone, Utc};
use serde_json::Value;

use crate::support::chromium_shot::{View, dump_dom, png_size, screenshot};

/// A digest like the demo's third run: three critical, two warning, two resolved.
fn demo_digest() -> Digest {
    let row = |transition,
               severity,
               id: &str,
               rule: &str,
               before: Option<i64>,
               after: Option<i64>,
               payment: &str,
               reason: &str| {
        DigestRow {
            transition,
            severity,
            authorizer_id: Some(id.to_string()),
            metadata: vec![
                ("loan_id".to_string(), format!("LN-{}", &id[2..])),
                ("payment_amount".to_string(), payment.to_string()),
            ],
            balance_before: before.map(Cents),
            balance_after: after.map(Cents),
            rule: rule.to_string(),
            reason: reason.to_string(),
        }
    };
    use Transition::*;
    let rows = vec![
        row(
            Fired,
            Severity::Critical,
            "A-1004",
            "negative_balance",
            Some(4_210),
            Some(-8_368),
            "180.00",
            "balance -$83.68 is negative",
        ),
        row(
            Fired,
            Severity::Critical,
            "A-1007",
            "check_failed",
            Some(52_000),
            None,
            "310.00",
            "the check failed: account closed (code 5)",
        ),
        row(
            Reminder,
            Severity::Critical,
            "A-1002",
            "below_payment",
            Some(19_900),
            Some(12_000),
            "275.00",
            "balance $120.00 is below $300.00",
        ),
        row(
            Fired,
            Severity::Warning,
            "A-1009",
            "balance_below",
            Some(61_050),
            Some(14_100),
            "95.50",
            "balance $141.00 is below $150.00",
        ),
        row(
            Fired,
            Severity::Warning,
            "A-1011",
            "drop_percent",
            Some(250_000),
            Some(123_456),
            "1250.00",
            "balance fell 50.6% from $2,500.00 to $1,234.56",
        ),
        row(
            Resolved,
            Severity::Warning,
            "A-1003",
            "balance_below",
            Some(9_000),
            Some(48_000),
            "140.00",
            "balance $480.00 is no longer below $150.00",
        ),
        row(
            Resolved,
            Severity::Critical,
            "A-1005",
            "negative_balance",
            Some(-1_200),
            Some(30_000),
            "60.00",
            "balance $300.00 is no longer negative",
        ),
    ];
    Digest {
        monitor: "morning-ach".to_string(),
        run: Some(RunId(3)),
        run_time: Utc.with_ymd_and_hms(2026, 11, 4, 11, 30, 0).unwrap(),
        zone: chrono_tz::America::New_York,
        firing: vec![
            FiringGroup {
                rule: "negative_balance".into(),
                severity: Severity::Critical,
                count: 1,
            },
            FiringGroup {
                rule: "check_failed".into(),
                severity: Severity::Critical,
                count: 1,
            },
            FiringGroup {
                rule: "below_payment".into(),
                severity: Severity::Critical,
                count: 1,
            },
            FiringGroup {
                rule: "balance_below".into(),
                severity: Severity::Warning,
                count: 1,
            },
            FiringGroup {
                rule: "drop_percent".into(),
                severity: Severity::Warning,
                count: 1,
            },
        ],
        fields: vec![
            FieldLabel {
                field: "loan_id".into(),
                label: "Loan".into(),
                money: false,
            },
            FieldLabel {
                field: "payment_amount".into(),
                label: "Payment".into(),
                money: true,
            },
        ],
        rows,
        test: false,
    }
}

/// Reports what rendered into `<pre id="probe">`, as JSON.
const PROBE: &str = r#"<script>
(function () {
  const text = document.body.innerText;
  const amount = /-?\$[0-9][0-9,]*\.[0-9]{2}/g;
  const probe = {
    text: text,
    money: text.match(amount) || [],
    bare: text.replace(amount, "").match(/(^|[^0-9.,%])[0-9]+\.[0-9]{2}(?![0-9%])/g) || [],
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.getAttribute("href")),
    card: getComputedStyle(document.querySelector(".bm-card")).backgroundColor,
    critical: getComputedStyle(document.querySelector(".bm-critical .bm-word")).color,
    sideways: document.documentElement.scrollWidth > window.innerWidth,
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(probe);
  document.body.appendChild(pre);
})();
</script>"#;

fn probe(page: &Path, view: View) -> Value {
    let dom = dump_dom(page, view);
    let start = dom.find("<pre id=\"probe\">").expect("the probe ran") + "<pre id=\"probe\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let json = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// `rgb(r, g, b)` → its brightness, 0 to 255.
fn brightness(css: &str) -> u32 {
    let numbers: Vec<u32> = css
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .take(3)
        .map(|n| n.trim().parse().unwrap())
        .collect();
    (numbers[0] * 299 + numbers[1] * 587 + numbers[2] * 114) / 1000
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("digest-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_demo_digest_reads_well_in_chromium_light_and_dark_narrow_and_wide() {
    let digest = demo_digest();
    let public: url::Url = "https://monitor.lender.example/balance/".parse().unwrap();
    let linked = render(
        &digest,
        50,
        Links {
            public_url: Some(&public),
        },
    );
    let unlinked = render(&digest, 50, Links::default());
    assert_eq!(
        linked.subject,
        "3 critical, 2 warning, 2 resolved: morning-ach [balance-monitor]"
    );

    let dir = tempfile::tempdir().unwrap();
    let shots = screenshots_dir();
    let page = |name: &str, html: &str| {
        std::fs::write(shots.join(format!("{name}.html")), html).unwrap();
        let path = dir.path().join(format!("{name}.html"));
        std::fs::write(&path, html.replace("</body>", &format!("{PROBE}</body>"))).unwrap();
        path
    };
    let linked_page = page("digest", &linked.html);
    let unlinked_page = page("digest-unlinked", &unlinked.html);
    let plain_page = shots.join("digest.html");

    let mut cards = Vec::new();
    for (width, dark) in [(390, false), (390, true), (900, false), (900, true)] {
        let view = View {
            width,
            height: 1400,
            dark,
        };
        let name = format!("digest-{width}-{}", if dark { "dark" } else { "light" });
        let png = shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&png);
        screenshot(&plain_page, view, &png);
        assert_eq!(png_size(&png).0, width, "{name}");

        let seen = probe(&linked_page, view);
        let text = seen["text"].as_str().unwrap();
        // The headline leads, worst news first, then the counts, then the groups.
        let at = |needle: &str| {
            text.find(needle)
                .unwrap_or_else(|| panic!("{needle:?} not in {text}"))
        };
        assert!(
            at("3 critical, 2 warning, 2 resolved: morning-ach")
                < at("4 new, 1 still firing (1 reminded now), 2 resolved")
        );
        assert!(at("CRITICAL (3)") < at("WARNING (2)"), "{text}");
        assert!(at("WARNING (2)") < at("RESOLVED (2)"), "{text}");
        // One money format: the payment column reads like every other amount.
        let money: Vec<&str> = seen["money"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        for amount in [
            "$180.00",
            "$275.00",
            "$1,250.00",
            "$95.50",
            "-$83.68",
            "$1,234.56",
        ] {
            assert!(money.contains(&amount), "{amount} not in {money:?}");
        }
        assert_eq!(
            seen["bare"],
            Value::Array(vec![]),
            "amounts without the money format: {text}"
        );
        assert!(
            text.contains("Payment: $275.00") && text.contains("Loan: LN-1002"),
            "{text}"
        );
        assert!(!text.contains("payment_amount"), "{text}");
        // Links: the run, and each borrower's page.
        let links: Vec<&str> = seen["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert!(
            links.contains(&"https://monitor.lender.example/balance/runs/3"),
            "{links:?}"
        );
        for id in [
            "A-1004", "A-1007", "A-1002", "A-1009", "A-1011", "A-1003", "A-1005",
        ] {
            let url = format!("https://monitor.lender.example/balance/authorizers/{id}");
            assert!(links.contains(&url.as_str()), "{url} not in {links:?}");
        }
        // Red for critical in both modes; nothing to scroll sideways on a phone.
        let critical = seen["critical"].as_str().unwrap();
        let rgb: Vec<u32> = critical
            .trim_start_matches("rgb(")
            .trim_end_matches(')')
            .split(',')
            .map(|n| n.trim().parse().unwrap())
            .collect();
        assert!(
            rgb[0] > rgb[1] + 60 && rgb[0] > rgb[2] + 60,
            "critical is {critical}"
        );
        assert_eq!(seen["sideways"], false, "{name} scrolls sideways");
        cards.push((dark, brightness(seen["card"].as_str().unwrap())));
    }
    for (dark, card) in cards {
        match dark {
            false => assert!(card > 200, "a light card: {card}"),
            true => assert!(card < 60, "a dark card: {card}"),
        }
    }

    let seen = probe(
        &unlinked_page,
        View {
            width: 900,
            height: 1400,
            dark: false,
        },
    );
    assert_eq!(
        seen["links"],
        Value::Array(vec![]),
        "no links without http.public_url"
    );

    // The plain-text part says the same.
    for needle in [
        "3 critical, 2 warning, 2 resolved: morning-ach",
        "4 new, 1 still firing (1 reminded now), 2 resolved",
        "Payment: $275.00",
        "https://monitor.lender.example/balance/authorizers/A-1004",
        "https://monitor.lender.example/balance/runs/3",
    ] {
        assert!(
            linked.text.contains(needle),
            "{needle:?} not in\n{}",
            linked.text
        );
    }
}
