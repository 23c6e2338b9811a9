//! The requesting router's tokio driver (feature `driver`): it runs a [`Client`] on an
//! interface (the WAN, or a PPPoE `ppp0` TUN), with a socket, a clock and a state directory.
//!
//! The requesting router binds `[::]:546` to its interface (`SO_BINDTODEVICE`) and sends to
//! ff02::1:2 port 547 with the interface as scope, so the kernel takes the interface's
//! link-local address as the source (RFC 8415 §13.1: "the client MUST use a link-local
//! address"). It waits for a usable (not tentative) fe80:: address first; on a PPP link it
//! comes from IPv6CP, not from a MAC. The DUID (DUID-LL from the MAC, or DUID-UUID where the
//! interface has none) is made once and kept in the state directory together with the last
//! delegated prefix, which a restart asks for again.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use netcfg::Netcfg;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::{CLIENT_PORT, Client, ClientConfig, Command, Event, Phase, SERVER_PORT, Transmit};

/// How long to wait for the interface and its link-local address.
const LINK_WAIT: Duration = Duration::from_secs(30);

/// Errors of the driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Network configuration (rtnetlink) failed.
    #[error(transparent)]
    Netcfg(#[from] netcfg::Error),
    /// A socket or state-directory operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The interface or its link-local address did not appear in time.
    #[error("interface {0}: no usable link-local address after {LINK_WAIT:?}")]
    NoLinkLocal(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Requesting-router driver configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The interface facing the delegating router (`ppp0`, `eth0`).
    pub interface: String,
    /// Where the DUID and the last delegated prefix are kept (`None`: nothing kept, a
    /// DUID made for this run only).
    pub state_dir: Option<PathBuf>,
    /// IAID of the IA_PD.
    pub iaid: u32,
    /// Prefix-length hint (RFC 8415 §18.2.1), e.g. 48; 0 sends none.
    pub prefix_len_hint: u8,
    /// Offer Rapid Commit.
    pub rapid_commit: bool,
    /// How long shutdown waits for the Reply to Release before giving up.
    pub release_wait: Duration,
    /// Learn the router's own default route from the ISP's router advertisements on this
    /// interface (`accept_ra = 2`: also while forwarding). On `ppp0` the PPPoE driver
    /// installs `::/0 dev ppp0` as well, for ISPs that send no RA there.
    pub accept_ra: bool,
    /// First wait after NoPrefixAvail ([`ClientConfig::no_prefix_backoff`]).
    pub no_prefix_backoff: Duration,
}

impl Config {
    /// Defaults for `interface`: no state directory, IAID 1, a /48 hint, Rapid Commit on,
    /// 3 s for the Release.
    pub fn new(interface: impl Into<String>) -> Self {
        Self {
            interface: interface.into(),
            state_dir: None,
            iaid: 1,
            prefix_len_hint: 48,
            rapid_commit: true,
            release_wait: Duration::from_secs(3),
            accept_ra: true,
            no_prefix_backoff: crate::client::NO_PREFIX_BACKOFF,
        }
    }
}

/// What the requesting router keeps across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    duid: Vec<u8>,
    last_prefix: Option<(Ipv6Addr, u8)>,
}

fn duid_path(dir: &Path, ifname: &str) -> PathBuf {
    dir.join(format!("dhcpv6pd-{ifname}.duid"))
}

