//! The DHCPv6 tokio driver: the only socket, clock and task code of the DHCPv6 server.
//!
//! One UDP socket on `[::]:547` bound to the LAN interface (`SO_BINDTODEVICE`), joined to
//! All_DHCP_Relay_Agents_and_Servers (ff02::1:2) there, so it receives both multicast and
//! unicast; every answer goes to the request's source address and port. Lease records go to
//! the same kind of writer thread as DHCPv4's (group commit, `leases6.log`); Replies that
//! grant leave only once their records are durable. A [`Handle6`] changes the prefixes
//! while the server runs (renumbering, RFC 8415 §18.3.4).
//!
//! ```ignore
//! let (handle, control) = driver6::control();
//! let cfg = Driver6Config::new("eth1", state_dir.join("dhcp6-lan"), server6_config);
//! tokio::spawn(driver6::run(cfg, Some(events_tx), control, shutdown));
//! // later, when the delegated prefix changes:
//! handle.set_prefixes(vec![lan64, ula64], Some(pd_pool)).await?;
//! ```

use std::future::Future;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::time::Instant;

use ipnet::Ipv6Net;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::info;

use leases::serve;
use leases::writer::{COMMIT_DELAY, unix_now};

use crate::server::{Config6Error, Event6, LeaseLog6, Meta6, PdPool, Server6, Server6Config};
use crate::{ALL_DHCP_RELAY_AGENTS_AND_SERVERS, SERVER_PORT};

/// What [`run`] needs.
#[derive(Debug, Clone)]
pub struct Driver6Config {
    /// The LAN interface (`SO_BINDTODEVICE`, multicast membership).
    pub interface: String,
    /// Where `leases6.log` lives.
    pub state_dir: PathBuf,
    /// The server.
    pub server: Server6Config,
    /// UDP port to listen on (547; tests may pick another).
    pub port: u16,
    /// The writer thread's wait for more records before each sync, as
    /// the DHCPv4 driver's `commit_delay`: fewer syncs, up to this much later Replies.
    pub commit_delay: std::time::Duration,
    /// Where the server's counters are published after each wake-up (metrics), when given.
    pub stats: Option<tokio::sync::watch::Sender<crate::server::Stats6>>,
}

impl Driver6Config {
    /// Port 547 on `interface`, leases in `state_dir`.
    pub fn new(interface: &str, state_dir: PathBuf, server: Server6Config) -> Self {
        Driver6Config {
            interface: interface.to_owned(),
            state_dir,
            server,
            port: SERVER_PORT,
            commit_delay: COMMIT_DELAY,
            stats: None,
        }
    }
}

