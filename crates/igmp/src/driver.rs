//! The tokio driver (feature `driver`): the only code here with a socket and a clock. It
//! runs one [`Proxy`] on the kernel's IPv4 multicast routing socket, so that the kernel
//! forwards the channels (no packet of a stream passes through user space).
//!
//! One raw IGMP socket is the mroute socket (`MRT_INIT`; one per network namespace, which
//! is why a second proxy, igmpproxy or smcroute in the same namespace makes this fail with
//! [`Error::Busy`]). The upstream is vif 0 and downstream `i` is vif `i + 1`
//! (`MRT_ADD_VIF` by interface index). The socket joins 224.0.0.2 and 224.0.0.22 on the
//! downstreams, where v2 leaves and v3 reports go; v2 reports for a group and everything on
//! the upstream reach it through the kernel's multicast routing (linux/net/ipv4/ipmr.c hands
//! all IGMP on a vif to the mroute socket). Which interface a datagram came in on is read
//! with `IP_PKTINFO`; datagrams from any other interface are not the proxy's and are
//! skipped. Upcalls (`IGMPMSG_NOCACHE`) name their vif. Messages leave with TTL 1 and a
//! Router Alert option (`IP_OPTIONS`), from the interface's own address (`IP_MULTICAST_IF`
//! by index), without loopback. Forwarding cache entries are `MRT_ADD_MFC`/`MRT_DEL_MFC`;
//! closing the socket makes the kernel drop every vif and entry, so nothing outlives the
//! driver.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use netcfg::Netcfg;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::proxy::{Event, GroupStatus, Iface, Proxy, Stats, Transmit, Want};
use crate::wire::{ALL_ROUTERS, ALL_V3_ROUTERS, ROUTER_ALERT, UPCALL_NOCACHE, Upcall};

/// How long to wait for the interfaces to exist.
const LINK_WAIT: Duration = Duration::from_secs(30);

/// The kernel's limit of virtual interfaces (MAXVIFS, linux/mroute.h).
pub const MAX_VIFS: usize = 32;

// linux/mroute.h
const MRT_INIT: libc::c_int = 200;
const MRT_ADD_VIF: libc::c_int = 202;
const MRT_ADD_MFC: libc::c_int = 204;
const MRT_DEL_MFC: libc::c_int = 205;
const VIFF_USE_IFINDEX: u8 = 0x8;

/// `struct vifctl` with the `vifc_lcl_ifindex` arm of its union.
#[repr(C)]
struct VifCtl {
    vifi: u16,
    flags: u8,
    threshold: u8,
    rate_limit: u32,
    lcl_ifindex: i32,
    rmt_addr: u32,
}

/// `struct mfcctl`.
#[repr(C)]
struct MfcCtl {
    origin: u32,
    mcastgrp: u32,
    parent: u16,
    ttls: [u8; MAX_VIFS],
    pkt_cnt: u32,
    byte_cnt: u32,
    wrong_if: u32,
    expire: i32,
}

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
    /// Another multicast router holds this namespace's mroute socket.
    #[error(
        "the multicast routing socket is taken (another igmp proxy, igmpproxy, smcroute or pimd runs in this network namespace)"
    )]
    Busy,
    /// More interfaces than the kernel has vifs for.
    #[error("{0} interfaces: the kernel has {MAX_VIFS} multicast vifs")]
    TooManyInterfaces(usize),
    /// An interface did not appear in time.
    #[error("interface {0} did not appear within {LINK_WAIT:?}")]
    NoInterface(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Driver configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The upstream interface (the IPTV VLAN: `wan0.4`).
    pub upstream: String,
    /// The downstream interfaces, in the order of the proxy's `downstreams`.
    pub downstreams: Vec<String>,
    /// The machine's configuration.
    pub proxy: crate::Config,
}

