//! Two daemons on one PostgreSQL (issue 20's acceptance): exactly one leads, the other
//! stands by serving reads; after `kill -9` of the leader the other leads within two
//! leases, and every slot runs once, counted from the sandbox (batches created, checks
//! made) and from the database (runs per slot).
//!
//! Both are the real binary, each with its own folder and listener and the same
//! monitor (a slot every 3 s), sharing one fresh database and the sandbox. The lease is
//! 2 s. Every wait is on observable state (a log line, `/healthz`, a row), bounded by
//! [`PATIENCE`]. A leader paused (SIGSTOP) past its lease is fenced: woken, it writes
//! nothing, steps down and stands by. A run in flight when the leader dies (held at its
//! first results page by the gate) is resumed by the new leader from its journal, its
//! batch read rather than sent again.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use url::Url;

use balance_monitor::sandbox::{SandboxConfig, SandboxHandle};
use balance_monitor::secret::Secret;

use crate::store::postgres::{admin, create_database, url_of};
use crate::support::daemon::{API_KEY_ENV, ConfigSpec, Daemon, MonitorSpec, PATIENCE};
use crate::support::gate::GatedSandbox;
use crate::support::sandbox::{CsvRow, RunningSandbox, SANDBOX_KEY, authorizers_csv};
use crate::support::{run_binary, write_file};

const LEASE: Duration = Duration::from_secs(2);
const MONITOR: &str = "every-3s";
const AUTHORIZERS: u64 = 2;

/// A free loopback address for a daemon's listener (so `status` can find it).
fn free_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

struct Host {
    dir: tempfile::TempDir,
    config: PathBuf,
    listen: SocketAddr,
}

