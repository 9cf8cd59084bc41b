//! Local stand-ins for Slack, Microsoft Teams and PagerDuty (axum on 127.0.0.1:0),
//! each playing its service's part as its documentation describes it.
//!
//! - Slack (incoming webhook, Block Kit): at most 50 blocks; known block types; header
//!   text plain, at most 150 characters; section text at most 3,000; a message with
//!   neither `text` nor `blocks` is `no_text`, a broken block `invalid_blocks`, a body
//!   that is not JSON `invalid_payload` (all 400, as Slack answers). Otherwise `200 ok`.
//! - Teams (Workflows webhook, Adaptive Card): a `message` with one attachment of type
//!   `application/vnd.microsoft.card.adaptive`; the card checked against the version it
//!   declares (written here from the Adaptive Cards schema documentation): `type`,
//!   `version` (1.4 or later), every element and action type known and introduced no
//!   later than that version, their required properties, their enumerated values; the
//!   body under 28 KB. A bad card is a 400; a good one `202`.
//! - PagerDuty (Events API v2): `routing_key`, `event_action` (`trigger`, `resolve`,
//!   `acknowledge`), `dedup_key` (at most 255, required to resolve), and for a trigger
//!   a `payload` with `summary` (at most 1,024), `source` and `severity` (`critical`,
//!   `error`, `warning`, `info`). A bad event is `400` with PagerDuty's error body; a
//!   good one `202` with its `dedup_key`. Incidents are deduplicated by key: a trigger
//!   opens one only when none is open under its key, a resolve closes it.
//!
//! Each request is recorded (with any problem found) before it is answered, and may be
//! answered from a script first ([`Reply`]), as the webhook receiver does.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub use crate::support::receiver::Reply;

/// Which service a receiver plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Slack,
    Teams,
    PagerDuty,
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub body: Bytes,
    pub json: Option<Value>,
    /// What the service would refuse in it; empty for a good request.
    pub problems: Vec<String>,
    /// When it arrived, on tokio's clock.
    pub at: tokio::time::Instant,
    /// The status it was answered.
    pub status: u16,
}

/// One PagerDuty incident, by `dedup_key`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Incident {
    /// How many times an incident was opened under this key.
    pub opened: usize,
    pub open: bool,
    pub triggers: usize,
    pub resolves: usize,
    /// The last trigger's `custom_details`.
    pub details: Value,
}

struct Shared {
    service: Service,
    routing_key: Option<String>,
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Received>>,
    incidents: Mutex<BTreeMap<String, Incident>>,
    count: tokio::sync::watch::Sender<usize>,
}

pub struct ServiceReceiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ServiceReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The path each service is served at.
fn path(service: Service) -> &'static str {
    match service {
        Service::Slack => "/services/T000/B000/XXXXSECRETXXXX",
        Service::Teams => "/workflows/abc/triggers/manual/paths/invoke",
        Service::PagerDuty => "/v2/enqueue",
    }
}

impl ServiceReceiver {
    /// A receiver playing `service`; a PagerDuty one accepts `routing_key` only.
    pub async fn start(
        service: Service,
        routing_key: Option<&str>,
        script: Vec<Reply>,
    ) -> ServiceReceiver {
        ServiceReceiver::start_on(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            service,
            routing_key,
            script,
        )
        .await
    }

