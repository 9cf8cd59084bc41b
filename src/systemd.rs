//! systemd's notify protocol: `READY=1`, `STATUS=...`, `STOPPING=1`, `RELOADING=1` and
//! watchdog pings, sent as datagrams to `$NOTIFY_SOCKET`.
//!
//! The protocol is one datagram per message on a Unix socket, so it is written here
//! with the standard library rather than with a crate. Without `$NOTIFY_SOCKET` (not
//! started by systemd, or `Type=simple`), every call does nothing. Sending is
//! best-effort: a lost notification must never stop the daemon, so errors are logged
//! at debug level and dropped.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Environment;

/// Where notifications go, read once from the environment snapshot.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    socket: Option<SocketPath>,
    watchdog: Option<Duration>,
}

#[derive(Debug, Clone)]
enum SocketPath {
    File(PathBuf),
    /// A Linux abstract socket, written `@name` in `$NOTIFY_SOCKET`.
    Abstract(Vec<u8>),
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` (honouring `WATCHDOG_PID` when set).
    pub fn from_environment(env: &Environment) -> Notifier {
        let socket =
            env.var("NOTIFY_SOCKET")
                .filter(|s| !s.is_empty())
                .map(|s| match s.strip_prefix('@') {
                    Some(name) => SocketPath::Abstract(name.as_bytes().to_vec()),
                    None => SocketPath::File(PathBuf::from(s)),
                });
        let for_this_process = env
            .var("WATCHDOG_PID")
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_none_or(|pid| pid == std::process::id());
        let watchdog = env
            .var("WATCHDOG_USEC")
            .and_then(|usec| usec.parse::<u64>().ok())
            .filter(|usec| *usec > 0 && for_this_process)
            .map(Duration::from_micros);
        Notifier { socket, watchdog }
    }

    /// Whether systemd is listening.
    pub fn is_enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// How often to ping the watchdog: half of `WATCHDOG_USEC`, as sd_watchdog_enabled
    /// advises. `None` when the unit has no `WatchdogSec=`.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    /// Sent before a reload; `ready` after it ends the reload. (The unit uses
    /// `Type=notify` with `ExecReload=`, which does not need `MONOTONIC_USEC`.)
    pub fn reloading(&self) {
        self.send("RELOADING=1");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    fn send(&self, message: &str) {
        let Some(socket) = &self.socket else { return };
        let result = UnixDatagram::unbound().and_then(|sock| match socket {
            SocketPath::File(path) => sock.send_to(message.as_bytes(), path),
            SocketPath::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                sock.send_to_addr(message.as_bytes(), &addr)
            }
        });
        if let Err(error) = result {
            tracing::debug!(%error, "systemd notification not sent");
        }
    }
}

fn one_line(text: &str) -> String {
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_ready_status_and_watchdog_to_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let receiver = UnixDatagram::bind(&path).unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let env = Environment::from_pairs([
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", "2000000"),
        ]);
        let notifier = Notifier::from_environment(&env);
        assert!(notifier.is_enabled());
        assert_eq!(notifier.watchdog_interval(), Some(Duration::from_secs(1)));
        notifier.ready("watching 2 monitors\nnext run soon");
        notifier.watchdog();
        let mut buf = [0u8; 256];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            b"READY=1\nSTATUS=watching 2 monitors next run soon"
        );
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
    }

    #[test]
    fn watchdog_for_another_pid_is_ignored_and_no_socket_means_silence() {
        let env = Environment::from_pairs([("WATCHDOG_USEC", "2000000"), ("WATCHDOG_PID", "1")]);
        let notifier = Notifier::from_environment(&env);
        assert!(!notifier.is_enabled());
        assert_eq!(notifier.watchdog_interval(), None);
        notifier.ready("nothing listens");
    }
}
