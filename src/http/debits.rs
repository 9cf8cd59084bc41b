//! `GET /v1/debits`: the payment calendar's latest decisions, for a lender's own
//! systems (an origination job that sends the `send` rows and holds the rest).
//!
//! Parameters: `date` (the settlement date, `YYYY-MM-DD`), `authorizer`, `monitor`, and
//! `decision` (`send`, `hold` or `unknown`; a comma list or repeated). At least one of
//! `date` and `authorizer` is required, so that no request reads every decision ever
//! stored. The answer is `{"debits": [...]}`, each item as `balance-monitor debits
//! --format json` prints it (`debits::DecisionJson`), ordered by monitor, settlement
//! date, authorizer and debit. Bad values are 400s in the read API's envelope, naming
//! the parameter. The items hold ids, dates, amounts and reasons: no personal data.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use chrono::NaiveDate;
use serde::Serialize;

use super::HttpState;
use super::error::ApiProblem;
use super::params::QueryParams;
use super::wire::json;
use crate::debits::DecisionJson;
use crate::domain::Decision;
use crate::store::DecisionQuery;

#[derive(Serialize)]
struct DebitsAnswer<'a> {
    debits: Vec<DecisionJson<'a>>,
}

pub(crate) async fn debits(
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiProblem> {
    let params = QueryParams::parse(raw.as_deref());
    let text = |name: &str| {
        params
            .first(name)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_string)
    };
    let settles_on = text("date")
        .map(|date| {
            NaiveDate::parse_from_str(&date, "%Y-%m-%d").map_err(|_| {
                ApiProblem::bad_request(
                    format!("Invalid date {date:?}: expected YYYY-MM-DD."),
                    "Pass the settlement date, for example date=2026-12-08.",
                )
            })
        })
        .transpose()?;
    let authorizer = text("authorizer");
    if settles_on.is_none() && authorizer.is_none() {
        return Err(ApiProblem::bad_request(
            "A date or an authorizer is required.",
            "Pass date=YYYY-MM-DD (the settlement date), authorizer=ID, or both.",
        ));
    }
    let mut decisions = Vec::new();
    for word in params
        .all("decision")
        .into_iter()
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .filter(|word| !word.is_empty())
    {
        let decision = Decision::parse(word).ok_or_else(|| {
            ApiProblem::bad_request(
                format!("Invalid decision {word:?}."),
                "Use send, hold or unknown, or a comma list of them.",
            )
        })?;
        decisions.push(decision);
    }
    let rows = state
        .store
        .latest_decisions(DecisionQuery {
            settles_on,
            monitor: text("monitor"),
            authorizer,
        })
        .await
        .map_err(|error| ApiProblem::store(&error))?;
    json(&DebitsAnswer {
        debits: rows
            .iter()
            .filter(|row| decisions.is_empty() || decisions.contains(&row.decision.decision))
            .map(DecisionJson::from)
            .collect(),
    })
}
