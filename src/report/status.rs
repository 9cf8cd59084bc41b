//! `balance-monitor status`: is the daemon up, and how each monitor stands.
//!
//! The daemon is up when its `/healthz` answers at the configured `http.listen` (an
//! unspecified address is asked on loopback), with the `http.token` as a bearer token
//! when one is set; no answer within [`PROBE_TIMEOUT`] is "not running". The rest comes
//! from the database, read while the daemon runs: per monitor the last run (state,
//! counts, age), the next fire time in the monitor's zone and in UTC, the firing alerts
//! by severity (and how many a silence holds back), and the outbox's backlog; then the
//! database's size. With PostgreSQL it also shows the daemon's role (leader or standby,
//! as its `/healthz` says) and the leadership lease as the database holds it: holder,
//! epoch, and the lease's age, on the database's clock.
//!
//! **Healthy or not.** Something needs attention when a monitor's last run failed or
//! is `interrupted` with no daemon up to resume it, when a route's latest finished notification failed (a later delivery through the route
//! clears it), or when the daemon is down while systemd has the unit enabled (asked of
//! `systemctl is-enabled balance-monitor` only where `systemctl` exists). A daemon that
//! is down where no unit is enabled, or where there is no systemd, is reported but is
//! not a failure: a command-line user runs it when they choose.
//!
//! What it does not do: write anything, or talk to Rightfoot.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::alerts::every_alert;
use super::timefmt::{duration, local_minutes, utc_minutes};
use super::{open_store, write_out};
use crate::alerting::payload;
use crate::alerting::silences::silenced_by;
use crate::config::Config;
use crate::domain::Role;
use crate::http::{EPOCH_HEADER, ROLE_HEADER};
use crate::store::{AlertStateFilter, LeaderLease, NotificationRecord, RunState};

/// How long the daemon has to answer `/healthz`.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the systemd unit is enabled: `Some` only where `systemctl` could be asked.
pub type UnitEnabled = Option<bool>;

/// What `status` found.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub daemon: DaemonStatus,
    /// The leadership lease as the database holds it; `None` with SQLite, where the
    /// one daemon always leads.
    pub leadership: Option<LeadershipStatus>,
    pub monitors: Vec<MonitorStatus>,
    pub outbox: OutboxStatus,
    pub database: DatabaseStatus,
    /// Why it needs attention; empty when healthy.
    pub attention: Vec<String>,
}

impl Status {
    pub fn healthy(&self) -> bool {
        self.attention.is_empty()
    }

