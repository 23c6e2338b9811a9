//! The services that follow the bus for the whole router: the firewall, DNS, and LAN
//! addressing (numbering from the delegation, DNS upstreams and reverse zone).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use dhcpv6::DelegatedPrefix;
use ipnet::IpNet;
use netcfg::{AddrOptions, Netcfg};
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::{apply_fw, stopped};
use crate::bus::{self, Bus, Delegation, FastPath};
use crate::config::{Config, Upstream};
use crate::plan::{Numbered, Plan};
use crate::service::{Ready, ServiceId};
use crate::supervisor::{Stop, Supervisor};
use crate::wiring;

/// The firewall follows the configuration, the public address and the delegation; a
/// ruleset the kernel refuses leaves the previous one in force.
pub(super) fn spawn_firewall(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    sup.spawn(ServiceId::Firewall, &[], move |mut stop: Stop| {
        // The delegation is not an input: pinholes match by interface-id suffix, so a new
        // prefix needs no new ruleset.
        let (mut cfg, mut wan, mut dmz) =
            (bus.config.subscribe(), bus.wan.subscribe(), bus.dmz.subscribe());
        let bus = bus.clone();
        async move {
            let mut last: Option<(fw::FwConfig, fw::FwState)> = None;
            let mut in_force: Option<fw::Ruleset> = None;
            // Why the kernel refused the fast path: it is not asked for again until the
            // configuration changes (each try would cost a refused transaction, and a reload
            // of port forwards would replace the table instead of updating its elements).
            let mut refused: Option<String> = None;
            // Which interfaces exist (for the fast path).
            let links = Netcfg::new().ok();
            loop {
                let config = cfg.borrow_and_update().clone();
                let mut fwc = wiring::fw_config(&config);
                if let Some(fw::Split::Ingress { gateway, .. }) = &mut fwc.split {
                    *gateway = dmz.borrow_and_update().gateway;
                }
                fwc.fast_path &= refused.is_none();
                // The fast path leaves out interfaces that are not there (yet): the kernel
                // would refuse the whole flowtable.
                let mut absent = Vec::new();
                if let (true, Some(nc)) = (fwc.fast_path, &links) {
                    for d in fw::fast_path_devices(&fwc) {
                        if nc.link_by_name(&d).await.is_err() {
                            absent.push(d);
                        }
                    }
                }
                let state = fw::FwState { public_ipv4: wan.borrow_and_update().ipv4, absent };
                let now = Some((fwc, state));
                if last != now {
                    if let Some((fwc, state)) = &now {
                        match apply_fw(fwc, state, in_force.as_ref()) {
                            Ok(applied) => {
                                if let Some(e) = &applied.fast_path_refused {
                                    refused = Some(e.clone());
                                }
                                let status = fast_path_status(&applied, refused.as_ref(), &config);
                                bus.fast_path.send_if_modified(|f| {
                                    let changed = *f != status;
                                    *f = status;
                                    changed
                                });
                                // What was applied: without the fast path once it was refused.
                                last = now.map(|(mut c, s)| {
                                    c.fast_path &= refused.is_none();
                                    (c, s)
                                });
                                in_force = Some(applied.ruleset);
                            }
                            Err(e) => {
                                error!(error = %e, "firewall not re-applied; the previous ruleset stays")
                            }
                        }
                    }
                }
                tokio::select! {
                    r = cfg.changed() => {
                        if r.is_err() { break }
                        refused = None;
                    }
                    r = wan.changed() => if r.is_err() { break },
                    r = dmz.changed() => if r.is_err() { break },
                    () = stopped(&mut stop) => break,
                }
            }
            Ok::<(), String>(())
        }
    });
}

/// The fast path as `routerctl status` shows it, after `applied`: on over the flowtable's
/// devices, refused (now or since the last configuration), or why the configuration has
/// none.
fn fast_path_status(applied: &fw::Applied, refused: Option<&String>, config: &Config) -> FastPath {
    match (&applied.ruleset.flowtable, refused) {
        (Some(ft), _) => FastPath::On { devices: ft.devices.clone() },
        (None, Some(e)) => FastPath::Refused { error: e.clone() },
        (None, None) => wiring::fast_path(config),
    }
}

/// The DNS server; its handle is published for the services that feed it.
pub(super) fn spawn_dns(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    sup.spawn(ServiceId::Dns, &[Ready::Lans], move |mut stop: Stop| {
        let bus = bus.clone();
        async move {
            let handle = &bus.dns;
            let dcfg = wiring::dns_config(&bus.config.borrow())?;
            let (h, mut task) = dns::serve(dcfg).await.map_err(|e| e.to_string())?;
            info!(addrs = ?h.local_addrs(), "dns serving");
            handle.send_replace(Some(h));
            let r = tokio::select! {
                r = &mut task => Err(format!("dns server ended: {r:?}")),
                () = stopped(&mut stop) => Ok(()),
            };
            handle.send_replace(None);
            task.abort();
            let _ = task.await;
            r
        }
    });
}

pub(super) fn shown(p: &[DelegatedPrefix]) -> Vec<String> {
    p.iter().map(|p| format!("{}/{}", p.prefix, p.len)).collect()
}

