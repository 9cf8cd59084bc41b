//! `balance-monitor silence add`, `silence list` and `silence expire ID`.
//!
//! The commands store and end silences (`alerting::silences` decides what one is and
//! matches; the daemon reads them at each judgement, so a silence works at once, with no
//! reload). Times are shown in UTC: a silence may span every monitor and zone.
//!
//! These are the read side's only writes: an operator's silences, nothing the daemon
//! decided.

use std::io::Write;

use anyhow::anyhow;
use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;

use super::timefmt::{table, utc_minutes};
use super::{open_store, write_out};
use crate::alerting::silences::{SilenceRequest, new_silence};
use crate::config::Config;
use crate::store::SilenceRecord;

/// `silence add`: stores the silence and writes its id, alone on a line. Returns the
/// stored record, for the caller to describe.
pub async fn add(
    config: &Config,
    request: SilenceRequest,
    created_by: String,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> anyhow::Result<SilenceRecord> {
    if let Some(monitor) = &request.monitor
        && !config.monitors.iter().any(|m| &m.name == monitor)
    {
        return Err(not_configured(config, monitor));
    }
    let silence = new_silence(request, created_by, now)?;
    let store = open_store(config).await?;
    let added = async {
        let id = store.add_silence(silence).await?;
        let record = store
            .silences(None)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| anyhow!("silence {id} was stored but cannot be read back"))?;
        anyhow::Ok(record)
    }
    .await;
    store.close().await;
    let record = added?;
    write_out(out, &format!("{}\n", record.id))?;
    Ok(record)
}

/// `--monitor` names no configured monitor.
pub(super) fn not_configured(config: &Config, name: &str) -> anyhow::Error {
    let names: Vec<&str> = config.monitors.iter().map(|m| m.name.as_str()).collect();
    let hint = match crate::yaml::did_you_mean(name, &names) {
        Some(best) => format!("; did you mean `{best}`?"),
        None => format!(" (configured: {})", names.join(", ")),
    };
    anyhow!(
        "--monitor: no monitor named `{name}` in {}{hint}",
        config.file.display()
    )
}

/// `silence list`: the silences in force or still to come at `now`.
pub async fn list(
    config: &Config,
    now: DateTime<Utc>,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let silences = store.silences(Some(now)).await;
    store.close().await;
    let silences = silences?;
    let text = match json {
        true => render_json(&silences),
        false => render_list(&silences, now),
    };
    write_out(out, &text)
}

/// `silence expire ID`: ends the silence now. The record afterwards, and whether this
/// ended it (`false`: it had ended already).
pub async fn expire(
    config: &Config,
    id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<(SilenceRecord, bool)> {
    // As the store keeps it, so that the answer can be compared.
    let now = now.trunc_subsecs(6);
    let store = open_store(config).await?;
    let expired = store.expire_silence(id, now).await;
    store.close().await;
    let record =
        expired?.ok_or_else(|| anyhow!("no silence {id} in {}", config.storage.path.display()))?;
    let ended_now = record.ended_early_at == Some(now);
    Ok((record, ended_now))
}

/// One line about a silence: what it matches and until when.
pub fn describe(silence: &SilenceRecord) -> String {
    format!(
        "silence {}: authorizer {}, {}, {}, from {} until {}, set by {}",
        silence.id,
        silence.silence.authorizer_unique_id,
        silence
            .silence
            .monitor
            .as_deref()
            .map_or_else(|| "every monitor".to_string(), |m| format!("monitor {m}")),
        silence
            .silence
            .rule
            .as_deref()
            .map_or_else(|| "every rule".to_string(), |r| format!("rule {r}")),
        utc_minutes(silence.silence.starts_at),
        utc_minutes(silence.silence.ends_at),
        silence.silence.created_by,
    )
}

/// The table of silences.
pub fn render_list(silences: &[SilenceRecord], now: DateTime<Utc>) -> String {
    if silences.is_empty() {
        return "no active silences\n".to_string();
    }
    let rows: Vec<Vec<String>> = silences
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.silence.authorizer_unique_id.clone(),
                s.silence.monitor.clone().unwrap_or_else(|| "*".to_string()),
                s.silence.rule.clone().unwrap_or_else(|| "*".to_string()),
                match s.is_active(now) {
                    true => "active".to_string(),
                    false => "pending".to_string(),
                },
                utc_minutes(s.silence.starts_at),
                utc_minutes(s.silence.ends_at),
                s.silence.created_by.clone(),
                s.silence.comment.clone(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "AUTHORIZER",
            "MONITOR",
            "RULE",
            "STATE",
            "STARTS",
            "ENDS",
            "BY",
            "COMMENT",
        ],
        &rows,
        &[0],
    )
}

#[derive(Serialize)]
struct SilenceJson<'a> {
    id: i64,
    authorizer_id: &'a str,
    monitor: Option<&'a str>,
    rule: Option<&'a str>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    created_by: &'a str,
    comment: &'a str,
}

/// The silences as a JSON array.
pub fn render_json(silences: &[SilenceRecord]) -> String {
    let rows: Vec<SilenceJson<'_>> = silences
        .iter()
        .map(|s| SilenceJson {
            id: s.id,
            authorizer_id: &s.silence.authorizer_unique_id,
            monitor: s.silence.monitor.as_deref(),
            rule: s.silence.rule.as_deref(),
            starts_at: s.silence.starts_at,
            ends_at: s.silence.ends_at,
            created_by: &s.silence.created_by,
            comment: &s.silence.comment,
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&rows).expect("strings and times serialize");
    text.push('\n');
    text
}
