//! The ISP's television network (`[iptv]`): a DHCP server for one vendor class (option 121
//! to the head-end, no router option), an IGMP querier (the `igmp` crate's machine, querier
//! only), and a head-end that sends each channel only while someone on the link has joined
//! it, as an access node that snoops IGMP does. A subscriber whose router does not report
//! upstream gets nothing.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};
use netcfg::{AddrOptions, Netcfg};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::Iptv;

/// Runs the IPTV network until `shutdown`.
pub async fn run(
    cfg: Iptv,
    state_dir: std::path::PathBuf,
    shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let nc = Netcfg::new().map_err(|e| e.to_string())?;
    let link = nc.link_by_name(&cfg.interface).await.map_err(|e| e.to_string())?;
    nc.set_up(&link).await.map_err(|e| e.to_string())?;
    let _ = nc.add_address(&link, IpNet::V4(cfg.address), AddrOptions::default()).await;
    let lo = nc.link_by_name("lo").await.map_err(|e| e.to_string())?;
    let _ =
        nc.add_address(&lo, IpNet::V4(Ipv4Net::from(cfg.headend)), AddrOptions::default()).await;

    // DHCP: the vendor class only; the head-end's /24 by option 121; no default route.
    let (first, last) = cfg.pool().ok_or("iptv.pool")?;
    let mut sc = dhcpv4::server::ServerConfig::new(
        cfg.address.addr(),
        cfg.address.trunc(),
        dhcpv4::server::PoolRange { first, last },
    );
    sc.vendor_class = cfg.vendor_class.as_ref().map(|v| v.as_bytes().to_vec());
    sc.routers = Vec::new();
    sc.dns_servers = Vec::new();
    sc.lease_time = 3600;
    let headends = Ipv4Net::new(cfg.headend, 24).map_err(|e| e.to_string())?.trunc();
    sc.routes = vec![(headends, cfg.address.addr())];
    std::fs::create_dir_all(&state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
    let dc = dhcpv4::driver::server::DriverConfig::new(&cfg.interface, state_dir, sc);
    let mut stop = shutdown.clone();
    let dhcp = tokio::spawn(async move {
        let done = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = dhcpv4::driver::server::run(dc, None, done).await {
            warn!(error = %e, "ispemu: iptv dhcp stopped");
        }
    });

    // The querier: who on the link wants which channel.
    let proxy = igmp::Config {
        downstreams: vec![igmp::Downstream { name: "iptv".into(), subnet: cfg.address }],
        query_interval: cfg.query_interval,
        query_version: igmp::wire::Version::V3,
        seed: u64::from(std::process::id()),
        ..igmp::Config::default()
    };
    let (tx, joined) = watch::channel(igmp::driver::Status::default());
    let querier = tokio::spawn(igmp::driver::run_querier(
        cfg.interface.clone(),
        proxy,
        Some(tx),
        shutdown.clone(),
    ));

    // The head-end.
    let sock =
        std::net::UdpSocket::bind(SocketAddrV4::new(cfg.headend, 0)).map_err(|e| e.to_string())?;
    sock.set_multicast_ttl_v4(16).map_err(|e| e.to_string())?;
    igmp::driver::set_multicast_if(&sock, link.index)
        .map_err(|e| format!("IP_MULTICAST_IF: {e}"))?;
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    info!(interface = %cfg.interface, channels = ?cfg.channels, pps = cfg.pps, "ispemu: iptv up");
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut sent = vec![0u64; cfg.channels.len()];
    let mut buf = vec![0u8; cfg.payload.max(8)];
    let mut shutdown = shutdown;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
        // Live television: the sequence number follows the clock, whoever watches.
        let due = started.elapsed().as_millis() as u64 * u64::from(cfg.pps) / 1000;
        let wanted: Vec<Ipv4Addr> = joined.borrow().groups.iter().map(|g| g.group).collect();
        for (g, n) in cfg.channels.iter().zip(sent.iter_mut()) {
            if !wanted.contains(g) {
                *n = due;
                continue;
            }
            while *n < due {
                if let Some(a) = buf.get_mut(..4) {
                    a.copy_from_slice(&g.octets());
                }
                if let Some(b) = buf.get_mut(4..8) {
                    b.copy_from_slice(&(*n as u32).to_be_bytes());
                }
                let _ = sock.send_to(&buf, SocketAddrV4::new(*g, 5004));
                *n += 1;
            }
        }
    }
    dhcp.abort();
    let _ = querier.await;
    Ok(())
}
