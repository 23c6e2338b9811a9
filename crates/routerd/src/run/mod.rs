//! `routerd run`: the services, supervised, wired by the [`Bus`].
//!
//! Declared dependencies, not spawn order: the firewall's safe defaults are applied and the
//! LANs brought up with their addresses before any service runs ([`Ready::Firewall`],
//! [`Ready::Lans`]); every service declares what it needs and the [`Supervisor`] starts it
//! (again after each failure or reload) only when that holds: DNS, addressing, the DHCP
//! servers and RA need the LANs, the WAN the firewall, the DHCPv6-PD client on PPPoE the
//! WAN (`ppp0`). Each is restarted with back-off when it fails, restarted on purpose when a
//! reload changes its part of the configuration, its state (`waiting` among them) in
//! `routerctl status`.
//!
//! Who follows what on the bus (modules `global`, `leases`, `ipv6`, `dmz`, `wan`): the
//! firewall re-applies its ruleset when the configuration, the public IPv4 address or (on the
//! ingress) the gateway's address changes; the planner computes the [`crate::plan::Plan`]
//! from (configuration, delegation, WAN link) whenever one of them changes; `addressing`
//! numbers each LAN from the plan and publishes what it numbered (`Bus::numbered`), keeps the
//! delegation in the state directory (so a restarted router still knows what its LAN hosts
//! hold, RFC 9096), moves DNS's reverse zone and gives DNS the WAN's upstreams; each LAN's
//! router advertisements and DHCPv6 server take their /64s from the plan, a delegated one
//! only once addressing has put the router's address in it (a replaced one is deprecated,
//! the DHCPv6 server renumbers); every lease is published in DNS and on the bus.
//!
//! The WAN is PPPoE (with the PD client on `ppp0`), DHCP (IPoE, `dhcpv4`'s client) or a static
//! address (the PD client on the WAN interface for both).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use netcfg::{AddrOptions, Family, Netcfg};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::bus::{self, Bus, ReloadOutcome};
use crate::config::{self, Config, WanMode};
use crate::service::Ready;
use crate::supervisor::{Stop, Supervisor};
use crate::wiring;

mod dmz;
mod global;
mod iptv;
mod ipv6;
mod leases;
mod wan;

use dmz::{spawn_dmz_client, spawn_dmz_server};
use global::{shown, spawn_addressing, spawn_dns, spawn_firewall};
use iptv::{spawn_extra, spawn_igmp};
use ipv6::{Site, spawn_dhcp6, spawn_ra};
use leases::{keep_leases, spawn_dhcp4};
use wan::{spawn_pd, spawn_wan, spawn_wan_dhcp, spawn_wan_static};

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

/// Brings the firewall to what `cfg` and `state` give, from `last` (what was applied): only
/// the changed port forwards when nothing else changed, else the whole table; without the
/// fast path where the kernel refuses its flowtable. Returns what is now in force.
pub(super) fn apply_fw(
    cfg: &fw::FwConfig,
    state: &fw::FwState,
    last: Option<&fw::Ruleset>,
) -> Result<fw::Applied, fw::Error> {
    let rs = fw::build(cfg, state)?;
    let applied = fw::Firewall::update_or_without_fast_path(last, rs)?;
    if let Some(e) = &applied.fast_path_refused {
        warn!(error = %e, "firewall: the kernel refused the fast path (nf_flow_table); applied without it");
    }
    let rs = &applied.ruleset;
    match applied.update {
        fw::Update::Unchanged => {}
        fw::Update::Forwards { added, removed } => {
            info!(added, removed, "firewall: port forwards updated in place");
        }
        fw::Update::Replaced => info!(
            rules = rs.rule_count(),
            forwards = rs.element_count(),
            fast_path = rs.flowtable.is_some(),
            public_ipv4 = ?state.public_ipv4,
            "firewall applied"
        ),
    }
    Ok(applied)
}

/// A lease event of one LAN's DHCP server.
pub(super) enum LanLease {
    V4(dhcpv4::server::Event),
    V6(dhcpv6::server::Event6),
}