/// What the proxy shows: published on a watch after every change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// The groups joined on the downstreams, with their members.
    pub groups: Vec<GroupStatus>,
    /// What is joined upstream.
    pub upstream: Vec<(Ipv4Addr, Want)>,
    /// Forwarding cache entries: (source, group, downstream indices).
    pub routes: Vec<(Ipv4Addr, Ipv4Addr, Vec<usize>)>,
    /// The counters.
    pub stats: Stats,
}

fn setsockopt_raw<T>(fd: &impl AsRawFd, opt: libc::c_int, value: &T) -> std::io::Result<()> {
    // SAFETY: `value` is a live, initialised `T` for the duration of the call and the kernel
    // reads exactly `size_of::<T>()` bytes of it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IP,
            opt,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// `IP_MULTICAST_IF` by interface index: multicast from `sock` leaves by that interface
/// (by index, since a socket bound to an address on another device, the loopback say, would
/// otherwise send its multicast there).
pub fn set_multicast_if(sock: &impl AsRawFd, index: u32) -> std::io::Result<()> {
    let mreqn = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: index as i32,
    };
    setsockopt_raw(sock, libc::IP_MULTICAST_IF, &mreqn)
}

fn s_addr(a: Ipv4Addr) -> u32 {
    u32::from_ne_bytes(a.octets())
}

/// Which interfaces are which vif.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// vif 0 the upstream, vif `i + 1` downstream `i`.
    Proxy,
    /// vif 0 the one downstream; no upstream, no forwarding: a querier and membership
    /// database only (an ISP's access node, in ispemu).
    Querier,
}

impl Mode {
    fn vif(self, iface: Iface) -> Option<usize> {
        match (self, iface) {
            (Mode::Proxy, Iface::Upstream) => Some(0),
            (Mode::Proxy, Iface::Downstream(i)) => Some(i + 1),
            (Mode::Querier, Iface::Downstream(0)) => Some(0),
            (Mode::Querier, _) => None,
        }
    }

    fn iface(self, vif: usize) -> Iface {
        match (self, vif) {
            (Mode::Proxy, 0) => Iface::Upstream,
            (Mode::Proxy, v) => Iface::Downstream(v - 1),
            (Mode::Querier, v) => Iface::Downstream(v),
        }
    }

    /// The first vif that is a downstream (where the querier listens for reports).
    fn first_downstream(self) -> usize {
        match self {
            Mode::Proxy => 1,
            Mode::Querier => 0,
        }
    }
}

/// The mroute socket, its vifs added.
fn mroute_socket(ifindex: &[u32], mode: Mode) -> Result<UdpSocket, Error> {
    use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(libc::IPPROTO_IGMP)))
        .map_err(io("raw igmp socket"))?;
    match setsockopt_raw(&s, MRT_INIT, &1i32) {
        Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => return Err(Error::Busy),
        // The kernel was built without multicast routing: nothing can forward the channels.
        Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => {
            return Err(io("MRT_INIT: the kernel has no multicast routing (CONFIG_IP_MROUTE)")(e));
        }
        r => r.map_err(io("MRT_INIT"))?,
    }
    for (vifi, index) in ifindex.iter().enumerate() {
        let vif = VifCtl {
            vifi: vifi as u16,
            flags: VIFF_USE_IFINDEX,
            threshold: 1,
            rate_limit: 0,
            lcl_ifindex: *index as i32,
            rmt_addr: 0,
        };
        setsockopt_raw(&s, MRT_ADD_VIF, &vif).map_err(io(format!("MRT_ADD_VIF {vifi}")))?;
    }
    for index in ifindex.iter().skip(mode.first_downstream()) {
        for g in [ALL_ROUTERS, ALL_V3_ROUTERS] {
            s.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(*index))
                .map_err(io(format!("join {g}")))?;
        }
    }
    s.set_multicast_ttl_v4(1).map_err(io("IP_MULTICAST_TTL"))?;
    s.set_multicast_loop_v4(false).map_err(io("IP_MULTICAST_LOOP"))?;
    setsockopt_raw(&s, libc::IP_OPTIONS, &ROUTER_ALERT).map_err(io("IP_OPTIONS router alert"))?;
    nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::Ipv4PacketInfo, &true)
        .map_err(|e| io("IP_PKTINFO")(e.into()))?;
    s.set_nonblocking(true).map_err(io("O_NONBLOCK"))?;
    // A raw socket is `sendto`/`recvfrom` on a datagram descriptor: tokio's UdpSocket is
    // only that.
    UdpSocket::from_std(std::net::UdpSocket::from(OwnedFd::from(s))).map_err(io("tokio"))
}

