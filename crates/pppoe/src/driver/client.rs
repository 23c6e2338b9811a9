//! The router's PPPoE WAN: discovery, the session's control machine, `ppp0`, redial.

use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ipnet::IpNet;
use netcfg::{AddrGenMode, AddrOptions, Link as NetLink, Netcfg, Route};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{info, warn};

use super::datapath::{DataPath, PathSession};
use super::sys::{PacketSocket, Tun};
use super::{Error, POLL, io, random_seed, spawn_discovery_reader};
use crate::wire::{
    DiscoveryCode, DiscoveryPacket, ETHERTYPE_DISCOVERY, ETHERTYPE_SESSION, EthernetHeader, Mac,
    Vlan,
};
use crate::{ClientConfig, Command, Credentials, DownReason, Event, Link, PppoeClient};

/// How to run the WAN.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Ethernet interface facing the ISP.
    pub interface: String,
    /// The TUN device to create (`ppp0`).
    pub tun_name: String,
    /// 802.1Q VLAN id written and stripped in user space (KPN: 6).
    pub vlan: Option<u16>,
    /// User name and password.
    pub credentials: Option<Credentials>,
    /// MTU; above 1492 asks for RFC 4638 and raises the parent interface to MTU + 8.
    pub mtu: u16,
    /// LCP echo interval (`None`: off).
    pub echo_interval: Option<Duration>,
    /// Unanswered echoes before the link is declared dead.
    pub echo_failures: u32,
    /// Run IPv6CP.
    pub ipv6: bool,
    /// Install default routes (IPv4, and IPv6 when IPv6CP opened) through the TUN device.
    pub default_routes: bool,
    /// Where the current session is remembered, to clear it with a PADT after a crash.
    pub state_dir: Option<PathBuf>,
    /// The data path's counters: give one to read them while the driver runs (metrics);
    /// they go on across redials.
    pub counters: Arc<super::Counters>,
    /// The control machine's counters, published after each step (metrics), when given.
    pub stats: Option<watch::Sender<crate::Stats>>,
}

impl Config {
    /// Defaults for `interface`: `ppp0`, no VLAN, MTU 1492, echo 10 s × 3, IPv6, routes.
    pub fn new(interface: &str, credentials: Option<Credentials>) -> Self {
        Config {
            interface: interface.into(),
            tun_name: "ppp0".into(),
            vlan: None,
            credentials,
            mtu: crate::PPPOE_MAX_PAYLOAD,
            echo_interval: Some(Duration::from_secs(10)),
            echo_failures: 3,
            ipv6: true,
            default_routes: true,
            state_dir: None,
            counters: Arc::default(),
            stats: None,
        }
    }
}

/// Redial back-off: 1 s doubling to 60 s; after an authentication failure at least 10 s, so
/// a wrong password never turns into a tight loop against the ISP.
fn backoff(attempt: u32, reason: Option<DownReason>) -> Duration {
    let base = Duration::from_secs(1u64 << attempt.min(6)).min(Duration::from_secs(60));
    match reason {
        Some(DownReason::AuthFailed) => base.max(Duration::from_secs(10)),
        _ => base,
    }
}

