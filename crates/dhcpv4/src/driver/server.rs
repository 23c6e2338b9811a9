//! The tokio driver: the only socket, clock and task code of the crate.
//!
//! One UDP socket on 0.0.0.0:67 bound to the LAN interface (`SO_BINDTODEVICE`) with
//! `SO_BROADCAST`; replies go where [`crate::Server`] says (RFC 2131 §4.1; broadcast to
//! 255.255.255.255 for clients without an address, see the crate doc). Lease records go to a
//! writer thread that appends everything queued since its last `fdatasync`, syncs once, and
//! reports the highest durable sequence number: group commit. The event loop keeps reading
//! and answering (OFFERs, NAKs) while a sync runs; ACKs leave only once their record is
//! durable.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tracing::{info, warn};

use crate::server::config::{ConfigError, ServerConfig};
use leases::writer::{Durable, deliver, far_future, spawn_writer, unix_now, writer_ended};

use crate::SERVER_PORT;
use crate::server::store::LeaseLog;
use crate::server::{Event, Meta, Server};

pub use leases::writer::COMMIT_DELAY;

/// Datagrams read per wake-up before commits are handed to the writer.
const RECV_BATCH: usize = 256;

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

/// Runs the server until `shutdown` resolves or the store fails. Events go to `events`; when
/// the channel is full the server waits for room (see [`deliver`]): a lease event is never
/// dropped.
pub async fn run(
    cfg: DriverConfig,
    events: Option<tokio::sync::mpsc::Sender<Event>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let (log, report) = LeaseLog::open(&cfg.state_dir).map_err(Error::Store)?;
    let mut server = Server::new(cfg.server.clone(), Instant::now(), unix_now())?;
    server.restore(log.leases());
    info!(
        "dhcp4: {} records loaded ({} addresses, {} torn bytes cut) from {}",
        report.records,
        report.live,
        report.torn_bytes,
        cfg.state_dir.display()
    );
    let socket = bind(&cfg.interface, cfg.port).map_err(Error::Socket)?;
    let (to_writer, mut durable) = spawn_writer(log, "dhcp4", cfg.commit_delay);
    tokio::pin!(shutdown);
    let mut buf = vec![0u8; 1500];
    loop {
        let deadline = server.poll_timeout().map(tokio::time::Instant::from_std);
        let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(far_future));
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            r = socket.readable() => {
                r.map_err(Error::Socket)?;
                receive(&socket, &mut server, &mut buf);
            }
            r = durable.changed() => {
                server.handle_committed(Durable::progress(&mut durable, r).map_err(Error::Store)?);
            }
            () = sleep => server.handle_timeout(Instant::now()),
        }
        while let Some(c) = server.poll_commit() {
            if to_writer.send((c.seq, c.record)).is_err() {
                return Err(Error::Store(writer_ended()));
            }
        }
        flush(&socket, &mut server, events.as_ref()).await;
        if let Some(tx) = &cfg.stats {
            let s = server.stats();
            tx.send_if_modified(|o| std::mem::replace(o, s) != s);
        }
    }
}

/// Reads what is queued on the socket (up to [`RECV_BATCH`]) into the machine.
fn receive(socket: &UdpSocket, server: &mut Server, buf: &mut [u8]) {
    for _ in 0..RECV_BATCH {
        match socket.try_recv_from(buf) {
            Ok((n, SocketAddr::V4(src))) => {
                let now = Instant::now();
                server.handle_input(now, buf.get(..n).unwrap_or_default(), &Meta { src });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                warn!("dhcp4: recv: {e}");
                break;
            }
        }
    }
}

/// Sends what the machine released and passes its events on.
async fn flush(
    socket: &UdpSocket,
    server: &mut Server,
    events: Option<&tokio::sync::mpsc::Sender<Event>>,
) {
    while let Some(tx) = server.poll_transmit() {
        if let Err(e) = socket.send_to(&tx.payload, tx.dst).await {
            warn!("dhcp4: send to {}: {e}", tx.dst);
        }
    }
    deliver(events, std::iter::from_fn(|| server.poll_event())).await;
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
