//! The built-in sandbox served on 127.0.0.1:0, clients pointed at it, and valid
//! authorizers to send it.
//!
//! Authorizers are made the way the daemon gets them: rows in Rightfoot's CSV upload
//! format, written to a private (0600) file in a temporary directory and loaded with
//! `authorizers::source::load_file`. The sandbox's clock is frozen unless a test says
//! otherwise, so time passes only through `advance`.

use std::collections::BTreeMap;
use std::time::Duration;

use balance_monitor::authorizers::Authorizer;
use balance_monitor::authorizers::source::load_file;
use balance_monitor::rightfoot::{ClientConfig, RetryPolicy, RightfootClient};
use balance_monitor::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use balance_monitor::secret::Secret;
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use url::Url;

/// The one API key the test sandboxes accept.
pub const SANDBOX_KEY: &str = "rf_test_e2e_5f4e3d2c1b0a";

/// How long a batch takes on the sandbox clock in [`frozen_sandbox_config`].
pub const PROCESSING_TIME: Duration = Duration::from_secs(600);

/// What the sandbox clock shows at start-up.
pub fn sandbox_start_time() -> DateTime<Utc> {
    "2025-01-06T12:00:00Z".parse().unwrap()
}

/// One key, a frozen clock at [`sandbox_start_time`], results spread over
/// [`PROCESSING_TIME`], no faults, no scenario.
pub fn frozen_sandbox_config() -> SandboxConfig {
    let mut config = SandboxConfig::new([Secret::new(SANDBOX_KEY)]);
    config.clock_start = Some(sandbox_start_time());
    config.clock_speed = 0.0;
    config.processing_time = PROCESSING_TIME;
    config
}

/// A sandbox serving on an ephemeral port, webhook worker included; it shuts down when
/// dropped.
pub struct RunningSandbox {
    pub url: Url,
    pub handle: SandboxHandle,
    _stop: oneshot::Sender<()>,
}

impl RunningSandbox {
    pub async fn start(config: SandboxConfig) -> RunningSandbox {
        let sandbox = Sandbox::new(config).expect("a valid sandbox configuration");
        let handle = sandbox.handle();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(sandbox.serve(listener, async {
            let _ = stopped.await;
        }));
        RunningSandbox {
            url,
            handle,
            _stop: stop,
        }
    }

    /// Moves the sandbox clock forward.
    pub fn advance(&self, by: Duration) {
        self.handle.clock().advance(by);
    }

    /// A client talking to this sandbox directly, with [`fast_client_config`].
    pub fn client(&self) -> RightfootClient {
        RightfootClient::new(fast_client_config(&self.url, SANDBOX_KEY)).unwrap()
    }
}

/// A client configuration for `base_url` with quick retries: 4 attempts, backoff from
/// 10 ms, `Retry-After` honoured up to a minute.
pub fn fast_client_config(base_url: &Url, key: &str) -> ClientConfig {
    let mut config = ClientConfig::new(base_url.clone(), Secret::new(key));
    config.retry = RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(60),
        post_retry_window: Duration::from_secs(23 * 3600),
    };
    config
}

/// How a CSV row pays: a bank account, or a debit card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payment {
    BankAccount,
    DebitCard,
}

/// One valid row of a Rightfoot-format CSV file.
#[derive(Clone, Debug)]
pub struct CsvRow {
    pub id: String,
    pub payment: Payment,
    /// `meta_<key>` cells, by key.
    pub meta: BTreeMap<String, String>,
}

impl CsvRow {
    pub fn bank(id: impl Into<String>) -> CsvRow {
        CsvRow {
            id: id.into(),
            payment: Payment::BankAccount,
            meta: BTreeMap::new(),
        }
    }

    pub fn card(id: impl Into<String>) -> CsvRow {
        CsvRow {
            payment: Payment::DebitCard,
            ..CsvRow::bank(id)
        }
    }

    pub fn meta(mut self, key: &str, value: &str) -> CsvRow {
        self.meta.insert(key.to_string(), value.to_string());
        self
    }
}

/// The fixed columns [`authorizers_csv`] writes, before the `meta_*` ones.
const CSV_HEADER: &str = "authorizer_unique_id,first_name,last_name,street_address_line1,city,state,zip_code,country,phone_number,date_of_birth,ssn,account_number,routing_number,debit_card_number,cvv,expiration_month,expiration_year";

/// `rows` in Rightfoot's CSV upload format, with one `meta_<key>` column per entry of
/// `meta_keys`, in that order (a row without the key leaves the cell empty). Every row
/// is valid; the account number differs per row.
pub fn authorizers_csv(rows: &[CsvRow], meta_keys: &[&str]) -> String {
    let mut file = String::from(CSV_HEADER);
    for key in meta_keys {
        file.push_str(",meta_");
        file.push_str(key);
    }
    file.push('\n');
    for (index, row) in rows.iter().enumerate() {
        let payment = match row.payment {
            Payment::BankAccount => format!("{},021000021,,,,", 100_000_000 + index),
            Payment::DebitCard => ",,4111111111111111,123,12,2030".to_string(),
        };
        file.push_str(&format!(
            "{},Jane,Doe,1 Main St,Anytown,CA,94107,US,5551234567,01/31/1980,123456789,{payment}",
            row.id
        ));
        for key in meta_keys {
            file.push(',');
            file.push_str(row.meta.get(*key).map_or("", String::as_str));
        }
        file.push('\n');
    }
    file
}

/// The authorizers of `rows`, loaded as the daemon loads a lender's list: from a CSV
/// file only its owner can read. Panics if any row is rejected.
pub fn load_authorizers(rows: &[CsvRow]) -> Vec<Authorizer> {
    let mut meta_keys: Vec<&str> = rows
        .iter()
        .flat_map(|row| row.meta.keys().map(String::as_str))
        .collect();
    meta_keys.sort_unstable();
    meta_keys.dedup();
    let dir = tempfile::tempdir().unwrap();
    let path = super::write_file(
        dir.path(),
        "authorizers.csv",
        authorizers_csv(rows, &meta_keys).as_bytes(),
        0o600,
    );
    let loaded = load_file(&path).expect("the generated CSV loads");
    assert!(loaded.rejected.is_empty(), "{:?}", loaded.rejected);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.valid.len(), rows.len());
    loaded.valid
}

/// `count` bank-account authorizers with ids `<prefix>-0`, `<prefix>-1`, ...
pub fn bank_authorizers(prefix: &str, count: usize) -> Vec<Authorizer> {
    let rows: Vec<CsvRow> = (0..count)
        .map(|n| CsvRow::bank(format!("{prefix}-{n}")))
        .collect();
    load_authorizers(&rows)
}