impl Host {
    /// A folder with the authorizers, the database URL as a secret file, and a
    /// configuration on PostgreSQL with a short lease.
    fn new(sandbox: &Url, url: &str) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<CsvRow> = ["A-1", "A-2"].into_iter().map(CsvRow::bank).collect();
        write_file(
            dir.path(),
            "people.csv",
            authorizers_csv(&rows, &[]).as_bytes(),
            0o600,
        );
        let url_file = write_file(dir.path(), "database-url", url.as_bytes(), 0o600);
        let database = dir.path().join("unused.db");
        let listen = free_address();
        let yaml = ConfigSpec::new(sandbox, &database)
            .monitor(MonitorSpec::new(MONITOR, "*/3 * * * * *", "people.csv"))
            .yaml()
            .replace(
                &format!("storage:\n  path: {}\n", database.display()),
                &format!(
                    "storage:\n  postgres:\n    url_file: {}\n    pool_size: 4\n    lease: {}s\n",
                    url_file.display(),
                    LEASE.as_secs()
                ),
            )
            .replace("listen: 127.0.0.1:0", &format!("listen: {listen}"));
        assert!(
            yaml.contains("lease: 2s") && yaml.contains(&listen.to_string()),
            "{yaml}"
        );
        let config = write_file(dir.path(), "config.yaml", yaml.as_bytes(), 0o600);
        Host {
            dir,
            config,
            listen,
        }
    }

    /// The role this daemon's `/healthz` names, and its epoch; `None` while it does
    /// not answer.
    async fn role(&self) -> Option<(String, Option<i64>)> {
        let response = reqwest::Client::new()
            .get(format!("http://{}/healthz", self.listen))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let headers = response.headers();
        let role = headers.get("balance-monitor-role")?.to_str().ok()?;
        let epoch = headers
            .get("balance-monitor-epoch")
            .map(|epoch| epoch.to_str().unwrap().parse().unwrap());
        Some((role.to_string(), epoch))
    }

    async fn metric(&self, name: &str) -> Option<u64> {
        let text = reqwest::get(format!("http://{}/metrics", self.listen))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .and_then(|value| value.parse().ok())
    }

    fn status(&self) -> String {
        let out = run_binary(
            self.dir.path(),
            &["--config", self.config.to_str().unwrap(), "status"],
            &[(API_KEY_ENV, SANDBOX_KEY)],
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

/// Polls `probe` every 50 ms until it answers `Some`, within [`PATIENCE`].
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "not {what} within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs and their slots as the database holds them: (run, slot, state).
async fn runs(database: &str) -> Vec<(i64, Option<chrono::DateTime<chrono::Utc>>, String)> {
    admin(Some(database))
        .await
        .query("SELECT id, scheduled_for, state FROM runs ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

fn is_leader(role: &Option<(String, Option<i64>)>) -> bool {
    matches!(role, Some((role, _)) if role == "leader")
}

/// The sandbox's settings for these tests: answers at once, and every chunk sent is a
/// new batch (no 24-hour cache), so the sandbox's count of batches is a count of sends.
fn sandbox_config() -> SandboxConfig {
    let mut config = SandboxConfig::new([Secret::new(SANDBOX_KEY)]);
    config.processing_time = Duration::ZERO;
    config.body_cache_ttl = Duration::ZERO;
    config
}

/// Two daemons on one fresh database and one sandbox.
struct Pair {
    sandbox: SandboxHandle,
    database: String,
    hosts: [Host; 2],
    daemons: [Option<Daemon>; 2],
}

impl Pair {
    async fn start(test: &str, sandbox_url: &Url, sandbox: SandboxHandle) -> Pair {
        let database = format!("bm_{test}_{}", std::process::id());
        create_database(&database).await;
        let url = url_of(&database);
        let hosts = [Host::new(sandbox_url, &url), Host::new(sandbox_url, &url)];
        let daemons = [
            Some(Daemon::start(&hosts[0].config)),
            Some(Daemon::start(&hosts[1].config)),
        ];
        Pair {
            sandbox,
            database,
            hosts,
            daemons,
        }
    }

    /// Which daemon leads and which stands by, once exactly one leads and the other
    /// answers; two leaders at any moment fail the test.
    async fn roles(&self) -> (usize, usize) {
        let hosts = &self.hosts;
        eventually("one daemon leading", async || {
            let roles = [hosts[0].role().await, hosts[1].role().await];
            match (is_leader(&roles[0]), is_leader(&roles[1])) {
                (true, true) => panic!("two leaders: {roles:?}"),
                (true, false) if roles[1].is_some() => Some((0, 1)),
                (false, true) if roles[0].is_some() => Some((1, 0)),
                _ => None,
            }
        })
        .await
    }

    /// Waits for a moment with `at_least` complete runs, none in flight.
    async fn idle(&self, at_least: usize) {
        eventually("runs complete and none in flight", async || {
            let runs = runs(&self.database).await;
            let complete = runs.iter().filter(|(_, _, state)| state == "complete");
            (complete.count() >= at_least && runs.iter().all(|(_, _, state)| state == "complete"))
                .then_some(())
        })
        .await;
    }

    /// Waits for a run of a slot after `after` to complete.
    async fn slot_complete_after(&self, after: chrono::DateTime<chrono::Utc>) {
        eventually("a slot after the takeover complete", async || {
            runs(&self.database)
                .await
                .iter()
                .any(|(_, slot, state)| {
                    state == "complete" && slot.is_some_and(|slot| slot > after)
                })
                .then_some(())
        })
        .await;
    }

    /// Stops daemon `index` with SIGTERM: a clean stop.
    async fn stop(&mut self, index: usize) {
        let daemon = self.daemons[index].take().unwrap();
        daemon.signal("TERM");
        let stopped = daemon.exit().await;
        assert_eq!(stopped.status.code(), Some(0), "a clean stop");
    }

    /// No slot ran twice: one run per slot in the database, and the sandbox made one
    /// batch per chunk the database holds (nothing sent twice), each authorizer
    /// checked once per chunk.
    async fn assert_each_slot_ran_once(&self) {
        let runs = runs(&self.database).await;
        let mut slots: Vec<_> = runs.iter().filter_map(|(_, slot, _)| *slot).collect();
        let count = slots.len();
        slots.dedup();
        assert_eq!(slots.len(), count, "no slot has two runs: {runs:?}");
        let chunks_sent: i64 = admin(Some(&self.database))
            .await
            .query_one(
                "SELECT count(*) FROM batches WHERE rightfoot_batch_id IS NOT NULL",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let complete = runs
            .iter()
            .filter(|(_, _, state)| state == "complete")
            .count();
        assert!(
            chunks_sent as usize >= complete && complete >= 2,
            "{runs:?}"
        );
        assert_eq!(
            self.sandbox.batches_created() as i64,
            chunks_sent,
            "one batch per stored chunk: nothing sent twice"
        );
        assert_eq!(
            self.sandbox.checks_performed(),
            AUTHORIZERS * chunks_sent as u64,
            "each authorizer checked once per chunk"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_daemons_one_leads_and_after_kill_9_the_other_leads_within_two_leases_running_each_slot_once()
 {
    let sandbox = RunningSandbox::start(sandbox_config()).await;
    let mut pair = Pair::start("kill", &sandbox.url, sandbox.handle.clone()).await;
    let (leader, standby) = pair.roles().await;
    let hosts = &pair.hosts;
    assert_eq!(hosts[leader].role().await, Some(("leader".into(), Some(1))));
    assert_eq!(hosts[standby].role().await, Some(("standby".into(), None)));
    assert_eq!(
        hosts[leader].metric("balance_monitor_leader").await,
        Some(1)
    );
    assert_eq!(
        hosts[standby].metric("balance_monitor_leader").await,
        Some(0)
    );
    assert_eq!(
        hosts[leader]
            .metric("balance_monitor_leader_changes_total")
            .await,
        Some(1)
    );
    let ready = reqwest::get(format!("http://{}/readyz", hosts[standby].listen))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "a standby serving reads is ready");
    let said = hosts[standby].status();
    assert!(said.contains("role:      standby\n"), "{said}");
    assert!(said.contains("(epoch 1), lease renewed "), "{said}");
    let said = hosts[leader].status();
    assert!(said.contains("role:      leader (epoch 1)\n"), "{said}");

    // The leader runs slots; it is killed between two of them, with no run in flight
    // (a run resumed from its journal is the daemon's start-up path, tested in
    // `daemon`), so that every batch the sandbox made belongs to one stored chunk.
    pair.idle(1).await;
    let killed = pair.daemons[leader].take().unwrap();
    let stopped_at = Instant::now();
    killed.kill().await;

    let hosts = &pair.hosts;
    let epoch = eventually("the standby leading", async || {
        match hosts[standby].role().await {
            Some((role, epoch)) if role == "leader" => epoch,
            _ => None,
        }
    })
    .await;
    let failover = stopped_at.elapsed();
    eprintln!("failover: {failover:?} (lease {LEASE:?})");
    assert!(failover <= 2 * LEASE, "failover took {failover:?}");
    assert_eq!(epoch, 2);
    assert_eq!(
        hosts[standby]
            .metric("balance_monitor_leader_changes_total")
            .await,
        Some(1)
    );

    // The next slot after the takeover runs, once, on the new leader.
    pair.slot_complete_after(chrono::Utc::now()).await;
    pair.stop(standby).await;
    pair.assert_each_slot_ran_once().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_paused_past_its_lease_writes_nothing_when_it_wakes_and_stands_by() {
    let sandbox = RunningSandbox::start(sandbox_config()).await;
    let mut pair = Pair::start("pause", &sandbox.url, sandbox.handle.clone()).await;
    let (leader, standby) = pair.roles().await;
    pair.idle(1).await;
    let paused = pair.daemons[leader].as_ref().unwrap();
    paused.signal("STOP");
    let hosts = &pair.hosts;
    eventually("the standby leading", async || {
        is_leader(&hosts[standby].role().await).then_some(())
    })
    .await;
    // Slots come while the old leader sleeps; the new one runs them.
    pair.slot_complete_after(chrono::Utc::now()).await;

    // Woken, the old leader's timers fire at once: its due slot and its renewal. The
    // first store write is refused by the fence, and it stands by.
    pair.daemons[leader].as_ref().unwrap().signal("CONT");
    let woken = pair.daemons[leader].as_mut().unwrap();
    woken
        .wait_for("stepping down", |line| {
            line.message().contains("stepping down")
        })
        .await;
    let hosts = &pair.hosts;
    eventually("the old leader standing by", async || {
        (hosts[leader].role().await == Some(("standby".into(), None))).then_some(())
    })
    .await;
    assert_eq!(
        hosts[leader]
            .metric("balance_monitor_leader_changes_total")
            .await,
        Some(2),
        "it led, then stepped down"
    );
    assert!(is_leader(&hosts[standby].role().await));
    // Once its term's work has stopped, its writes go through unfenced again: a standby
    // serving reads, it is ready.
    let readyz = format!("http://{}/readyz", hosts[leader].listen);
    eventually("the old leader ready as a standby", async || {
        let status = reqwest::get(&readyz).await.ok()?.status();
        (status == 200).then_some(())
    })
    .await;

    pair.slot_complete_after(chrono::Utc::now()).await;
    pair.stop(leader).await;
    pair.stop(standby).await;
    pair.assert_each_slot_ran_once().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_in_flight_when_the_leader_dies_is_resumed_by_the_new_leader_from_its_journal() {
    let sandbox = GatedSandbox::start(sandbox_config()).await;
    // The first results page is held: the batch exists and its id is stored, the run is
    // reading when its leader dies.
    let mut hold = sandbox.hold_next("the first results page", |exchange| {
        exchange.is_results_page()
    });
    let mut pair = Pair::start("resume", &sandbox.url, sandbox.handle.clone()).await;
    hold.caught().await;
    let (leader, standby) = pair.roles().await;
    let in_flight = runs(&pair.database).await;
    assert_eq!(in_flight.len(), 1, "{in_flight:?}");
    assert_eq!(in_flight[0].2, "running", "{in_flight:?}");
    pair.daemons[leader].take().unwrap().kill().await;
    hold.release();

    let resumed = pair.daemons[standby].as_mut().unwrap();
    resumed
        .wait_for("the takeover", |line| {
            line.message().starts_with("took the leadership lease")
        })
        .await;
    resumed
        .wait_for("the run resumed", |line| {
            line.is("resuming unfinished runs")
        })
        .await;
    let run = in_flight[0].0;
    eventually("the resumed run complete", async || {
        runs(&pair.database)
            .await
            .iter()
            .any(|(id, _, state)| *id == run && state == "complete")
            .then_some(())
    })
    .await;
    let results: i64 = admin(Some(&pair.database))
        .await
        .query_one(
            "SELECT count(*) FROM results WHERE run_id = $1 AND outcome = 'retrieved'",
            &[&run],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        results as u64, AUTHORIZERS,
        "every authorizer's balance, once"
    );
    pair.slot_complete_after(chrono::Utc::now()).await;
    pair.stop(standby).await;
    pair.assert_each_slot_ran_once().await;
}
