//! The services that follow the bus for the whole router: the firewall, DNS, and LAN
//! addressing (numbering from the delegation, DNS upstreams and reverse zone).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use dhcpv6::DelegatedPrefix;
use ipnet::IpNet;
use netcfg::{AddrOptions, Netcfg};
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::{apply_fw, stopped};
use crate::bus::{self, Bus, Delegation};
use crate::config::{Config, Upstream};
use crate::service::ServiceId;
use crate::supervisor::{Stop, Supervisor};
use crate::wiring::{self, lan_address};

/// The firewall follows the configuration, the public address and the delegation; a
/// ruleset the kernel refuses leaves the previous one in force.
pub(super) fn spawn_firewall(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    sup.spawn(ServiceId::Firewall, move |mut stop: Stop| {
        // The delegation is not an input: pinholes match by interface-id suffix, so a new
        // prefix needs no new ruleset.
        let (mut cfg, mut wan, mut dmz) =
            (bus.config.subscribe(), bus.wan.subscribe(), bus.dmz.subscribe());
        async move {
            let mut last: Option<(fw::FwConfig, fw::FwState)> = None;
            loop {
                let mut fwc = wiring::fw_config(&cfg.borrow_and_update());
                if let Some(fw::Split::Ingress { gateway, .. }) = &mut fwc.split {
                    *gateway = dmz.borrow_and_update().gateway;
                }
                let state = fw::FwState { public_ipv4: wan.borrow_and_update().ipv4 };
                let now = Some((fwc, state));
                if last != now {
                    if let Some((fwc, state)) = &now {
                        match apply_fw(fwc, state) {
                            Ok(()) => last = now,
                            Err(e) => {
                                error!(error = %e, "firewall not re-applied; the previous ruleset stays")
                            }
                        }
                    }
                }
                tokio::select! {
                    r = cfg.changed() => if r.is_err() { break },
                    r = wan.changed() => if r.is_err() { break },
                    r = dmz.changed() => if r.is_err() { break },
                    () = stopped(&mut stop) => break,
                }
            }
            Ok::<(), String>(())
        }
    });
}

/// The DNS server; its handle is published for the services that feed it.
pub(super) fn spawn_dns(
    sup: &mut Supervisor,
    bus: &Arc<Bus>,
    handle: watch::Sender<Option<dns::DnsHandle>>,
) {
    let (bus, handle) = (bus.clone(), Arc::new(handle));
    sup.spawn(ServiceId::Dns, move |mut stop: Stop| {
        let (bus, handle) = (bus.clone(), handle.clone());
        async move {
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

/// Numbers each LAN with a `subnet_id` from the delegated prefix (addresses with the
/// prefix's lifetimes), and takes the previous prefix's addresses away.
pub(super) async fn number_lans(
    nc: &Netcfg,
    c: &Config,
    old: &[DelegatedPrefix],
    new: &[DelegatedPrefix],
) {
    for l in &c.lan {
        let l = l.get_ref();
        let Some(id) = l.subnet_id else { continue };
        let Ok(link) = nc.link_by_name(&l.interface).await else { continue };
        for p in old.iter().filter(|p| !new.iter().any(|n| n.prefix == p.prefix && n.len == p.len))
        {
            if let Some(a) = lan_address(p, id) {
                let _ = nc.delete_address(&link, IpNet::V6(a)).await;
            }
        }
        for p in new {
            let Some(a) = lan_address(p, id) else { continue };
            let lifetimes = netcfg::Lifetimes { preferred: p.preferred, valid: p.valid };
            let opts =
                AddrOptions { lifetimes: Some(lifetimes), nodad: true, noprefixroute: false };
            match nc.add_address(&link, IpNet::V6(a), opts).await {
                Ok(()) => {
                    info!(lan = %l.name, address = %a, "lan numbered from the delegated prefix")
                }
                Err(e) => warn!(lan = %l.name, error = %e, "cannot number the lan"),
            }
        }
    }
}

/// Follows the delegation (LAN numbering, the state file, DNS's reverse zone) and the WAN
/// (DNS upstreams). Logs "router ready" the first time the WAN is up and a prefix confirmed.
pub(super) fn spawn_addressing(
    sup: &mut Supervisor,
    bus: &Arc<Bus>,
    dns: watch::Receiver<Option<dns::DnsHandle>>,
    numbered: Vec<DelegatedPrefix>,
    started: Instant,
) {
    let bus = bus.clone();
    let held = Arc::new(tokio::sync::Mutex::new(numbered));
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    sup.spawn(ServiceId::Addressing, move |mut stop: Stop| {
        let (bus, held, ready) = (bus.clone(), held.clone(), ready.clone());
        let (mut cfg, mut wan, mut del, mut dns) =
            (bus.config.subscribe(), bus.wan.subscribe(), bus.delegation.subscribe(), dns.clone());
        async move {
            let nc = Netcfg::new().map_err(|e| e.to_string())?;
            let mut seen: Option<Delegation> = None;
            loop {
                let c = cfg.borrow_and_update().clone();
                let link = wan.borrow_and_update().clone();
                let d = del.borrow_and_update().clone();
                let handle = dns.borrow_and_update().clone();
                if seen.as_ref() != Some(&d) {
                    let mut held = held.lock().await;
                    number_lans(&nc, &c, &held, &d.prefixes).await;
                    if d.confirmed || d.prefixes.is_empty() {
                        if let Err(e) = bus::save_delegation(&c.state_dir, &d.prefixes) {
                            warn!(error = %e, "cannot keep the delegation in the state directory");
                        }
                    }
                    *held = d.prefixes.clone();
                    seen = Some(d.clone());
                }
                if let Some(h) = &handle {
                    h.set_prefix(d.nets().first().copied()).await;
                    let upstreams = match &c.dns.upstream {
                        Upstream::Wan => link.dns.iter().map(|a| SocketAddr::new(*a, 53)).collect(),
                        Upstream::Servers(s) => s.iter().map(|a| SocketAddr::new(*a, 53)).collect(),
                    };
                    h.set_upstreams(upstreams);
                }
                let is_ready = link.up && d.confirmed && !d.prefixes.is_empty();
                if is_ready && !ready.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    let ms = started.elapsed().as_millis();
                    info!(ms, ipv4 = ?link.ipv4, prefixes = ?shown(&d.prefixes), "router ready: wan up, prefix delegated, lans numbered");
                    bus.ready_after.send_replace(Some(started.elapsed()));
                }
                tokio::select! {
                    r = cfg.changed() => if r.is_err() { break },
                    r = wan.changed() => if r.is_err() { break },
                    r = del.changed() => if r.is_err() { break },
                    r = dns.changed() => if r.is_err() { break },
                    () = stopped(&mut stop) => break,
                }
            }
            Ok::<(), String>(())
        }
    });
}
