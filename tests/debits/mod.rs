//! The payment calendar (issue 17): a monitor's `debits` section, validated with
//! file:line:column errors and shown by `check-config` (`config`).

mod config;
