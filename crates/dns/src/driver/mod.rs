//! The tokio driver: binds the listeners, runs them, does the I/O the [`Core`] asks for, and
//! takes events through [`DnsHandle`]. The only code with sockets, tasks and the clock.
//!
//! - [`forward`]: the upstream exchanges (UDP, TC -> TCP, timeouts, next server).
//! - [`dynamic`]: hickory-server's SQLite-journaled zone (UPDATE + TSIG, survives restarts).

mod batch;
pub mod dynamic;
pub mod forward;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_server::zone_handler::Catalog;
use ipnet::Ipv6Net;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::local::{Conflict, LeaseUpdate, LocalZone};
use crate::server::{Ask, Core, Next, Stats};
use crate::wire::QueryView;
use crate::{DnsConfig, Error};

/// A TCP connection is closed after this long without a query (RFC 7766 §6.2.3).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// At most this many TCP connections at once; more wait in the accept queue.
const TCP_MAX: usize = 128;

/// What the listeners and the handle share.
struct Shared {
    core: Core,
    /// The local zone the core's view is compiled from. Lease and prefix events change it one
    /// at a time; a lease holds it while it asks the dynamic zone (an `.await`), hence tokio's.
    zone: tokio::sync::Mutex<LocalZone>,
    /// Hickory's catalogue with the dynamic (journaled) zone.
    catalog: Catalog,
}

/// A handle to a running server: push lease, upstream and prefix changes into it.
#[derive(Clone)]
pub struct DnsHandle {
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
}

impl DnsHandle {
    /// Applies a lease event (see the conflict policy in [`crate::local`]). `Ok(true)` when
    /// the published records changed; the new answers are live when this returns.
    pub async fn lease(&self, update: LeaseUpdate) -> Result<bool, Conflict> {
        let mut zone = self.shared.zone.lock().await;
        if let LeaseUpdate::Granted { hostname, client_id, .. } = &update {
            let name = zone.check_claim(hostname, client_id)?;
            let fqdn = format!("{name}.{}", zone.domain());
            if !zone.holds(&name) && dynamic::name_exists(&self.shared.catalog, &fqdn).await {
                tracing::info!(%fqdn, "lease name refused: it exists as a dynamic record");
                return Err(Conflict::Dynamic(name));
            }
        }
        let result = zone.handle_lease(update);
        match &result {
            Ok(true) => self.shared.core.publish(&zone),
            Ok(false) => {}
            Err(c) => tracing::info!(conflict = %c, "lease name not published"),
        }
        result
    }

    /// Replaces the upstream servers (the WAN learned new ones by IPCP or DHCPv6). The cache
    /// is kept: its answers stay valid for their TTL whoever gave them.
    pub fn set_upstreams(&self, upstreams: Vec<SocketAddr>) {
        tracing::info!(?upstreams, "upstream servers changed");
        self.shared.core.set_upstreams(upstreams);
    }

    /// Sets the delegated IPv6 prefix: its reverse zone and client network follow it.
    pub async fn set_prefix(&self, prefix: Option<Ipv6Net>) {
        let mut zone = self.shared.zone.lock().await;
        if zone.set_prefix(prefix) {
            tracing::info!(?prefix, "delegated prefix changed");
            self.shared.core.publish(&zone);
        }
    }

    /// The addresses the listeners are bound to (with the ports chosen when 0 was asked).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The server's counters.
    pub fn stats(&self) -> &Stats {
        self.shared.core.stats()
    }

    /// Answers in the forwarding cache now.
    pub fn cache_len(&self) -> usize {
        self.shared.core.cache_len()
    }
}

/// Opens the dynamic zone, binds UDP and TCP on every `config.listen` address, and returns the
/// handle and the task that serves until it is aborted (or a listener fails).
pub async fn serve(config: DnsConfig) -> Result<(DnsHandle, tokio::task::JoinHandle<()>), Error> {
    let zone = LocalZone::new(
        &config.domain,
        config.ttl,
        &config.hosts,
        config.lan_v4.clone(),
        config.lan_v6.clone(),
    )?;
    let catalog =
        dynamic::open(zone.domain(), &config.state_dir, &config.tsig_keys, config.ttl).await?;
    let core = Core::new(&config, &zone);
    let shared = Arc::new(Shared { core, zone: tokio::sync::Mutex::new(zone), catalog });
    let mut tasks = JoinSet::new();
    let mut addrs = Vec::new();
    for &addr in &config.listen {
        let udp =
            UdpSocket::bind(addr).await.map_err(|e| Error::io(format!("bind udp {addr}"), e))?;
        let addr = udp.local_addr().map_err(|e| Error::io("local_addr", e))?;
        let tcp =
            TcpListener::bind(addr).await.map_err(|e| Error::io(format!("bind tcp {addr}"), e))?;
        tracing::info!(%addr, "DNS listening on UDP and TCP");
        addrs.push(addr);
        tasks.spawn(run_udp(shared.clone(), Arc::new(udp)));
        tasks.spawn(run_tcp(shared.clone(), tcp));
    }
    let handle = DnsHandle { shared, addrs };
    let task = tokio::spawn(async move {
        while let Some(r) = tasks.join_next().await {
            if let Ok(Err(e)) = r {
                tracing::error!(error = %e, "DNS listener failed");
            }
        }
    });
    Ok((handle, task))
}

