//! The 10,000,000-result data set the read-side benchmarks share (`history_api`,
//! `dashboard`): one monitor, daily runs from 2023-01-01, chunks of 1,000 authorizers,
//! and one result per authorizer per run (94% balances, 3% failed checks, 2% not
//! retrieved, 1% rejected; balances from a hash, some negative).
//!
//! [`dataset`] builds it once into `target/bench-data/history_api-<A>x<R>.db` and reuses
//! it while its `.complete` marker exists: the store creates the schema (every
//! migration), then one plain SQLite connection fills it in one transaction with
//! prepared statements, with the result and member indexes dropped before the load and
//! rebuilt after it from their own `CREATE INDEX` text, and the file goes back to WAL.
#![allow(dead_code)] // Each benchmark uses a different part of it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, ensure};
use balance_monitor::store::Store;
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use rusqlite::{Connection, params};

pub const CHUNK: usize = 1_000;
pub const NOT_RETRIEVED: &str = "no result by the deadline";
pub const REJECTED: &str = "Invalid routing number for authorizer(s).";

/// The seeded outcome of one authorizer in one run.
pub enum Seeded {
    Balance(i64),
    Code(i64),
    NotRetrieved,
    Rejected,
}

pub fn mix(run: usize, authorizer: usize) -> u64 {
    // splitmix64 of the pair: deterministic, uniform enough, no dependency.
    let mut z = (run as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (authorizer as u64);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn seeded(run: usize, authorizer: usize) -> Seeded {
    let h = mix(run, authorizer);
    match h % 100 {
        0..=93 => Seeded::Balance(((h >> 8) % 2_000_000) as i64 - 200_000),
        94..=96 => Seeded::Code([3300, 3400, 3200, 9000][((h >> 8) % 4) as usize]),
        97..=98 => Seeded::NotRetrieved,
        _ => Seeded::Rejected,
    }
}

pub fn authorizer_id(index: usize) -> String {
    format!("AUTH-{index:05}")
}

/// Run `run` (1-based, the row id) answers the daily 06:00 UTC slot from 2023-01-01.
pub fn slot(run: usize) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 1, 1, 6, 0, 0).unwrap() + chrono::Duration::days(run as i64 - 1)
}

pub fn batch_id(run: usize, chunk: usize) -> String {
    format!("BENCH-{run:04}-{chunk:02}")
}

pub fn text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The cached data set, built if it is missing.
pub fn dataset(authorizers: usize, runs: usize) -> anyhow::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let directory = target.join("bench-data");
    std::fs::create_dir_all(&directory)?;
    let name = format!("history_api-{authorizers}x{runs}");
    let database = directory.join(format!("{name}.db"));
    let marker = directory.join(format!("{name}.complete"));
    if marker.exists() && database.exists() {
        println!("data set: reusing {}", database.display());
        return Ok(database);
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database.display()));
    }
    let started = Instant::now();
    seed(&database, authorizers, runs)?;
    std::fs::write(&marker, b"complete\n")?;
    let size = std::fs::metadata(&database)?.len();
    println!(
        "data set: built {} in {:.1} s ({:.2} GB)",
        database.display(),
        started.elapsed().as_secs_f64(),
        size as f64 / 1e9
    );
    Ok(database)
}

