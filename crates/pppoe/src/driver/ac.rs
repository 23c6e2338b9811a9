//! The access concentrator's driver (what `ispemu` runs): every host session on one TUN
//! device (`isp0`), packets to a subscriber routed into its session by destination address.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use netcfg::{AddrGenMode, AddrOptions, Netcfg};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

use super::datapath::{DataPath, PathSession};
use super::sys::{PacketSocket, Tun};
use super::{Error, POLL, io, spawn_discovery_reader};
use crate::wire::{ETHERTYPE_DISCOVERY, ETHERTYPE_SESSION, EthernetHeader, SessionHeader, proto};
use crate::{AcCommand, AcConfig, AcEvent, AccessConcentrator, Link};

/// Runtime commands (the fault injection of `ispemu ctl`).
#[derive(Debug)]
pub enum Control {
    /// A command for the machine (terminate a session, PADT, answer PADI or not).
    Ac(AcCommand),
    /// Answer LCP Echo-Requests (false: the ISP goes silent on keepalives).
    AnswerEcho(bool),
    /// Route an IPv6 prefix (a delegated one) into a session.
    RouteV6 {
        /// The session.
        session_id: u16,
        /// The prefix.
        prefix: std::net::Ipv6Addr,
        /// Its length.
        len: u8,
    },
    /// The sessions that are up.
    Sessions(oneshot::Sender<Vec<Link>>),
}