/// The receiving end of a driver's event channel, bounded or not.
pub(super) trait Events<E> {
    /// The next event; `None` once the driver dropped its end.
    fn next(&mut self) -> impl std::future::Future<Output = Option<E>> + Send;
    /// An event already queued.
    fn queued(&mut self) -> Option<E>;
}

impl<E: Send> Events<E> for mpsc::UnboundedReceiver<E> {
    fn next(&mut self) -> impl std::future::Future<Output = Option<E>> + Send {
        self.recv()
    }
    fn queued(&mut self) -> Option<E> {
        self.try_recv().ok()
    }
}

impl<E: Send> Events<E> for mpsc::Receiver<E> {
    fn next(&mut self) -> impl std::future::Future<Output = Option<E>> + Send {
        self.recv()
    }
    fn queued(&mut self) -> Option<E> {
        self.try_recv().ok()
    }
}

/// [`adapt_async`] with a handler that does not wait.
pub(super) async fn adapt<E, T, Er: std::fmt::Display>(
    driver: impl std::future::Future<Output = Result<T, Er>>,
    events: impl Events<E>,
    mut on: impl FnMut(E),
) -> Result<T, String> {
    adapt_async(driver, events, |ev| {
        on(ev);
        std::future::ready(())
    })
    .await
}

/// The one adapter loop between a protocol crate's driver and the bus: runs `driver`,
/// handing each event it reports on `events` to `on` as it comes and, once the driver has
/// ended, the ones still queued (so the last state change before a stop is not lost). The
/// driver's result, with its error as text, is the service's.
pub(super) async fn adapt_async<E, T, Er, F>(
    driver: impl std::future::Future<Output = Result<T, Er>>,
    mut events: impl Events<E>,
    mut on: impl FnMut(E) -> F,
) -> Result<T, String>
where
    Er: std::fmt::Display,
    F: std::future::Future<Output = ()>,
{
    tokio::pin!(driver);
    let r = loop {
        tokio::select! {
            r = &mut driver => break r,
            Some(ev) = events.next() => on(ev).await,
        }
    };
    while let Some(ev) = events.queued() {
        on(ev).await;
    }
    r.map_err(|e| e.to_string())
}