/// Puts each LAN's planned addresses from the delegation on its interface (with the
/// prefix's lifetimes), takes away the ones the plan dropped, and publishes what is on the
/// interfaces now ([`Bus::numbered`]): RA and DHCPv6 use a delegated /64 only after that.
pub(super) async fn number_lans(
    nc: &Netcfg,
    bus: &Bus,
    plan: &Plan,
    held: &mut BTreeMap<String, Vec<Numbered>>,
) {
    for (name, site) in &plan.sites {
        let old = held.remove(name).unwrap_or_default();
        if old.is_empty() && site.numbered.is_empty() {
            continue;
        }
        let Ok(link) = nc.link_by_name(&site.interface).await else { continue };
        for n in old.iter().filter(|o| !site.numbered.iter().any(|n| n.address == o.address)) {
            let _ = nc.delete_address(&link, IpNet::V6(n.address)).await;
        }
        let mut on_link = Vec::new();
        for n in &site.numbered {
            let lifetimes = netcfg::Lifetimes { preferred: n.preferred, valid: n.valid };
            let opts =
                AddrOptions { lifetimes: Some(lifetimes), nodad: true, noprefixroute: false };
            match nc.add_address(&link, IpNet::V6(n.address), opts).await {
                Ok(()) => {
                    if !old.iter().any(|o| o.address == n.address) {
                        info!(lan = %name, address = %n.address, "lan numbered from the delegated prefix");
                    }
                    on_link.push(n.address.trunc());
                }
                Err(e) => warn!(lan = %name, error = %e, "cannot number the lan"),
            }
        }
        held.insert(name.clone(), site.numbered.clone());
        bus.numbered.send_modify(|m| {
            m.insert(name.clone(), on_link);
        });
    }
}

/// Follows the plan (LAN numbering, DNS's reverse zone), the delegation (kept in the state
/// file) and the WAN (DNS upstreams). Logs "router ready" the first time the WAN is up, a
/// prefix confirmed and the LANs numbered from it, and on the ingress the gateway has leased
/// it its DMZ address (before that nothing reaches the LANs behind the gateway).
pub(super) fn spawn_addressing(
    sup: &mut Supervisor,
    bus: &Arc<Bus>,
    dns: watch::Receiver<Option<dns::DnsHandle>>,
    started: Instant,
) {
    let bus = bus.clone();
    // What is on the interfaces, kept across restarts of the service.
    let held = Arc::new(tokio::sync::Mutex::new(BTreeMap::new()));
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    sup.spawn(ServiceId::Addressing, &[Ready::Lans], move |mut stop: Stop| {
        let (bus, held, ready) = (bus.clone(), held.clone(), ready.clone());
        let (mut cfg, mut wan, mut del, mut plan, mut dns, mut dmz) = (
            bus.config.subscribe(),
            bus.wan.subscribe(),
            bus.delegation.subscribe(),
            bus.plan.subscribe(),
            dns.clone(),
            bus.dmz.subscribe(),
        );
        async move {
            let nc = Netcfg::new().map_err(|e| e.to_string())?;
            let (mut seen_plan, mut seen_del): (Option<Arc<Plan>>, Option<Delegation>) = (None, None);
            loop {
                let c = cfg.borrow_and_update().clone();
                let link = wan.borrow_and_update().clone();
                let d = del.borrow_and_update().clone();
                let p = plan.borrow_and_update().clone();
                let handle = dns.borrow_and_update().clone();
                if seen_plan.as_ref() != Some(&p) {
                    number_lans(&nc, &bus, &p, &mut *held.lock().await).await;
                    seen_plan = Some(p.clone());
                }
                if seen_del.as_ref() != Some(&d) {
                    if d.confirmed || d.prefixes.is_empty() {
                        if let Err(e) = bus::save_delegation(&c.state_dir, &d.prefixes) {
                            warn!(error = %e, "cannot keep the delegation in the state directory");
                        }
                    }
                    seen_del = Some(d.clone());
                }
                if let Some(h) = &handle {
                    h.set_prefix(p.reverse).await;
                    let upstreams = match &c.dns.upstream {
                        Upstream::Wan => link.dns.iter().map(|a| SocketAddr::new(*a, 53)).collect(),
                        Upstream::Servers(s) => s.iter().map(|a| SocketAddr::new(*a, 53)).collect(),
                    };
                    h.set_upstreams(upstreams);
                }
                // Every LAN holds its planned addresses (vacuously on the ingress, which has none).
                let held = bus.numbered.borrow().clone();
                let numbered = p.sites.iter().all(|(name, site)| {
                    site.numbered.iter().all(|n| {
                        held.get(name).is_some_and(|h| h.contains(&n.address.trunc()))
                    })
                });
                let dmz_leased = dmz.borrow_and_update().address;
                let ingress = c.role() == crate::config::Role::Ingress;
                if p.uplink
                    && numbered
                    && (!ingress || dmz_leased.is_some())
                    && !ready.swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    let ms = started.elapsed().as_millis();
                    if let Some(a) = dmz_leased.filter(|_| ingress) {
                        info!(ms, ipv4 = ?link.ipv4, prefixes = ?shown(&d.prefixes), dmz = %a, "router ready: wan up, prefix delegated, dmz leased");
                    } else {
                        info!(ms, ipv4 = ?link.ipv4, prefixes = ?shown(&d.prefixes), "router ready: wan up, prefix delegated, lans numbered");
                    }
                    bus.ready_after.send_replace(Some(started.elapsed()));
                }
                tokio::select! {
                    r = cfg.changed() => if r.is_err() { break },
                    r = wan.changed() => if r.is_err() { break },
                    r = del.changed() => if r.is_err() { break },
                    r = plan.changed() => if r.is_err() { break },
                    r = dns.changed() => if r.is_err() { break },
                    r = dmz.changed() => if r.is_err() { break },
                    () = stopped(&mut stop) => break,
                }
            }
            Ok::<(), String>(())
        }
    });
}