/// DHCPv6 driver errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration (or new prefixes given to [`Handle6::set_prefixes`]) is invalid.
    #[error("configuration: {0}")]
    Config(#[from] Config6Error),
    /// The socket could not be set up or used.
    #[error("socket: {0}")]
    Socket(#[source] io::Error),
    /// The lease store could not be opened, written or synced: nothing more is granted.
    #[error("lease store: {0}")]
    Store(#[source] io::Error),
    /// The driver is not running (any more).
    #[error("the DHCPv6 server is not running")]
    Stopped,
}

/// Commands a [`Handle6`] sends to the running driver.
#[derive(Debug)]
enum Command6 {
    SetPrefixes {
        prefixes: Vec<Ipv6Net>,
        pd_pool: Option<PdPool>,
        done: oneshot::Sender<Result<(), Config6Error>>,
    },
    ReconfigureAll {
        done: oneshot::Sender<usize>,
    },
}

/// Controls a running driver from outside (cheap to clone).
#[derive(Debug, Clone)]
pub struct Handle6 {
    tx: mpsc::Sender<Command6>,
}

/// The driver's end of a [`Handle6`]; give it to [`run`].
#[derive(Debug)]
pub struct Control6 {
    rx: mpsc::Receiver<Command6>,
}

/// A handle and the control end to pass to [`run`].
pub fn control() -> (Handle6, Control6) {
    let (tx, rx) = mpsc::channel(16);
    (Handle6 { tx }, Control6 { rx })
}

impl Handle6 {
    /// Renumbers the running server: new on-link /64s and PD pool (see
    /// [`Server6::set_prefixes`]). Returns once the server took them, or refused them.
    pub async fn set_prefixes(
        &self,
        prefixes: Vec<Ipv6Net>,
        pd_pool: Option<PdPool>,
    ) -> Result<(), Error> {
        let (done, rx) = oneshot::channel();
        let cmd = Command6::SetPrefixes { prefixes, pd_pool, done };
        self.tx.send(cmd).await.map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?.map_err(Error::Config)
    }
}

impl Handle6 {
    /// Sends Reconfigure to every client that agreed to it (RFC 8415 §18.3.11); how many.
    pub async fn reconfigure_all(&self) -> Result<usize, Error> {
        let (done, rx) = oneshot::channel();
        self.tx.send(Command6::ReconfigureAll { done }).await.map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }
}

/// Runs the DHCPv6 server until `shutdown` resolves or the store fails (the loop is
/// [`leases::serve::serve`], shared with DHCPv4). Events go to `events`, waiting for room
/// when it is full (never dropped); `control` receives what the [`Handle6`] sends.
pub async fn run(
    cfg: Driver6Config,
    events: Option<mpsc::Sender<Event6>>,
    control: Control6,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let (mut log, report) = LeaseLog6::open(&cfg.state_dir).map_err(Error::Store)?;
    let mut server = Server6::new(cfg.server.clone(), Instant::now(), unix_now())?;
    let loaded = log.take_loaded();
    server.restore(Instant::now(), &loaded);
    drop(loaded);
    info!(
        "dhcp6: {} records loaded ({} leases, {} torn bytes cut, {} bindings) from {}",
        report.records,
        report.live,
        report.torn_bytes,
        server.table().len(),
        cfg.state_dir.display()
    );
    let socket = bind(&cfg.interface, cfg.port).map_err(Error::Socket)?;
    let opts =
        serve::Options { name: "dhcp6", commit_delay: cfg.commit_delay, events, stats: cfg.stats };
    serve::serve(&mut server, socket, log, opts, Some(control.rx), apply, shutdown).await.map_err(
        |e| match e {
            serve::Stopped::Socket(e) => Error::Socket(e),
            serve::Stopped::Store(e) => Error::Store(e),
        },
    )
}

/// What a [`Handle6`] asked for, done between wake-ups.
fn apply(server: &mut Server6, cmd: Command6) {
    match cmd {
        Command6::SetPrefixes { prefixes, pd_pool, done } => {
            info!("dhcp6: renumbering to {prefixes:?}, PD pool {pd_pool:?}");
            let _ = done.send(server.set_prefixes(Instant::now(), prefixes, pd_pool));
        }
        Command6::ReconfigureAll { done } => {
            let n = server.reconfigure_all(Instant::now());
            info!("dhcp6: Reconfigure sent to {n} clients");
            let _ = done.send(n);
        }
    }
}

impl serve::Machine for Server6 {
    type Record = crate::server::LeaseRecord6;
    type Event = Event6;
    type Stats = crate::server::Stats6;

    fn handle_datagram(&mut self, now: Instant, data: &[u8], src: SocketAddr) {
        if let SocketAddr::V6(src) = src {
            self.handle_input(now, data, &Meta6 { src });
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        Server6::handle_timeout(self, now);
    }
    fn handle_committed(&mut self, seq: u64) {
        Server6::handle_committed(self, seq);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Server6::poll_timeout(self)
    }
    fn poll_commit(&mut self) -> Option<(u64, Self::Record)> {
        Server6::poll_commit(self).map(|c| (c.seq, c.record))
    }
    fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        Server6::poll_transmit(self).map(|t| (SocketAddr::V6(t.dst), t.payload))
    }
    fn poll_event(&mut self) -> Option<Event6> {
        Server6::poll_event(self)
    }
    fn stats(&self) -> Self::Stats {
        Server6::stats(self)
    }
}

/// The interface index of `name` in the calling thread's network namespace.
fn ifindex(name: &str) -> io::Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(io::Error::from)
}

/// UDP [::]:`port` on `interface`, in ff02::1:2 there, non-blocking, in tokio.
fn bind(interface: &str, port: u16) -> io::Result<UdpSocket> {
    let index = ifindex(interface)?;
    let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    s.bind_device(Some(interface.as_bytes()))?;
    s.set_recv_buffer_size(4 << 20)?;
    s.set_multicast_if_v6(index)?;
    s.set_multicast_loop_v6(false)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0).into())?;
    s.join_multicast_v6(&ALL_DHCP_RELAY_AGENTS_AND_SERVERS, index)?;
    UdpSocket::from_std(s.into())
}
