//! The WAN: PPPoE, DHCP or a static address, and the DHCPv6-PD client.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use netcfg::{AddrOptions, Netcfg};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{adapt, shown, stopped};
use crate::bus::{self, Bus, Delegation, DownReason, WanLink, WanPhase, WanState};
use crate::config::WanMode;
use crate::service::{Ready, ServiceId};
use crate::supervisor::{Stop, Supervisor};
use crate::wiring::{self};

/// The PPPoE WAN: its state goes to the bus and to `routerctl wan`.
pub(super) fn spawn_wan(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    sup.spawn(ServiceId::Wan, &[Ready::Firewall], move |stop: Stop| {
        let bus = bus.clone();
        let pc = wiring::pppoe_config(&bus.config.borrow());
        async move {
            let mut pc = pc.map_err(|e| e.to_string())?;
            pc.counters = bus.counters.datapath.clone();
            pc.stats = Some(bus.counters.pppoe.clone());
            set_phase(&bus, WanPhase::Dialing);
            let (tx, rx) = mpsc::unbounded_channel();
            let driver = pppoe::driver::client::run(pc, tx, stop);
            let r = adapt(driver, rx, |ev| on_wan(&bus, ev)).await;
            if bus.wan.borrow().up {
                wan_down(&bus, DownReason::Stopped);
            }
            r.map(|_| ())
        }
    });
}

/// PPPoE up: the bus gets the public address and the ISP's DNS. Down: both go.
pub(super) fn on_wan(bus: &Bus, ev: pppoe::Event) {
    match ev {
        pppoe::Event::Up(link) => {
            let v4 = link.ipv4.clone();
            info!(ipv4 = ?v4, mtu = link.mtu, "wan up");
            let wl = WanLink {
                up: true,
                ipv4: v4.as_ref().map(|v| v.local),
                peer: v4.as_ref().map(|v| v.peer),
                dns: v4.iter().flat_map(|v| v.dns.iter().map(|a| IpAddr::V4(*a))).collect(),
                mtu: Some(link.mtu),
            };
            wan_up(bus, wl, Some(link.session_id), Some(link.ipv6.is_some()));
        }
        pppoe::Event::Down(reason) => wan_down(bus, DownReason::Pppoe(reason)),
    }
}

/// The WAN by DHCP (IPoE): the client puts the address and the default route on the WAN
/// interface; its lease goes to the bus and to `routerctl wan`.
pub(super) fn spawn_wan_dhcp(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    sup.spawn(ServiceId::Wan, &[Ready::Firewall], move |stop: Stop| {
        let bus = bus.clone();
        let mut dc = {
            let c = bus.config.borrow();
            let mut dc = dhcpv4::driver::client::Config::new(&c.wan.interface);
            dc.state_dir = Some(c.state_dir.clone());
            dc
        };
        dc.rapid_commit = true;
        async move {
            set_phase(&bus, WanPhase::Discovering);
            let (tx, rx) = mpsc::unbounded_channel();
            let driver = dhcpv4::driver::client::run(dc, tx, stop);
            let r = adapt(driver, rx, |ev| on_dhcp_wan(&bus, ev)).await;
            if bus.wan.borrow().up {
                wan_down(&bus, DownReason::Stopped);
            }
            r
        }
    });
}

pub(super) fn on_dhcp_wan(bus: &Bus, ev: dhcpv4::client::Event) {
    match ev {
        dhcpv4::client::Event::Bound(l)
        | dhcpv4::client::Event::Renewed(l)
        | dhcpv4::client::Event::Changed { new: l, .. } => {
            let link = WanLink {
                up: true,
                ipv4: Some(l.address),
                peer: l.gateway,
                dns: l.dns_servers.iter().map(|a| IpAddr::V4(*a)).collect(),
                mtu: l.mtu,
            };
            if *bus.wan.borrow() != link {
                info!(address = %l.net(), gateway = ?l.gateway, dns = ?l.dns_servers, lease = l.lease_time, "wan up (dhcp)");
                wan_up(bus, link, None, None);
            }
        }
        dhcpv4::client::Event::Lost => wan_down(bus, DownReason::DhcpLost),
        dhcpv4::client::Event::Released => wan_down(bus, DownReason::DhcpReleased),
    }
}

/// The WAN with a static address: the address and the default route are put on the WAN
/// interface, and taken off when the service stops (on a reload that changes them).
pub(super) fn spawn_wan_static(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    sup.spawn(ServiceId::Wan, &[Ready::Firewall], move |mut stop: Stop| {
        let bus = bus.clone();
        let c = bus.config.borrow().clone();
        async move {
            let Some(st) = c.wan.static_.as_ref().map(|s| s.get_ref().clone()) else {
                return Err("wan.static missing".to_string());
            };
            let nc = Netcfg::new().map_err(|e| e.to_string())?;
            let link = nc.link_by_name(&c.wan.interface).await.map_err(|e| e.to_string())?;
            nc.set_up(&link).await.map_err(|e| e.to_string())?;
            nc.add_address(&link, IpNet::V4(st.ipv4), AddrOptions::default())
                .await
                .map_err(|e| e.to_string())?;
            let default =
                netcfg::Route::via("0.0.0.0/0".parse().map_err(|_| "route")?, st.gateway.into());
            nc.replace_route(&default).await.map_err(|e| e.to_string())?;
            info!(address = %st.ipv4, gateway = %st.gateway, "wan up (static)");
            let wl = WanLink {
                up: true,
                ipv4: Some(st.ipv4.addr()),
                peer: Some(st.gateway),
                dns: st.dns.clone(),
                mtu: None,
            };
            wan_up(&bus, wl, None, None);
            stopped(&mut stop).await;
            wan_down(&bus, DownReason::Stopped);
            let _ = nc.delete_route(&default).await;
            let _ = nc.delete_address(&link, IpNet::V4(st.ipv4)).await;
            Ok(())
        }
    });
}