/// One datagram: its length and the interface index it came in on (0 for an upcall).
fn recv_with_ifindex(sock: &UdpSocket, buf: &mut [u8]) -> std::io::Result<(usize, u32)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg};
    let mut cmsg = nix::cmsg_space!(libc::in_pktinfo);
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
        .map_err(std::io::Error::from)?;
    let index = msg
        .cmsgs()
        .ok()
        .and_then(|mut c| {
            c.find_map(|m| match m {
                ControlMessageOwned::Ipv4PacketInfo(p) => Some(p.ipi_ifindex as u32),
                _ => None,
            })
        })
        .unwrap_or(0);
    Ok((msg.bytes, index))
}

async fn send(sock: &UdpSocket, ifindex: &[u32], mode: Mode, t: &Transmit) {
    let Some(&index) = mode.vif(t.iface).and_then(|v| ifindex.get(v)) else { return };
    if let Err(e) = set_multicast_if(sock, index) {
        warn!(error = %e, "igmp: IP_MULTICAST_IF");
        return;
    }
    let dst = std::net::SocketAddr::V4(SocketAddrV4::new(t.dst, 0));
    // Awaited, not tried: right after the socket is made tokio has not yet seen it writable.
    if let Err(e) = sock.send_to(&t.payload, dst).await {
        warn!(%dst, error = %e, "igmp: send failed");
    }
}

fn mfc(sock: &UdpSocket, e: &Event) {
    let (opt, source, group, oifs) = match e {
        Event::MfcAdd { source, group, oifs } => (MRT_ADD_MFC, *source, *group, &oifs[..]),
        Event::MfcDel { source, group } => (MRT_DEL_MFC, *source, *group, &[][..]),
        _ => return,
    };
    let mut ttls = [0u8; MAX_VIFS];
    for i in oifs {
        if let Some(t) = ttls.get_mut(i + 1) {
            *t = 1;
        }
    }
    let ctl = MfcCtl {
        origin: s_addr(source),
        mcastgrp: s_addr(group),
        parent: 0,
        ttls,
        pkt_cnt: 0,
        byte_cnt: 0,
        wrong_if: 0,
        expire: 0,
    };
    match setsockopt_raw(sock, opt, &ctl) {
        Ok(()) => debug!(%source, %group, ?oifs, add = opt == MRT_ADD_MFC, "igmp: cache entry"),
        Err(e) => warn!(%source, %group, error = %e, "igmp: forwarding cache entry"),
    }
}

/// Sleeps until `at` (forever when `None`).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn status(p: &Proxy, now: Instant) -> Status {
    Status {
        groups: p.groups(now),
        upstream: p.upstream().iter().map(|(g, w)| (*g, w.clone())).collect(),
        routes: p.routes(),
        stats: p.stats(),
    }
}

/// Runs the proxy until `shutdown` turns true (or its sender is dropped), then leaves every
/// group upstream and closes the mroute socket (the kernel drops the vifs and entries).
pub async fn run(
    cfg: Config,
    status_tx: Option<watch::Sender<Status>>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let names: Vec<String> =
        std::iter::once(cfg.upstream.clone()).chain(cfg.downstreams.iter().cloned()).collect();
    run_mode(names, Mode::Proxy, cfg.proxy, status_tx, shutdown).await
}

