//! `routerd run`: the services, supervised, wired by the [`Bus`].
//!
//! Start order (each depends on those before it): the firewall (safe defaults before any
//! interface forwards), forwarding, LAN addressing, DNS, the DHCPv4 servers, router
//! advertisements, the WAN (PPPoE) and the DHCPv6-PD client on `ppp0`. Each is a
//! [`Supervisor`] service: restarted with back-off when it fails, restarted on purpose when a
//! reload changes its part of the configuration, its state in `routerctl status`.
//!
//! Who follows what on the bus: the firewall re-applies its ruleset when the configuration,
//! the public IPv4 address or the delegated prefix changes; `addressing` numbers each LAN's
//! /64 by its `subnet_id` from the delegated prefix, keeps the delegation in the state
//! directory (so a restarted router still knows what its LAN hosts hold, RFC 9096), moves
//! DNS's reverse zone and gives DNS the WAN's upstreams; each LAN's router advertisements
//! announce its /64s and deprecate a replaced prefix; DHCP leases are published in DNS.
//!
//! The WAN is PPPoE (with the PD client on `ppp0`), DHCP (IPoE, `dhcp4-client`) or a static
//! address (the PD client on the WAN interface for both).
//!
//! Not yet: DHCPv6 on the LANs (the M/O flags follow the config, but hosts get addresses by
//! SLAAC only).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dhcpv6pd::DelegatedPrefix;
use ipnet::IpNet;
use netcfg::{AddrOptions, Family, Netcfg};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::bus::{self, Bus, Delegation, WanLink};
use crate::config::{self, Config, Upstream, WanMode};
use crate::status::{LeaseStatus, Shared, Status, WanStatus};
use crate::supervisor::{Stop, Supervisor};
use crate::wiring::{self, lan_address, lan_addresses};

fn set(status: &Shared, f: impl FnOnce(&mut Status)) {
    f(&mut status.lock().unwrap_or_else(|p| p.into_inner()));
}

