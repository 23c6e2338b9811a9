//! IPTV: the extra WAN links (`[[wan.extra]]`, a DHCPv4 client each) and the IGMP proxy
//! from one of them to the LANs (`[igmp]`), the kernel forwarding the channels.

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::adapt;
use crate::bus::{Bus, ExtraLink};
use crate::service::{Ready, ServiceId};
use crate::supervisor::{Stop, Supervisor};
use crate::wiring;

/// The DHCPv4 client of the extra link `name`: its lease, option 121 routes (and no default
/// route unless `routes_only = false`) on its interface; its state on the bus.
pub(super) fn spawn_extra(sup: &mut Supervisor, bus: &Arc<Bus>, name: &str) {
    let (bus, name) = (bus.clone(), name.to_string());
    sup.spawn(ServiceId::Extra(name.clone()), &[Ready::Firewall], move |stop: Stop| {
        let (bus, name) = (bus.clone(), name.clone());
        let dc = {
            let c = bus.config.borrow();
            c.wan
                .extra
                .iter()
                .map(|x| x.get_ref())
                .find(|x| x.name == name)
                .map(|x| wiring::extra_dhcp_config(&c, x))
        };
        async move {
            let dc = dc.ok_or_else(|| format!("wan.extra {name:?} is gone"))?;
            if let Some(dir) = &dc.state_dir {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            set_extra(&bus, &name, ExtraLink::default());
            let (tx, rx) = mpsc::unbounded_channel();
            let driver = dhcpv4::driver::client::run(dc, tx, stop);
            let r = adapt(driver, rx, |ev| on_extra(&bus, &name, ev)).await;
            set_extra(&bus, &name, ExtraLink::default());
            r
        }
    });
}

fn set_extra(bus: &Bus, name: &str, link: ExtraLink) {
    bus.extras.send_if_modified(|m| {
        if m.get(name) == Some(&link) {
            return false;
        }
        m.insert(name.to_string(), link);
        true
    });
}

fn on_extra(bus: &Bus, name: &str, ev: dhcpv4::client::Event) {
    match ev {
        dhcpv4::client::Event::Bound(l)
        | dhcpv4::client::Event::Renewed(l)
        | dhcpv4::client::Event::Changed { new: l, .. } => {
            let link = ExtraLink {
                up: true,
                ipv4: Some(l.net()),
                routes: l.routes.iter().map(|(dst, _)| *dst).collect(),
            };
            if bus.extras.borrow().get(name) != Some(&link) {
                info!(link = name, address = %l.net(), routes = ?link.routes, "wan extra up (dhcp)");
            }
            set_extra(bus, name, link);
        }
        dhcpv4::client::Event::Lost | dhcpv4::client::Event::Released => {
            warn!(link = name, "wan extra down: lease lost");
            set_extra(bus, name, ExtraLink::default());
        }
    }
}

/// The IGMP proxy: upstream the extra link's interface, downstream the LANs; its status on
/// the bus (for `routerctl` and the metrics).
pub(super) fn spawn_igmp(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    sup.spawn(ServiceId::Igmp, &[Ready::Firewall, Ready::Lans], move |stop: Stop| {
        let bus = bus.clone();
        let cfg = wiring::igmp_config(&bus.config.borrow());
        async move {
            let mut cfg = cfg.ok_or("no [igmp] in the configuration")?;
            cfg.proxy.seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
            let (tx, mut rx) = tokio::sync::watch::channel(igmp::driver::Status::default());
            let publish = {
                let bus = bus.clone();
                tokio::spawn(async move {
                    while rx.changed().await.is_ok() {
                        let s = rx.borrow_and_update().clone();
                        bus.igmp.send_replace(Some(s));
                    }
                })
            };
            let r = igmp::driver::run(cfg, Some(tx), stop).await;
            publish.abort();
            bus.igmp.send_replace(None);
            r.map_err(|e| e.to_string())
        }
    });
}
