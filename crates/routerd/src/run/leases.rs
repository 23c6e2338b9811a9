//! DHCPv4 on the LANs, and what becomes of every lease (v4 and v6): `routerctl leases`,
//! names in DNS, events on the bus.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tracing::info;

use super::{LanLease, adapt_async, stopped};
use crate::bus::{self, Bus, HostLease, Leased};
use crate::service::{Ready, ServiceId};
use crate::supervisor::{Stop, Supervisor};
use crate::wiring::{self};

/// The DHCPv4 server of the LAN `name`; its lease events go to `leases`.
pub(super) fn spawn_dhcp4(
    sup: &mut Supervisor,
    bus: &Arc<Bus>,
    name: &str,
    leases: mpsc::Sender<(String, LanLease)>,
) {
    let (bus, name) = (bus.clone(), name.to_string());
    sup.spawn(ServiceId::Dhcp4(name.to_string()), &[Ready::Lans], move |mut stop: Stop| {
        let (leases, name) = (leases.clone(), name.clone());
        let made = {
            let c = bus.config.borrow();
            wiring::lan(&c, &name).and_then(|l| {
                let sc = wiring::dhcp_config(&c, l)?;
                let dir = c.state_dir.join(format!("dhcp4-{name}"));
                let mut dc = dhcpv4::driver::server::DriverConfig::new(&l.interface, dir, sc);
                dc.stats = Some(bus.counters.dhcp4(&name));
                Some(dc)
            })
        };
        async move {
            let Some(dc) = made else {
                stopped(&mut stop).await;
                return Ok(());
            };
            let (tx, rx) = mpsc::channel(1024);
            let until = async move { stopped(&mut stop).await };
            let driver = dhcpv4::driver::server::run(dc, Some(tx), until);
            adapt_async(driver, rx, |ev| {
                let (leases, name) = (leases.clone(), name.clone());
                async move {
                    let _ = leases.send((name, LanLease::V4(ev))).await;
                }
            })
            .await
        }
    });
}

/// Keeps `routerctl leases` current, publishes lease names in DNS (again after DNS
/// restarts), and puts lease events on the bus.
pub(super) async fn keep_leases(
    mut rx: mpsc::Receiver<(String, LanLease)>,
    bus: Arc<Bus>,
    mut dns: watch::Receiver<Option<dns::DnsHandle>>,
) {
    // One host, one name: a dual-stack host's two leases are merged (see `crate::names`).
    let mut names = crate::names::Names::default();
    // Each LAN's name once, shared by its leases in `routerctl leases`.
    let mut lans: std::collections::HashMap<String, Arc<str>> = std::collections::HashMap::new();
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some((lan, ev)) = ev else { break };
                let lan = lans.entry(lan).or_insert_with_key(|k| Arc::from(k.as_str())).clone();
                let update = match ev {
                    LanLease::V4(ev) => {
                        track_lease(&bus, &lan, &ev);
                        names.v4(&ev)
                    }
                    LanLease::V6(ev) => {
                        track_lease6(&bus, &lan, &ev);
                        names.v6(&ev)
                    }
                };
                let Some(update) = update else { continue };
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
                    for u in names.all() {
                        let _ = h.lease(u).await;
                    }
                }
            }
        }
    }
}

pub(super) fn track_lease6(bus: &Bus, lan: &Arc<str>, ev: &dhcpv6::server::Event6) {
    let (l, granted) = match ev {
        dhcpv6::server::Event6::LeaseGranted(l) => (l, true),
        dhcpv6::server::Event6::LeaseReleased(l)
        | dhcpv6::server::Event6::LeaseExpired(l)
        | dhcpv6::server::Event6::AddressDeclined(l) => (l, false),
    };
    let expires = l.expires.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    for &(a, len) in &l.addresses {
        let key = match ipnet::Ipv6Net::new(a, len) {
            Ok(p) if len < 128 => Leased::Prefix(p),
            _ => Leased::Address(IpAddr::V6(a)),
        };
        bus.leases.send_modify(|leases| {
            if granted {
                let st = HostLease {
                    lan: lan.clone(),
                    address: key,
                    hostname: l.hostname.as_deref().map(Box::from),
                    expires,
                };
                leases.insert(key, st);
            } else {
                leases.remove(&key);
            }
        });
        bus.emit(if granted {
            bus::Event::LeaseGranted {
                lan: lan.to_string(),
                address: IpAddr::V6(a),
                hostname: l.hostname.clone(),
            }
        } else {
            bus::Event::LeaseReleased { lan: lan.to_string(), address: IpAddr::V6(a) }
        });
    }
}

pub(super) fn track_lease(bus: &Bus, lan: &Arc<str>, ev: &dhcpv4::server::Event) {
    bus.leases.send_modify(|leases| match ev {
        dhcpv4::server::Event::LeaseGranted(l) => {
            let expires =
                l.expires.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            leases.insert(
                Leased::Address(IpAddr::V4(l.address)),
                HostLease {
                    lan: lan.clone(),
                    address: Leased::Address(IpAddr::V4(l.address)),
                    hostname: l.hostname.as_deref().map(Box::from),
                    expires,
                },
            );
        }
        dhcpv4::server::Event::LeaseReleased(l)
        | dhcpv4::server::Event::LeaseExpired(l)
        | dhcpv4::server::Event::AddressDeclined(l) => {
            leases.remove(&Leased::Address(IpAddr::V4(l.address)));
        }
    });
    bus.emit(match ev {
        dhcpv4::server::Event::LeaseGranted(l) => bus::Event::LeaseGranted {
            lan: lan.to_string(),
            address: IpAddr::V4(l.address),
            hostname: l.hostname.clone(),
        },
        dhcpv4::server::Event::LeaseReleased(l)
        | dhcpv4::server::Event::LeaseExpired(l)
        | dhcpv4::server::Event::AddressDeclined(l) => {
            bus::Event::LeaseReleased { lan: lan.to_string(), address: IpAddr::V4(l.address) }
        }
    });
}
