//! The services routerd supervises, by name: [`ServiceId`] is what the supervisor, a reload's
//! plan and `routerctl status` use, so a service is never named by a string kept in sync by
//! hand in several places.

use std::fmt;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Serialize, Serializer};
use tokio::sync::watch;

/// A condition a service can declare it needs before it starts (each start, also after a
/// failure or a reload): the supervisor holds it in [`ServiceState::Waiting`] until then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ready {
    /// The firewall's ruleset is in force (safe defaults before anything forwards).
    Firewall,
    /// Every LAN (and the DMZ link) is up with its configured addresses.
    Lans,
    /// The WAN carries traffic (PPPoE: `ppp0` is up with its IPv6CP link-local address).
    Wan,
}

/// The conditions that hold now, on the bus (`Bus::ready`).
pub type Readiness = watch::Receiver<BTreeSet<Ready>>;

/// Every service's state, on the bus; the supervisor is its only writer.
pub type Services = Arc<watch::Sender<BTreeMap<ServiceId, ServiceStatus>>>;

/// One supervised service. `Display` gives the name `routerctl status` shows
/// (`dhcp4/lan`, `ra/dmz`, ...); a LAN's services carry its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceId {
    /// The nftables ruleset, re-applied when its inputs change.
    Firewall,
    /// The DNS server.
    Dns,
    /// The LANs' addresses from the delegated prefix, DNS's reverse zone and upstreams.
    Addressing,
    /// The DHCPv4 server of a LAN (`dmz` on the gateway's DMZ).
    Dhcp4(String),
    /// The DHCPv6 server of a LAN (`dmz` on the ingress's DMZ).
    Dhcp6(String),
    /// Router advertisements on a LAN (`dmz` on the ingress's DMZ).
    Ra(String),
    /// The WAN: PPPoE, DHCP or static.
    Wan,
    /// The DHCPv6-PD requesting router.
    Pd,
    /// The ingress's DMZ address by DHCPv4 from the gateway.
    Dmz,
    /// The status page and `/metrics`.
    Http,
    /// An extra WAN link's DHCP client (`[[wan.extra]]`), by name.
    Extra(String),
    /// The IGMP proxy (`[igmp]`).
    Igmp,
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceId::Firewall => f.write_str("firewall"),
            ServiceId::Dns => f.write_str("dns"),
            ServiceId::Addressing => f.write_str("addressing"),
            ServiceId::Dhcp4(lan) => write!(f, "dhcp4/{lan}"),
            ServiceId::Dhcp6(lan) => write!(f, "dhcp6/{lan}"),
            ServiceId::Ra(lan) => write!(f, "ra/{lan}"),
            ServiceId::Wan => f.write_str("wan"),
            ServiceId::Pd => f.write_str("dhcpv6pd"),
            ServiceId::Dmz => f.write_str("dmz"),
            ServiceId::Http => f.write_str("http"),
            ServiceId::Extra(name) => write!(f, "wan/{name}"),
            ServiceId::Igmp => f.write_str("igmp"),
        }
    }
}

impl Serialize for ServiceId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where a supervised service is in its life (`routerctl status` shows it in lower case).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    /// Spawned, not started yet.
    #[default]
    Starting,
    /// Waiting for what it needs ([`ServiceStatus::needs`]) to hold.
    Waiting,
    /// Its future runs.
    Running,
    /// Stopped on purpose by a reload, starting again at once.
    Restarting,
    /// It failed (or ended on its own) and waits out its back-off before starting again.
    Backoff,
    /// Shut down with routerd.
    Stopped,
}

impl std::fmt::Display for ServiceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ServiceState::Starting => "starting",
            ServiceState::Waiting => "waiting",
            ServiceState::Running => "running",
            ServiceState::Restarting => "restarting",
            ServiceState::Backoff => "backoff",
            ServiceState::Stopped => "stopped",
        })
    }
}

/// One supervised service.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ServiceStatus {
    /// Where it is in its life.
    pub state: ServiceState,
    /// How often it was started again after a failure or a reload.
    pub restarts: u32,
    /// Why it last failed.
    pub last_error: Option<String>,
    /// What it declared it needs before each start.
    pub needs: Vec<Ready>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn names_are_what_routerctl_has_always_shown() {
        let ids = [
            ServiceId::Firewall,
            ServiceId::Dns,
            ServiceId::Addressing,
            ServiceId::Dhcp4("lan".into()),
            ServiceId::Dhcp6("dmz".into()),
            ServiceId::Ra("lan".into()),
            ServiceId::Wan,
            ServiceId::Pd,
            ServiceId::Dmz,
        ];
        let names: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let want = ["firewall", "dns", "addressing", "dhcp4/lan", "dhcp6/dmz", "ra/lan", "wan"];
        assert_eq!(names[..7], want);
        assert_eq!(names[7..], ["dhcpv6pd", "dmz"]);
        assert_eq!(ServiceId::Extra("iptv".into()).to_string(), "wan/iptv");
        assert_eq!(ServiceId::Igmp.to_string(), "igmp");
        let map: std::collections::BTreeMap<_, _> = [(ServiceId::Wan, 1)].into_iter().collect();
        assert_eq!(serde_json::to_string(&map).unwrap(), r#"{"wan":1}"#);
    }
}