    /// [`ServiceReceiver::start`] on a given address.
    pub async fn start_on(
        addr: SocketAddr,
        service: Service,
        routing_key: Option<&str>,
        script: Vec<Reply>,
    ) -> ServiceReceiver {
        let shared = Arc::new(Shared {
            service,
            routing_key: routing_key.map(str::to_string),
            script: Mutex::new(script.into()),
            requests: Mutex::new(Vec::new()),
            incidents: Mutex::new(BTreeMap::new()),
            count: tokio::sync::watch::Sender::new(0),
        });
        let app = axum::Router::new()
            .route(path(service), axum::routing::post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        ServiceReceiver { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, path(self.shared.service))
    }

    pub fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn incidents(&self) -> BTreeMap<String, Incident> {
        self.shared.incidents.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests were recorded.
    pub async fn wait_for_requests(&self, n: usize) {
        let mut count = self.shared.count.subscribe();
        count.wait_for(|count| *count >= n).await.unwrap();
    }
}

async fn receive(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let at = tokio::time::Instant::now();
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let problems = match (&json, shared.service) {
        (None, _) => vec!["invalid_payload".to_string()],
        (Some(json), Service::Slack) => slack_problems(json),
        (Some(json), Service::Teams) => {
            let mut problems = teams_problems(json);
            if body.len() >= 28 * 1024 {
                problems.push(format!("the body is {} bytes, 28 KB or more", body.len()));
            }
            problems
        }
        (Some(json), Service::PagerDuty) => pagerduty_problems(json, shared.routing_key.as_deref()),
    };
    let scripted = shared.script.lock().unwrap().pop_front();
    let (status, text, headers) = match scripted {
        Some(Reply::Status(status, text, headers)) => (status, text, headers),
        Some(Reply::Hang) => {
            record(&shared, body, json, problems, at, 0);
            std::future::pending::<()>().await;
            unreachable!()
        }
        None => answer(&shared, json.as_ref(), &problems),
    };
    record(&shared, body, json, problems, at, status);
    let mut response = (StatusCode::from_u16(status).unwrap(), text).into_response();
    for (name, value) in headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

fn record(
    shared: &Shared,
    body: Bytes,
    json: Option<Value>,
    problems: Vec<String>,
    at: tokio::time::Instant,
    status: u16,
) {
    let mut requests = shared.requests.lock().unwrap();
    requests.push(Received {
        body,
        json,
        problems,
        at,
        status,
    });
    let n = requests.len();
    drop(requests);
    shared.count.send_replace(n);
}

/// The service's own answer to a request the script does not answer.
fn answer(
    shared: &Shared,
    json: Option<&Value>,
    problems: &[String],
) -> (u16, String, Vec<(&'static str, String)>) {
    match shared.service {
        Service::Slack if problems.is_empty() => (200, "ok".into(), vec![]),
        Service::Slack => {
            let word = if problems.iter().any(|p| p == "invalid_payload") {
                "invalid_payload"
            } else if problems.iter().any(|p| p == "no_text") {
                "no_text"
            } else {
                "invalid_blocks"
            };
            (400, word.into(), vec![])
        }
        Service::Teams if problems.is_empty() => (202, String::new(), vec![]),
        Service::Teams => (400, format!("bad card: {}", problems.join("; ")), vec![]),
        Service::PagerDuty if problems.is_empty() => {
            let event = json.expect("checked");
            let key = event["dedup_key"]
                .as_str()
                .unwrap_or("generated")
                .to_string();
            let mut incidents = shared.incidents.lock().unwrap();
            let incident = incidents.entry(key.clone()).or_default();
            match event["event_action"].as_str() {
                Some("trigger") => {
                    incident.triggers += 1;
                    if !incident.open {
                        incident.open = true;
                        incident.opened += 1;
                    }
                    incident.details = event["payload"]["custom_details"].clone();
                }
                Some("resolve") => {
                    incident.resolves += 1;
                    incident.open = false;
                }
                _ => {}
            }
            let body =
                json!({ "status": "success", "message": "Event processed", "dedup_key": key });
            (202, body.to_string(), vec![])
        }
        Service::PagerDuty => {
            let body = json!({ "status": "invalid event", "message": "Event object is invalid", "errors": problems });
            (400, body.to_string(), vec![])
        }
    }
}

fn slack_problems(json: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let blocks = json.get("blocks").and_then(Value::as_array);
    if json.get("text").is_none() && blocks.is_none() {
        return vec!["no_text".into()];
    }
    let Some(blocks) = blocks else {
        return problems;
    };
    if blocks.len() > 50 {
        problems.push(format!("{} blocks, more than 50", blocks.len()));
    }
    for (i, block) in blocks.iter().enumerate() {
        let text_of = |value: &Value| {
            value
                .get("text")
                .and_then(Value::as_str)
                .map(|t| t.chars().count())
        };
        match block.get("type").and_then(Value::as_str) {
            Some("header") => {
                if block["text"]["type"] != "plain_text" {
                    problems.push(format!("block {i}: a header's text must be plain_text"));
                }
                match text_of(&block["text"]) {
                    Some(n) if n <= 150 => {}
                    other => {
                        problems.push(format!("block {i}: header text of {other:?} characters"))
                    }
                }
            }
            Some("section") => match text_of(&block["text"]) {
                Some(n) if n <= 3000 => {}
                other => problems.push(format!("block {i}: section text of {other:?} characters")),
            },
            Some("context") => {
                let elements = block["elements"].as_array().map_or(0, Vec::len);
                if elements == 0 || elements > 10 {
                    problems.push(format!("block {i}: {elements} context elements"));
                }
            }
            Some("divider") => {}
            other => problems.push(format!("block {i}: unknown block type {other:?}")),
        }
    }
    problems
}

/// The Adaptive Card versions that introduced each element and action type.
fn introduced(kind: &str) -> Option<(u32, u32)> {
    Some(match kind {
        "TextBlock" | "Image" | "Container" | "ColumnSet" | "Column" | "FactSet" | "ImageSet" => {
            (1, 0)
        }
        "Input.Text" | "Input.Number" | "Input.Date" | "Input.Time" | "Input.Toggle"
        | "Input.ChoiceSet" => (1, 0),
        "Action.OpenUrl" | "Action.Submit" | "Action.ShowCard" => (1, 0),
        "ActionSet" | "RichTextBlock" | "Action.ToggleVisibility" => (1, 2),
        "Media" => (1, 1),
        "Action.Execute" => (1, 4),
        "Table" | "TableRow" | "TableCell" => (1, 5),
        _ => return None,
    })
}

fn teams_problems(json: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if json["type"] != "message" {
        problems.push("the body's type is not message".into());
    }
    let attachments = json["attachments"].as_array().cloned().unwrap_or_default();
    if attachments.len() != 1 {
        problems.push(format!("{} attachments", attachments.len()));
        return problems;
    }
    if attachments[0]["contentType"] != "application/vnd.microsoft.card.adaptive" {
        problems.push("the attachment is not an adaptive card".into());
    }
    let card = &attachments[0]["content"];
    if card["type"] != "AdaptiveCard" {
        problems.push("content.type is not AdaptiveCard".into());
    }
    let version = card["version"].as_str().and_then(|v| {
        let (major, minor) = v.split_once('.')?;
        Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
    });
    let Some(version) = version else {
        problems.push(format!("version {:?} is not MAJOR.MINOR", card["version"]));
        return problems;
    };
    if version < (1, 4) {
        problems.push(format!("version {version:?} is older than 1.4"));
    }
    match card["body"].as_array() {
        Some(body) => elements(body, version, "body", &mut problems),
        None => problems.push("the card has no body".into()),
    }
    if let Some(actions) = card.get("actions").and_then(Value::as_array) {
        for (i, action) in actions.iter().enumerate() {
            element(action, version, &format!("actions[{i}]"), &mut problems);
        }
    }
    problems
}

fn elements(items: &[Value], version: (u32, u32), at: &str, problems: &mut Vec<String>) {
    for (i, item) in items.iter().enumerate() {
        element(item, version, &format!("{at}[{i}]"), problems);
    }
}

fn one_of(value: &Value, allowed: &[&str], at: &str, problems: &mut Vec<String>) {
    if let Some(text) = value.as_str()
        && !allowed.iter().any(|a| a.eq_ignore_ascii_case(text))
    {
        problems.push(format!("{at}: {text:?} is not one of {allowed:?}"));
    }
}

fn element(item: &Value, version: (u32, u32), at: &str, problems: &mut Vec<String>) {
    let kind = item["type"].as_str().unwrap_or("");
    match introduced(kind) {
        None => {
            problems.push(format!("{at}: unknown type {kind:?}"));
            return;
        }
        Some(since) if since > version => {
            problems.push(format!(
                "{at}: {kind} needs version {since:?}, the card declares {version:?}"
            ));
        }
        Some(_) => {}
    }
    let required = |key: &str, problems: &mut Vec<String>| {
        if item.get(key).is_none_or(Value::is_null) {
            problems.push(format!("{at}: {kind} requires {key}"));
        }
    };
    match kind {
        "TextBlock" => {
            required("text", problems);
            one_of(
                &item["color"],
                &[
                    "Default",
                    "Dark",
                    "Light",
                    "Accent",
                    "Good",
                    "Warning",
                    "Attention",
                ],
                at,
                problems,
            );
            one_of(
                &item["size"],
                &["Default", "Small", "Medium", "Large", "ExtraLarge"],
                at,
                problems,
            );
            one_of(
                &item["weight"],
                &["Default", "Lighter", "Bolder"],
                at,
                problems,
            );
        }
        "FactSet" => {
            required("facts", problems);
            for fact in item["facts"].as_array().into_iter().flatten() {
                if !fact["title"].is_string() || !fact["value"].is_string() {
                    problems.push(format!("{at}: a fact needs a title and a value"));
                }
            }
        }
        "Table" => {
            required("columns", problems);
            let columns = item["columns"].as_array().map_or(0, Vec::len);
            for (r, row) in item["rows"].as_array().into_iter().flatten().enumerate() {
                let at = format!("{at}.rows[{r}]");
                if row["type"] != "TableRow" {
                    problems.push(format!("{at}: not a TableRow"));
                }
                let cells = row["cells"].as_array().cloned().unwrap_or_default();
                if cells.len() > columns {
                    problems.push(format!("{at}: {} cells for {columns} columns", cells.len()));
                }
                for (c, cell) in cells.iter().enumerate() {
                    if cell["type"] != "TableCell" {
                        problems.push(format!("{at}.cells[{c}]: not a TableCell"));
                    }
                    elements(
                        cell["items"].as_array().map_or(&[], Vec::as_slice),
                        version,
                        &format!("{at}.cells[{c}].items"),
                        problems,
                    );
                }
            }
        }
        "Container" => {
            required("items", problems);
            elements(
                item["items"].as_array().map_or(&[], Vec::as_slice),
                version,
                at,
                problems,
            );
        }
        "ColumnSet" => {
            for column in item["columns"].as_array().into_iter().flatten() {
                element(column, version, at, problems);
            }
        }
        "Column" => elements(
            item["items"].as_array().map_or(&[], Vec::as_slice),
            version,
            at,
            problems,
        ),
        "Image" => required("url", problems),
        "Action.OpenUrl" => required("url", problems),
        "ActionSet" => required("actions", problems),
        _ => {}
    }
}

fn pagerduty_problems(json: &Value, routing_key: Option<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    match (json["routing_key"].as_str(), routing_key) {
        (None, _) => problems.push("'routing_key' is missing".into()),
        (Some(got), Some(want)) if got != want => problems.push("'routing_key' is invalid".into()),
        _ => {}
    }
    let action = json["event_action"].as_str().unwrap_or("");
    if !["trigger", "resolve", "acknowledge"].contains(&action) {
        problems.push("'event_action' is invalid".into());
    }
    match json.get("dedup_key") {
        Some(Value::String(key)) if key.chars().count() <= 255 && !key.is_empty() => {}
        None if action == "trigger" => {}
        _ => problems.push("'dedup_key' is missing or longer than 255 characters".into()),
    }
    if action == "trigger" {
        let payload = &json["payload"];
        match payload["summary"].as_str() {
            Some(s) if !s.is_empty() && s.chars().count() <= 1024 => {}
            _ => {
                problems.push("'payload.summary' is missing or longer than 1024 characters".into())
            }
        }
        if payload["source"].as_str().is_none_or(str::is_empty) {
            problems.push("'payload.source' is missing".into());
        }
        if !["critical", "error", "warning", "info"]
            .contains(&payload["severity"].as_str().unwrap_or(""))
        {
            problems.push("'payload.severity' is invalid".into());
        }
        for key in ["component", "group", "class"] {
            if !payload[key].is_null() && !payload[key].is_string() {
                problems.push(format!("'payload.{key}' must be a string"));
            }
        }
        if !payload["custom_details"].is_null() && !payload["custom_details"].is_object() {
            problems.push("'payload.custom_details' must be an object".into());
        }
    }
    problems
}
