//! IPv6 on a LAN or the ingress's DMZ: the DHCPv6 server (addresses, DNS, delegation to
//! routers behind it) and router advertisements.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use netcfg::Netcfg;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{LanLease, stopped};
use crate::bus::Bus;
use crate::config::Config;
use crate::plan::SitePlan;
use crate::service::{Ready, ServiceId};
use crate::supervisor::{Stop, Supervisor};
use crate::wiring::{self};

/// Where a DHCPv6 server or router advertisements run: a LAN, or the ingress's DMZ link.
#[derive(Debug, Clone)]
pub(super) enum Site {
    /// The LAN of this name.
    Lan(String),
    /// The DMZ link to the gateway (role ingress).
    Dmz,
}

impl Site {
    /// Its name: the LAN's, or the DMZ's (also its name in the plan's sites).
    fn name(&self) -> &str {
        match self {
            Site::Lan(n) => n,
            Site::Dmz => crate::plan::DMZ,
        }
    }

    fn interface(&self, c: &Config) -> Option<String> {
        match self {
            Site::Lan(n) => wiring::lan(c, n).map(|l| l.interface.clone()),
            Site::Dmz => c.dmz.as_ref().map(|d| d.get_ref().interface.clone()),
        }
    }

    /// The DHCPv6 server here: a LAN's (see [`wiring::dhcp6_config`]), or on the DMZ only
    /// the gateway's prefix: a prefix change at the ISP reaches the gateway by Reconfigure,
    /// or at its next Renew (every 30 s).
    fn dhcp6(
        &self,
        c: &Config,
        usable: &SitePlan,
        duid: Vec<u8>,
    ) -> Option<dhcpv6::server::Server6Config> {
        match self {
            Site::Lan(n) => wiring::dhcp6_config(c, wiring::lan(c, n)?, usable, duid),
            Site::Dmz => {
                let mut sc = dhcpv6::server::Server6Config::new(duid, Vec::new());
                sc.pd_pool = usable.dhcp6_pool;
                (sc.t1, sc.t2, sc.preferred, sc.valid) = (30, 48, 600, 1200);
                // Our own gateway agrees to Reconfigure: a new prefix reaches it at once.
                sc.reconfigure = true;
                Some(sc)
            }
        }
    }

    /// Its part of the bus's plan, with only what may be used now (a delegated /64 once the
    /// router's address is on the interface; see [`crate::plan::SitePlan::on_link`]).
    fn usable(&self, bus: &Bus) -> SitePlan {
        let plan = bus.plan.borrow().clone();
        let held = bus.numbered.borrow().get(self.name()).cloned().unwrap_or_default();
        plan.sites.get(self.name()).map(|p| p.on_link(&held)).unwrap_or_default()
    }

    /// Router advertisements here: a LAN's /64s, or on the DMZ no prefix, only the default
    /// route for the gateway.
    fn ra(&self, c: &Config, usable: &SitePlan, uplink: bool) -> Option<ra::driver::Config> {
        match self {
            Site::Lan(n) => wiring::ra_config(c, wiring::lan(c, n)?, usable, uplink),
            Site::Dmz => {
                let mut rc = ra::driver::Config::new(self.interface(c)?);
                rc.uplink = uplink;
                Some(rc)
            }
        }
    }
}

/// A route to a delegated prefix via the router that holds it, on `index`.
pub(super) fn pd_route(
    index: u32,
    prefix: std::net::Ipv6Addr,
    len: u8,
    peer: std::net::SocketAddrV6,
) -> netcfg::Route {
    let via = IpAddr::V6(*peer.ip());
    netcfg::Route {
        dst: IpNet::V6(ipnet::Ipv6Net::new(prefix, len).unwrap_or_default()),
        oif: Some(index),
        ..netcfg::Route::via(IpNet::V6(ipnet::Ipv6Net::default()), via)
    }
}