/// Does the I/O `ask` names for `msg` and returns what the core makes of its result.
async fn ask(
    shared: &Shared,
    ask: Ask,
    msg: Vec<u8>,
    src: SocketAddr,
    tcp: bool,
) -> Option<Vec<u8>> {
    match ask {
        Ask::Dynamic { max } => {
            let reply = dynamic::ask(&shared.catalog, msg.clone(), src, tcp, max).await;
            shared.core.handle_dynamic_reply(src, &msg, reply)
        }
        Ask::Upstream => {
            let view = shared.core.view();
            let q = QueryView::parse(&msg).ok()?;
            let asked = Instant::now();
            let reply = forward::resolve(&view.upstreams, &q, view.timeout).await;
            if reply.is_some() {
                shared.core.note_upstream_latency(asked.elapsed());
            }
            shared.core.handle_upstream_reply(Instant::now(), tcp, &msg, reply.as_deref())
        }
    }
}

/// The UDP listener: each wake-up reads what is queued (up to [`batch::BATCH`] queries, one
/// `recvmmsg`), answers what needs no I/O into a send batch (one `sendmmsg`), and spawns a
/// task for each query that must ask first.
async fn run_udp(shared: Arc<Shared>, sock: Arc<UdpSocket>) -> std::io::Result<()> {
    use tokio::io::Interest;
    let fd = batch::fd(&sock);
    let mut rx = batch::RecvBatch::new();
    let mut tx = batch::SendBatch::default();
    loop {
        sock.readable().await?;
        let n = match sock.try_io(Interest::READABLE, || rx.recv(fd)) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            // ICMP errors from earlier sends surface here on Linux: not fatal.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        for i in 0..n {
            let Some(d) = rx.datagram(i) else { continue };
            let Some(out) = tx.next_buf() else { break };
            if d.truncated {
                // Longer than any query: only its header can be believed.
                shared.core.stats().malformed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Some(r) = crate::wire::formerr_header(d.bytes) {
                    out.extend_from_slice(&r);
                    tx.push(d.src);
                }
                continue;
            }
            match shared.core.handle_query(now, d.src, false, d.bytes, out) {
                Next::Reply => tx.push(d.src),
                Next::Drop => {}
                Next::Ask(a) => {
                    let (shared, sock, msg, src) =
                        (shared.clone(), sock.clone(), d.bytes.to_vec(), d.src);
                    tokio::spawn(async move {
                        if let Some(reply) = ask(&shared, a, msg, src, false).await {
                            let _ = sock.send_to(&reply, src).await;
                        }
                    });
                }
            }
        }
        flush(&sock, fd, &mut tx).await;
    }
}

/// Sends the batch's answers: at once where the socket takes them, the rest waiting for room.
async fn flush(sock: &UdpSocket, fd: std::os::fd::RawFd, tx: &mut batch::SendBatch) {
    use tokio::io::Interest;
    let mut done = 0;
    while done < tx.len() {
        match sock.try_io(Interest::WRITABLE, || tx.send(fd, done)) {
            Ok(k) => done += k,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some((bytes, dst)) = tx.get(done) {
                    let _ = sock.send_to(bytes, dst).await;
                }
                done += 1;
            }
            // One answer the kernel refuses (an unreachable destination): skip it.
            Err(_) => done += 1,
        }
    }
    tx.clear();
}

async fn run_tcp(shared: Arc<Shared>, listener: TcpListener) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(TCP_MAX));
    loop {
        let permit = slots.clone().acquire_owned().await.map_err(std::io::Error::other)?;
        let (stream, src) = listener.accept().await?;
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = tcp_connection(&shared, stream, src).await {
                tracing::debug!(%src, error = %e, "TCP connection ended");
            }
            drop(permit);
        });
    }
}

/// Answers length-prefixed queries in order until the client closes or idles (RFC 7766 §6).
async fn tcp_connection(shared: &Shared, mut s: TcpStream, src: SocketAddr) -> std::io::Result<()> {
    let mut out = Vec::new();
    loop {
        let Ok(len) = tokio::time::timeout(TCP_IDLE, s.read_u16()).await else { return Ok(()) };
        let mut msg = vec![0; usize::from(len?)];
        tokio::time::timeout(TCP_IDLE, s.read_exact(&mut msg))
            .await
            .map_err(std::io::Error::other)??;
        let reply = match shared.core.handle_query(Instant::now(), src, true, &msg, &mut out) {
            Next::Reply => Some(std::mem::take(&mut out)),
            Next::Drop => None,
            Next::Ask(a) => ask(shared, a, msg, src, true).await,
        };
        if let Some(r) = reply {
            let len = u16::try_from(r.len()).unwrap_or(u16::MAX);
            s.write_all(
                &[&len.to_be_bytes()[..], r.get(..usize::from(len)).unwrap_or_default()].concat(),
            )
            .await?;
        }
    }
}
