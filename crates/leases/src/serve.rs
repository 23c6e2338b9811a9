//! The event loop both DHCP server drivers run (feature `driver`): one UDP socket, the lease
//! log's writer thread, the machine's timer, optional commands, until shutdown.
//!
//! Each wake-up: read what the socket holds (up to [`RECV_BATCH`] datagrams) into the
//! machine, or take the writer's durable watermark, a command, or the timer; then hand the
//! machine's new records to the writer, send what it released (answers wait in the machine
//! until their records are durable), pass its events on without dropping any ([`deliver`]),
//! and publish its counters if they changed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tracing::warn;

use crate::writer::{Durable, deliver, far_future, spawn_writer, writer_ended};
use crate::{Log, Record};

/// Datagrams read per wake-up before commits are handed to the writer.
pub const RECV_BATCH: usize = 256;

/// What [`serve`] needs of a server machine (the DHCPv4 and the DHCPv6 server).
pub trait Machine {
    /// What its lease log holds.
    type Record: Record + Send + 'static;
    /// What it tells the rest of the router (lease bound, released, ...).
    type Event;
    /// Its counters.
    type Stats: Copy + PartialEq;

    /// A datagram from `src`.
    fn handle_datagram(&mut self, now: Instant, data: &[u8], src: SocketAddr);
    /// The deadline of [`Machine::poll_timeout`] has passed.
    fn handle_timeout(&mut self, now: Instant);
    /// Every record up to and including `seq` is durable.
    fn handle_committed(&mut self, seq: u64);
    /// When [`Machine::handle_timeout`] is next due.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The next record to make durable, with its sequence number.
    fn poll_commit(&mut self) -> Option<(u64, Self::Record)>;
    /// The next datagram to send, and where.
    fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)>;
    /// The next event.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// The counters now.
    fn stats(&self) -> Self::Stats;
}

/// Why [`serve`] stopped other than by shutdown.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    /// The socket failed.
    #[error("socket: {0}")]
    Socket(#[source] io::Error),
    /// The lease store failed: nothing more is granted.
    #[error("lease store: {0}")]
    Store(#[source] io::Error),
}

/// How [`serve`] runs the machine.
pub struct Options<E, S> {
    /// Names the writer thread and the log lines (`dhcp4`, `dhcp6`).
    pub name: &'static str,
    /// The writer's wait for more records before each sync (see [`spawn_writer`]).
    pub commit_delay: Duration,
    /// Where events go; when full, the loop waits for room.
    pub events: Option<mpsc::Sender<E>>,
    /// Where the counters are published after each wake-up that changed them.
    pub stats: Option<watch::Sender<S>>,
}

/// Runs `machine` on `socket` with `log` (which it hands to a writer thread) until
/// `shutdown` resolves (`Ok`) or the socket or the store fails. Commands from `commands`, if
/// given, are applied with `apply` between wake-ups.
pub async fn serve<M, C>(
    machine: &mut M,
    socket: UdpSocket,
    log: Log<M::Record>,
    opts: Options<M::Event, M::Stats>,
    mut commands: Option<mpsc::Receiver<C>>,
    mut apply: impl FnMut(&mut M, C),
    shutdown: impl Future<Output = ()>,
) -> Result<(), Stopped>
where
    M: Machine,
    <M::Record as Record>::Key: Send,
{
    let name = opts.name;
    let (to_writer, mut durable) = spawn_writer(log, name, opts.commit_delay);
    tokio::pin!(shutdown);
    let mut buf = vec![0u8; 65536];
    loop {
        let deadline = machine.poll_timeout().map(tokio::time::Instant::from_std);
        let sleep = tokio::time::sleep_until(deadline.unwrap_or_else(far_future));
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            r = socket.readable() => {
                r.map_err(Stopped::Socket)?;
                receive(name, &socket, machine, &mut buf);
            }
            r = durable.changed() => {
                machine.handle_committed(Durable::progress(&mut durable, r).map_err(Stopped::Store)?);
            }
            cmd = next(&mut commands) => match cmd {
                Some(c) => apply(machine, c),
                None => commands = None,
            },
            () = sleep => machine.handle_timeout(Instant::now()),
        }
        while let Some((seq, record)) = machine.poll_commit() {
            if to_writer.send((seq, record)).is_err() {
                return Err(Stopped::Store(writer_ended()));
            }
        }
        while let Some((dst, payload)) = machine.poll_transmit() {
            if let Err(e) = socket.send_to(&payload, dst).await {
                warn!("{name}: send to {dst}: {e}");
            }
        }
        deliver(opts.events.as_ref(), std::iter::from_fn(|| machine.poll_event())).await;
        if let Some(tx) = &opts.stats {
            let s = machine.stats();
            tx.send_if_modified(|o| std::mem::replace(o, s) != s);
        }
    }
}

/// The next command, or never when there is no (more) command channel.
async fn next<C>(commands: &mut Option<mpsc::Receiver<C>>) -> Option<C> {
    match commands {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Reads what is queued on the socket (up to [`RECV_BATCH`]) into the machine.
fn receive<M: Machine>(name: &str, socket: &UdpSocket, machine: &mut M, buf: &mut [u8]) {
    for _ in 0..RECV_BATCH {
        match socket.try_recv_from(buf) {
            Ok((n, src)) => {
                machine.handle_datagram(Instant::now(), buf.get(..n).unwrap_or_default(), src);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                warn!("{name}: recv: {e}");
                break;
            }
        }
    }
}
