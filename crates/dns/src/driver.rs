//! The tokio driver: binds the listeners, runs them, and takes events through [`DnsHandle`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::{IpNet, Ipv6Net};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::local::{Conflict, LeaseUpdate, LocalZone};
use crate::policy::{Acl, RebindFilter};
use crate::server::{Core, Fast, Stats, View};
use crate::{DnsConfig, Error, dynamic, server};

/// A TCP connection is closed after this long without a query (RFC 7766 §6.2.3).
const TCP_IDLE: Duration = Duration::from_secs(10);
/// At most this many TCP connections at once; more wait in the accept queue.
const TCP_MAX: usize = 128;

/// A handle to a running server: push lease, upstream and prefix changes into it.
#[derive(Clone)]
pub struct DnsHandle {
    core: Arc<Core>,
    config: Arc<DnsConfig>,
    addrs: Vec<SocketAddr>,
}

impl DnsHandle {
    /// Applies a lease event (see the conflict policy in [`crate::local`]). `Ok(true)` when
    /// the published records changed; the new answers are live when this returns.
    pub async fn lease(&self, update: LeaseUpdate) -> Result<bool, Conflict> {
        let mut zone = self.core.zone.lock().await;
        if let LeaseUpdate::Granted { hostname, client_id, .. } = &update {
            let name = zone.check_claim(hostname, client_id)?;
            let fqdn = format!("{name}.{}", zone.domain());
            if !zone.holds(&name) && dynamic::name_exists(&self.core.catalog, &fqdn).await {
                tracing::info!(%fqdn, "lease name refused: it exists as a dynamic record");
                return Err(Conflict::Dynamic(name));
            }
        }
        let result = zone.handle_lease(update);
        match &result {
            Ok(true) => self.publish(&zone),
            Ok(false) => {}
            Err(c) => tracing::info!(conflict = %c, "lease name not published"),
        }
        result
    }

    /// Replaces the upstream servers (the WAN learned new ones by IPCP or DHCPv6). The cache
    /// is kept: its answers stay valid for their TTL whoever gave them.
    pub fn set_upstreams(&self, upstreams: Vec<SocketAddr>) {
        tracing::info!(?upstreams, "upstream servers changed");
        self.core.view.rcu(|v| View { upstreams: upstreams.clone(), ..clone_view(v) });
    }

    /// Sets the delegated IPv6 prefix: its reverse zone and client network follow it.
    pub async fn set_prefix(&self, prefix: Option<Ipv6Net>) {
        let mut zone = self.core.zone.lock().await;
        if zone.set_prefix(prefix) {
            tracing::info!(?prefix, "delegated prefix changed");
            self.publish(&zone);
        }
    }

    /// The addresses the listeners are bound to (with the ports chosen when 0 was asked).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The server's counters.
    pub fn stats(&self) -> &Stats {
        &self.core.stats
    }

    fn publish(&self, zone: &LocalZone) {
        let table = zone.table();
        let acl = acl(&self.config, zone.prefix());
        self.core.view.rcu(|v| View { table: table.clone(), acl: acl.clone(), ..clone_view(v) });
    }
}

fn clone_view(v: &View) -> View {
    View {
        table: v.table.clone(),
        acl: v.acl.clone(),
        rebind: v.rebind.clone(),
        upstreams: v.upstreams.clone(),
        timeout: v.timeout,
    }
}

fn acl(config: &DnsConfig, prefix: Option<Ipv6Net>) -> Acl {
    let lans = config.lan_v4.iter().map(|&n| IpNet::V4(n));
    let v6 = config.lan_v6.iter().chain(prefix.iter()).map(|&n| IpNet::V6(n));
    Acl::new(lans.chain(v6).chain(config.clients.iter().copied()))
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
    let view = View {
        table: zone.table(),
        acl: acl(&config, None),
        rebind: RebindFilter::new(&config.rebind_allow),
        upstreams: config.upstreams.clone(),
        timeout: config.upstream_timeout,
    };
    let core = server::core(view, zone, catalog, config.cache_size);
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
        tasks.spawn(run_udp(core.clone(), Arc::new(udp)));
        tasks.spawn(run_tcp(core.clone(), tcp));
    }
    let handle = DnsHandle { core, config: Arc::new(config), addrs };
    let task = tokio::spawn(async move {
        while let Some(r) = tasks.join_next().await {
            if let Ok(Err(e)) = r {
                tracing::error!(error = %e, "DNS listener failed");
            }
        }
    });
    Ok((handle, task))
}

async fn run_udp(core: Arc<Core>, sock: Arc<UdpSocket>) -> std::io::Result<()> {
    let mut buf = vec![0; 65_535];
    let mut out = Vec::with_capacity(1232);
    loop {
        let (n, src) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            // ICMP errors from earlier sends surface here on Linux: not fatal.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(e) => return Err(e),
        };
        let msg = buf.get(..n).unwrap_or_default();
        match core.answer_fast(msg, src, false, &mut out) {
            Fast::Done => {
                let _ = sock.send_to(&out, src).await;
            }
            Fast::Drop => {}
            Fast::Slow => {
                let (core, sock, msg) = (core.clone(), sock.clone(), msg.to_vec());
                tokio::spawn(async move {
                    if let Some(reply) = core.answer_slow(msg, src, false).await {
                        let _ = sock.send_to(&reply, src).await;
                    }
                });
            }
        }
    }
}

async fn run_tcp(core: Arc<Core>, listener: TcpListener) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(TCP_MAX));
    loop {
        let permit = slots.clone().acquire_owned().await.map_err(std::io::Error::other)?;
        let (stream, src) = listener.accept().await?;
        let core = core.clone();
        tokio::spawn(async move {
            if let Err(e) = tcp_connection(&core, stream, src).await {
                tracing::debug!(%src, error = %e, "TCP connection ended");
            }
            drop(permit);
        });
    }
}

/// Answers length-prefixed queries in order until the client closes or idles (RFC 7766 §6).
async fn tcp_connection(core: &Core, mut s: TcpStream, src: SocketAddr) -> std::io::Result<()> {
    let mut out = Vec::new();
    loop {
        let Ok(len) = tokio::time::timeout(TCP_IDLE, s.read_u16()).await else { return Ok(()) };
        let mut msg = vec![0; usize::from(len?)];
        tokio::time::timeout(TCP_IDLE, s.read_exact(&mut msg))
            .await
            .map_err(std::io::Error::other)??;
        let reply = match core.answer_fast(&msg, src, true, &mut out) {
            Fast::Done => Some(std::mem::take(&mut out)),
            Fast::Drop => None,
            Fast::Slow => core.answer_slow(msg, src, true).await,
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
