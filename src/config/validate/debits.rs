//! A monitor's `debits` section: where the debits are (`csv` or `from_metadata`, one
//! of them), how many business days ahead a run looks (`due_within`), the ACH
//! `cutoff`, the `margin` a balance must cover beyond the amount, how long a balance
//! stays evidence (`fresh_for`), the lender's `extra_holidays` and the `recheck`
//! phase. The debits file itself is read at each run, not here.

use std::time::Duration;

use chrono::{NaiveDate, NaiveTime};
use serde_saphyr::Spanned;

use super::validator::{Validator, is_identifier};
use crate::config::model::{DebitSource, Debits, Recheck};
use crate::config::raw::{RawDebits, RawFromMetadata, RawRecheck, Text};
use crate::domain::{BusinessCalendar, Cents, Decision};
use crate::schedule::Schedule;

/// The most business days ahead a run may look.
pub const MAX_DUE_WITHIN: u64 = 30;

impl Validator<'_> {
    /// The validated section, or `None` after recording its problems.
    pub(super) fn debits(
        &mut self,
        raw: &Spanned<RawDebits>,
        key: &str,
        zone: chrono_tz::Tz,
    ) -> Option<Debits> {
        let d = &raw.value;
        let source = match (&d.csv, &d.from_metadata) {
            (Some(csv), None) => Some(DebitSource::Csv(self.path(&csv.value))),
            (None, Some(from)) => self.debits_from_metadata(from, &format!("{key}.from_metadata")),
            (None, None) => {
                self.at(
                    raw,
                    key,
                    "give the debits as csv: PATH or from_metadata: { date: FIELD, amount: FIELD }",
                );
                None
            }
            (Some(_), Some(from)) => {
                self.at(
                    from,
                    format!("{key}.from_metadata"),
                    "give only one of csv or from_metadata",
                );
                None
            }
        };
        let due_within = self.count(
            &d.due_within,
            &format!("{key}.due_within"),
            1,
            0,
            MAX_DUE_WITHIN,
        ) as u32;
        let cutoff = match &d.cutoff {
            Some(text) => self.cutoff(text, &format!("{key}.cutoff")),
            None => {
                self.at(
                    raw,
                    format!("{key}.cutoff"),
                    "missing cutoff: the ACH submission cut-off in the monitor's zone, such as \"14:45\"",
                );
                None
            }
        };
        let margin = match &d.margin {
            Some(text) => {
                let margin = self.money(text, &format!("{key}.margin"));
                if margin < Cents::ZERO {
                    self.at(
                        text,
                        format!("{key}.margin"),
                        format!("margin {} may not be negative", text.value),
                    );
                }
                margin
            }
            None => Cents::ZERO,
        };
        let fresh_for = self.duration_in(
            &d.fresh_for,
            &format!("{key}.fresh_for"),
            Duration::from_secs(24 * 3600),
            Duration::from_secs(60),
            Duration::from_secs(7 * 86_400),
        );
        let calendar = BusinessCalendar::with_extra_holidays(
            self.extra_holidays(d.extra_holidays.as_deref().unwrap_or_default(), key),
        );
        let recheck = d
            .recheck
            .as_ref()
            .and_then(|r| self.recheck(r, &format!("{key}.recheck"), zone));
        Some(Debits {
            source: source?,
            due_within,
            cutoff: cutoff?,
            margin,
            fresh_for,
            calendar,
            recheck,
        })
    }

    fn debits_from_metadata(
        &mut self,
        raw: &Spanned<RawFromMetadata>,
        key: &str,
    ) -> Option<DebitSource> {
        let date = self.metadata_key(&raw.value.date, &format!("{key}.date"));
        let amount = self.metadata_key(&raw.value.amount, &format!("{key}.amount"));
        if let (Some(date), Some(amount)) = (&date, &amount)
            && date == amount
        {
            self.at(
                &raw.value.amount,
                format!("{key}.amount"),
                format!("the date and the amount are both `{date}`"),
            );
            return None;
        }
        Some(DebitSource::FromMetadata {
            date: date?,
            amount: amount?,
        })
    }

    fn metadata_key(&mut self, text: &Text, key: &str) -> Option<String> {
        let name = text.value.strip_prefix("meta_").unwrap_or(&text.value);
        if is_identifier(name) {
            Some(name.to_string())
        } else {
            self.at(
                text,
                key,
                "a metadata field name may use letters, digits, '-', '_' and '.' only",
            );
            None
        }
    }

    fn cutoff(&mut self, text: &Text, key: &str) -> Option<NaiveTime> {
        let parsed = NaiveTime::parse_from_str(text.value.trim(), "%H:%M");
        match parsed {
            Ok(time) => Some(time),
            Err(_) => {
                self.at(
                    text,
                    key,
                    format!(
                        "invalid cutoff {:?}: expected a 24-hour time such as \"14:45\"",
                        text.value
                    ),
                );
                None
            }
        }
    }

    fn extra_holidays(&mut self, dates: &[Text], key: &str) -> Vec<NaiveDate> {
        let fedach = BusinessCalendar::fedach();
        let mut out = Vec::new();
        for (i, text) in dates.iter().enumerate() {
            let key = format!("{key}.extra_holidays[{i}]");
            match NaiveDate::parse_from_str(text.value.trim(), "%Y-%m-%d") {
                Ok(date) => {
                    if let Some(closure) = fedach.closure(date) {
                        self.warn(
                            Some(crate::yaml::Position::of(text)),
                            &key,
                            format!("{date} is already closed ({})", closure.name()),
                        );
                    }
                    out.push(date);
                }
                Err(_) => self.at(
                    text,
                    key,
                    format!(
                        "invalid date {:?}: expected YYYY-MM-DD, such as 2026-12-24",
                        text.value
                    ),
                ),
            }
        }
        out
    }

    fn recheck(
        &mut self,
        raw: &Spanned<RawRecheck>,
        key: &str,
        zone: chrono_tz::Tz,
    ) -> Option<Recheck> {
        let r = &raw.value;
        let schedule = match Schedule::parse(&r.schedule.value, zone) {
            Ok(schedule) => Some(schedule),
            Err(e) => {
                self.at(&r.schedule, format!("{key}.schedule"), e.to_string());
                None
            }
        };
        let mut only: Vec<Decision> = r
            .only
            .clone()
            .unwrap_or_else(|| vec![Decision::Hold, Decision::Unknown]);
        only.sort_unstable();
        only.dedup();
        if only.is_empty() {
            self.at(
                raw,
                format!("{key}.only"),
                "the list is empty: name at least one of send, hold, unknown",
            );
            return None;
        }
        Some(Recheck {
            schedule: schedule?,
            only,
        })
    }
}