    /// The reasons on one line.
    pub fn reason(&self) -> String {
        self.attention.join("; ")
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct DaemonStatus {
    pub running: bool,
    /// Where it was asked.
    pub address: String,
    /// Why it counts as not running.
    pub error: Option<String>,
    /// Whether systemd has the unit enabled, where `systemctl` exists.
    pub unit_enabled: UnitEnabled,
    /// `leader` or `standby`, as the daemon says (`None` when it is down).
    pub role: Option<String>,
    /// The epoch it leads as, while it leads through a lease.
    pub epoch: Option<i64>,
}

/// What the daemon's `/healthz` said of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaemonAnswer {
    pub role: Option<Role>,
    pub epoch: Option<i64>,
}

/// The leadership lease, read on the database's clock.
#[derive(Clone, Debug, Serialize)]
pub struct LeadershipStatus {
    pub holder: String,
    pub epoch: i64,
    /// Since it was last taken or renewed.
    pub lease_age_seconds: f64,
    /// Until it runs out; negative once it has.
    pub expires_in_seconds: f64,
}

impl LeadershipStatus {
    fn of(lease: &LeaderLease) -> LeadershipStatus {
        let seconds = |delta: chrono::TimeDelta| delta.num_milliseconds() as f64 / 1000.0;
        LeadershipStatus {
            holder: lease.holder.clone(),
            epoch: lease.epoch,
            lease_age_seconds: seconds(lease.now - lease.renewed_at),
            expires_in_seconds: seconds(lease.expires_at - lease.now),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct MonitorStatus {
    pub name: String,
    pub zone: String,
    pub last_run: Option<LastRun>,
    pub next_run_at: Option<DateTime<Utc>>,
    /// Firing alerts by severity.
    pub firing: BTreeMap<String, u64>,
    /// Of those, how many a silence matches now.
    pub silenced: u64,
    pub outbox_pending: u64,
    pub outbox_failed: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct LastRun {
    pub id: i64,
    pub state: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub age_seconds: i64,
    pub succeeded: u32,
    pub failed: u32,
    pub not_retrieved: u32,
    pub rejected: u32,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct OutboxStatus {
    /// Waiting for a first or a further attempt.
    pub pending: u64,
    /// Given up on.
    pub failed: u64,
    /// The oldest notification not delivered (pending or failed).
    pub oldest_undelivered_at: Option<DateTime<Utc>>,
    pub oldest_undelivered_route: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DatabaseStatus {
    /// The SQLite file, or the PostgreSQL database (`postgres://user@host:port/db`).
    pub path: String,
    /// The file and its write-ahead log; `None` for PostgreSQL, whose server keeps the
    /// files.
    pub bytes: Option<u64>,
}

/// Asks the daemon's `/healthz`, within [`PROBE_TIMEOUT`] in all.
pub async fn probe_daemon(config: &Config) -> (String, Result<DaemonAnswer, String>) {
    let mut address = config.http.listen;
    if address.ip().is_unspecified() {
        let loopback: std::net::IpAddr = match address {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        };
        address.set_ip(loopback);
    }
    let url = format!("http://{address}/healthz");
    let asked = async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(PROBE_TIMEOUT)
            .timeout(PROBE_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let mut request = client.get(&url);
        if let Some(token) = &config.http.token {
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().await.map_err(|e| match e.is_connect() {
            true => "nothing answers there".to_string(),
            false => crate::text::error_chain(&e),
        })?;
        if !response.status().is_success() {
            return Err(format!("/healthz answered {}", response.status()));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string)
        };
        Ok(DaemonAnswer {
            role: header(ROLE_HEADER).as_deref().and_then(Role::parse),
            epoch: header(EPOCH_HEADER).and_then(|epoch| epoch.parse().ok()),
        })
    };
    let answer = match tokio::time::timeout(PROBE_TIMEOUT, asked).await {
        Ok(answer) => answer,
        Err(_) => Err(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())),
    };
    (address.to_string(), answer)
}

/// Whether systemd has `balance-monitor` enabled; `None` where there is no `systemctl`
/// (or it does not answer within 2 s).
pub async fn unit_enabled() -> UnitEnabled {
    let mut command = tokio::process::Command::new("systemctl");
    command
        .args(["is-enabled", "balance-monitor"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(PROBE_TIMEOUT, command.output())
        .await
        .ok()?
        .ok()?;
    let answer = String::from_utf8_lossy(&output.stdout);
    Some(answer.trim() == "enabled")
}

/// Gathers the status. `daemon` is what [`probe_daemon`] found, `unit` what
/// [`unit_enabled`] found (asked only when the daemon is down).
pub async fn gather(
    config: &Config,
    daemon: (String, Result<DaemonAnswer, String>),
    unit: UnitEnabled,
    now: DateTime<Utc>,
) -> anyhow::Result<Status> {
    let (address, answer) = daemon;
    let said = answer.as_ref().ok().cloned().unwrap_or_default();
    let daemon = DaemonStatus {
        running: answer.is_ok(),
        address,
        error: answer.err(),
        unit_enabled: unit,
        role: said.role.map(|role| role.as_str().to_string()),
        epoch: said.epoch,
    };
    let store = open_store(config).await?;
    let read = async {
        let mut last_runs = BTreeMap::new();
        for monitor in &config.monitors {
            let Some(id) = store.monitor_id(&monitor.name).await? else {
                continue;
            };
            if let Some(run) = store.recent_runs(Some(id), 1).await?.pop() {
                last_runs.insert(monitor.name.clone(), run);
            }
        }
        let firing = every_alert(&store, Some(AlertStateFilter::Firing)).await?;
        let silences = store.silences(Some(now)).await?;
        let notifications = store.notifications().await?;
        let leadership = store.leadership().await?;
        anyhow::Ok((last_runs, firing, silences, notifications, leadership))
    }
    .await;
    store.close().await;
    let (mut last_runs, firing, silences, notifications, leadership) = read?;
    let leadership = config
        .storage
        .postgres
        .as_ref()
        .and(leadership.as_ref())
        .map(LeadershipStatus::of);

    let mut attention = Vec::new();
    if !daemon.running && daemon.unit_enabled == Some(true) {
        attention.push(format!(
            "the daemon is not running ({}) but the balance-monitor unit is enabled",
            daemon.error.as_deref().unwrap_or("no answer")
        ));
    }
    let undelivered: Vec<(&NotificationRecord, Option<String>)> = notifications
        .iter()
        .filter(|n| n.state != "delivered")
        .map(|n| (n, payload::decode(&n.payload).ok().map(|d| d.monitor)))
        .collect();
    let mut monitors = Vec::new();
    for monitor in &config.monitors {
        let zone = monitor.schedule.zone();
        let last_run = last_runs.remove(&monitor.name).map(|overview| {
            let run = overview.run;
            let started_at = run.started_at.unwrap_or(run.created_at);
            if run.state == RunState::Failed {
                attention.push(format!(
                    "the last run of {} (run {}) failed{}",
                    monitor.name,
                    run.id.0,
                    run.reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ));
            }
            if run.state == RunState::Interrupted && !daemon.running {
                attention.push(format!(
                    "the last run of {} (run {}) is interrupted; start the daemon (`balance-monitor run`) to resume it",
                    monitor.name, run.id.0
                ));
            }
            LastRun {
                id: run.id.0,
                state: run.state.as_str().to_string(),
                started_at,
                finished_at: run.finished_at,
                age_seconds: (now - run.finished_at.unwrap_or(started_at)).num_seconds(),
                succeeded: overview.counts.succeeded,
                failed: overview.counts.failed,
                not_retrieved: overview.counts.not_retrieved,
                rejected: overview.counts.rejected + overview.counts.preflight_rejected,
                reason: run.reason,
            }
        });
        let mut by_severity = BTreeMap::new();
        let mut silenced = 0;
        for alert in firing.iter().filter(|a| a.monitor_name == monitor.name) {
            *by_severity.entry(alert.severity.clone()).or_insert(0) += 1;
            let authorizer = alert.authorizer_unique_id.as_deref();
            if silenced_by(&silences, now, &monitor.name, authorizer, &alert.rule).is_some() {
                silenced += 1;
            }
        }
        let of_monitor = |state: &str| {
            undelivered
                .iter()
                .filter(|(n, m)| n.state == state && m.as_deref() == Some(monitor.name.as_str()))
                .count() as u64
        };
        monitors.push(MonitorStatus {
            name: monitor.name.clone(),
            zone: zone.name().to_string(),
            last_run,
            next_run_at: monitor.schedule.next_after(now),
            firing: by_severity,
            silenced,
            outbox_pending: of_monitor("pending"),
            outbox_failed: of_monitor("failed"),
        });
    }

    // A route is failing when its latest finished notification failed.
    let mut latest_by_route: BTreeMap<&str, &NotificationRecord> = BTreeMap::new();
    for n in notifications.iter().filter(|n| n.state != "pending") {
        latest_by_route.insert(&n.route, n);
    }
    for (route, n) in latest_by_route {
        if n.state == "failed" {
            attention.push(format!(
                "route {route}: notification {} failed: {}",
                n.id,
                n.last_error.as_deref().unwrap_or("no error recorded")
            ));
        }
    }
    let oldest = undelivered
        .iter()
        .map(|(n, _)| *n)
        .min_by_key(|n| n.created_at);
    let outbox = OutboxStatus {
        pending: undelivered
            .iter()
            .filter(|(n, _)| n.state == "pending")
            .count() as u64,
        failed: undelivered
            .iter()
            .filter(|(n, _)| n.state == "failed")
            .count() as u64,
        oldest_undelivered_at: oldest.map(|n| n.created_at),
        oldest_undelivered_route: oldest.map(|n| n.route.clone()),
    };
    let path = &config.storage.path;
    let size = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |m| m.len());
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    let database = DatabaseStatus {
        path: config.storage.describe(),
        bytes: config
            .storage
            .postgres
            .is_none()
            .then(|| size(path) + size(std::path::Path::new(&wal))),
    };
    Ok(Status {
        daemon,
        leadership,
        monitors,
        outbox,
        database,
        attention,
    })
}

/// `balance-monitor status`: writes the status, and returns it for the exit code.
pub async fn status(
    config: &Config,
    json: bool,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> anyhow::Result<Status> {
    let daemon = probe_daemon(config).await;
    let unit = match daemon.1.is_ok() {
        true => None,
        false => unit_enabled().await,
    };
    let status = gather(config, daemon, unit, now).await?;
    let text = match json {
        true => render_json(&status),
        false => render_text(&status, config, now),
    };
    write_out(out, &text)?;
    Ok(status)
}

/// The status as pretty JSON.
pub fn render_json(status: &Status) -> String {
    let mut text = serde_json::to_string_pretty(status).expect("strings and numbers serialize");
    text.push('\n');
    text
}

fn plural(count: u64, one: &str, many: &str) -> String {
    match count {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

fn megabytes(bytes: u64) -> String {
    // Integer arithmetic, one decimal.
    let tenths = (bytes * 10 + 524_288) / 1_048_576;
    format!("{}.{} MB", tenths / 10, tenths % 10)
}

/// The status for people.
pub fn render_text(status: &Status, config: &Config, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let d = &status.daemon;
    let _ = match (d.running, d.unit_enabled) {
        (true, _) => writeln!(
            out,
            "daemon:    running (/healthz at {} answered)",
            d.address
        ),
        (false, Some(true)) => writeln!(
            out,
            "daemon:    not running ({}: {}); the systemd unit is enabled",
            d.address,
            d.error.as_deref().unwrap_or("no answer")
        ),
        (false, _) => writeln!(
            out,
            "daemon:    not running ({}: {})",
            d.address,
            d.error.as_deref().unwrap_or("no answer")
        ),
    };
    match (&d.role, d.epoch, &status.leadership) {
        (Some(role), Some(epoch), _) => {
            let _ = writeln!(out, "role:      {role} (epoch {epoch})");
        }
        (Some(role), None, None) if config.storage.postgres.is_none() => {
            let _ = writeln!(
                out,
                "role:      {role} (the only daemon on its SQLite database)"
            );
        }
        (Some(role), None, _) => {
            let _ = writeln!(out, "role:      {role}");
        }
        (None, _, _) => {}
    }
    if let Some(lease) = &status.leadership {
        let _ = writeln!(
            out,
            "leader:    {} (epoch {}), lease renewed {:.1}s ago, {}",
            lease.holder,
            lease.epoch,
            lease.lease_age_seconds,
            match lease.expires_in_seconds > 0.0 {
                true => format!("runs out in {:.1}s", lease.expires_in_seconds),
                false => format!("ran out {:.1}s ago", -lease.expires_in_seconds),
            }
        );
    }
    match status.database.bytes {
        Some(bytes) => {
            let _ = writeln!(
                out,
                "database:  {} ({})",
                status.database.path,
                megabytes(bytes)
            );
        }
        None => {
            let _ = writeln!(out, "database:  {}", status.database.path);
        }
    }
    let o = &status.outbox;
    let _ = write!(out, "outbox:    {} waiting, {} failed", o.pending, o.failed);
    if let (Some(at), Some(route)) = (o.oldest_undelivered_at, &o.oldest_undelivered_route) {
        let _ = write!(
            out,
            "; oldest undelivered {} ago ({}, route {route})",
            duration((now - at).to_std().unwrap_or_default()),
            utc_minutes(at)
        );
    }
    let _ = writeln!(out);
    for m in &status.monitors {
        let zone = config
            .monitors
            .iter()
            .find(|c| c.name == m.name)
            .map_or(chrono_tz::UTC, |c| c.schedule.zone());
        let _ = writeln!(out, "\n{}", m.name);
        match &m.last_run {
            None => {
                let _ = writeln!(out, "  last run:  none yet");
            }
            Some(run) => {
                let _ = writeln!(
                    out,
                    "  last run:  run {} {}, {} ago ({} / {}): {} ok, {} failed, {} not retrieved, {} rejected{}",
                    run.id,
                    run.state,
                    duration(std::time::Duration::from_secs(run.age_seconds.max(0) as u64)),
                    local_minutes(run.started_at, zone),
                    utc_minutes(run.started_at),
                    run.succeeded,
                    run.failed,
                    run.not_retrieved,
                    run.rejected,
                    run.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
            }
        }
        let _ = match m.next_run_at {
            Some(next) => writeln!(
                out,
                "  next run:  {} ({})",
                local_minutes(next, zone),
                utc_minutes(next)
            ),
            None => writeln!(out, "  next run:  never (the schedule has no further time)"),
        };
        let total: u64 = m.firing.values().sum();
        let firing = match total {
            0 => "none firing".to_string(),
            _ => {
                let mut parts = Vec::new();
                for severity in ["critical", "warning", "info"] {
                    if let Some(count) = m.firing.get(severity) {
                        parts.push(format!("{count} {severity}"));
                    }
                }
                let silenced = match m.silenced {
                    0 => String::new(),
                    n => format!(" ({n} silenced)"),
                };
                format!("{} firing{silenced}", parts.join(", "))
            }
        };
        let _ = writeln!(out, "  alerts:    {firing}");
        let _ = writeln!(
            out,
            "  outbox:    {} waiting, {} failed",
            plural(m.outbox_pending, "notification", "notifications"),
            m.outbox_failed
        );
    }
    let _ = writeln!(out);
    let _ = match status.healthy() {
        true => writeln!(out, "status: healthy"),
        false => writeln!(out, "status: needs attention: {}", status.reason()),
    };
    out
}
