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
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{ConfigError, ServerConfig};
use crate::store::{LeaseLog, Log, Record};
use crate::{Event, Meta, SERVER_PORT, Server};

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
}

/// The default [`DriverConfig::commit_delay`].
pub const COMMIT_DELAY: Duration = Duration::from_millis(2);

impl DriverConfig {
    /// Port 67 on `interface`, leases in `state_dir`.
    pub fn new(interface: &str, state_dir: PathBuf, server: ServerConfig) -> Self {
        DriverConfig {
            interface: interface.to_owned(),
            state_dir,
            server,
            port: SERVER_PORT,
            commit_delay: COMMIT_DELAY,
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

/// The writer thread's progress: the highest sequence number made durable, or a failure.
#[derive(Debug, Clone, Default)]
pub(crate) struct Durable {
    pub(crate) seq: u64,
    pub(crate) failed: Option<String>,
}

impl Durable {
    /// What a wake-up of the writer's watch (`changed`, its result) says: the highest
    /// sequence number now durable, or the store's failure.
    pub(crate) fn progress(
        rx: &mut watch::Receiver<Durable>,
        changed: Result<(), watch::error::RecvError>,
    ) -> io::Result<u64> {
        let d = rx.borrow_and_update().clone();
        if let Some(e) = d.failed {
            return Err(io::Error::other(e));
        }
        changed.map_err(|_| writer_ended())?;
        Ok(d.seq)
    }
}

/// The error when the writer thread is gone.
pub(crate) fn writer_ended() -> io::Error {
    io::Error::other("writer thread ended")
}

/// Runs the server until `shutdown` resolves or the store fails. Events go to `events`
/// (dropped with a warning when the channel is full).
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
    }
}

pub(crate) fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(3600)
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
    while let Some(ev) = server.poll_event() {
        if let Some(ch) = events {
            if ch.try_send(ev).is_err() {
                warn!("dhcp4: event channel full or closed; event dropped");
            }
        }
    }
}

/// The writer thread: group commit. Returns the record queue and the durable watermark.
/// Shared by the DHCPv4 and DHCPv6 drivers (`name` names the thread and the log lines).
/// After the first record of a batch it waits `delay` for more to join it.
pub(crate) fn spawn_writer<R>(
    mut log: Log<R>,
    name: &'static str,
    delay: Duration,
) -> (mpsc::Sender<(u64, R)>, watch::Receiver<Durable>)
where
    R: Record + Send + 'static,
    R::Key: Send,
{
    let (tx, rx) = mpsc::channel::<(u64, R)>();
    let (done_tx, done_rx) = watch::channel(Durable::default());
    std::thread::Builder::new()
        .name(format!("{name}-leases"))
        .spawn(move || {
            let mut batch = Vec::new();
            while let Ok(first) = rx.recv() {
                batch.clear();
                batch.push(first);
                if !delay.is_zero() {
                    std::thread::sleep(delay);
                }
                batch.extend(rx.try_iter());
                let seq = batch.last().map_or(0, |(s, _)| *s);
                if let Err(e) = log.commit(batch.iter().map(|(_, r)| r)) {
                    error!("{name}: lease store failed, no more leases granted: {e}");
                    let _ = done_tx.send(Durable { seq: 0, failed: Some(e.to_string()) });
                    return;
                }
                if done_tx.send(Durable { seq, failed: None }).is_err() {
                    return;
                }
            }
        })
        .map(|_| ())
        .unwrap_or_else(|e| error!("{name}: cannot start the lease writer: {e}"));
    (tx, done_rx)
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