/// Runs the access concentrator on `interface` until `shutdown`; the machine's config comes
/// in `ac` (its MAC is replaced by the interface's). Packets for subscribers reach the TUN
/// device `tun_name` through the kernel's routing in this namespace.
pub async fn run(
    interface: String,
    tun_name: String,
    mut ac: AcConfig,
    mut control: mpsc::UnboundedReceiver<Control>,
    events: mpsc::UnboundedSender<AcEvent>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let nc = Netcfg::new()?;
    let link = nc.link_by_name(&interface).await?;
    let mac = link.mac.ok_or_else(|| Error::Io {
        what: format!("{interface} has no MAC address"),
        source: std::io::ErrorKind::InvalidInput.into(),
    })?;
    ac.mac = mac;
    if ac.max_payload > crate::PPPOE_MAX_PAYLOAD && link.mtu < u32::from(ac.max_payload) + 8 {
        nc.set_mtu(&link, u32::from(ac.max_payload) + 8).await?;
    }
    nc.set_up(&link).await?;
    let vlan = ac.vlan.map(|v| v.id);
    let disc = Arc::new(PacketSocket::open(link.index, POLL).map_err(io("discovery socket"))?);
    disc.filter(mac, ETHERTYPE_DISCOVERY, vlan, true).map_err(io("discovery filter"))?;
    let sess = Arc::new(PacketSocket::open(link.index, POLL).map_err(io("session socket"))?);
    sess.filter(mac, ETHERTYPE_SESSION, vlan, false).map_err(io("session filter"))?;
    let tun = Arc::new(Tun::open(&tun_name).map_err(io(format!("tun {tun_name}")))?);
    let tunl = nc.link_by_name(&tun_name).await?;
    nc.set_addr_gen_mode(&tun_name, AddrGenMode::None)?;
    nc.set_mtu(&tunl, u32::from(ac.max_payload.max(crate::PPPOE_MAX_PAYLOAD))).await?;
    nc.set_up(&tunl).await?;
    let local = ac.local_ipv4;
    nc.add_address(&tunl, ipnet::IpNet::from(std::net::IpAddr::V4(local)), AddrOptions::default())
        .await?;
    let ll: ipnet::IpNet = "fe80::1/64".parse().map_err(|_| Error::Io {
        what: "link-local".into(),
        source: std::io::ErrorKind::InvalidData.into(),
    })?;
    nc.add_address(&tunl, ll, AddrOptions { nodad: true, ..AddrOptions::default() }).await?;
    for a in &ac.pool {
        // Host routes into the TUN device; the data path picks the session by address.
        let r = netcfg::Route::dev(ipnet::IpNet::from(std::net::IpAddr::V4(*a)), &tunl);
        nc.replace_route(&r).await?;
    }

    let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel();
    let path =
        DataPath::start(sess, tun, ctl_tx.clone(), Arc::default()).map_err(io("data path"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let reader = spawn_discovery_reader(disc.clone(), ctl_tx, stop.clone())
        .map_err(io("discovery thread"))?;
    let mut m = AccessConcentrator::new(ac);
    let mut answer_echo = true;
    let mut up: Vec<(Link, Arc<AtomicU64>, u64)> = Vec::new();
    info!(%interface, "ispemu: access concentrator running");
    loop {
        while let Some(t) = m.poll_transmit() {
            let _ = disc.send(&t.bytes);
        }
        while let Some(ev) = m.poll_event() {
            match &ev {
                AcEvent::SessionUp(l) => {
                    let key = m.session_key(l.session_id);
                    if let Some(key) = key {
                        let rx = Arc::new(AtomicU64::new(0));
                        let mut s = path.sessions.write().unwrap_or_else(|p| p.into_inner());
                        s.insert(PathSession { key, mtu: l.mtu, rx: rx.clone() }, false);
                        if let Some(v4) = &l.ipv4 {
                            s.route_v4(v4.peer, l.session_id);
                        }
                        if let Some(v6) = &l.ipv6 {
                            // The host's link-local address (IPv6CP identifier): what DHCPv6
                            // replies and RAs to it are addressed to.
                            let ll = std::net::Ipv6Addr::from(
                                (0xfe80u128 << 112) | u128::from(v6.peer_id),
                            );
                            s.route_v6(ll, 128, l.session_id);
                        }
                        up.retain(|(x, _, _)| x.session_id != l.session_id);
                        up.push((l.clone(), rx, 0));
                    }
                    info!(session = l.session_id, ipv4 = ?l.ipv4, user = ?l.peer_name.as_deref().map(String::from_utf8_lossy), "ispemu: session up");
                }
                AcEvent::SessionDown { session_id, reason, .. } => {
                    path.sessions.write().unwrap_or_else(|p| p.into_inner()).remove(*session_id);
                    up.retain(|(x, _, _)| x.session_id != *session_id);
                    warn!(session = session_id, ?reason, "ispemu: session down");
                }
            }
            let _ = events.send(ev);
        }
        let now = std::time::Instant::now();
        for (l, rx, seen) in &mut up {
            let n = rx.load(Ordering::Relaxed);
            if n != *seen {
                *seen = n;
                m.note_received(now, l.session_id);
            }
        }
        let wait = m.poll_timeout().map_or(POLL, |t| t.saturating_duration_since(now)).min(POLL);
        tokio::select! {
            f = ctl_rx.recv() => {
                let Some(f) = f else { break };
                if answer_echo || !is_echo_request(&f) {
                    m.handle_input(std::time::Instant::now(), &f);
                }
            }
            c = control.recv() => match c {
                Some(Control::Ac(cmd)) => m.handle_command(std::time::Instant::now(), cmd),
                Some(Control::AnswerEcho(on)) => answer_echo = on,
                Some(Control::RouteV6 { session_id, prefix, len }) => {
                    path.sessions.write().unwrap_or_else(|p| p.into_inner()).route_v6(prefix, len, session_id);
                    let net = ipnet::Ipv6Net::new(prefix, len).map(ipnet::IpNet::V6);
                    if let Ok(net) = net {
                        let _ = nc.replace_route(&netcfg::Route::dev(net, &tunl)).await;
                    }
                }
                Some(Control::Sessions(reply)) => {
                    let _ = reply.send(up.iter().map(|(l, _, _)| l.clone()).collect());
                }
                None => {}
            },
            _ = tokio::time::sleep(wait) => m.handle_timeout(std::time::Instant::now()),
            _ = shutdown.changed() => if *shutdown.borrow() { break },
        }
    }
    for (l, _, _) in &up {
        m.handle_command(std::time::Instant::now(), AcCommand::Padt { session_id: l.session_id });
    }
    while let Some(t) = m.poll_transmit() {
        let _ = disc.send(&t.bytes);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    drop(path);
    Ok(())
}

/// An LCP Echo-Request in a session frame (what "stop answering echo" swallows).
fn is_echo_request(frame: &[u8]) -> bool {
    let Ok((_, rest)) = EthernetHeader::parse(frame) else { return false };
    let Ok((h, payload)) = SessionHeader::parse(rest) else { return false };
    h.protocol == proto::LCP && payload.first() == Some(&0x09)
}
