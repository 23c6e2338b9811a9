//! systemd's readiness protocol (sd_notify(3)) without libsystemd: datagrams of
//! `KEY=VALUE` lines to the socket in `$NOTIFY_SOCKET` (a path, or `@name` in the abstract
//! namespace). Under `Type=notify` routerd says `READY=1` once the firewall is in force and
//! the LANs are up, `STATUS=` with the WAN's state as it changes, `RELOADING=1` and `READY=1`
//! around a SIGHUP, `WATCHDOG=1` from its main loop every half `$WATCHDOG_USEC`, and
//! `STOPPING=1` when it stops. Without `$NOTIFY_SOCKET` every call does nothing.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use tracing::debug;

/// The connection to the service manager, if there is one.
#[derive(Debug)]
pub struct Notifier {
    sock: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET` and `$WATCHDOG_USEC` (with `$WATCHDOG_PID`, when set, naming
    /// this process).
    pub fn from_env() -> Self {
        let sock = std::env::var("NOTIFY_SOCKET").ok().and_then(|p| Self::connect(&p));
        let ours = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|u| *u > 0 && ours)
            .map(Duration::from_micros);
        Notifier { sock, watchdog }
    }

    fn connect(path: &str) -> Option<(UnixDatagram, std::os::unix::net::SocketAddr)> {
        let addr = match path.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()?
            }
            None if path.starts_with('/') => {
                std::os::unix::net::SocketAddr::from_pathname(path).ok()?
            }
            None => return None,
        };
        let sock = UnixDatagram::unbound().ok()?;
        Some((sock, addr))
    }

    /// Whether a service manager listens.
    pub fn active(&self) -> bool {
        self.sock.is_some()
    }

    /// How often to send `WATCHDOG=1` (half the manager's timeout), when it wants them.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    /// Sends `msg` (newline-separated assignments); errors are logged at debug and dropped:
    /// the router runs the same whether or not anyone listens.
    pub fn send(&self, msg: &str) {
        let Some((sock, addr)) = &self.sock else { return };
        if let Err(e) = sock.send_to_addr(msg.as_bytes(), addr) {
            debug!(error = %e, "sd_notify");
        }
    }

    /// `STATUS=`: one line of what the router is doing, newlines taken out.
    pub fn status(&self, line: &str) {
        self.send(&format!("STATUS={}", line.replace('\n', " ")));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn datagrams_reach_a_path_socket_and_nothing_happens_without_one() {
        let dir = std::env::temp_dir().join(format!("routerd-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let manager = UnixDatagram::bind(&path).unwrap();
        let n = Notifier { sock: Notifier::connect(path.to_str().unwrap()), watchdog: None };
        assert!(n.active());
        n.send("READY=1");
        n.status("wan up\n198.51.100.2");
        let mut buf = [0u8; 256];
        let k = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"READY=1");
        let k = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"STATUS=wan up 198.51.100.2");
        let none = Notifier { sock: Notifier::connect("relative/path"), watchdog: None };
        assert!(!none.active());
        none.send("READY=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn abstract_sockets_work_too() {
        let name = format!("routerd-notify-test-{}", std::process::id());
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let manager = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier { sock: Notifier::connect(&format!("@{name}")), watchdog: None };
        n.send("WATCHDOG=1");
        let mut buf = [0u8; 64];
        let k = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"WATCHDOG=1");
        let w = Notifier { sock: None, watchdog: Some(Duration::from_secs(30)) };
        assert_eq!(w.watchdog_every(), Some(Duration::from_secs(15)));
    }
}
