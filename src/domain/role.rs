//! [`Role`]: whether this daemon leads (schedules, resumes runs, delivers the outbox) or
//! stands by (serves reads), and [`RoleView`], what it tells `/metrics`, `/healthz` and
//! `status` about it.

use std::fmt;

/// A daemon's part in a pair sharing one database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// It holds the leadership lease (with SQLite, always).
    Leader,
    /// Another holds the lease, or this one is trying to take it: it serves reads only.
    Standby,
}

impl Role {
    /// The one spelling logs, headers and `status` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Standby => "standby",
        }
    }

    /// The spelling [`Role::as_str`] writes, read back.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "leader" => Some(Role::Leader),
            "standby" => Some(Role::Standby),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a daemon says about its role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleView {
    pub role: Role,
    /// The lease's epoch while it leads through a lease; `None` with SQLite.
    pub epoch: Option<i64>,
    /// How many times it has become leader or stepped down since it started.
    pub changes: u64,
}

impl RoleView {
    /// A process that leads with no lease: the only one on its SQLite file.
    pub fn sole_leader() -> RoleView {
        RoleView {
            role: Role::Leader,
            epoch: None,
            changes: 0,
        }
    }

    /// A process waiting to take the lease.
    pub fn standby() -> RoleView {
        RoleView {
            role: Role::Standby,
            epoch: None,
            changes: 0,
        }
    }
}