/// Runs the WAN until `shutdown` turns true: dials, reports [`Event`]s, redials after any
/// loss, and on shutdown closes the session (Terminate-Request, PADT).
pub async fn run(
    cfg: Config,
    events: mpsc::UnboundedSender<Event>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Arc<super::Counters>, Error> {
    let nc = Netcfg::new()?;
    let wan = nc.link_by_name(&cfg.interface).await?;
    let mac = wan.mac.ok_or_else(|| Error::Io {
        what: format!("{} has no MAC address", cfg.interface),
        source: std::io::ErrorKind::InvalidInput.into(),
    })?;
    if cfg.mtu > crate::PPPOE_MAX_PAYLOAD && wan.mtu < u32::from(cfg.mtu) + 8 {
        nc.set_mtu(&wan, u32::from(cfg.mtu) + 8).await?;
    }
    nc.set_up(&wan).await?;
    let disc = Arc::new(PacketSocket::open(wan.index, POLL).map_err(io("discovery socket"))?);
    disc.filter(mac, ETHERTYPE_DISCOVERY, cfg.vlan, false).map_err(io("discovery filter"))?;
    let sess = Arc::new(PacketSocket::open(wan.index, POLL).map_err(io("session socket"))?);
    sess.filter(mac, ETHERTYPE_SESSION, cfg.vlan, false).map_err(io("session filter"))?;
    let tun = Arc::new(Tun::open(&cfg.tun_name).map_err(io(format!("tun {}", cfg.tun_name)))?);
    let ppp = nc.link_by_name(&cfg.tun_name).await?;
    // Down and bare until the session is up (the TUN may come up with a kernel-made
    // link-local address before addr_gen_mode is set).
    configure_down(&nc, &ppp).await;
    if cfg.ipv6 {
        // No kernel-made link-local: ours comes from the IPv6CP interface identifier.
        nc.set_addr_gen_mode(&cfg.tun_name, AddrGenMode::None)?;
    } else {
        nc.set_disable_ipv6(&cfg.tun_name, true)?;
    }

    let state = cfg.state_dir.as_ref().map(|d| d.join(format!("pppoe-{}.session", cfg.interface)));
    if let Some(p) = &state {
        clear_stale_session(p, mac, &disc);
    }

    let (ctl_tx, mut ctl_rx) = mpsc::unbounded_channel();
    let path = DataPath::start(sess.clone(), tun.clone(), ctl_tx.clone(), cfg.counters.clone())
        .map_err(io("data path"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let reader = spawn_discovery_reader(disc.clone(), ctl_tx, stop.clone())
        .map_err(io("discovery thread"))?;

    let mut attempt = 0u32;
    let mut last_ipv4 = std::net::Ipv4Addr::UNSPECIFIED;
    let mut last_reason = None;
    // The counters of the sessions before this one (each dial has a new machine).
    let mut ended = crate::Stats::default();
    'dial: while !*shutdown.borrow() {
        let mut pc = ClientConfig::new(mac, cfg.credentials.clone(), random_seed());
        pc.vlan = cfg.vlan.map(Vlan::id);
        pc.mtu = cfg.mtu;
        pc.echo_interval = cfg.echo_interval;
        pc.echo_failures = cfg.echo_failures;
        pc.ipv6 = cfg.ipv6;
        pc.ipv4_hint = last_ipv4;
        let start = std::time::Instant::now();
        let mut m = PppoeClient::new(pc, start);
        let rx_data = Arc::new(AtomicU64::new(0));
        let mut seen = 0u64;
        info!(interface = %cfg.interface, vlan = ?cfg.vlan, "pppoe: dialing");
        let mut saved = None;
        loop {
            // The session is the ISP's from its PADS on: recorded before anything more is
            // sent, so that after a crash at any later point (LCP, authentication, the NCPs,
            // or up but before we said so) the next run ends it with a PADT.
            if let (Some(p), Some(key)) = (&state, m.session_key()) {
                if saved != Some(key.session_id) {
                    save_session(p, key.peer, key.session_id, key.vlan.map(|v| v.id));
                    saved = Some(key.session_id);
                }
            }
            while let Some(t) = m.poll_transmit() {
                let _ = disc.send(&t.bytes);
            }
            while let Some(ev) = m.poll_event() {
                match &ev {
                    Event::Up(link) => {
                        attempt = 0;
                        if let Some(v4) = &link.ipv4 {
                            last_ipv4 = v4.local;
                        }
                        if let Some(key) = m.session_key() {
                            path.sessions.write().unwrap_or_else(|p| p.into_inner()).insert(
                                PathSession { key, mtu: link.mtu, rx: rx_data.clone() },
                                true,
                            );
                        }
                        configure_up(&nc, &ppp, link, cfg.default_routes).await?;
                        info!(session = link.session_id, mtu = link.mtu, ipv4 = ?link.ipv4, ipv6 = ?link.ipv6, "pppoe: up");
                    }
                    Event::Down(reason) => {
                        last_reason = Some(*reason);
                        match reason {
                            DownReason::AuthFailed => warn!(
                                "pppoe: authentication failed: check the user name and password"
                            ),
                            r => warn!(reason = ?r, "pppoe: down"),
                        }
                        if let Some(key) = m.session_key() {
                            path.sessions
                                .write()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(key.session_id);
                        }
                        configure_down(&nc, &ppp).await;
                        if let Some(p) = &state {
                            let _ = std::fs::remove_file(p);
                        }
                    }
                }
                let down = matches!(ev, Event::Down(_));
                let _ = events.send(ev);
                if down {
                    // Let the Terminate/PADT go out, then wait and redial.
                    while let Some(t) = m.poll_transmit() {
                        let _ = disc.send(&t.bytes);
                    }
                    ended = ended.plus(&m.stats());
                    if let Some(tx) = &cfg.stats {
                        tx.send_replace(ended);
                    }
                    let wait = backoff(attempt, last_reason);
                    attempt = attempt.saturating_add(1);
                    info!(seconds = wait.as_secs(), "pppoe: redialing after back-off");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue 'dial;
                }
            }
            if let Some(tx) = &cfg.stats {
                let s = ended.plus(&m.stats());
                tx.send_if_modified(|o| std::mem::replace(o, s) != s);
            }
            let now = std::time::Instant::now();
            let seen_now = rx_data.load(Ordering::Relaxed);
            if seen_now != seen {
                seen = seen_now;
                m.note_received(now);
            }
            let deadline =
                m.poll_timeout().map_or(POLL, |t| t.saturating_duration_since(now)).min(POLL);
            tokio::select! {
                frame = ctl_rx.recv() => {
                    let Some(frame) = frame else { break 'dial };
                    let now = std::time::Instant::now();
                    m.handle_input(now, &frame);
                }
                _ = tokio::time::sleep(deadline) => {
                    m.handle_timeout(std::time::Instant::now());
                }
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        close(&mut m, &disc, &mut ctl_rx).await;
                        configure_down(&nc, &ppp).await;
                        if let Some(p) = &state {
                            let _ = std::fs::remove_file(p);
                        }
                        break 'dial;
                    }
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    let counters = path.counters.clone();
    drop(path);
    Ok(counters)
}

/// Closes the session properly: Terminate-Request, then PADT, driven for up to 3 s.
async fn close(
    m: &mut PppoeClient,
    disc: &PacketSocket,
    ctl: &mut mpsc::UnboundedReceiver<Vec<u8>>,
) {
    m.handle_command(std::time::Instant::now(), Command::Close);
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        while let Some(t) = m.poll_transmit() {
            let _ = disc.send(&t.bytes);
        }
        while m.poll_event().is_some() {}
        let Some(next) = m.poll_timeout() else { return };
        if Instant::now() >= until {
            return;
        }
        let wait = next.saturating_duration_since(std::time::Instant::now()).min(POLL);
        tokio::select! {
            f = ctl.recv() => match f {
                Some(f) => m.handle_input(std::time::Instant::now(), &f),
                None => return,
            },
            _ = tokio::time::sleep(wait) => m.handle_timeout(std::time::Instant::now()),
        }
    }
}

async fn configure_up(nc: &Netcfg, ppp: &NetLink, link: &Link, routes: bool) -> Result<(), Error> {
    nc.set_mtu(ppp, u32::from(link.mtu)).await?;
    nc.set_up(ppp).await?;
    if let Some(v4) = &link.ipv4 {
        let net = IpNet::new(IpAddr::V4(v4.local), 32).map_err(|_| Error::Io {
            what: "ipv4 address".into(),
            source: std::io::ErrorKind::InvalidData.into(),
        })?;
        nc.add_address(ppp, net, AddrOptions::default()).await?;
        if routes {
            nc.replace_route(&Route::default_v4_dev(ppp)).await?;
        }
    }
    if let Some(v6) = &link.ipv6 {
        let ll = Ipv6Addr::from((0xfe80u128 << 112) | u128::from(v6.local_id));
        let net = IpNet::new(IpAddr::V6(ll), 64).map_err(|_| Error::Io {
            what: "ipv6 link-local".into(),
            source: std::io::ErrorKind::InvalidData.into(),
        })?;
        nc.add_address(ppp, net, AddrOptions { nodad: true, ..AddrOptions::default() }).await?;
        if routes {
            nc.replace_route(&Route::default_v6_dev(ppp)).await?;
        }
    }
    Ok(())
}

/// Takes the TUN device down and its addresses off; never fails (logged).
async fn configure_down(nc: &Netcfg, ppp: &NetLink) {
    if let Ok(addrs) = nc.addresses(Some(ppp)).await {
        for a in addrs {
            let _ = nc.delete_address(ppp, a.net).await;
        }
    }
    if let Err(e) = nc.set_down(ppp).await {
        warn!(error = %e, "pppoe: cannot take the tun device down");
    }
}

fn save_session(path: &std::path::Path, ac: Mac, session_id: u16, vlan: Option<u16>) {
    let vlan = vlan.map_or_else(|| "-".to_string(), |v| v.to_string());
    let text = format!("{} {session_id} {vlan}\n", mac_str(ac));
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)).is_err() {
        warn!(path = %path.display(), "pppoe: cannot save the session state");
    }
}

fn mac_str(m: Mac) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn parse_mac(s: &str) -> Option<Mac> {
    let v: Vec<u8> =
        s.split(':').map(|x| u8::from_str_radix(x, 16)).collect::<Result<_, _>>().ok()?;
    v.try_into().ok()
}

/// After a crash or restart: the ISP may still hold the session we had; end it with a PADT
/// (RFC 2516 §5.5) so it does not linger until its echo timeout.
fn clear_stale_session(path: &std::path::Path, mac: Mac, disc: &PacketSocket) {
    let Ok(text) = std::fs::read_to_string(path) else { return };
    let mut it = text.split_whitespace();
    let (Some(ac), Some(id)) =
        (it.next().and_then(parse_mac), it.next().and_then(|s| s.parse().ok()))
    else {
        let _ = std::fs::remove_file(path);
        return;
    };
    let vlan = it.next().and_then(|s| s.parse().ok()).map(Vlan::id);
    let eth = EthernetHeader { dst: ac, src: mac, vlan, ethertype: ETHERTYPE_DISCOVERY };
    let padt = DiscoveryPacket { code: DiscoveryCode::Padt, session_id: id, tags: vec![] };
    let mut frame = vec![0u8; 64];
    if let (Ok(n), Ok(body)) = (eth.emit(&mut frame), padt.to_vec()) {
        frame.truncate(n);
        frame.extend_from_slice(&body);
        let _ = disc.send(&frame);
        info!(session = id, ac = %mac_str(ac), "pppoe: sent PADT for the session left by the previous run");
    }
    let _ = std::fs::remove_file(path);
}
