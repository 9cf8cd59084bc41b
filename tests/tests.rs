//! The integration tests: one binary, one module per capability.
//!
//! Every test here talks to real things on loopback (the built-in sandbox, SQLite files
//! in temporary directories, the real `balance-monitor` binary) and never sleeps to wait
//! for a server: servers are bound to port 0 before they are used.
//!
//! - `alerting`: the daemon's scheduler, launcher, alert judgement and outbox in one
//!   process on paused time, against the sandbox with a scripted drop, overdraft, closed
//!   account and recovery over four scheduled runs: exactly the expected digest per run
//!   and route, in order, to a real webhook receiver and a real SMTP server.
//! - `audit`: the personal-data audit: 1,000 authorizers with distinctive
//!   personal values (and 40 rows pre-flight rejects) through `check-config`, `run-now`
//!   and the daemon at trace level, against a sandbox injecting 500/503/429s and cut
//!   bodies, with failed checks, firing rules, SMTP and webhook routes (one failing);
//!   then every log, database byte (WAL included), email (decoded too), webhook body,
//!   read-API answer and read-side command output is searched for every value.
//! - `authorizers`: pre-flight validation, YAML and CSV loading, the permission rule,
//!   the request body, and that no personal value is ever printed.
//! - `backup`: `balance-monitor backup` while other connections write: a write open
//!   when the copy starts and one committed half-way through are not in the copy, which
//!   passes `integrity_check`; a busy writer cannot keep a copy from ending; no
//!   overwrite without `--force`; mode 0600.
//! - `chaos`: the chaos suite: the real daemon against a sandbox failing 30% of
//!   requests, answering late, 404 after create and cut short (every run terminal, no
//!   panic); SMTP and webhook down for an hour of paused time, then everything
//!   delivered once by key; a full disk (`ulimit -f`) and a read-only database: a clear
//!   error, nothing corrupted, recovery once writable.
//! - `cli`: `--version`, `--help` (global options under their heading, examples, no
//!   `--config` where none is read), the `sandbox` subcommand as a real process, exit
//!   codes; `run-now`'s summary on stdout with only warnings on stderr, no Debug
//!   formatting in logs at trace level, output into a closed pipe ending quietly, and
//!   "Rightfoot" spelled with a capital in every message.
//! - `client_sandbox`: the API client against the built-in sandbox over real HTTP: chunks
//!   read to completion, rejected rows, paging, progressive results, retries, the page
//!   loop guard, status codes, exact money, the body cache, CSV export, the completion
//!   webhook, and the contract test of every request against the OpenAPI document.
//! - `completion_webhook`: Rightfoot's completion webhook end to end: the sandbox posts
//!   it to the daemon's listener, which wakes the run's reader long before its next poll
//!   (on frozen run time); a redelivery is a duplicate, a wrong token wakes nothing, and
//!   an unreachable receiver leaves polling to complete the run.
//! - `config`: the bad-configuration table, secrets, `check-config`.
//! - `crash`: the crash suite: the real daemon SIGKILLed at seeded random points
//!   of runs over 2,000 authorizers with alerts, restarted each time: one result per
//!   authorizer, no second check, every digest exactly once by key, integrity kept.
//! - `daemon`: the real `balance-monitor run` killed with SIGKILL at each durable step
//!   (before the batch id is stored, mid-read, at the deadline) and restarted on the
//!   same database, stopped with SIGTERM mid-run, reloaded with SIGHUP (a bad
//!   configuration kept out, a good one applied); `run-now`'s summary and exit codes.
//! - `dashboard`: the web dashboard over HTTP on a copy of a real demo week: every page
//!   sends a browser without a session to `/login`, a wrong token waits a second, the
//!   session cookie's attributes, log out, a POST without the CSRF token refused, the
//!   CSP and other headers, no script, no inline style, no personal value on any page,
//!   the first load under 150 KB gzipped, the stylesheet cached for a year, the alerts
//!   filters in the URL and a silence set from a row.
//! - `dashboard_browser`: the same pages in headless Chromium through chromedriver
//!   (fantoccini): login, overview → monitor → run → authorizer by their links, the
//!   charts' series and hover titles, an alerts filter, "retry now", and a console
//!   without errors or CSP violations.
//! - `debits`: the payment calendar (issue 17): the `debits` section of a monitor,
//!   accepted and shown by `check-config`, and each bad value refused with its position;
//!   `returns import` refusing bad rows by line and column, and idempotent; a run
//!   against scripted balances checking only the authorizers with a debit due and
//!   storing each decision with its reason.
//! - `demo`: `balance-monitor demo` as a newcomer runs it: under 60 s and never 3 s
//!   silent, each run's account, alerts as 8bit `.eml` files and pretty-printed webhook
//!   payloads named `<run-id>-<route>`, a database `runs` can read with one clock's
//!   times, the CSV kept private, and no personal value printed, logged, sent or stored.
//! - `first_minutes`: `init` into an empty folder passes `check-config`; `check-config`
//!   says "valid" only when it exits 0, checks the storage folder, and with `--online`
//!   reaches the sandbox or fails within 10 s on a closed port; `run-now` against a closed
//!   port or with a wrong key ends at once, naming the base URL and the key's source.
//! - `digest_render`: the HTML part of a digest like the demo's, rendered by headless
//!   Chromium light and dark, on a phone's width and a desktop's: the subject's order,
//!   one money format, links to the run and each borrower with `http.public_url` (and
//!   none without), dark mode applied, no sideways scrolling; screenshots kept in
//!   `target/tmp/digest-screenshots/`.
//! - `export`: `balance-monitor export-csv`: Rightfoot's columns, quoting of commas and
//!   quotes, runs (with cached chunks), batches, monitors and time windows, each result
//!   once; unknown selections exit 1; `-o FILE` private, atomic and untouched on failure;
//!   the store's stream and a failing sink.
//! - `history`: `balance-monitor history` (sparkline, zones, change, every outcome,
//!   `--limit`, `--since`, `--json`, an unknown authorizer) and `runs` / `runs show`
//!   (counts, notifications, alerts) on a database filled through the store's API.
//! - `http`: the daemon's listener: health and the completion webhook.
//! - `leadership`: two daemons on one PostgreSQL: exactly one leads (`/healthz`,
//!   `/metrics`, `status`), a standby stays ready, and after `kill -9` of the leader the
//!   other leads within two leases and every slot runs once (sandbox and database).
//! - `live_config`: what a reload reaches (the HTTP and webhook tokens at once, one
//!   in-flight bound measured on the sandbox's own counter) and whose metadata a run's
//!   alerts show (its own plan's, also when a crash left it unjudged).
//! - `notify`: digests delivered to real receivers on loopback: an SMTP server with AUTH
//!   (subject, both bodies, escaping, the CSV of every row, recipients, Message-ID on
//!   retries, 5xx/4xx answers, a server that never greets), 8bit `.eml` files named
//!   `<run-id>-<route>` that never overwrite another notification, a `sendmail`
//!   command, and a webhook receiver that checks the HMAC signature and records
//!   idempotency keys (2xx, 4xx, 408, 429, 5xx, a hang, a refused connection).
//! - `retention`: `Store::prune`: old runs, results, delivered notifications and dormant
//!   resolved alerts go; firing alerts, undelivered notifications and every run
//!   something refers to stay; a run's write completes while pruning is under way; the
//!   daemon's pass stops between batches on cancel and resumes later.
//! - `outbox`: the outbox's delivery guarantees: digests queued by judged runs survive a
//!   webhook outage (refused, then 503) and an SMTP one on the 30 s, 1 min, 2 min...
//!   backoff under one idempotency key (`Idempotency-Key`, `Message-ID`), `Retry-After`,
//!   `give_up_after` and a 400 ending `failed` where `/metrics` and `runs show` show it;
//!   the real daemon killed mid-delivery and restarted sends again with the same key;
//!   `run-now` in three processes neither repeats nor loses an alert; `test-alert`.
//! - `packaging`: `--version` with the git revision, shell completions and man pages
//!   generated from the CLI, and the systemd unit checked against `config.example.yaml`.
//! - `postgres`: the real binary on PostgreSQL: `run-now` against the sandbox stores
//!   its run there (and no SQLite file); `migrate --from PATH.db` copies the demo's
//!   database into a fresh PostgreSQL database, verified per table, refused a second
//!   time without `--force`, then `history`, `runs` and `export-csv` print the same bytes
//!   from both stores; a server that is down is exit 1 naming it, never its password.
//! - `read_api`: the local read API's Rightfoot-shaped routes over real HTTP against a
//!   real store: history, balances and the CSV export checked against the OpenAPI
//!   schemas, exact cents, a keyset walk that returns every row once while runs are
//!   stored, Rightfoot's cache counted once, errors in the envelope, bearer tokens, and
//!   the crate's own Rightfoot client reading it.
//! - `read_api_ops`: runs and alerts, `/readyz` (write probe, overdue schedules),
//!   `/metrics` with exact values for a known store, the configuration refusing an open
//!   listener without a token, and the real daemon serving it all behind its token.
//! - `rightfoot_client`: the API client against scripted local HTTP servers.
//! - `routes`: Slack, Teams and PagerDuty against receivers playing each service: 5,000
//!   alerts under two rules as one message within Slack's limits, one card under
//!   28 KB, two grouped pages (or 100 per-alert events and one for the rest, paced), and
//!   their resolves under the same keys; a 429's `Retry-After`, `invalid_payload` and
//!   PagerDuty's 400 as failures; `test-alert` for each kind; the daemon killed during
//!   PagerDuty delivery (no incident opened twice, none lost); no personal value in
//!   any of the three payloads.
//! - `run`: one run of a monitor against the sandbox on paused time: a complete run,
//!   rejections, the result deadline, Rightfoot's 24-hour cache, bounded concurrency,
//!   crash recovery from each durable step, and cancellation.
//! - `run_lease`: issue 15 with the real binary: a second `run-now` of a busy monitor
//!   is refused naming the run in progress, a slot coming meanwhile is skipped as
//!   overlapping, runs are judged in order, and a chunk linked by the cache to a batch
//!   still being read waits for its results; never a false `run_failed`.
//! - `sandbox`: the built-in Rightfoot simulator over HTTP: auth, validation, the body-hash
//!   cache, progressive results, paging, exports, history, scenarios, faults, webhooks.
//! - `scheduler`: the schedule loop on paused time with a real store and a fake launcher:
//!   daylight saving, catch-up after downtime, no overlap, several zones, restarts,
//!   cancellation, jitter and reload.
//! - `silences`: an authorizer's rule silenced through four scheduled runs on paused
//!   time: every other alert notified, that one held until its silence ends and then
//!   carried by the next digest; silences whose matchers must not match, matching
//!   nothing; then `alerts` (table, JSON, filters, `show`), `silence add/list/expire`
//!   and `status` (daemon up, and not running within 2 s) as the real binary.
//! - `status`: `balance-monitor status` exiting 1 with the reason on one line for a
//!   failed last run and for a route whose latest notification failed, each cleared by
//!   a later success.
//! - `store`: one suite of behaviour written against the store's interface and run on
//!   every backend (`store::on_sqlite::*` and `store::on_postgres::*`: idempotent
//!   upserts, slots, plans, cache links, closing), SQLite's own tests
//!   (`store::sqlite::*`: migrations, the file, a schema without personal data, readers
//!   not blocked by another process's lock) and PostgreSQL's (`store::postgres::*`: one
//!   migration under the lock, a newer schema refused, a wrong password, a server down
//!   and a bad URL named without the password). PostgreSQL is the server
//!   `BALANCE_MONITOR_TEST_POSTGRES_URL` names (`scripts/test` starts one).
//! - `store_faults`: a store that stops taking writes mid-run (a backend failing every
//!   write as a full disk does), at a submission or at the judgement, is waited out by
//!   the daemon, which resumes the run and judges every borrower without a restart
//!   while `/readyz` says why it is not ready
//!   and `/metrics` counts the errors; a corrupt database stops the daemon and
//!   `run-now` with exit 1 before any request reaches the sandbox.
//! - `systemd_boot`: the real `balance-monitor run` booted as systemd boots it: `READY=1`
//!   with a status, watchdog pings, `STOPPING=1` and exit 0 on SIGTERM; a bad
//!   configuration exits 2 without ever saying ready.
//! - `tidy`: the architecture's machine-checkable rules over `src/`: no import cycle
//!   between top-level modules or between the files of a folder, a `domain` that
//!   depends on nothing, rusqlite and SQL only in `src/store/`, files of at most 600
//!   lines of non-test code, a `//!` paragraph first in every file, and a code-map
//!   entry in ARCHITECTURE.md for every top-level module.
//! - `support`: shared helpers (temporary directories, running the binary, a sandbox on
//!   port 0 with authorizers to send it, a recording proxy, the OpenAPI request contract,
//!   an SMTP server and a webhook receiver on port 0, Slack, Teams and PagerDuty
//!   stand-ins, headless Chromium for screenshots,
//!   the daemon as a child process with its JSON log and database, a sandbox behind a
//!   gate that can hold an answer, a database with seeded history and the read-side
//!   commands run against it).
//!   port 0 with authorizers to send it, a recording proxy, the OpenAPI request and
//!   response contracts, the read API over a store with runs written as a run writes
//!   them, an SMTP server and a webhook receiver on port 0).
#![forbid(unsafe_code)]

mod alerting;
mod audit;
mod authorizers;
mod backup;
mod chaos;
mod cli;
mod client_sandbox;
mod completion_webhook;
mod config;
mod crash;
mod daemon;
mod dashboard;
mod dashboard_browser;
mod debits;
mod demo;
mod digest_render;
mod export;
mod first_minutes;
mod history;
mod http;
mod leadership;
mod live_config;
mod notify;
mod outbox;
mod packaging;
mod postgres;
mod read_api;
mod read_api_ops;
mod retention;
mod rightfoot_client;
mod routes;
mod run;
mod run_lease;
mod sandbox;
mod scheduler;
mod silences;
mod status;
mod store;
mod store_faults;
mod support;
mod systemd_boot;
mod tidy;
