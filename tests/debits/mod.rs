//! The payment calendar (issue 17): a monitor's `debits` section, validated with
//! file:line:column errors and shown by `check-config` (`config`), and the lender's ACH
//! return file imported into the store (`returns`), and a run of a monitor with debits
//! against the sandbox: only the due authorizers checked, each decision stored (`run`).

mod config;
mod returns;
mod run;