/// Runs only the querier and membership database on `interface` (the proxy's downstream 0;
/// `proxy.downstreams` names it): what an ISP's access node does for its IPTV network. The
/// groups joined are published on `status_tx`; nothing is forwarded or sent upstream.
pub async fn run_querier(
    interface: String,
    proxy: crate::Config,
    status_tx: Option<watch::Sender<Status>>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    run_mode(vec![interface], Mode::Querier, proxy, status_tx, shutdown).await
}

async fn run_mode(
    names: Vec<String>,
    mode: Mode,
    proxy_cfg: crate::Config,
    status_tx: Option<watch::Sender<Status>>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    if names.len() > MAX_VIFS {
        return Err(Error::TooManyInterfaces(names.len()));
    }
    let nc = Netcfg::new()?;
    let mut ifindex = Vec::new();
    for name in &names {
        let deadline = Instant::now() + LINK_WAIT;
        let index = loop {
            match nc.link_by_name(name).await {
                Ok(l) => break l.index,
                Err(_) if Instant::now() < deadline => {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                        _ = shutdown.wait_for(|s| *s) => return Ok(()),
                    }
                }
                Err(_) => return Err(Error::NoInterface(name.clone())),
            }
        };
        ifindex.push(index);
    }
    let sock = mroute_socket(&ifindex, mode)?;
    info!(interfaces = ?names, querier_only = mode == Mode::Querier, "igmp: running");
    let mut proxy = Proxy::new(Instant::now(), proxy_cfg);
    let mut buf = vec![0u8; 65_536];
    let mut last = Status::default();
    loop {
        let now = Instant::now();
        proxy.handle_timeout(now);
        while let Some(t) = proxy.poll_transmit() {
            send(&sock, &ifindex, mode, &t).await;
        }
        while let Some(e) = proxy.poll_event() {
            match &e {
                Event::Joined { group, want } => info!(%group, ?want, "igmp: joined upstream"),
                Event::Left { group } => info!(%group, "igmp: left upstream"),
                _ => mfc(&sock, &e),
            }
        }
        if let Some(tx) = &status_tx {
            let s = status(&proxy, now);
            // Expiry countdowns change every second: publish when anything else changed.
            let key = |s: &Status| {
                let mut s = s.clone();
                s.groups.iter_mut().for_each(|g| g.expires_in = Duration::ZERO);
                s
            };
            if key(&s) != key(&last) {
                tx.send_replace(s.clone());
                last = s;
            }
        }
        tokio::select! {
            r = sock.readable() => {
                r.map_err(io("igmp socket"))?;
                loop {
                    let (n, index) = match sock.try_io(Interest::READABLE, || recv_with_ifindex(&sock, &mut buf)) {
                        Ok(x) => x,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(io("igmp recv")(e)),
                    };
                    let data = buf.get(..n).unwrap_or_default();
                    let now = Instant::now();
                    if let Ok(Some(u)) = Upcall::parse(data) {
                        if u.kind == UPCALL_NOCACHE && mode == Mode::Proxy {
                            let iface = mode.iface(usize::from(u.vif));
                            proxy.handle_upcall(now, iface, u.source, u.group);
                        }
                        continue;
                    }
                    // Another interface's IGMP is not ours.
                    if let Some(v) = ifindex.iter().position(|i| *i == index) {
                        proxy.handle_packet(now, mode.iface(v), data);
                    }
                }
            }
            _ = sleep_until(proxy.poll_timeout()) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
    proxy.shutdown(Instant::now());
    while let Some(t) = proxy.poll_transmit() {
        send(&sock, &ifindex, mode, &t).await;
    }
    if let Some(tx) = &status_tx {
        tx.send_replace(status(&proxy, Instant::now()));
    }
    info!("igmp: proxy stopped");
    Ok(())
}
