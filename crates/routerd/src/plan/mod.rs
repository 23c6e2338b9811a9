//! The plan: what every LAN (and the ingress's DMZ) announces, serves and numbers, computed
//! once from (configuration, delegation, WAN link) by a pure function and published on the
//! bus. Addressing, router advertisements, the DHCPv6 servers and DNS consume it; none of
//! them derives a /64 from the delegation again.
//!
//! Readiness: a LAN's /64 from the delegation may be announced (RA) and served (DHCPv6) only
//! once the router holds its own address in it on the interface. Addressing publishes what it
//! has numbered ([`crate::bus::Bus::numbered`]); [`SitePlan::on_link`] keeps back what is
//! not numbered yet.

use std::collections::BTreeMap;

use dhcpv6::DelegatedPrefix;
use ipnet::Ipv6Net;

use crate::bus::{Delegation, WanLink, lifetime};
use crate::config::{self, Config};
use crate::wiring;

/// The name of the ingress's DMZ in [`Plan::sites`].
pub const DMZ: &str = "dmz";

/// An address the router puts on a LAN from the delegation: `<prefix>:<subnet_id>::1/64`
/// with the delegated prefix's lifetimes (seconds; `u32::MAX` is infinity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbered {
    /// The address and its /64.
    pub address: Ipv6Net,
    /// Preferred lifetime.
    pub preferred: u32,
    /// Valid lifetime.
    pub valid: u32,
}

/// One LAN's (or the DMZ's) part of the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SitePlan {
    /// The interface.
    pub interface: String,
    /// The router's addresses from the delegation (the ULA and IPv4 are configured, not
    /// planned: they are on the interface before any service starts).
    pub numbered: Vec<Numbered>,
    /// What router advertisements announce: the ULA /64 (forever) and one /64 per delegated
    /// prefix, with its lifetimes.
    pub ra_prefixes: Vec<ra::PrefixInfo>,
    /// The /64s the DHCPv6 server gives addresses from (stateful mode).
    pub dhcp6_prefixes: Vec<Ipv6Net>,
    /// The pool the DHCPv6 server delegates from (routers behind the LAN, or the gateway on
    /// the DMZ).
    pub dhcp6_pool: Option<dhcpv6::server::PdPool>,
}

impl SitePlan {
    /// The /64s of the delegation this site numbers.
    fn delegated_nets(&self) -> impl Iterator<Item = Ipv6Net> + '_ {
        self.numbered.iter().map(|n| n.address.trunc())
    }

    /// This plan with only what may be used now: a delegated /64 is kept only when `held`
    /// (the /64s the router's address is on the interface in) has it. Everything else (the
    /// ULA) passes.
    pub fn on_link(&self, held: &[Ipv6Net]) -> SitePlan {
        let pending: Vec<Ipv6Net> = self.delegated_nets().filter(|n| !held.contains(n)).collect();
        let keep = |net: Ipv6Net| !pending.contains(&net);
        SitePlan {
            ra_prefixes: self
                .ra_prefixes
                .iter()
                .filter(|p| Ipv6Net::new(p.prefix, p.len).is_ok_and(|n| keep(n.trunc())))
                .cloned()
                .collect(),
            dhcp6_prefixes: self.dhcp6_prefixes.iter().copied().filter(|n| keep(*n)).collect(),
            ..self.clone()
        }
    }
}

/// The whole plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Per LAN by name, and the DMZ as [`DMZ`] on the ingress.
    pub sites: BTreeMap<String, SitePlan>,
    /// An IPv6 uplink is there (the WAN is up and the ISP confirmed the delegation): router
    /// advertisements offer the router as default router only then.
    pub uplink: bool,
    /// The delegated prefix DNS serves the reverse zone of.
    pub reverse: Option<Ipv6Net>,
}

/// The plan for `c` with delegation `d` and WAN link `w`.
pub fn plan(c: &Config, d: &Delegation, w: &WanLink) -> Plan {
    let mut sites: BTreeMap<String, SitePlan> = c
        .lan
        .iter()
        .map(|l| {
            let l = l.get_ref();
            (l.name.clone(), lan_plan(l, &d.prefixes))
        })
        .collect();
    if c.role() == config::Role::Ingress {
        if let Some(dmz) = &c.dmz {
            let site = SitePlan {
                interface: dmz.get_ref().interface.clone(),
                dhcp6_pool: wiring::dmz_pool(c, &d.prefixes),
                ..SitePlan::default()
            };
            sites.insert(DMZ.to_string(), site);
        }
    }
    Plan {
        sites,
        uplink: w.up && d.confirmed && !d.prefixes.is_empty(),
        reverse: d.nets().first().copied(),
    }
}

/// One LAN's plan.
fn lan_plan(l: &config::Lan, delegated: &[DelegatedPrefix]) -> SitePlan {
    let numbered = l
        .subnet_id
        .iter()
        .flat_map(|id| {
            delegated.iter().filter_map(move |p| {
                let address = wiring::lan_address(p, *id)?;
                Some(Numbered { address, preferred: p.preferred, valid: p.valid })
            })
        })
        .collect::<Vec<_>>();
    let ula = l.ula.map(|u| ra::PrefixInfo {
        prefix: u.network(),
        len: 64,
        preferred: None,
        valid: None,
    });
    let from_pd = numbered.iter().map(|n| ra::PrefixInfo {
        prefix: n.address.network(),
        len: 64,
        preferred: lifetime(n.preferred),
        valid: lifetime(n.valid),
    });
    let stateful = l.dhcp6.as_ref().map(|d| d.mode) == Some(config::Dhcp6Mode::Stateful);
    let dhcp6_prefixes = if stateful {
        l.ula
            .map(|u| u.trunc())
            .into_iter()
            .chain(numbered.iter().map(|n| n.address.trunc()))
            .collect()
    } else {
        Vec::new()
    };
    SitePlan {
        interface: l.interface.clone(),
        ra_prefixes: ula.into_iter().chain(from_pd).collect(),
        dhcp6_prefixes,
        dhcp6_pool: wiring::dhcp6_pool(l, delegated),
        numbered,
    }
}

#[cfg(test)]
mod tests;
