//! The tokio driver (feature `driver`): the only code here with a socket and a clock. It runs
//! one [`Advertiser`] on a LAN interface.
//!
//! A raw ICMPv6 socket (the kernel fills in the checksum) is bound to the interface
//! (`SO_BINDTODEVICE`); RAs leave from the interface's link-local address (RFC 4861 §4.2:
//! "MUST be the link-local address assigned to the interface"), which the driver waits for
//! (present and not tentative) before it starts. Unicast and multicast hop limits are 255 (RFC 4861 §6.1.2:
//! receivers drop RAs with any other). The socket joins ff02::2 to receive Router
//! Solicitations; anything that is not type 133, or whose IPv6 Hop Limit is not 255
//! (RFC 4861 §6.1.1, read with `IPV6_RECVHOPLIMIT`), is dropped before the machine.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use netcfg::Netcfg;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::advertiser::ALL_ROUTERS;
use crate::wire::TYPE_ROUTER_SOLICITATION;
use crate::{Advertiser, PrefixInfo, Transmit};

/// How long to wait for the interface and its link-local address.
const LINK_WAIT: Duration = Duration::from_secs(30);

/// Errors of the driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Network configuration (rtnetlink) failed.
    #[error(transparent)]
    Netcfg(#[from] netcfg::Error),
    /// A socket operation failed.
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

/// Driver configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The LAN interface (`eth1`, `br-lan`).
    pub interface: String,
    /// The advertiser's configuration; a `None` link-layer address is filled from the
    /// interface's MAC.
    pub advertiser: crate::Config,
    /// Prefixes to announce from the start.
    pub prefixes: Vec<PrefixInfo>,
    /// Whether the router has an IPv6 uplink from the start.
    pub uplink: bool,
}

impl Config {
    /// Defaults for `interface`: RFC 4861 intervals, no prefixes, no uplink.
    pub fn new(interface: impl Into<String>) -> Self {
        Self {
            interface: interface.into(),
            advertiser: crate::Config::default(),
            prefixes: Vec::new(),
            uplink: false,
        }
    }
}

/// What the rest of the router tells a running advertiser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The /64s to announce now (RFC 9096: missing ones are deprecated).
    SetPrefixes(Vec<PrefixInfo>),
    /// The IPv6 uplink came up (`true`) or went away: router lifetime 0 while it is down.
    SetUplink(bool),
    /// The RDNSS servers to announce.
    SetRdnss(Vec<Ipv6Addr>),
    /// The DNSSL domains to announce.
    SetDnssl(Vec<String>),
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

/// The raw ICMPv6 socket. It is handed to tokio as a `UdpSocket`: that type is only
/// `sendto`/`recvfrom` on a datagram file descriptor, which a raw socket is too.
///
/// It is not bound to the link-local address: a bound raw IPv6 socket only receives what is
/// addressed to that address, and RS go to ff02::2. Linux picks the source by RFC 6724 rule 2
/// (matching scope), so RAs to ff02::1 or to a fe80:: host leave from the interface's
/// link-local address, which [`run`] waits for first.
fn icmp_socket(ifname: &str, index: u32) -> Result<UdpSocket, Error> {
    use socket2::{Domain, Protocol, Socket, Type};
    let what = |w: &str| format!("raw icmpv6 on {ifname}: {w}");
    let s =
        Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).map_err(io(what("socket")))?;
    s.bind_device(Some(ifname.as_bytes())).map_err(io(what("SO_BINDTODEVICE")))?;
    s.set_multicast_if_v6(index).map_err(io(what("IPV6_MULTICAST_IF")))?;
    s.set_multicast_hops_v6(255).map_err(io(what("IPV6_MULTICAST_HOPS")))?;
    s.set_unicast_hops_v6(255).map_err(io(what("IPV6_UNICAST_HOPS")))?;
    s.set_multicast_loop_v6(false).map_err(io(what("IPV6_MULTICAST_LOOP")))?;
    s.join_multicast_v6(&ALL_ROUTERS, index).map_err(io(what("join ff02::2")))?;
    nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::Ipv6RecvHopLimit, &true)
        .map_err(|e| io(what("IPV6_RECVHOPLIMIT"))(e.into()))?;
    s.set_nonblocking(true).map_err(io(what("O_NONBLOCK")))?;
    UdpSocket::from_std(std::net::UdpSocket::from(std::os::fd::OwnedFd::from(s)))
        .map_err(io(what("tokio")))
}

