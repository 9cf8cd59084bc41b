//! The demo's webhook receiver: a loopback HTTP server in the demo's process that
//! saves each payload it is sent, pretty-printed, as `<run-id>-<route>.json`. It owns
//! nothing else of the demo and knows nothing of the daemon but the payload's `run.id`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;

use crate::daemon::DaemonError;

/// The webhook route, whose receiver runs in this process.
pub(super) const WEBHOOK_ROUTE: &str = "los-webhook";

/// A webhook receiver on loopback that saves each payload, pretty-printed, as
/// `<run-id>-los-webhook.json` (`test-...` for a test alert). A retry (the same
/// `Idempotency-Key`) replaces its file; another payload for the same run takes the
/// next free name, `-2`, `-3`.
pub(super) async fn start_receiver(
    dir: PathBuf,
    received: Arc<AtomicUsize>,
) -> Result<String, DaemonError> {
    use axum::http::{HeaderMap, StatusCode};
    use std::collections::HashMap;
    // The key → file map is only touched between awaits, never across one: a std mutex.
    let saved: Arc<std::sync::Mutex<HashMap<String, PathBuf>>> = Arc::default();
    let handler = move |headers: HeaderMap, body: axum::body::Bytes| {
        let dir = dir.clone();
        let received = received.clone();
        let saved = saved.clone();
        async move {
            received.fetch_add(1, Ordering::Relaxed);
            let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&body) else {
                return StatusCode::BAD_REQUEST;
            };
            let stem = match payload.pointer("/run/id").and_then(|id| id.as_i64()) {
                Some(run) => format!("{run}-{WEBHOOK_ROUTE}"),
                None => format!("test-{WEBHOOK_ROUTE}"),
            };
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let path = {
                let mut saved = saved.lock().unwrap_or_else(|e| e.into_inner());
                match saved.get(&key) {
                    Some(path) => path.clone(),
                    None => {
                        let path = (1..)
                            .map(|n| match n {
                                1 => dir.join(format!("{stem}.json")),
                                n => dir.join(format!("{stem}-{n}.json")),
                            })
                            .find(|path| !saved.values().any(|taken| taken == path))
                            .expect("a free name");
                        saved.insert(key, path.clone());
                        path
                    }
                }
            };
            match tokio::fs::write(&path, pretty_json(&body)).await {
                Ok(()) => StatusCode::OK,
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
            }
        }
    };
    let app = axum::Router::new().route("/hooks/balance-alerts", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on 127.0.0.1 for the webhook receiver")
        .map_err(DaemonError::Runtime)?;
    let address = listener
        .local_addr()
        .context("the receiver has no address")
        .map_err(DaemonError::Runtime)?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the demo webhook receiver stopped");
        }
    });
    Ok(format!("http://{address}/hooks/balance-alerts"))
}

/// Well-formed JSON `compact`, indented by two spaces a level, its keys in the order
/// they came (`serde_json::Value` would sort them).
fn pretty_json(compact: &[u8]) -> String {
    let text = String::from_utf8_lossy(compact);
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' if matches!(chars.peek(), Some('}' | ']')) => {
                out.push(c);
                out.extend(chars.next());
            }
            '{' | '[' => {
                out.push(c);
                depth += 1;
                newline(&mut out, depth);
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::pretty_json;

    #[test]
    fn pretty_json_indents_and_keeps_the_key_order() {
        let compact = br#"{"version":"1","run":{"id":4,"tags":[]},"alerts":[{"reason":"a, b: {c} \"q\" \\"},2],"x":{}}"#;
        let pretty = pretty_json(compact);
        assert_eq!(
            pretty,
            r#"{
  "version": "1",
  "run": {
    "id": 4,
    "tags": []
  },
  "alerts": [
    {
      "reason": "a, b: {c} \"q\" \\"
    },
    2
  ],
  "x": {}
}
"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        let original: serde_json::Value = serde_json::from_slice(compact).unwrap();
        assert_eq!(parsed, original);
    }
}
