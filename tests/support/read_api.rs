//! The daemon's read API on port 0 over a real store, and runs written into that store
//! through its public API the way a run writes them (plan, 201, result pages, the
//! deadline, the end), so that the API reads what a daemon would have stored.

use std::path::PathBuf;

use balance_monitor::clock::Clock;
use balance_monitor::completions::Completions;
use balance_monitor::http::{HttpState, serve};
use balance_monitor::money::Cents;
use balance_monitor::secret::Secret;
use balance_monitor::store::{
    BatchState, BatchSubmitted, FailedAuthorizer, NewRun, PlannedChunk, ResultRow, RunId, RunPlan,
    RunState, RunStateChange, RunTrigger, Store,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The bearer token [`start`] configures.
pub const TOKEN: &str = "local-read-api-token";

/// A read API serving a store in a temporary directory. Dropping it stops the server.
pub struct Api {
    pub base: String,
    pub store: Store,
    /// The database file, for a second connection playing the alerting layer.
    pub database: PathBuf,
    pub http: reqwest::Client,
    token: Option<String>,
    _directory: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An answer, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text))
    }
}

/// The API with [`TOKEN`] and nothing else configured.
pub async fn start() -> Api {
    start_with(|state| state.set_token(Some(Secret::new(TOKEN)))).await
}

/// The API with the state `configure` leaves.
pub async fn start_with(configure: impl FnOnce(&mut HttpState)) -> Api {
    let directory = tempfile::tempdir().unwrap();
    let database = directory.path().join("state.db");
    let store = Store::open(&database).unwrap();
    let mut state = HttpState::new(store.clone(), Completions::default(), Clock::system());
    configure(&mut state);
    let token = state
        .access
        .keys()
        .token
        .map(|token| token.expose().to_string());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Api {
        base,
        store,
        database,
        http: reqwest::Client::new(),
        token,
        _directory: directory,
        stop: Some(stop),
    }
}

impl Api {
    /// GET `path_and_query` with the configured token.
    pub async fn get(&self, path_and_query: &str) -> Answer {
        self.get_with(
            path_and_query,
            self.token.as_deref().map(|t| format!("Bearer {t}")),
        )
        .await
    }

    /// GET `path_and_query` with `authorization` as the `Authorization` header, if any.
    pub async fn get_with(&self, path_and_query: &str, authorization: Option<String>) -> Answer {
        let mut request = self.http.get(format!("{}{path_and_query}", self.base));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Answer {
            status,
            headers,
            text,
        }
    }
}

/// 2025-03-14 at `hour:minute` UTC.
pub fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, hour, minute, 0).unwrap()
}

/// What one check of one authorizer came to.
#[derive(Clone, Copy, Debug)]
pub enum Check {
    /// Retrieved with code 0 and this many cents.
    Balance(i64),
    /// Retrieved with this non-zero code and no balance.
    Code(i64),
    /// Still without a result at the deadline.
    NotRetrieved,
    /// Refused by Rightfoot at submission, with this reason.
    Rejected(&'static str),
}

/// A finished manual run of `monitor` with one chunk, submitted as `batch_id`, in which
/// each authorizer came to its [`Check`]; finished at `finished_at`. If another chunk
/// already recorded `batch_id` (Rightfoot's 24-hour cache), the chunk is linked to it
/// and stores no results, as the run module does.
pub async fn finished_run(
    store: &Store,
    monitor: &str,
    batch_id: &str,
    checks: &[(&str, Check)],
    finished_at: DateTime<Utc>,
) -> RunId {
    let monitor = store.ensure_monitor(monitor).await.unwrap();
    let run = store
        .create_run(NewRun {
            created_at: chrono::Utc::now(),
            monitor,
            trigger: RunTrigger::Manual,
        })
        .await
        .unwrap();
    let started = finished_at - Duration::minutes(10);
    let mut body_sha256 = [0u8; 32];
    body_sha256[..8].copy_from_slice(&run.0.to_be_bytes());
    let members: Vec<String> = checks.iter().map(|(id, _)| id.to_string()).collect();
    let chunks = store
        .start_run(
            run,
            started,
            RunPlan {
                rejected: Vec::new(),
                chunks: vec![PlannedChunk {
                    body_sha256,
                    members,
                }],
            },
        )
        .await
        .unwrap();
    let batch = chunks[0];
    let failed: Vec<FailedAuthorizer> = checks
        .iter()
        .filter_map(|(id, check)| match check {
            Check::Rejected(reason) => Some(FailedAuthorizer {
                authorizer_unique_id: id.to_string(),
                reason: reason.to_string(),
            }),
            _ => None,
        })
        .collect();
    let owner = store
        .mark_batch_submitted(
            batch,
            BatchSubmitted {
                rightfoot_batch_id: batch_id.to_string(),
                submitted_at: started,
                accepted: (checks.len() - failed.len()) as u32,
                failed,
                deadline: finished_at,
            },
        )
        .await
        .unwrap();
    if owner.is_some() {
        store.mark_run_served_from_cache(run).await.unwrap();
    } else {
        let rows: Vec<ResultRow> = checks
            .iter()
            .filter_map(|(id, check)| {
                let (balance, code) = match check {
                    Check::Balance(cents) => (Some(Cents(*cents)), 0),
                    Check::Code(code) => (None, *code),
                    _ => return None,
                };
                Some(ResultRow {
                    authorizer_unique_id: id.to_string(),
                    balance,
                    balance_status_code: code,
                    retrieved_at: started + Duration::minutes(3),
                })
            })
            .collect();
        let stored = store.upsert_results(run, batch, &rows).await.unwrap();
        assert!(stored.not_members.is_empty());
        store
            .mark_not_retrieved(batch, "no result by the deadline")
            .await
            .unwrap();
    }
    store
        .set_batch_state(batch, BatchState::Complete, None)
        .await
        .unwrap();
    let complete = checks
        .iter()
        .all(|(_, check)| matches!(check, Check::Balance(_) | Check::Code(_)));
    let state = if complete {
        RunState::Complete
    } else {
        RunState::Partial
    };
    store
        .set_run_state(run, RunStateChange::new(state, finished_at))
        .await
        .unwrap();
    run
}

/// The `ApiErrorResponse` envelope of a failed answer, checked for its status.
pub fn assert_envelope(answer: &Answer, status: u16, code: &str) -> Value {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(
        answer.headers["content-type"], "application/json",
        "{}",
        answer.text
    );
    let body = answer.json();
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["status_code"], status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(
        body["error"]["suggestion"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(
        body["documentation_url"]
            .as_str()
            .is_some_and(|url| url.ends_with("#local-http-api"))
    );
    body
}