/// The WAN service's phase (dialing, discovering) before it is up.
fn set_phase(bus: &Bus, phase: WanPhase) {
    bus.wan_state.send_modify(|s| s.phase = phase);
}

/// The WAN is up with `link` (`session_id` on PPPoE; `ipv6_up` whether IPv6CP opened, or
/// `None` on Ethernet, where the configuration says).
pub(super) fn wan_up(bus: &Bus, link: WanLink, session_id: Option<u16>, ipv6_up: Option<bool>) {
    let ipv6 = ipv6_up.unwrap_or(bus.config.borrow().wan.ipv6.enabled);
    bus.wan_state.send_modify(|s| {
        let up_since = s.up_since.filter(|_| s.phase == WanPhase::Up);
        *s = WanState {
            phase: WanPhase::Up,
            session_id,
            up_since: Some(up_since.unwrap_or_else(std::time::Instant::now)),
            ipv4_up: link.ipv4.is_some(),
            ipv6_up: ipv6,
            last_down: s.last_down,
            downs: std::mem::take(&mut s.downs),
        };
    });
    let v4 = link.ipv4;
    bus.wan.send_replace(link);
    bus.set_ready(Ready::Wan, true);
    bus.emit(bus::Event::WanUp);
    if let Some(a) = v4 {
        bus.emit(bus::Event::Ipv4Acquired(a));
    }
}

/// The WAN went down.
pub(super) fn wan_down(bus: &Bus, reason: DownReason) {
    warn!(%reason, "wan down");
    bus.wan_state.send_modify(|s| {
        let mut downs = std::mem::take(&mut s.downs);
        *downs.entry(reason.label()).or_default() += 1;
        *s = WanState {
            phase: WanPhase::Down,
            last_down: Some(reason),
            downs,
            ..WanState::default()
        };
    });
    let had_v4 = bus.wan.borrow().ipv4.is_some();
    bus.wan.send_replace(WanLink::default());
    bus.set_ready(Ready::Wan, false);
    bus.emit(bus::Event::WanDown(reason));
    if had_v4 {
        bus.emit(bus::Event::Ipv4Lost);
    }
}

/// The DHCPv6-PD client on `ppp0` or the WAN interface (it waits for IPv6CP's link-local address itself, and
/// Rebinds when the link comes back after a redial).
pub(super) fn spawn_pd(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    // On PPPoE it runs on `ppp0`, which exists only while the session is up; on an Ethernet
    // WAN it needs only the interface's link-local address.
    let needs: &[Ready] = if bus.config.borrow().wan.mode == WanMode::Pppoe {
        &[Ready::Firewall, Ready::Wan]
    } else {
        &[Ready::Firewall]
    };
    sup.spawn(ServiceId::Pd, needs, move |stop: Stop| {
        let bus = bus.clone();
        let c = bus.config.borrow().clone();
        // On PPPoE the client runs on the session's TUN; otherwise on the WAN interface.
        let ifname = if c.wan.mode == WanMode::Pppoe { "ppp0" } else { c.wan.interface.as_str() };
        let mut pc = dhcpv6::driver::client::Config::new(ifname);
        {
            pc.state_dir = Some(c.state_dir.clone());
            pc.prefix_len_hint = *c.wan.ipv6.pd_length.get_ref();
            if c.wan.mode != WanMode::Pppoe {
                // Behind another router (the split deployment's gateway behind its ingress, a
                // router in a LAN) the server may not hold its own prefix yet: ask again soon
                // (doubling from 5 s instead of 60 s).
                pc.no_prefix_backoff = Duration::from_secs(5);
            }
        }
        async move {
            let (tx, rx) = mpsc::unbounded_channel();
            let driver = dhcpv6::driver::client::run_client(pc, tx, stop);
            adapt(driver, rx, |ev| on_pd(&bus, ev)).await
        }
    });
}

/// A new, renewed, changed or lost delegation goes on the bus.
pub(super) fn on_pd(bus: &Bus, ev: dhcpv6::Event) {
    let (new, what) = match ev {
        dhcpv6::Event::Delegated(l) => (l.prefixes, "delegated prefix"),
        dhcpv6::Event::Renewed(l) => {
            // Every T1: the same prefix, new lifetimes; not worth a line at info.
            tracing::debug!(prefixes = ?shown(&l.prefixes), "delegated prefix renewed");
            (l.prefixes, "")
        }
        dhcpv6::Event::Changed { new: l, .. } => (l.prefixes, "delegated prefix changed"),
        dhcpv6::Event::Lost => (Vec::new(), "delegated prefix lost"),
        dhcpv6::Event::Released => (Vec::new(), "delegated prefix released"),
        dhcpv6::Event::NoPrefixAvail => {
            warn!("the delegating router has no prefix for us (NoPrefixAvail); asking again later");
            return;
        }
        other => {
            tracing::debug!(event = ?other, "dhcpv6 client event without a prefix change");
            return;
        }
    };
    if !what.is_empty() {
        info!(prefixes = ?shown(&new), "{what}");
    }
    bus.emit(if new.is_empty() {
        bus::Event::PrefixLost
    } else {
        bus::Event::PrefixDelegated(new.clone())
    });
    let confirmed = !new.is_empty();
    bus.delegation.send_replace(Delegation { prefixes: new, confirmed });
}
