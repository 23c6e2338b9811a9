//! The tokio driver (feature `driver`): the only code here with a socket, a clock, netlink and
//! a state directory. It runs a [`Client`] on one interface (the WAN, or the gateway's DMZ).
//!
//! The socket is UDP `0.0.0.0:68` bound to the interface (`SO_BINDTODEVICE`) with
//! `SO_BROADCAST`: messages go from 0.0.0.0 to 255.255.255.255:67 before the client has an
//! address, and unicast to the server when renewing and releasing. The client sets the
//! BROADCAST flag while it has no address, so servers broadcast their replies and the kernel
//! delivers them to this socket (it drops unicast to an address it does not have yet).
//!
//! On `Bound`/`Changed` the driver puts the address (with the lease time as its kernel
//! lifetime, so it cannot outlive a crashed client by more than that) and the routes on the
//! interface through `netcfg`, when [`Config::configure_address`] / [`Config::install_routes`]
//! ask for it, then forwards the event; on `Lost` it removes them first. The last address is
//! kept in the state directory and asked for again after a restart (INIT-REBOOT). On stop it
//! sends DHCPRELEASE and removes the address ([`Config::release_on_stop`]). When the
//! interface's carrier comes back (a cable, the ISP's ONT or the DMZ peer restarted) it
//! verifies the lease by INIT-REBOOT ([`Client::handle_link_up`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};
use netcfg::{AddrOptions, Lifetimes, Link, Netcfg, Route};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::client::{Client, ClientConfig, Event, Lease};
use crate::{CLIENT_PORT, SERVER_PORT, Transmit};

/// How long to wait for the interface to appear.
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
    /// The interface did not appear in time.
    #[error("interface {0} not found after {LINK_WAIT:?}")]
    NoInterface(String),
    /// The interface has no MAC address (not Ethernet-like) and none was configured.
    #[error("interface {0} has no MAC address")]
    NoMac(String),
    /// The driver task panicked or was cancelled.
    #[error("DHCPv4 client task: {0}")]
    Task(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// Driver configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The interface facing the DHCP server (`eth0`).
    pub interface: String,
    /// Where the last address is kept for INIT-REBOOT (`None`: nothing kept).
    pub state_dir: Option<PathBuf>,
    /// Host Name (12) to send.
    pub hostname: Option<String>,
    /// Vendor Class Identifier (60) to send.
    pub vendor_class: Option<Vec<u8>>,
    /// Client Identifier (61); `None`: `01:<MAC>`.
    pub client_id: Option<Vec<u8>>,
    /// Ask for Rapid Commit (RFC 4039).
    pub rapid_commit: bool,
    /// Put the leased address (with its prefix length) on the interface and take it off
    /// again. Off: only the events (the caller configures the interface itself).
    pub configure_address: bool,
    /// Install the default route via the lease's gateway and the classless static routes
    /// (121), and remove them when the lease ends. Needs `configure_address` (the kernel
    /// wants the gateway on a connected subnet).
    pub install_routes: bool,
    /// With `install_routes`: also the default route. Off: only the classless static routes
    /// (an IPTV link, whose routes reach the head-ends while the default route stays on the
    /// internet WAN).
    pub install_default_route: bool,
    /// Metric of the installed routes (`None`: the kernel's 0).
    pub route_metric: Option<u32>,
    /// On stop: send DHCPRELEASE and remove the address and routes. Off: leave them (the
    /// address expires in the kernel with the lease) and just stop.
    pub release_on_stop: bool,
}

impl Config {
    /// Defaults for `interface`: no state directory, no host name, client id from the MAC,
    /// no Rapid Commit, address and routes configured, release on stop.
    pub fn new(interface: impl Into<String>) -> Self {
        Self {
            interface: interface.into(),
            state_dir: None,
            hostname: None,
            vendor_class: None,
            client_id: None,
            rapid_commit: false,
            configure_address: true,
            install_routes: true,
            install_default_route: true,
            route_metric: None,
            release_on_stop: true,
        }
    }
}

/// A running driver task: [`Handle::stop`] ends it cleanly.
#[derive(Debug)]
pub struct Handle {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), Error>>,
}

impl Handle {
    /// Stops the client (DHCPRELEASE and address removal per [`Config::release_on_stop`]) and
    /// waits for the task to end.
    pub async fn stop(self) -> Result<(), Error> {
        let _ = self.stop.send(true);
        self.task.await.map_err(|e| Error::Task(e.to_string()))?
    }