pub fn seed(database: &Path, authorizers: usize, runs: usize) -> anyhow::Result<()> {
    // The daemon's store creates the schema, every migration included.
    let store = Store::open(database).context("creating the schema")?;
    tokio::runtime::Builder::new_current_thread()
        .build()?
        .block_on(store.close());
    drop(store);

    let mut connection = Connection::open(database)?;
    connection.execute_batch(
        "PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF; PRAGMA foreign_keys = OFF; \
         PRAGMA cache_size = -1048576; PRAGMA temp_store = MEMORY; PRAGMA locking_mode = EXCLUSIVE;",
    )?;
    let indexes: Vec<(String, String)> = connection
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN ('results', 'batch_members')",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, _) in &indexes {
        connection.execute_batch(&format!("DROP INDEX {name}"))?;
    }

    let started = Instant::now();
    let transaction = connection.transaction()?;
    transaction.execute(
        "INSERT INTO monitors (id, name, created_at) VALUES (1, 'bench', ?1)",
        params![text(slot(1))],
    )?;
    {
        let mut run_row = transaction.prepare(
            "INSERT INTO runs (id, monitor_id, scheduled_for, run_trigger, state, created_at, \
                 started_at, finished_at) VALUES (?1, 1, ?2, 'schedule', 'complete', ?2, ?3, ?4)",
        )?;
        let mut batch_row = transaction.prepare(
            "INSERT INTO batches (id, run_id, chunk_index, body_sha256, state, rightfoot_batch_id, \
                 submitted_at, accepted_count, deadline, created_at, updated_at, finished_at, \
                 first_attempt_at) \
             VALUES (?1, ?2, ?3, ?4, 'complete', ?5, ?6, ?7, ?8, ?6, ?9, ?9, ?6)",
        )?;
        let mut member = transaction.prepare(
            "INSERT INTO batch_members (run_id, batch_id, authorizer_unique_id) VALUES (?1, ?2, ?3)",
        )?;
        let mut result = transaction.prepare(
            "INSERT INTO results (run_id, batch_id, authorizer_unique_id, outcome, balance_cents, \
                 balance_status_code, retrieved_at, reason, recorded_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        let ids: Vec<String> = (0..authorizers).map(authorizer_id).collect();
        let chunks = authorizers.div_ceil(CHUNK);
        let mut batch_rowid = 0i64;
        for run in 1..=runs {
            let at = slot(run);
            let finished = text(at + chrono::Duration::minutes(20));
            run_row.execute(params![
                run as i64,
                text(at),
                text(at + chrono::Duration::seconds(1)),
                finished
            ])?;
            let submitted = text(at + chrono::Duration::seconds(2));
            let deadline = text(at + chrono::Duration::minutes(80));
            let mut batch_of_chunk = Vec::with_capacity(chunks);
            for chunk in 0..chunks {
                batch_rowid += 1;
                batch_of_chunk.push(batch_rowid);
                batch_row.execute(params![
                    batch_rowid,
                    run as i64,
                    chunk as i64,
                    format!("{:064x}", batch_rowid),
                    batch_id(run, chunk),
                    submitted,
                    CHUNK.min(authorizers) as i64,
                    deadline,
                    finished
                ])?;
            }
            for (index, id) in ids.iter().enumerate() {
                let batch = batch_of_chunk[index / CHUNK];
                member.execute(params![run as i64, batch, id])?;
                let offset = chrono::Duration::seconds((index % 600) as i64);
                let retrieved = text(at + chrono::Duration::minutes(5) + offset);
                let recorded = text(at + chrono::Duration::minutes(6) + offset);
                match seeded(run, index) {
                    Seeded::Balance(cents) => result.execute(params![
                        run as i64,
                        batch,
                        id,
                        "retrieved",
                        cents,
                        0,
                        retrieved,
                        None::<&str>,
                        recorded
                    ])?,
                    Seeded::Code(code) => result.execute(params![
                        run as i64,
                        batch,
                        id,
                        "retrieved",
                        None::<i64>,
                        code,
                        retrieved,
                        None::<&str>,
                        recorded
                    ])?,
                    Seeded::NotRetrieved => result.execute(params![
                        run as i64,
                        batch,
                        id,
                        "not_retrieved",
                        None::<i64>,
                        None::<i64>,
                        None::<&str>,
                        NOT_RETRIEVED,
                        recorded
                    ])?,
                    Seeded::Rejected => result.execute(params![
                        run as i64,
                        batch,
                        id,
                        "rejected",
                        None::<i64>,
                        None::<i64>,
                        None::<&str>,
                        REJECTED,
                        recorded
                    ])?,
                };
            }
            if run % 100 == 0 {
                println!(
                    "  seeded {run} of {} runs ({:.0} s)",
                    runs,
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    transaction.commit()?;
    println!("  rows written in {:.1} s", started.elapsed().as_secs_f64());
    for (name, sql) in &indexes {
        let started = Instant::now();
        connection.execute_batch(sql)?;
        println!(
            "  index {name} built in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    connection.execute_batch("PRAGMA locking_mode = NORMAL; PRAGMA journal_mode = WAL;")?;
    let check: String = connection.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    ensure!(check == "ok", "the seeded file fails quick_check: {check}");
    Ok(())
}