/// Resolves once `stop` is true (or its sender is gone).
pub(super) async fn stopped(stop: &mut Stop) {
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
    let remembered = bus::load_delegation(&c.state_dir);
    if !remembered.is_empty() {
        info!(prefixes = ?shown(&remembered), "remembered delegation (kept until the ISP confirms or replaces it)");
    }
    let bus = Arc::new(Bus::new(c.clone(), remembered.clone()));
    let control = crate::status::serve(&c.control.socket, bus.clone()).map_err(Error::Control)?;
    // Firewall first: safe defaults before any interface forwards anything (the firewall
    // service adds the fast path).
    let initial = fw::FwState::default();
    apply_fw(&fw::FwConfig { fast_path: false, ..wiring::fw_config(&c) }, &initial, None)?;
    bus.set_ready(Ready::Firewall, true);
    nc.set_forwarding("all", Family::V4, true)?;
    nc.set_forwarding("all", Family::V6, true)?;
    if c.wan.mode != WanMode::Pppoe && c.wan.ipv6.enabled {
        // The default route comes from the upstream router's RA (on the gateway: the
        // ingress's), also while forwarding; from the start, so that no early RA is lost.
        nc.set_accept_ra(&c.wan.interface, 2)?;
    }
    setup_lans(&nc, &c).await?;
    bus.set_ready(Ready::Lans, true);
    // systemd (Type=notify): ready once the firewall is in force and the LANs are up.
    let notify = crate::notify::Notifier::from_env();
    notify.send("READY=1\nSTATUS=firewall in force, LANs up; WAN starting");
    let status_task = notify.active().then(|| tokio::spawn(notify_status(bus.clone())));

    let mut sup = Supervisor::new(bus.services.clone(), bus.ready.subscribe(), shutdown.clone());
    spawn_firewall(&mut sup, &bus);
    // The ingress serves no LAN: the gateway runs DNS (the bus's handle stays `None`).
    if c.role() != config::Role::Ingress {
        spawn_dns(&mut sup, &bus);
    }
    let planner = tokio::spawn(plan_follows(bus.clone()));
    spawn_addressing(&mut sup, &bus, bus.dns.subscribe(), started);
    let (lease_tx, lease_rx) = mpsc::channel(1024);
    let leases = tokio::spawn(keep_leases(lease_rx, bus.clone(), bus.dns.subscribe()));
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
        WanMode::Pppoe => spawn_wan(&mut sup, &bus),
        WanMode::Dhcp => spawn_wan_dhcp(&mut sup, &bus),
        WanMode::Static => spawn_wan_static(&mut sup, &bus),
    }
    if c.wan.ipv6.enabled {
        spawn_pd(&mut sup, &bus);
    }
    for x in &c.wan.extra {
        spawn_extra(&mut sup, &bus, &x.get_ref().name);
    }
    if c.igmp.is_some() {
        spawn_igmp(&mut sup, &bus);
    }
    if !c.http_listen().is_empty() {
        crate::http::spawn_http(&mut sup, &bus);
    }

    let feed = notify.watchdog_every();
    let mut watchdog = tokio::time::interval(feed.unwrap_or(Duration::from_secs(3600)));
    loop {
        tokio::select! {
            res = shutdown.changed() => if res.is_err() || *shutdown.borrow() { break },
            Some(new) = reload.recv() => {
                notify.send("RELOADING=1");
                apply_reload(&bus, &sup, new);
                let outcome = bus.reloads.borrow().last.as_ref().map(ToString::to_string);
                notify.send(&format!(
                    "READY=1\nSTATUS=reload {}",
                    outcome.unwrap_or_default().replace('\n', " ")
                ));
            }
            // The watchdog is fed from this loop: if it stops turning, systemd restarts us.
            _ = watchdog.tick() => if feed.is_some() { notify.send("WATCHDOG=1") },
        }
    }
    notify.send("STOPPING=1\nSTATUS=stopping");
    if let Some(t) = status_task {
        t.abort();
    }
    info!("shutting down");
    sup.join(Duration::from_secs(8)).await;
    leases.abort();
    planner.abort();
    control.abort();
    let _ = std::fs::remove_file(&c.control.socket);
    Ok(())
}

/// `STATUS=` for systemd: the WAN's state, each time it changes.
async fn notify_status(bus: Arc<Bus>) {
    let notify = crate::notify::Notifier::from_env();
    let mut w = bus.wan_state.subscribe();
    let mut last = String::new();
    loop {
        let _ = w.borrow_and_update();
        let wan = crate::status::Status::of(&bus).wan;
        let line = match (&wan.ipv4, &wan.last_down) {
            _ if wan.state == "up" => {
                format!("WAN up {}", wan.ipv4.clone().unwrap_or_default())
            }
            (_, Some(why)) => format!("WAN {} (last down: {why})", wan.state),
            _ => format!("WAN {}", wan.state),
        };
        if line != last {
            notify.status(&line);
            last = line;
        }
        if w.changed().await.is_err() {
            return;
        }
    }
}

/// The planner: the plan follows the configuration, the delegation and the WAN link.
async fn plan_follows(bus: Arc<Bus>) {
    let (mut c, mut d, mut w) =
        (bus.config.subscribe(), bus.delegation.subscribe(), bus.wan.subscribe());
    loop {
        let _ = (c.borrow_and_update(), d.borrow_and_update(), w.borrow_and_update());
        bus.replan();
        tokio::select! {
            r = c.changed() => if r.is_err() { return },
            r = d.changed() => if r.is_err() { return },
            r = w.changed() => if r.is_err() { return },
        }
    }
}