    /// The task ended on its own (with an error; it runs until stopped otherwise).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Starts [`run`] as a tokio task; the events come out of the returned receiver.
pub fn spawn(cfg: Config) -> (Handle, mpsc::UnboundedReceiver<Event>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(run(cfg, tx, shutdown));
    (Handle { stop, task }, rx)
}

fn state_path(dir: &Path, ifname: &str) -> PathBuf {
    dir.join(format!("dhcp4-client-{ifname}.address"))
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

/// The address held last, if the state directory remembers one.
fn load_address(cfg: &Config) -> Option<Ipv4Addr> {
    let dir = cfg.state_dir.as_ref()?;
    std::fs::read_to_string(state_path(dir, &cfg.interface)).ok()?.trim().parse().ok()
}

/// Remembers the address of a new or renewed lease.
fn save_address(cfg: &Config, lease: &Lease) {
    let Some(dir) = &cfg.state_dir else { return };
    let path = state_path(dir, &cfg.interface);
    let r = std::fs::create_dir_all(dir)
        .and_then(|()| write_durably(&path, &format!("{}\n", lease.address)));
    if let Err(e) = r {
        warn!(path = %path.display(), error = %e, "dhcp4: cannot save the address");
    }
}

fn seed() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_ok();
    if ok {
        return u64::from_le_bytes(b);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ u64::from(std::process::id()) << 32
}

/// The interface, waited for up to [`LINK_WAIT`].
async fn wait_link(nc: &Netcfg, ifname: &str) -> Result<Link, Error> {
    let until = Instant::now() + LINK_WAIT;
    loop {
        match nc.link_by_name(ifname).await {
            Ok(l) => return Ok(l),
            Err(e) if Instant::now() >= until => {
                debug!(error = %e, "dhcp4: no interface");
                return Err(Error::NoInterface(ifname.into()));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// UDP `0.0.0.0:68` bound to the interface, broadcast allowed, non-blocking, in tokio.
fn udp_socket(ifname: &str) -> Result<UdpSocket, Error> {
    use socket2::{Domain, Protocol, Socket, Type};
    let what = |w: &str| format!("udp 0.0.0.0:{CLIENT_PORT} on {ifname}: {w}");
    let s =
        Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(io(what("socket")))?;
    s.set_reuse_address(true).map_err(io(what("SO_REUSEADDR")))?;
    s.bind_device(Some(ifname.as_bytes())).map_err(io(what("SO_BINDTODEVICE")))?;
    s.set_broadcast(true).map_err(io(what("SO_BROADCAST")))?;
    s.set_nonblocking(true).map_err(io(what("O_NONBLOCK")))?;
    let addr = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT);
    s.bind(&SocketAddr::V4(addr).into()).map_err(io(what("bind")))?;
    UdpSocket::from_std(s.into()).map_err(io(what("tokio")))
}

async fn send(sock: &UdpSocket, t: &Transmit) {
    if let Err(e) = sock.send_to(&t.payload, t.dst).await {
        warn!(dst = %t.dst, error = %e, "dhcp4: send failed");
    }
}

/// Sleeps until `at` (forever when `None`).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The next link or address event; never, once the stream is gone.
async fn next_event(events: &mut Option<netcfg::Events>) -> Option<netcfg::NetEvent> {
    match events {
        Some(e) => e.next().await,
        None => std::future::pending().await,
    }
}

/// What the driver put on the interface, to take off again.
#[derive(Debug, Default)]
struct Applied {
    net: Option<Ipv4Net>,
    routes: Vec<Route>,
}

/// The interface side: address and routes by netcfg.
struct Iface<'a> {
    nc: &'a Netcfg,
    link: Link,
    cfg: &'a Config,
    applied: Applied,
}

impl Iface<'_> {
    fn routes(&self, lease: &Lease) -> Vec<Route> {
        let mut out: Vec<Route> = lease
            .routes
            .iter()
            .map(|(dst, gw)| {
                let dst = IpNet::V4(*dst);
                if gw.is_unspecified() {
                    Route::dev(dst, &self.link)
                } else {
                    Route::via(dst, IpAddr::V4(*gw)).with_oif(&self.link)
                }
            })
            .collect();
        if let Some(gw) = lease.gateway.filter(|_| self.cfg.install_default_route) {
            out.push(
                Route::via(IpNet::V4(Ipv4Net::default()), IpAddr::V4(gw)).with_oif(&self.link),
            );
        }
        match self.cfg.route_metric {
            Some(m) => out.into_iter().map(|r| r.with_metric(m)).collect(),
            None => out,
        }
    }

    /// Puts the lease on the interface (idempotent: a renewal refreshes the lifetime).
    async fn apply(&mut self, lease: &Lease) {
        if !self.cfg.configure_address {
            return;
        }
        let net = lease.net();
        if self.applied.net.is_some_and(|n| n != net) {
            self.remove().await;
        }
        let life = Lifetimes { preferred: lease.lease_time, valid: lease.lease_time };
        let opts = AddrOptions { lifetimes: Some(life), ..AddrOptions::default() };
        if let Err(e) = self.nc.add_address(&self.link, IpNet::V4(net), opts).await {
            warn!(%net, error = %e, "dhcp4: cannot add the address");
            return;
        }
        self.applied.net = Some(net);
        if !self.cfg.install_routes {
            return;
        }
        let routes = self.routes(lease);
        for r in self.applied.routes.iter().filter(|r| !routes.contains(r)) {
            let _ = self.nc.delete_route(r).await;
        }
        for r in &routes {
            if let Err(e) = self.nc.replace_route(r).await {
                warn!(route = %r, error = %e, "dhcp4: cannot install a route");
            }
        }
        self.applied.routes = routes;
    }

    /// Removes `addr` from the interface if it is there: the address of an earlier run that
    /// was stopped without RELEASE, when this run was given another one.
    async fn remove_stale(&self, addr: Ipv4Addr) {
        let Ok(addrs) = self.nc.addresses(Some(&self.link)).await else { return };
        for a in addrs.iter().filter(|a| a.net.addr() == IpAddr::V4(addr)) {
            info!(stale = %a.net, "dhcp4: removing the address of an earlier run");
            let _ = self.nc.delete_address(&self.link, a.net).await;
        }
    }

    /// Takes off what `apply` put on.
    async fn remove(&mut self) {
        for r in std::mem::take(&mut self.applied.routes) {
            let _ = self.nc.delete_route(&r).await;
        }
        if let Some(net) = self.applied.net.take() {
            if let Err(e) = self.nc.delete_address(&self.link, IpNet::V4(net)).await {
                debug!(%net, error = %e, "dhcp4: cannot remove the address");
            }
        }
    }
}

/// Runs the client on `cfg.interface` until `shutdown` turns true (or its sender is dropped),
/// then releases per [`Config::release_on_stop`]. Every event of the machine goes to
/// `events`, after the interface has been configured for it.
pub async fn run(
    cfg: Config,
    events: mpsc::UnboundedSender<Event>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let nc = Netcfg::new()?;
    // Subscribed first, so no carrier change after the link is read is missed.
    let mut net_events = Some(Netcfg::events()?);
    let link = tokio::select! {
        r = wait_link(&nc, &cfg.interface) => r?,
        _ = shutdown.wait_for(|s| *s) => return Ok(()),
    };
    let mac =
        link.mac.filter(|m| *m != [0; 6]).ok_or_else(|| Error::NoMac(cfg.interface.clone()))?;
    if cfg.configure_address && !link.admin_up {
        nc.set_up(&link).await?;
    }
    let sock = udp_socket(&cfg.interface)?;
    let mut mc = ClientConfig::new(mac, seed());
    mc.hostname = cfg.hostname.clone();
    mc.vendor_class = cfg.vendor_class.clone();
    if let Some(id) = &cfg.client_id {
        mc.client_id = id.clone();
    }
    mc.rapid_commit = cfg.rapid_commit;
    mc.requested_address = load_address(&cfg);
    info!(interface = %cfg.interface, last = ?mc.requested_address, "dhcp4: client starting");
    let mut stale = mc.requested_address.filter(|_| cfg.configure_address);
    let (index, mut carrier) = (link.index, link.lower_up);
    let mut m = Client::new(mc, Instant::now());
    let mut iface = Iface { nc: &nc, link, cfg: &cfg, applied: Applied::default() };
    let mut buf = vec![0u8; 65536];
    let mut stopping = false;
    loop {
        while let Some(t) = m.poll_transmit() {
            send(&sock, &t).await;
        }
        while let Some(ev) = m.poll_event() {
            match &ev {
                Event::Bound(l) | Event::Renewed(l) | Event::Changed { new: l, .. } => {
                    let (net, gateway, server) = (l.net(), l.gateway, l.server);
                    info!(%net, ?gateway, %server, time = l.lease_time, "dhcp4: lease");
                    save_address(&cfg, l);
                    if let Some(old) = stale.take().filter(|a| *a != l.address) {
                        iface.remove_stale(old).await;
                    }
                    iface.apply(l).await;
                }
                Event::Lost | Event::Released => {
                    info!(event = ?ev, "dhcp4: lease ended");
                    iface.remove().await;
                }
            }
            let _ = events.send(ev);
        }
        if stopping {
            return Ok(());
        }
        tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, SocketAddr::V4(src))) if src.port() == SERVER_PORT => {
                    if let Some(bytes) = buf.get(..n) {
                        m.handle_input(Instant::now(), bytes);
                    }
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "dhcp4: receive failed"),
            },
            _ = sleep_until(m.poll_timeout()) => m.handle_timeout(Instant::now()),
            ev = next_event(&mut net_events) => match ev {
                Some(netcfg::NetEvent::LinkChanged(l)) if l.index == index => {
                    if l.lower_up && !carrier {
                        info!(interface = %cfg.interface, "dhcp4: carrier back: INIT-REBOOT");
                        m.handle_link_up(Instant::now());
                    }
                    carrier = l.lower_up;
                }
                Some(_) => {}
                None => net_events = None,
            },
            _ = shutdown.wait_for(|s| *s) => {
                stopping = true;
                if cfg.release_on_stop {
                    m.release(Instant::now());
                } else {
                    info!("dhcp4: stopping without release; the address stays until it expires");
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_address_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("dhcp4-client-state-{}", std::process::id()));
        let mut cfg = Config::new("eth0");
        cfg.state_dir = Some(dir.clone());
        assert_eq!(load_address(&cfg), None);
        let mut t = crate::tests::client::Trace::seeded(1);
        let lease = t.dora();
        save_address(&cfg, &lease);
        assert_eq!(load_address(&cfg), Some(lease.address));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
