//! The tokio driver: the only socket, clock and task code of the crate.
//!
//! One UDP socket on 0.0.0.0:67 bound to the LAN interface (`SO_BINDTODEVICE`) with
//! `SO_BROADCAST`; replies go where [`crate::Server`] says (RFC 2131 §4.1; broadcast to
//! 255.255.255.255 for clients without an address, see the crate doc). Lease records go to a
//! writer thread that appends everything queued since its last `fdatasync`, syncs once, and
//! reports the highest durable sequence number: group commit. The event loop keeps reading
//! and answering (OFFERs, NAKs) while a sync runs; ACKs leave only once their record is
//! durable.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tracing::info;

use crate::server::config::{ConfigError, ServerConfig};
use leases::serve;
use leases::writer::unix_now;

use crate::SERVER_PORT;
use crate::server::store::LeaseLog;
use crate::server::{Event, Meta, Server};

pub use leases::writer::COMMIT_DELAY;

/// What [`run`] needs.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The LAN interface (`SO_BINDTODEVICE`).
    pub interface: String,
    /// Where `leases4.log` lives.
    pub state_dir: PathBuf,
    /// The server.
    pub server: ServerConfig,
    /// UDP port to listen on (67; tests may pick another).
    pub port: u16,
    /// How long the writer thread waits after the first record of a batch before it writes
    /// and syncs, so more records share one `fdatasync` (group commit with a delay, as
    /// PostgreSQL's `commit_delay`): fewer syncs and less CPU per lease under load, at the
    /// cost of up to this much more latency before an ACK. Zero syncs at once.
    pub commit_delay: Duration,
    /// Where the server's counters are published after each wake-up (metrics), when given.
    pub stats: Option<tokio::sync::watch::Sender<crate::server::Stats>>,
}

impl DriverConfig {
    /// Port 67 on `interface`, leases in `state_dir`.
    pub fn new(interface: &str, state_dir: PathBuf, server: ServerConfig) -> Self {
        DriverConfig {
            interface: interface.to_owned(),
            state_dir,
            server,
            port: SERVER_PORT,
            commit_delay: COMMIT_DELAY,
            stats: None,
        }
    }
}

/// Driver errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The socket could not be set up or used.
    #[error("socket: {0}")]
    Socket(#[source] io::Error),
    /// The lease store could not be opened, written or synced: nothing more is ACKed.
    #[error("lease store: {0}")]
    Store(#[source] io::Error),
}

/// Runs the server until `shutdown` resolves or the store fails (the loop is
/// [`leases::serve::serve`], shared with DHCPv6). Events go to `events`; when the channel is
/// full the server waits for room (see [`leases::writer::deliver`]): a lease event is never
/// dropped.
pub async fn run(
    cfg: DriverConfig,
    events: Option<tokio::sync::mpsc::Sender<Event>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let (mut log, report) = LeaseLog::open(&cfg.state_dir).map_err(Error::Store)?;
    let mut server = Server::new(cfg.server.clone(), Instant::now(), unix_now())?;
    let loaded = log.take_loaded();
    server.restore(&loaded);
    drop(loaded);
    info!(
        "dhcp4: {} records loaded ({} addresses, {} torn bytes cut) from {}",
        report.records,
        report.live,
        report.torn_bytes,
        cfg.state_dir.display()
    );
    let socket = bind(&cfg.interface, cfg.port).map_err(Error::Socket)?;
    let opts =
        serve::Options { name: "dhcp4", commit_delay: cfg.commit_delay, events, stats: cfg.stats };
    let no_commands: Option<tokio::sync::mpsc::Receiver<Infallible>> = None;
    serve::serve(&mut server, socket, log, opts, no_commands, |_, c| match c {}, shutdown)
        .await
        .map_err(|e| match e {
            serve::Stopped::Socket(e) => Error::Socket(e),
            serve::Stopped::Store(e) => Error::Store(e),
        })
}

impl serve::Machine for Server {
    type Record = crate::server::LeaseRecord;
    type Event = Event;
    type Stats = crate::server::Stats;

    fn handle_datagram(&mut self, now: Instant, data: &[u8], src: SocketAddr) {
        if let SocketAddr::V4(src) = src {
            self.handle_input(now, data, &Meta { src });
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        Server::handle_timeout(self, now);
    }
    fn handle_committed(&mut self, seq: u64) {
        Server::handle_committed(self, seq);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Server::poll_timeout(self)
    }
    fn poll_commit(&mut self) -> Option<(u64, Self::Record)> {
        Server::poll_commit(self).map(|c| (c.seq, c.record))
    }
    fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        Server::poll_transmit(self).map(|t| (SocketAddr::V4(t.dst), t.payload))
    }
    fn poll_event(&mut self) -> Option<Event> {
        Server::poll_event(self)
    }
    fn stats(&self) -> Self::Stats {
        Server::stats(self)
    }
}

/// UDP 0.0.0.0:`port` on `interface`, broadcast allowed, non-blocking, in tokio.
fn bind(interface: &str, port: u16) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    s.bind_device(Some(interface.as_bytes()))?;
    s.set_recv_buffer_size(4 << 20)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())?;
    UdpSocket::from_std(s.into())
}