/// SIGHUP: a valid configuration is applied by difference; anything else leaves the running
/// one in force, and says why.
/// How long a reload watches the services it restarted before it calls them back up.
const RESTART_SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

fn apply_reload(bus: &Arc<Bus>, sup: &Supervisor, new: Result<Config, String>) {
    let outcome = new.and_then(|new| {
        let old = bus.config.borrow().clone();
        let plan = crate::reload::plan(&old, &new)?;
        check_services(bus, &new)?;
        bus.config.send_replace(Arc::new(new));
        let watch = sup.restart_watched(&plan.restart, RESTART_SETTLE);
        bus.emit(bus::Event::ConfigReloaded);
        Ok((plan, watch))
    });
    let outcome = match outcome {
        Ok((plan, watch)) => {
            info!(changed = ?plan.changed, restarted = ?plan.restart.iter().map(ToString::to_string).collect::<Vec<_>>(), "configuration reloaded");
            let bus = bus.clone();
            // The restarted services are watched for a while: one that fails with the new
            // configuration turns the outcome into a failure, in the log and the status.
            tokio::spawn(async move {
                let failed = watch.await;
                if failed.is_empty() {
                    return;
                }
                for (svc, why) in &failed {
                    error!(service = %svc, error = %why, "reload applied, but the service failed to restart");
                }
                bus.reloads.send_modify(|r| {
                    r.last = Some(ReloadOutcome::RestartFailed(failed));
                    r.failed += 1;
                });
            });
            ReloadOutcome::Applied { changed: plan.changed, restarted: plan.restart }
        }
        Err(e) => {
            error!(error = %e, "reload refused; the running configuration stays");
            ReloadOutcome::Refused(e)
        }
    };
    bus.reloads.send_modify(|r| {
        if matches!(outcome, ReloadOutcome::Refused(_)) {
            r.refused += 1;
        }
        r.last = Some(outcome);
        r.count += 1;
    });
}

/// Builds every service's configuration from `new` the way the services will, so a reload
/// that one of them would refuse is refused before anything changes.
fn check_services(bus: &Bus, new: &Config) -> Result<(), String> {
    let state = fw::FwState { public_ipv4: bus.wan.borrow().ipv4, ..fw::FwState::default() };
    fw::build(&wiring::fw_config(new), &state).map_err(|e| format!("firewall: {e}"))?;
    wiring::dns_config(new).map_err(|e| format!("dns: {e}"))?;
    for l in &new.lan {
        let l = l.get_ref();
        if let Some(sc) = wiring::dhcp_config(new, l) {
            dhcpv4::server::Server::new(sc, Instant::now(), 0)
                .map_err(|e| format!("lan[{}].dhcp4: {e}", l.name))?;
        }
    }
    Ok(())
}

/// Brings each LAN up with its addresses (and the ingress's DMZ link).
async fn setup_lans(nc: &Netcfg, c: &Config) -> Result<(), Error> {
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
        info!(lan = %l.name, interface = %l.interface, ipv4 = ?l.ipv4, "lan up");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Events the driver sent just before it ended are still handed over (a WAN going down
    /// as the service stops must reach the bus), and the driver's error is the service's.
    #[tokio::test]
    async fn the_adapter_delivers_every_event_and_the_drivers_result() {
        let (tx, rx) = mpsc::unbounded_channel();
        let driver = async move {
            for i in 0..3 {
                tx.send(i).unwrap();
            }
            Err::<(), _>("link gone")
        };
        let mut got = Vec::new();
        let r = adapt(driver, rx, |ev| got.push(ev)).await;
        assert_eq!((r, got), (Err("link gone".to_string()), vec![0, 1, 2]));

        let (tx, rx) = mpsc::channel(1);
        let driver = async move {
            tx.send(7).await.unwrap();
            Ok::<u8, String>(1)
        };
        let mut got = Vec::new();
        let r = adapt_async(driver, rx, |ev| {
            got.push(ev);
            std::future::ready(())
        })
        .await;
        assert_eq!((r, got), (Ok(1), vec![7]));
    }
}