fn prefix_path(dir: &Path, ifname: &str) -> PathBuf {
    dir.join(format!("dhcpv6pd-{ifname}.prefix"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len() % 2 != 0 || s.is_empty() {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Writes `text` to `path` durably: a temporary file, fsync, rename.
fn write_durably(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    use std::io::Read;
    let mut b = [0u8; N];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_ok();
    if !ok {
        // Only a fallback: mix the clock and the process id.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
            ^ u128::from(std::process::id()) << 64;
        for (d, s) in b.iter_mut().zip(t.to_le_bytes().iter().cycle()) {
            *d = *s;
        }
    }
    b
}

/// DUID-LL (RFC 8415 §11.4, hardware type 1) from a MAC, else DUID-UUID (RFC 6355, a random
/// version-4 UUID).
fn new_duid(mac: Option<[u8; 6]>) -> Vec<u8> {
    match mac {
        Some(mac) if mac != [0; 6] => [&[0x00, 0x03, 0x00, 0x01][..], &mac[..]].concat(),
        _ => {
            let mut uuid = random_bytes::<16>();
            if let Some(b) = uuid.get_mut(6) {
                *b = (*b & 0x0f) | 0x40;
            }
            if let Some(b) = uuid.get_mut(8) {
                *b = (*b & 0x3f) | 0x80;
            }
            [&[0x00, 0x04][..], &uuid[..]].concat()
        }
    }
}

/// Loads the DUID (making and saving one if there is none) and the last prefix.
fn load_state(dir: Option<&Path>, ifname: &str, mac: Option<[u8; 6]>) -> Result<State, Error> {
    let Some(dir) = dir else {
        return Ok(State { duid: new_duid(mac), last_prefix: None });
    };
    std::fs::create_dir_all(dir).map_err(io(format!("state dir {}", dir.display())))?;
    let dp = duid_path(dir, ifname);
    let duid = match std::fs::read_to_string(&dp).ok().and_then(|s| unhex(&s)) {
        Some(d) => d,
        None => {
            let d = new_duid(mac);
            write_durably(&dp, &hex(&d)).map_err(io(format!("write {}", dp.display())))?;
            d
        }
    };
    let last_prefix = std::fs::read_to_string(prefix_path(dir, ifname)).ok().and_then(|s| {
        let (p, l) = s.trim().split_once('/')?;
        Some((p.parse().ok()?, l.parse().ok()?))
    });
    Ok(State { duid, last_prefix })
}

/// The interface's index, MAC and usable link-local address, waited for up to [`LINK_WAIT`].
async fn wait_link_local(
    nc: &Netcfg,
    ifname: &str,
) -> Result<(u32, Option<[u8; 6]>, Ipv6Addr), Error> {
    let (link, ll) = nc
        .wait_link_local(ifname, LINK_WAIT)
        .await
        .ok_or_else(|| Error::NoLinkLocal(ifname.into()))?;
    Ok((link.index, link.mac, ll))
}

/// A UDP socket on `[::]:port` bound to the interface, non-blocking, in tokio.
fn udp_socket(ifname: &str, index: u32, port: u16) -> Result<UdpSocket, Error> {
    use socket2::{Domain, Protocol, Socket, Type};
    let what = |w: &str| format!("udp [::]:{port} on {ifname}: {w}");
    let s =
        Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).map_err(io(what("socket")))?;
    s.set_only_v6(true).map_err(io(what("IPV6_V6ONLY")))?;
    s.set_reuse_address(true).map_err(io(what("SO_REUSEADDR")))?;
    s.bind_device(Some(ifname.as_bytes())).map_err(io(what("SO_BINDTODEVICE")))?;
    s.set_multicast_if_v6(index).map_err(io(what("IPV6_MULTICAST_IF")))?;
    s.set_multicast_loop_v6(false).map_err(io(what("IPV6_MULTICAST_LOOP")))?;
    s.set_nonblocking(true).map_err(io(what("O_NONBLOCK")))?;
    let addr = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0);
    s.bind(&SocketAddr::V6(addr).into()).map_err(io(what("bind")))?;
    UdpSocket::from_std(s.into()).map_err(io(what("tokio")))
}

/// Sends a machine's transmit, scoped to the interface when the destination needs a scope.
async fn send(sock: &UdpSocket, index: u32, t: &Transmit) {
    let mut dst = t.dst;
    let ip = *dst.ip();
    if dst.scope_id() == 0 && (ip.is_unicast_link_local() || ip.is_multicast()) {
        dst.set_scope_id(index);
    }
    if let Err(e) = sock.send_to(&t.payload, dst).await {
        warn!(%dst, error = %e, "dhcpv6pd: send failed");
    }
}

/// Sleeps until `at` (forever when `None`).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The next address or link event; never, once the stream is gone.
async fn next_event(events: &mut Option<netcfg::Events>) -> Option<netcfg::NetEvent> {
    match events {
        Some(e) => e.next().await,
        None => std::future::pending().await,
    }
}

/// Tracks the interface's usable link-local address; true when a new one appeared (the link
/// came back, e.g. a new PPP session with a new IPv6CP identifier or the same one again).
fn link_changed(ev: &netcfg::NetEvent, index: u32, current: &mut Option<Ipv6Addr>) -> bool {
    let (a, added) = match ev {
        netcfg::NetEvent::AddressAdded(a) => (a, true),
        netcfg::NetEvent::AddressRemoved(a) => (a, false),
        _ => return false,
    };
    let std::net::IpAddr::V6(v6) = a.net.addr() else { return false };
    if a.index != index || !v6.is_unicast_link_local() {
        return false;
    }
    if !added {
        if *current == Some(v6) {
            *current = None;
        }
        return false;
    }
    if a.tentative || a.dad_failed || current.is_some() {
        return false;
    }
    *current = Some(v6);
    true
}

/// Remembers the first prefix of a lease as the one to ask for after a restart.
fn save_prefix(cfg: &Config, ev: &Event) {
    let lease = match ev {
        Event::Delegated(l) | Event::Renewed(l) | Event::Changed { new: l, .. } => l,
        _ => return,
    };
    let (Some(dir), Some(p)) = (&cfg.state_dir, lease.prefixes.first()) else { return };
    let path = prefix_path(dir, &cfg.interface);
    if let Err(e) = write_durably(&path, &format!("{}/{}\n", p.prefix, p.len)) {
        warn!(path = %path.display(), error = %e, "dhcpv6pd: cannot save the prefix");
    }
}

/// Runs the requesting router on `cfg.interface` until `shutdown` turns true (or its sender
/// is dropped), then sends Release and waits up to `cfg.release_wait` for the Reply. Every
/// event of the machine goes to `events`.
pub async fn run_client(
    cfg: Config,
    events: mpsc::UnboundedSender<Event>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let nc = Netcfg::new()?;
    // Subscribed first, so no address change after the wait below is missed.
    let mut net_events = Some(Netcfg::events()?);
    let (index, mac, ll) = tokio::select! {
        r = wait_link_local(&nc, &cfg.interface) => r?,
        _ = shutdown.wait_for(|s| *s) => return Ok(()),
    };
    // The interface exists now (a PPP link may only just have come up).
    if cfg.accept_ra {
        if let Err(e) = nc.set_accept_ra(&cfg.interface, 2) {
            warn!(interface = %cfg.interface, error = %e, "dhcpv6pd: cannot accept the ISP's RA");
        }
    }
    let mut current_ll = Some(ll);
    let state = load_state(cfg.state_dir.as_deref(), &cfg.interface, mac)?;
    let sock = udp_socket(&cfg.interface, index, CLIENT_PORT)?;
    let seed = u64::from_le_bytes(random_bytes::<8>());
    let mut mc = ClientConfig::new(state.duid.clone(), cfg.iaid, seed);
    mc.prefix_len_hint = cfg.prefix_len_hint;
    mc.last_prefix = state.last_prefix;
    mc.rapid_commit = cfg.rapid_commit;
    mc.no_prefix_backoff = cfg.no_prefix_backoff;
    info!(interface = %cfg.interface, %ll, duid = %hex(&state.duid), last = ?state.last_prefix, "dhcpv6pd: client starting");
    let mut m = Client::new(mc);
    m.handle_command(Instant::now(), Command::Start);
    let mut buf = vec![0u8; 65536];
    let mut release_by: Option<Instant> = None;
    loop {
        while let Some(t) = m.poll_transmit() {
            send(&sock, index, &t).await;
        }
        while let Some(ev) = m.poll_event() {
            debug!(?ev, "dhcpv6pd: event");
            save_prefix(&cfg, &ev);
            let _ = events.send(ev);
        }
        if let Some(by) = release_by {
            if m.phase() == Phase::Idle || Instant::now() >= by {
                return Ok(());
            }
        }
        let deadline = match (m.poll_timeout(), release_by) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, SocketAddr::V6(src))) if src.port() == SERVER_PORT => {
                    if let Some(bytes) = buf.get(..n) {
                        m.handle_input(Instant::now(), bytes);
                    }
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "dhcpv6pd: receive failed"),
            },
            _ = sleep_until(deadline) => m.handle_timeout(Instant::now()),
            ev = next_event(&mut net_events) => match ev {
                Some(ev) => {
                    if link_changed(&ev, index, &mut current_ll) && release_by.is_none() {
                        // RFC 8415 §18.2.12: on a possible link change "the client MUST
                        // initiate a Rebind/Reply message exchange" (a no-op unless bound).
                        info!(ll = ?current_ll, "dhcpv6pd: new link-local address: Rebind");
                        m.handle_command(Instant::now(), Command::Rebind);
                    }
                }
                None => net_events = None,
            },
            _ = shutdown.wait_for(|s| *s), if release_by.is_none() => {
                let now = Instant::now();
                m.handle_command(now, Command::Release);
                release_by = Some(now + cfg.release_wait);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn duid_ll_from_mac_else_uuid() {
        assert_eq!(new_duid(Some([2, 0, 0, 0, 0, 1])), vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 1]);
        let u = new_duid(None);
        assert_eq!((u.len(), &u[..2], u[8] >> 4), (18, &[0u8, 4][..], 4));
    }

    #[test]
    fn state_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("dhcpv6pd-state-{}", std::process::id()));
        let first = load_state(Some(&dir), "ppp0", None).unwrap();
        let mut cfg = Config::new("ppp0");
        cfg.state_dir = Some(dir.clone());
        let lease = crate::Lease {
            server_id: vec![1],
            iaid: 1,
            t1: 1,
            t2: 2,
            prefixes: vec![crate::DelegatedPrefix {
                prefix: "2001:db8:1::".parse().unwrap(),
                len: 48,
                preferred: 3,
                valid: 4,
            }],
            addresses: vec![],
            dns_servers: vec![],
            domains: vec![],
            reconfigure: false,
            acquired: Instant::now(),
        };
        save_prefix(&cfg, &Event::Delegated(lease));
        let second = load_state(Some(&dir), "ppp0", Some([2, 0, 0, 0, 0, 1])).unwrap();
        assert_eq!(second.duid, first.duid, "the DUID is made once");
        assert_eq!(second.last_prefix, Some(("2001:db8:1::".parse().unwrap(), 48)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