/// One datagram: its length, source and IPv6 Hop Limit (`None` when the kernel sent none).
fn recv_with_hop_limit(
    sock: &UdpSocket,
    buf: &mut [u8],
) -> std::io::Result<(usize, Option<Ipv6Addr>, Option<i32>)> {
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg};
    let mut cmsg = nix::cmsg_space!(i32);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let msg =
        recvmsg::<SockaddrIn6>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
            .map_err(std::io::Error::from)?;
    let hop_limit = msg.cmsgs().ok().and_then(|mut c| {
        c.find_map(|m| match m {
            ControlMessageOwned::Ipv6HopLimit(h) => Some(h),
            _ => None,
        })
    });
    Ok((msg.bytes, msg.address.map(|a| a.ip()), hop_limit))
}

async fn send(sock: &UdpSocket, index: u32, t: &Transmit) {
    let scope = if t.dst.is_multicast() || t.dst.is_unicast_link_local() { index } else { 0 };
    let dst = SocketAddrV6::new(t.dst, 0, 0, scope);
    if let Err(e) = sock.send_to(&t.bytes, dst).await {
        warn!(%dst, error = %e, "ra: send failed");
    }
}

/// Sleeps until `at` (forever when `None`).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn apply(m: &mut Advertiser, now: Instant, cmd: Command, dns: &mut (Vec<Ipv6Addr>, Vec<String>)) {
    match cmd {
        Command::SetPrefixes(p) => m.set_prefixes(now, p),
        Command::SetUplink(up) => m.set_uplink(now, up),
        Command::SetRdnss(r) => {
            dns.0 = r;
            m.set_dns(now, dns.0.clone(), dns.1.clone());
        }
        Command::SetDnssl(d) => {
            dns.1 = d;
            m.set_dns(now, dns.0.clone(), dns.1.clone());
        }
    }
}

/// Runs the advertiser on `cfg.interface` until `shutdown` turns true (or its sender is
/// dropped), then sends a final RA with router lifetime 0 (RFC 4861 §6.2.5). Commands apply
/// as they come; when the command sender is dropped the advertiser keeps its last state.
pub async fn run(
    cfg: Config,
    mut commands: mpsc::UnboundedReceiver<Command>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let nc = Netcfg::new()?;
    let ifname = cfg.interface.clone();
    let (index, mac, ll) = tokio::select! {
        r = wait_link_local(&nc, &ifname) => r?,
        _ = shutdown.wait_for(|s| *s) => return Ok(()),
    };
    let sock = icmp_socket(&ifname, index)?;
    let mut acfg = cfg.advertiser;
    acfg.lladdr = acfg.lladdr.or(mac);
    let mut dns = (acfg.rdnss.clone(), acfg.dnssl.clone());
    let now = Instant::now();
    let mut m = Advertiser::new(acfg, now);
    m.set_prefixes(now, cfg.prefixes);
    m.set_uplink(now, cfg.uplink);
    info!(interface = %ifname, %ll, "ra: advertising");
    let mut commands_open = true;
    let mut buf = vec![0u8; 2048];
    loop {
        while let Some(t) = m.poll_transmit() {
            send(&sock, index, &t).await;
        }
        tokio::select! {
            r = sock.async_io(Interest::READABLE, || recv_with_hop_limit(&sock, &mut buf)) => {
                match r {
                    Ok((n, Some(src), hop_limit)) => match buf.get(..n) {
                        Some(b) if b.first() == Some(&TYPE_ROUTER_SOLICITATION) => {
                            if hop_limit == Some(255) {
                                debug!(%src, "ra: router solicitation");
                                m.handle_input(Instant::now(), src, b);
                            } else {
                                debug!(%src, ?hop_limit, "ra: RS with hop limit not 255 dropped");
                            }
                        }
                        _ => {}
                    },
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "ra: receive failed"),
                }
            }
            cmd = commands.recv(), if commands_open => match cmd {
                Some(cmd) => apply(&mut m, Instant::now(), cmd, &mut dns),
                None => commands_open = false,
            },
            _ = sleep_until(m.poll_timeout()) => m.handle_timeout(Instant::now()),
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
    m.shutdown(Instant::now());
    while let Some(t) = m.poll_transmit() {
        send(&sock, index, &t).await;
    }
    info!(interface = %ifname, "ra: stopped (final RA sent)");
    Ok(())
}
