//! The split deployment's DMZ link: the ingress's DHCPv4 client, the gateway's DHCPv4
//! server for it.

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{adapt, stopped};
use crate::bus::{self, Bus};
use crate::service::{Ready, ServiceId};
use crate::supervisor::{Stop, Supervisor};
use crate::wiring::{self};

/// The gateway leased us an address on the DMZ (or took it back).
fn on_dmz(bus: &Bus, ev: dhcpv4::client::Event) {
    match ev {
        dhcpv4::client::Event::Bound(l)
        | dhcpv4::client::Event::Renewed(l)
        | dhcpv4::client::Event::Changed { new: l, .. } => {
            let link = bus::DmzLink { address: Some(l.net()), gateway: Some(l.server) };
            if *bus.dmz.borrow() != link {
                info!(address = %l.net(), gateway = %l.server, "dmz up: the gateway leased our address");
                bus.dmz.send_replace(link);
            }
        }
        dhcpv4::client::Event::Lost | dhcpv4::client::Event::Released => {
            warn!("dmz lease lost");
            bus.dmz.send_replace(bus::DmzLink::default());
        }
    }
}

/// On the ingress: the DHCPv4 client on the DMZ link; the gateway leases our address there
/// (no routes: ours go to the ISP), and its address is where inbound IPv4 goes.
pub(super) fn spawn_dmz_client(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    sup.spawn(ServiceId::Dmz, &[Ready::Firewall, Ready::Lans], move |stop: Stop| {
        let bus = bus.clone();
        let dc = {
            let c = bus.config.borrow();
            let ifname = c.dmz.as_ref().map(|d| d.get_ref().interface.clone()).unwrap_or_default();
            let mut dc = dhcpv4::driver::client::Config::new(ifname);
            dc.state_dir = Some(c.state_dir.clone());
            dc.install_routes = false;
            dc
        };
        async move {
            let (tx, rx) = mpsc::unbounded_channel();
            let driver = dhcpv4::driver::client::run(dc, tx, stop);
            let r = adapt(driver, rx, |ev| on_dmz(&bus, ev)).await;
            bus.dmz.send_replace(bus::DmzLink::default());
            r
        }
    });
}

/// On the gateway: the DHCPv4 server on the DMZ link that gives the ingress its address.
pub(super) fn spawn_dmz_server(sup: &mut Supervisor, bus: &Arc<Bus>) {
    let bus = bus.clone();
    sup.spawn(ServiceId::Dhcp4("dmz".into()), &[Ready::Lans], move |mut stop: Stop| {
        let c = bus.config.borrow().clone();
        async move {
            let Some(sc) = wiring::dmz_dhcp4(&c) else {
                stopped(&mut stop).await;
                return Ok(());
            };
            let dc = dhcpv4::driver::server::DriverConfig::new(
                &c.wan.interface,
                c.state_dir.join("dhcp4-dmz"),
                sc,
            );
            let until = async move { stopped(&mut stop).await };
            dhcpv4::driver::server::run(dc, None, until).await.map_err(|e| e.to_string())
        }
    });
}