/// A DHCPv6 server: on a LAN, addresses from its /64s (stateful), DNS (both modes) and
/// prefixes for routers on the LAN (`delegate`); on the DMZ, the gateway's prefix. Each
/// delegated prefix is routed to the router that holds it. It follows the delegation: a new
/// prefix renumbers it (RFC 8415 §18.3.4).
pub(super) fn spawn_dhcp6(
    sup: &mut Supervisor,
    bus: &Arc<Bus>,
    site: Site,
    leases: mpsc::Sender<(String, LanLease)>,
) {
    let bus = bus.clone();
    sup.spawn(ServiceId::Dhcp6(site.name().to_string()), &[Ready::Lans], move |mut stop: Stop| {
        let (leases, site, bus) = (leases.clone(), site.clone(), bus.clone());
        let (mut plan, mut held) = (bus.plan.subscribe(), bus.numbered.subscribe());
        let _ = (plan.borrow_and_update(), held.borrow_and_update());
        let (c, usable) = (bus.config.borrow().clone(), site.usable(&bus));
        async move {
            let name = site.name().to_string();
            let Some(ifname) = site.interface(&c) else {
                stopped(&mut stop).await;
                return Ok(());
            };
            let nc = Netcfg::new().map_err(|e| e.to_string())?;
            let link = nc.link_by_name(&ifname).await.map_err(|e| e.to_string())?;
            let mac = link.mac.unwrap_or_default();
            let duid = dhcpv6::server::duid_ll(mac);
            let Some(sc) = site.dhcp6(&c, &usable, duid) else {
                stopped(&mut stop).await;
                return Ok(());
            };
            let dir = c.state_dir.join(format!("dhcp6-{name}"));
            let mut dc = dhcpv6::driver::server::Driver6Config::new(&ifname, dir, sc);
            dc.stats = Some(bus.counters.dhcp6(&name));
            let (handle, control) = dhcpv6::driver::server::control();
            let (tx, mut rx) = mpsc::channel(1024);
            let until = async move { stopped(&mut stop).await };
            // A task of its own: renumbering below waits for the driver to answer.
            let mut driver = tokio::spawn(dhcpv6::driver::server::run(dc, Some(tx), control, until));
            let mut numbered = (usable.dhcp6_prefixes.clone(), usable.dhcp6_pool);
            // Delegated prefixes and where they are routed, to take the routes back.
            let mut routed: HashMap<(std::net::Ipv6Addr, u8), std::net::SocketAddrV6> = HashMap::new();
            let r = loop {
                tokio::select! {
                    r = &mut driver => break r,
                    Some(ev) = rx.recv() => {
                        match &ev {
                            dhcpv6::server::Event6::LeaseGranted(l) if l.kind == dhcpv6::server::IaKind::Pd => {
                                let Some(peer) = l.peer else { continue };
                                for &(p, len) in &l.addresses {
                                    match nc.replace_route(&pd_route(link.index, p, len, peer)).await {
                                        Ok(()) => {
                                            if routed.insert((p, len), peer) != Some(peer) {
                                                info!(site = %name, prefix = %format!("{p}/{len}"), via = %peer.ip(), "delegated prefix routed");
                                            }
                                        }
                                        Err(e) => warn!(site = %name, error = %e, "cannot route a delegated prefix"),
                                    }
                                }
                            }
                            dhcpv6::server::Event6::LeaseReleased(l) | dhcpv6::server::Event6::LeaseExpired(l) if l.kind == dhcpv6::server::IaKind::Pd => {
                                for &(p, len) in &l.addresses {
                                    if let Some(peer) = routed.remove(&(p, len)) {
                                        let _ = nc.delete_route(&pd_route(link.index, p, len, peer)).await;
                                    }
                                }
                            }
                            _ => {}
                        }
                        let _ = leases.send((name.clone(), LanLease::V6(ev))).await;
                    }
                    r = async { tokio::select! { r = plan.changed() => r, r = held.changed() => r } } => {
                        if r.is_err() { continue; }
                        let _ = (plan.borrow_and_update(), held.borrow_and_update());
                        let usable = site.usable(&bus);
                        let now = (usable.dhcp6_prefixes.clone(), usable.dhcp6_pool);
                        if now == numbered {
                            continue; // renewed: the same prefixes
                        }
                        numbered = now.clone();
                        let (prefixes, pool) = now;
                        match handle.set_prefixes(prefixes.clone(), pool).await {
                            Ok(()) => info!(site = %name, ?prefixes, ?pool, "dhcp6 renumbered"),
                            Err(e) => warn!(site = %name, error = %e, "dhcp6 not renumbered"),
                        }
                    }
                }
            };
            for ((p, len), peer) in routed {
                let _ = nc.delete_route(&pd_route(link.index, p, len, peer)).await;
            }
            r.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
        }
    });
}

/// Router advertisements: on a LAN its /64s from the plan, each once the router holds its
/// address in it (a replaced one is deprecated); on the DMZ none, only the default route.
/// Router lifetime 0 while there is no confirmed IPv6 uplink.
pub(super) fn spawn_ra(sup: &mut Supervisor, bus: &Arc<Bus>, site: Site) {
    let bus = bus.clone();
    sup.spawn(ServiceId::Ra(site.name().to_string()), &[Ready::Lans], move |mut stop: Stop| {
        let (mut plan, mut held) = (bus.plan.subscribe(), bus.numbered.subscribe());
        let uplink = plan.borrow_and_update().uplink;
        let _ = held.borrow_and_update();
        let c = bus.config.borrow().clone();
        let made = site.ra(&c, &site.usable(&bus), uplink);
        let (site, bus) = (site.clone(), bus.clone());
        async move {
            let Some(rc) = made else {
                stopped(&mut stop).await;
                return Ok(());
            };
            let (tx, rx) = mpsc::unbounded_channel();
            let driver = ra::driver::run(rc, rx, stop.clone());
            tokio::pin!(driver);
            loop {
                tokio::select! {
                    r = &mut driver => return r.map_err(|e| e.to_string()),
                    r = async { tokio::select! { r = plan.changed() => r, r = held.changed() => r } } => {
                        if r.is_err() { return (&mut driver).await.map_err(|e| e.to_string()); }
                        let uplink = plan.borrow_and_update().uplink;
                        let _ = held.borrow_and_update();
                        if matches!(site, Site::Lan(_)) {
                            let prefixes = site.usable(&bus).ra_prefixes;
                            let _ = tx.send(ra::driver::Command::SetPrefixes(prefixes));
                        }
                        let _ = tx.send(ra::driver::Command::SetUplink(uplink));
                    }
                }
            }
        }
    });
}