/// Why the router stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Network configuration failed.
    #[error(transparent)]
    Netcfg(#[from] netcfg::Error),
    /// The firewall could not be applied.
    #[error(transparent)]
    Fw(#[from] fw::Error),
    /// The control socket could not be opened.
    #[error("control socket: {0}")]
    Control(#[source] std::io::Error),
    /// The state directory cannot be used.
    #[error("state directory {0}: {1}")]
    StateDir(std::path::PathBuf, #[source] std::io::Error),
}

fn apply_fw(cfg: &fw::FwConfig, state: &fw::FwState) -> Result<(), fw::Error> {
    let rs = fw::build(cfg, state)?;
    fw::Firewall::apply(&rs)?;
    info!(rules = rs.rule_count(), public_ipv4 = ?state.public_ipv4, delegated = ?state.delegated, "firewall applied");
    Ok(())
}

/// A lease event of one LAN's DHCP server.
enum LanLease {
    V4(dhcp_server::Event),
    V6(dhcp_server::Event6),
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut Stop) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Runs the router until `shutdown` turns true. Each configuration that arrives on
/// `reload` (SIGHUP) is applied by difference, or refused as a whole.
pub async fn run(
    c: Config,
    mut shutdown: watch::Receiver<bool>,
    mut reload: mpsc::UnboundedReceiver<Result<Config, String>>,
) -> Result<(), Error> {
    let started = Instant::now();
    std::fs::create_dir_all(&c.state_dir).map_err(|e| Error::StateDir(c.state_dir.clone(), e))?;
    let nc = Netcfg::new()?;
    let status: Shared = Arc::new(std::sync::Mutex::new(Status::default()));
    let control =
        crate::status::serve(&c.control.socket, status.clone()).map_err(Error::Control)?;
    let remembered = bus::load_delegation(&c.state_dir);
    if !remembered.is_empty() {
        info!(prefixes = ?shown(&remembered), "remembered delegation (kept until the ISP confirms or replaces it)");
    }
    let bus = Arc::new(Bus::new(c.clone(), remembered.clone()));
    // Firewall first: safe defaults before any interface forwards anything.
    let initial = fw::FwState { public_ipv4: None, delegated: bus.delegation.borrow().nets() };
    apply_fw(&wiring::fw_config(&c), &initial)?;
    nc.set_forwarding("all", Family::V4, true)?;
    nc.set_forwarding("all", Family::V6, true)?;
    if c.wan.mode != WanMode::Pppoe && c.wan.ipv6.enabled {
        // The default route comes from the upstream router's RA (on the gateway: the
        // ingress's), also while forwarding; from the start, so that no early RA is lost.
        nc.set_accept_ra(&c.wan.interface, 2)?;
    }
    setup_lans(&nc, &c, &status).await?;

    let mut sup = Supervisor::new(status.clone(), shutdown.clone());
    spawn_firewall(&mut sup, &bus);
    let (dns_tx, dns_rx) = watch::channel(None);
    // The ingress serves no LAN: the gateway runs DNS. (The sender is kept either way: its
    // subscribers take a closed channel for a stop.)
    let _no_dns = if c.role() == config::Role::Ingress {
        Some(dns_tx)
    } else {
        spawn_dns(&mut sup, &bus, dns_tx);
        None
    };
    spawn_addressing(&mut sup, &bus, &status, dns_rx.clone(), remembered, started);
    let (lease_tx, lease_rx) = mpsc::channel(1024);
    let leases = tokio::spawn(keep_leases(lease_rx, bus.clone(), status.clone(), dns_rx));
    for l in &c.lan {
        let l = l.get_ref();
        if l.dhcp4.is_some() && l.ipv4.is_some() {
            spawn_dhcp4(&mut sup, &bus, &l.name, lease_tx.clone());
        }
        if l.ula.is_some() || l.subnet_id.is_some() {
            if l.dhcp6.as_ref().is_some_and(|d| d.mode != config::Dhcp6Mode::Off) {
                spawn_dhcp6(&mut sup, &bus, Site::Lan(l.name.clone()), lease_tx.clone());
            }
            spawn_ra(&mut sup, &bus, Site::Lan(l.name.clone()));
        }
    }
    match c.role() {
        config::Role::Ingress => {
            spawn_dmz_client(&mut sup, &bus);
            if c.wan.ipv6.enabled {
                spawn_dhcp6(&mut sup, &bus, Site::Dmz, lease_tx.clone());
                spawn_ra(&mut sup, &bus, Site::Dmz);
            }
        }
        config::Role::Gateway => spawn_dmz_server(&mut sup, &bus),
        config::Role::All => {}
    }
    drop(lease_tx);
    match c.wan.mode {
        WanMode::Pppoe => spawn_wan(&mut sup, &bus, &status),
        WanMode::Dhcp => spawn_wan_dhcp(&mut sup, &bus, &status),
        WanMode::Static => spawn_wan_static(&mut sup, &bus, &status),
    }
    if c.wan.ipv6.enabled {
        spawn_pd(&mut sup, &bus);
    }

    loop {
        tokio::select! {
            res = shutdown.changed() => if res.is_err() || *shutdown.borrow() { break },
            Some(new) = reload.recv() => apply_reload(&bus, &sup, &status, new),
        }
    }
    info!("shutting down");
    sup.join(Duration::from_secs(8)).await;
    leases.abort();
    control.abort();
    let _ = std::fs::remove_file(&c.control.socket);
    Ok(())
}

/// SIGHUP: a valid configuration is applied by difference; anything else leaves the running
/// one in force, and says why.
fn apply_reload(bus: &Bus, sup: &Supervisor, status: &Shared, new: Result<Config, String>) {
    let outcome = new.and_then(|new| {
        let old = bus.config.borrow().clone();
        let plan = crate::reload::plan(&old, &new)?;
        check_services(bus, &new)?;
        bus.config.send_replace(Arc::new(new));
        for s in &plan.restart {
            sup.restart(s);
        }
        bus.emit(bus::Event::ConfigReloaded);
        Ok(plan)
    });
    let line = match outcome {
        Ok(plan) => {
            info!(changed = ?plan.changed, restarted = ?plan.restart, "configuration reloaded");
            format!("applied: changed {:?}, restarted {:?}", plan.changed, plan.restart)
        }
        Err(e) => {
            error!(error = %e, "reload refused; the running configuration stays");
            format!("refused: {e}")
        }
    };
    set(status, |s| {
        s.reload = Some(line);
        s.reloads += 1;
    });
}

/// Builds every service's configuration from `new` the way the services will, so a reload
/// that one of them would refuse is refused before anything changes.
fn check_services(bus: &Bus, new: &Config) -> Result<(), String> {
    let state = fw::FwState {
        public_ipv4: bus.wan.borrow().ipv4,
        delegated: bus.delegation.borrow().nets(),
    };
    fw::build(&wiring::fw_config(new), &state).map_err(|e| format!("firewall: {e}"))?;
    wiring::dns_config(new).map_err(|e| format!("dns: {e}"))?;
    for l in &new.lan {
        let l = l.get_ref();
        if let Some(sc) = wiring::dhcp_config(new, l) {
            dhcp_server::Server::new(sc, Instant::now(), 0)
                .map_err(|e| format!("lan[{}].dhcp4: {e}", l.name))?;
        }
    }
    Ok(())
}

/// Brings each LAN up with its addresses (and the ingress's DMZ link).
async fn setup_lans(nc: &Netcfg, c: &Config, status: &Shared) -> Result<(), Error> {
    if let Some(d) = &c.dmz {
        let link = nc.link_by_name(&d.get_ref().interface).await?;
        nc.set_up(&link).await?;
    }
    for l in &c.lan {
        let l = l.get_ref();
        let link = nc.link_by_name(&l.interface).await?;
        nc.set_up(&link).await?;
        if let Some(v4) = l.ipv4 {
            nc.add_address(&link, IpNet::V4(v4), AddrOptions::default()).await?;
        }
        if let Some(ula) = l.ula {
            let opts = AddrOptions { nodad: true, ..AddrOptions::default() };
            nc.add_address(&link, IpNet::V6(ula), opts).await?;
        }
        let addrs = lan_addresses(l, &[]);
        set(status, |s| {
            s.lans.insert(l.name.clone(), addrs);
        });
        info!(lan = %l.name, interface = %l.interface, ipv4 = ?l.ipv4, "lan up");
    }
    Ok(())
}

/// The firewall follows the configuration, the public address and the delegation; a
/// ruleset the kernel refuses leaves the previous one in force.
fn spawn_firewall(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    sup.spawn("firewall", move |mut stop: Stop| {
        let (mut cfg, mut wan, mut del, mut dmz) = (
            bus.config.subscribe(),
            bus.wan.subscribe(),
            bus.delegation.subscribe(),
            bus.dmz.subscribe(),
        );
        async move {
            let mut last: Option<(fw::FwConfig, fw::FwState)> = None;
            loop {
                let mut fwc = wiring::fw_config(&cfg.borrow_and_update());
                if let Some(fw::Split::Ingress { gateway, .. }) = &mut fwc.split {
                    *gateway = dmz.borrow_and_update().gateway;
                }
                let state = fw::FwState {
                    public_ipv4: wan.borrow_and_update().ipv4,
                    delegated: del.borrow_and_update().nets(),
                };
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
                    r = del.changed() => if r.is_err() { break },
                    r = dmz.changed() => if r.is_err() { break },
                    () = stopped(&mut stop) => break,
                }
            }
            Ok::<(), String>(())
        }
    });
}

/// The DNS server; its handle is published for the services that feed it.
fn spawn_dns(sup: &mut Supervisor, bus: &Arc<Bus>, handle: watch::Sender<Option<dns::DnsHandle>>) {
    let (bus, handle) = (bus.clone(), Arc::new(handle));
    sup.spawn("dns", move |mut stop: Stop| {
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

fn shown(p: &[DelegatedPrefix]) -> Vec<String> {
    p.iter().map(|p| format!("{}/{}", p.prefix, p.len)).collect()
}

/// Numbers each LAN with a `subnet_id` from the delegated prefix (addresses with the
/// prefix's lifetimes), and takes the previous prefix's addresses away.
async fn number_lans(nc: &Netcfg, c: &Config, old: &[DelegatedPrefix], new: &[DelegatedPrefix]) {
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
fn spawn_addressing(
    sup: &mut Supervisor,
    bus: &Arc<Bus>,
    status: &Shared,
    dns: watch::Receiver<Option<dns::DnsHandle>>,
    numbered: Vec<DelegatedPrefix>,
    started: Instant,
) {
    let (bus, status) = (bus.clone(), status.clone());
    let held = Arc::new(tokio::sync::Mutex::new(numbered));
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    sup.spawn("addressing", move |mut stop: Stop| {
        let (bus, status, held, ready) = (bus.clone(), status.clone(), held.clone(), ready.clone());
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
                    set(&status, |s| {
                        s.prefixes = shown(&d.prefixes);
                        for l in &c.lan {
                            s.lans.insert(l.get_ref().name.clone(), lan_addresses(l.get_ref(), &d.prefixes));
                        }
                    });
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
                    set(&status, |s| s.ready_after_ms = Some(ms));
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

/// The DHCPv4 server of the LAN `name`; its lease events go to `leases`.
fn spawn_dhcp4(
    sup: &mut Supervisor,
    bus: &Arc<Bus>,
    name: &str,
    leases: mpsc::Sender<(String, LanLease)>,
) {
    let (bus, name) = (bus.clone(), name.to_string());
    sup.spawn(format!("dhcp4/{name}"), move |mut stop: Stop| {
        let (leases, name) = (leases.clone(), name.clone());
        let made = {
            let c = bus.config.borrow();
            wiring::lan(&c, &name).and_then(|l| {
                let sc = wiring::dhcp_config(&c, l)?;
                let dir = c.state_dir.join(format!("dhcp4-{name}"));
                Some(dhcp_server::driver::DriverConfig::new(&l.interface, dir, sc))
            })
        };
        async move {
            let Some(dc) = made else {
                stopped(&mut stop).await;
                return Ok(());
            };
            let (tx, mut rx) = mpsc::channel(1024);
            let until = async move { stopped(&mut stop).await };
            let driver = dhcp_server::driver::run(dc, Some(tx), until);
            tokio::pin!(driver);
            let r = loop {
                tokio::select! {
                    r = &mut driver => break r,
                    Some(ev) = rx.recv() => { let _ = leases.send((name.clone(), LanLease::V4(ev))).await; }
                }
            };
            while let Ok(ev) = rx.try_recv() {
                let _ = leases.send((name.clone(), LanLease::V4(ev))).await;
            }
            r.map_err(|e| e.to_string())
        }
    });
}

/// Keeps `routerctl leases` current, publishes lease names in DNS (again after DNS
/// restarts), and puts lease events on the bus.
async fn keep_leases(
    mut rx: mpsc::Receiver<(String, LanLease)>,
    bus: Arc<Bus>,
    status: Shared,
    mut dns: watch::Receiver<Option<dns::DnsHandle>>,
) {
    let mut names: HashMap<Vec<u8>, dns::LeaseUpdate> = HashMap::new();
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some((lan, ev)) = ev else { break };
                let update = match ev {
                    LanLease::V4(ev) => {
                        track_lease(&status, &bus, &lan, &ev);
                        wiring::lease_update(ev)
                    }
                    LanLease::V6(ev) => {
                        track_lease6(&status, &bus, &lan, &ev);
                        wiring::lease6_update(ev)
                    }
                };
                let Some(update) = update else { continue };
                match &update {
                    dns::LeaseUpdate::Granted { client_id, .. } => { names.insert(client_id.clone(), update.clone()); }
                    dns::LeaseUpdate::Released { client_id } | dns::LeaseUpdate::Expired { client_id } => { names.remove(client_id); }
                    #[allow(unreachable_patterns)]
                    _ => {}
                }
                let handle = dns.borrow().clone();
                if let Some(h) = handle {
                    if let Err(e) = h.lease(update).await {
                        info!(conflict = %e, "lease name not published");
                    }
                }
            }
            r = dns.changed() => {
                if r.is_err() { break }
                let handle = dns.borrow_and_update().clone();
                if let Some(h) = handle {
                    for u in names.values() {
                        let _ = h.lease(u.clone()).await;
                    }
                }
            }
        }
    }
}

fn track_lease6(status: &Shared, bus: &Bus, lan: &str, ev: &dhcp_server::Event6) {
    let (l, granted) = match ev {
        dhcp_server::Event6::LeaseGranted(l) => (l, true),
        dhcp_server::Event6::LeaseReleased(l)
        | dhcp_server::Event6::LeaseExpired(l)
        | dhcp_server::Event6::AddressDeclined(l) => (l, false),
    };
    let expires = l.expires.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    for &(a, len) in &l.addresses {
        let key = if len == 128 { a.to_string() } else { format!("{a}/{len}") };
        set(status, |s| {
            if granted {
                let st = LeaseStatus {
                    lan: lan.to_string(),
                    address: key.clone(),
                    hostname: l.hostname.clone(),
                    expires,
                };
                s.leases.insert(key.clone(), st);
            } else {
                s.leases.remove(&key);
            }
        });
        bus.emit(if granted {
            bus::Event::LeaseGranted {
                lan: lan.into(),
                address: IpAddr::V6(a),
                hostname: l.hostname.clone(),
            }
        } else {
            bus::Event::LeaseReleased { lan: lan.into(), address: IpAddr::V6(a) }
        });
    }
}

fn track_lease(status: &Shared, bus: &Bus, lan: &str, ev: &dhcp_server::Event) {
    set(status, |s| match ev {
        dhcp_server::Event::LeaseGranted(l) => {
            let expires =
                l.expires.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            s.leases.insert(
                l.address.to_string(),
                LeaseStatus {
                    lan: lan.to_string(),
                    address: l.address.to_string(),
                    hostname: l.hostname.clone(),
                    expires,
                },
            );
        }
        dhcp_server::Event::LeaseReleased(l)
        | dhcp_server::Event::LeaseExpired(l)
        | dhcp_server::Event::AddressDeclined(l) => {
            s.leases.remove(&l.address.to_string());
        }
    });
    bus.emit(match ev {
        dhcp_server::Event::LeaseGranted(l) => bus::Event::LeaseGranted {
            lan: lan.into(),
            address: IpAddr::V4(l.address),
            hostname: l.hostname.clone(),
        },
        dhcp_server::Event::LeaseReleased(l)
        | dhcp_server::Event::LeaseExpired(l)
        | dhcp_server::Event::AddressDeclined(l) => {
            bus::Event::LeaseReleased { lan: lan.into(), address: IpAddr::V4(l.address) }
        }
    });
}

/// Where a DHCPv6 server or router advertisements run: a LAN, or the ingress's DMZ link.
#[derive(Debug, Clone)]
enum Site {
    /// The LAN of this name.
    Lan(String),
    /// The DMZ link to the gateway (role ingress).
    Dmz,
}

impl Site {
    fn name(&self) -> &str {
        match self {
            Site::Lan(n) => n,
            Site::Dmz => "dmz",
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
        delegated: &[DelegatedPrefix],
        duid: Vec<u8>,
    ) -> Option<dhcp_server::Server6Config> {
        match self {
            Site::Lan(n) => wiring::dhcp6_config(c, wiring::lan(c, n)?, delegated, duid),
            Site::Dmz => {
                let mut sc = dhcp_server::Server6Config::new(duid, Vec::new());
                sc.pd_pool = wiring::dmz_pool(c, delegated);
                (sc.t1, sc.t2, sc.preferred, sc.valid) = (30, 48, 600, 1200);
                // Our own gateway agrees to Reconfigure: a new prefix reaches it at once.
                sc.reconfigure = true;
                Some(sc)
            }
        }
    }

    fn dhcp6_prefixes(
        &self,
        c: &Config,
        delegated: &[DelegatedPrefix],
    ) -> (Vec<ipnet::Ipv6Net>, Option<dhcp_server::PdPool>) {
        match self {
            Site::Lan(n) => wiring::lan(c, n).map_or((Vec::new(), None), |l| {
                (wiring::dhcp6_prefixes(l, delegated), wiring::dhcp6_pool(l, delegated))
            }),
            Site::Dmz => (Vec::new(), wiring::dmz_pool(c, delegated)),
        }
    }

    /// Router advertisements here: a LAN's /64s, or on the DMZ no prefix, only the default
    /// route for the gateway.
    fn ra(
        &self,
        c: &Config,
        delegated: &[DelegatedPrefix],
        uplink: bool,
    ) -> Option<ra::driver::Config> {
        match self {
            Site::Lan(n) => wiring::ra_config(c, wiring::lan(c, n)?, delegated, uplink),
            Site::Dmz => {
                let mut rc = ra::driver::Config::new(self.interface(c)?);
                rc.uplink = uplink;
                Some(rc)
            }
        }
    }

    fn ra_prefixes(&self, c: &Config, delegated: &[DelegatedPrefix]) -> Vec<ra::PrefixInfo> {
        match self {
            Site::Lan(n) => {
                wiring::lan(c, n).map(|l| wiring::lan_prefixes(l, delegated)).unwrap_or_default()
            }
            Site::Dmz => Vec::new(),
        }
    }
}

/// A route to a delegated prefix via the router that holds it, on `index`.
fn pd_route(
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
fn spawn_dhcp6(
    sup: &mut Supervisor,
    bus: &Arc<Bus>,
    site: Site,
    leases: mpsc::Sender<(String, LanLease)>,
) {
    let bus = bus.clone();
    sup.spawn(format!("dhcp6/{}", site.name()), move |mut stop: Stop| {
        let (leases, site, bus) = (leases.clone(), site.clone(), bus.clone());
        let mut del = bus.delegation.subscribe();
        let (c, d) = (bus.config.borrow().clone(), del.borrow_and_update().clone());
        async move {
            let name = site.name().to_string();
            let Some(ifname) = site.interface(&c) else {
                stopped(&mut stop).await;
                return Ok(());
            };
            let nc = Netcfg::new().map_err(|e| e.to_string())?;
            let link = nc.link_by_name(&ifname).await.map_err(|e| e.to_string())?;
            let mac = link.mac.unwrap_or_default();
            let duid = [0u8, 3, 0, 1].iter().chain(mac.iter()).copied().collect();
            let Some(sc) = site.dhcp6(&c, &d.prefixes, duid) else {
                stopped(&mut stop).await;
                return Ok(());
            };
            let dir = c.state_dir.join(format!("dhcp6-{name}"));
            let dc = dhcp_server::driver6::Driver6Config::new(&ifname, dir, sc);
            let (handle, control) = dhcp_server::driver6::control();
            let (tx, mut rx) = mpsc::channel(1024);
            let until = async move { stopped(&mut stop).await };
            // A task of its own: renumbering below waits for the driver to answer.
            let mut driver = tokio::spawn(dhcp_server::driver6::run(dc, Some(tx), control, until));
            let mut numbered = site.dhcp6_prefixes(&c, &d.prefixes);
            // Delegated prefixes and where they are routed, to take the routes back.
            let mut routed: HashMap<(std::net::Ipv6Addr, u8), std::net::SocketAddrV6> = HashMap::new();
            let r = loop {
                tokio::select! {
                    r = &mut driver => break r,
                    Some(ev) = rx.recv() => {
                        match &ev {
                            dhcp_server::Event6::LeaseGranted(l) if l.kind == dhcp_server::IaKind::Pd => {
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
                            dhcp_server::Event6::LeaseReleased(l) | dhcp_server::Event6::LeaseExpired(l) if l.kind == dhcp_server::IaKind::Pd => {
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
                    r = del.changed() => {
                        if r.is_err() { continue; }
                        let d = del.borrow_and_update().clone();
                        let now = site.dhcp6_prefixes(&c, &d.prefixes);
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

/// Router advertisements: on a LAN its /64s from the delegation (a replaced one is
/// deprecated); on the DMZ none, only the default route. Router lifetime 0 while there is
/// no confirmed IPv6 uplink.
fn spawn_ra(sup: &mut Supervisor, bus: &Arc<Bus>, site: Site) {
    let bus = bus.clone();
    sup.spawn(format!("ra/{}", site.name()), move |mut stop: Stop| {
        let (mut del, mut wan) = (bus.delegation.subscribe(), bus.wan.subscribe());
        let uplink = |d: &Delegation, w: &WanLink| w.up && d.confirmed && !d.prefixes.is_empty();
        let c = bus.config.borrow().clone();
        let made = {
            let (d, w) = (del.borrow_and_update().clone(), wan.borrow_and_update().clone());
            site.ra(&c, &d.prefixes, uplink(&d, &w))
        };
        let site = site.clone();
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
                    r = del.changed() => {
                        if r.is_err() { return (&mut driver).await.map_err(|e| e.to_string()); }
                        let d = del.borrow_and_update().clone();
                        let _ = tx.send(ra::driver::Command::SetPrefixes(site.ra_prefixes(&c, &d.prefixes)));
                        let _ = tx.send(ra::driver::Command::SetUplink(uplink(&d, &wan.borrow())));
                    }
                    r = wan.changed() => {
                        if r.is_err() { return (&mut driver).await.map_err(|e| e.to_string()); }
                        let w = wan.borrow_and_update().clone();
                        let _ = tx.send(ra::driver::Command::SetUplink(uplink(&del.borrow(), &w)));
                    }
                }
            }
        }
    });
}

/// On the ingress: the DHCPv4 client on the DMZ link; the gateway leases our address there
/// (no routes: ours go to the ISP), and its address is where inbound IPv4 goes.
fn spawn_dmz_client(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    sup.spawn("dmz", move |stop: Stop| {
        let bus = bus.clone();
        let dc = {
            let c = bus.config.borrow();
            let ifname = c.dmz.as_ref().map(|d| d.get_ref().interface.clone()).unwrap_or_default();
            let mut dc = dhcp4_client::driver::Config::new(ifname);
            dc.state_dir = Some(c.state_dir.clone());
            dc.install_routes = false;
            dc
        };
        async move {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let driver = dhcp4_client::driver::run(dc, tx, stop);
            tokio::pin!(driver);
            let r = loop {
                tokio::select! {
                    r = &mut driver => break r,
                    Some(ev) = rx.recv() => match ev {
                        dhcp4_client::Event::Bound(l) | dhcp4_client::Event::Renewed(l) | dhcp4_client::Event::Changed { new: l, .. } => {
                            let link = bus::DmzLink { address: Some(l.net()), gateway: Some(l.server) };
                            if *bus.dmz.borrow() != link {
                                info!(address = %l.net(), gateway = %l.server, "dmz up: the gateway leased our address");
                                bus.dmz.send_replace(link);
                            }
                        }
                        dhcp4_client::Event::Lost | dhcp4_client::Event::Released => {
                            warn!("dmz lease lost");
                            bus.dmz.send_replace(bus::DmzLink::default());
                        }
                    },
                }
            };
            bus.dmz.send_replace(bus::DmzLink::default());
            r.map_err(|e| e.to_string())
        }
    });
}

/// On the gateway: the DHCPv4 server on the DMZ link that gives the ingress its address.
fn spawn_dmz_server(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    sup.spawn("dhcp4/dmz", move |mut stop: Stop| {
        let c = bus.config.borrow().clone();
        async move {
            let Some(sc) = wiring::dmz_dhcp4(&c) else {
                stopped(&mut stop).await;
                return Ok(());
            };
            let dc = dhcp_server::driver::DriverConfig::new(
                &c.wan.interface,
                c.state_dir.join("dhcp4-dmz"),
                sc,
            );
            let until = async move { stopped(&mut stop).await };
            dhcp_server::driver::run(dc, None, until).await.map_err(|e| e.to_string())
        }
    });
}

/// The PPPoE WAN: its state goes to the bus and to `routerctl wan`.
fn spawn_wan(sup: &mut Supervisor, bus: &Arc<Bus>, status: &Shared) {
    let (bus, status) = (bus.clone(), status.clone());
    sup.spawn("wan", move |stop: Stop| {
        let (bus, status) = (bus.clone(), status.clone());
        let pc = wiring::pppoe_config(&bus.config.borrow());
        async move {
            set(&status, |s| s.wan.state = "dialing".into());
            let (tx, mut rx) = mpsc::unbounded_channel();
            let driver = pppoe::driver::client::run(pc, tx, stop);
            tokio::pin!(driver);
            let r = loop {
                tokio::select! {
                    r = &mut driver => break r,
                    Some(ev) = rx.recv() => on_wan(&bus, &status, ev),
                }
            };
            while let Ok(ev) = rx.try_recv() {
                on_wan(&bus, &status, ev);
            }
            if bus.wan.borrow().up {
                wan_down(&bus, &status, "AdminClose");
            }
            r.map(|_| ()).map_err(|e| e.to_string())
        }
    });
}

/// PPPoE up: the bus gets the public address and the ISP's DNS. Down: both go.
fn on_wan(bus: &Bus, status: &Shared, ev: pppoe::Event) {
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
            wan_up(bus, status, wl, Some(link.session_id));
        }
        pppoe::Event::Down(reason) => wan_down(bus, status, &format!("{reason:?}")),
    }
}

/// The WAN by DHCP (IPoE): the client puts the address and the default route on the WAN
/// interface; its lease goes to the bus and to `routerctl wan`.
fn spawn_wan_dhcp(sup: &mut Supervisor, bus: &Arc<Bus>, status: &Shared) {
    let (bus, status) = (bus.clone(), status.clone());
    sup.spawn("wan", move |stop: Stop| {
        let (bus, status) = (bus.clone(), status.clone());
        let mut dc = {
            let c = bus.config.borrow();
            let mut dc = dhcp4_client::driver::Config::new(&c.wan.interface);
            dc.state_dir = Some(c.state_dir.clone());
            dc
        };
        dc.rapid_commit = true;
        async move {
            set(&status, |s| s.wan.state = "dhcp: discovering".into());
            let (tx, mut rx) = mpsc::unbounded_channel();
            let driver = dhcp4_client::driver::run(dc, tx, stop);
            tokio::pin!(driver);
            let r = loop {
                tokio::select! {
                    r = &mut driver => break r,
                    Some(ev) = rx.recv() => on_dhcp_wan(&bus, &status, ev),
                }
            };
            while let Ok(ev) = rx.try_recv() {
                on_dhcp_wan(&bus, &status, ev);
            }
            if bus.wan.borrow().up {
                wan_down(&bus, &status, "stopped");
            }
            r.map_err(|e| e.to_string())
        }
    });
}

fn on_dhcp_wan(bus: &Bus, status: &Shared, ev: dhcp4_client::Event) {
    match ev {
        dhcp4_client::Event::Bound(l)
        | dhcp4_client::Event::Renewed(l)
        | dhcp4_client::Event::Changed { new: l, .. } => {
            let link = WanLink {
                up: true,
                ipv4: Some(l.address),
                peer: l.gateway,
                dns: l.dns_servers.iter().map(|a| IpAddr::V4(*a)).collect(),
                mtu: l.mtu,
            };
            if *bus.wan.borrow() != link {
                info!(address = %l.net(), gateway = ?l.gateway, dns = ?l.dns_servers, lease = l.lease_time, "wan up (dhcp)");
                wan_up(bus, status, link, None);
            }
        }
        dhcp4_client::Event::Lost => wan_down(bus, status, "dhcp lease lost"),
        dhcp4_client::Event::Released => wan_down(bus, status, "dhcp lease released"),
    }
}

/// The WAN with a static address: the address and the default route are put on the WAN
/// interface, and taken off when the service stops (on a reload that changes them).
fn spawn_wan_static(sup: &mut Supervisor, bus: &Arc<Bus>, status: &Shared) {
    let (bus, status) = (bus.clone(), status.clone());
    sup.spawn("wan", move |mut stop: Stop| {
        let (bus, status) = (bus.clone(), status.clone());
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
            wan_up(&bus, &status, wl, None);
            stopped(&mut stop).await;
            wan_down(&bus, &status, "stopped");
            let _ = nc.delete_route(&default).await;
            let _ = nc.delete_address(&link, IpNet::V4(st.ipv4)).await;
            Ok(())
        }
    });
}

/// The WAN is up with `link` (`session_id` on PPPoE).
fn wan_up(bus: &Bus, status: &Shared, link: WanLink, session_id: Option<u16>) {
    set(status, |s| {
        s.wan = WanStatus {
            state: "up".into(),
            last_down: s.wan.last_down.take(),
            ipv4: link.ipv4.map(|a| a.to_string()),
            peer: link.peer.map(|a| a.to_string()),
            dns: link.dns.iter().map(ToString::to_string).collect(),
            mtu: link.mtu,
            session_id,
        };
    });
    let v4 = link.ipv4;
    bus.wan.send_replace(link);
    bus.emit(bus::Event::WanUp);
    if let Some(a) = v4 {
        bus.emit(bus::Event::Ipv4Acquired(a));
    }
}

/// The WAN went down.
fn wan_down(bus: &Bus, status: &Shared, reason: &str) {
    warn!(reason, "wan down");
    set(status, |s| {
        s.wan = WanStatus {
            state: "down".into(),
            last_down: Some(reason.to_string()),
            ..Default::default()
        };
    });
    let had_v4 = bus.wan.borrow().ipv4.is_some();
    bus.wan.send_replace(WanLink::default());
    bus.emit(bus::Event::WanDown(reason.to_string()));
    if had_v4 {
        bus.emit(bus::Event::Ipv4Lost);
    }
}

/// The DHCPv6-PD client on `ppp0` or the WAN interface (it waits for IPv6CP's link-local address itself, and
/// Rebinds when the link comes back after a redial).
fn spawn_pd(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    sup.spawn("dhcpv6pd", move |stop: Stop| {
        let bus = bus.clone();
        let c = bus.config.borrow().clone();
        // On PPPoE the client runs on the session's TUN; otherwise on the WAN interface.
        let ifname = if c.wan.mode == WanMode::Pppoe { "ppp0" } else { c.wan.interface.as_str() };
        let mut pc = dhcpv6pd::driver::Config::new(ifname);
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
            let (tx, mut rx) = mpsc::unbounded_channel();
            let driver = dhcpv6pd::driver::run_client(pc, tx, stop);
            tokio::pin!(driver);
            let r = loop {
                tokio::select! {
                    r = &mut driver => break r,
                    Some(ev) = rx.recv() => on_pd(&bus, ev),
                }
            };
            while let Ok(ev) = rx.try_recv() {
                on_pd(&bus, ev);
            }
            r.map_err(|e| e.to_string())
        }
    });
}

/// A new, renewed, changed or lost delegation goes on the bus.
fn on_pd(bus: &Bus, ev: dhcpv6pd::Event) {
    let (new, what) = match ev {
        dhcpv6pd::Event::Delegated(l) => (l.prefixes, "delegated prefix"),
        dhcpv6pd::Event::Renewed(l) => (l.prefixes, "delegated prefix renewed"),
        dhcpv6pd::Event::Changed { new: l, .. } => (l.prefixes, "delegated prefix changed"),
        dhcpv6pd::Event::Lost => (Vec::new(), "delegated prefix lost"),
        dhcpv6pd::Event::Released => (Vec::new(), "delegated prefix released"),
        dhcpv6pd::Event::NoPrefixAvail => {
            warn!("the delegating router has no prefix for us (NoPrefixAvail); asking again later");
            return;
        }
        _ => return,
    };
    if what == "delegated prefix renewed" {
        tracing::debug!(prefixes = ?shown(&new), "{what}");
    } else {
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
