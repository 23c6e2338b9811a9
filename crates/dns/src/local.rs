//! The local zone's data and its rules: static hosts, names from DHCP leases, reverse zones.
//!
//! Sans-IO: [`LocalZone`] takes [`LeaseUpdate`]s and prefix changes and says yes or no by the
//! conflict policy; [`LocalZone::table`] compiles what it holds into the precomputed answers
//! the query path serves ([`crate::table::LocalTable`]).
//!
//! ## Conflict policy
//!
//! A name belongs to at most one holder, first come first served, in this order of rank:
//!
//! 1. static hosts from the configuration: never taken by anyone else;
//! 2. names added by an authenticated RFC 2136 UPDATE: a lease may not take one (the driver
//!    asks the dynamic zone before it calls [`LocalZone::handle_lease`]), and an UPDATE that
//!    touches a static or leased name is REFUSED;
//! 3. a DHCP client, identified by its client id: it keeps its name while its lease lives;
//!    another client asking for the same name gets [`Conflict::HeldBy`] and no records (its
//!    lease itself is the DHCP server's business). A client that comes back with a new name
//!    gives up the old one.
//!
//! A PTR is published for every address that lies in one of the reverse zones; a static host's
//! PTR wins over a lease's for the same address.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use crate::table::{LocalTable, Record};

/// A host from the configuration (`[dns] hosts = [...]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticHost {
    /// A label (`printer`) or a name under the local domain (`printer.home.arpa`).
    pub name: String,
    /// Its IPv4 addresses.
    pub ipv4: Vec<Ipv4Addr>,
    /// Its IPv6 addresses.
    pub ipv6: Vec<Ipv6Addr>,
}

/// What the DHCP servers tell the DNS: the input vocabulary of the local zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseUpdate {
    /// A lease was granted or renewed: publish `hostname` with these addresses.
    Granted {
        /// The client's host name (DHCPv4 option 12/81, DHCPv6 option 39); only its first
        /// label is used.
        hostname: String,
        /// The leased IPv4 address, if any.
        v4: Option<Ipv4Addr>,
        /// Leased IPv6 addresses.
        v6: Vec<Ipv6Addr>,
        /// The client identifier (DHCPv4 option 61 or the chaddr; the DHCPv6 DUID).
        client_id: Vec<u8>,
    },
    /// The client released its lease.
    Released {
        /// The client identifier.
        client_id: Vec<u8>,
    },
    /// The lease expired.
    Expired {
        /// The client identifier.
        client_id: Vec<u8>,
    },
}

/// Why a lease's name was not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Conflict {
    /// The host name is not a valid LDH label (RFC 952, RFC 1123 §2.1).
    #[error("host name {0:?} is not a valid label")]
    InvalidName(String),
    /// The name is a static host's.
    #[error("{0} is a static host")]
    Static(String),
    /// Another client holds the name.
    #[error("{0} is held by another client")]
    HeldBy(String),
    /// The name exists in the dynamic (RFC 2136) part of the zone.
    #[error("{0} was added by a dynamic update")]
    Dynamic(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Addrs {
    v4: Vec<Ipv4Addr>,
    v6: Vec<Ipv6Addr>,
}

/// The local zone: static hosts, leased names, and the reverse zones they map into.
#[derive(Debug, Clone)]
pub struct LocalZone {
    domain: String,
    ttl: u32,
    statics: BTreeMap<String, Addrs>,
    leases: BTreeMap<Vec<u8>, (String, Addrs)>,
    v4_nets: Vec<Ipv4Net>,
    v6_nets: Vec<Ipv6Net>,
    prefix: Option<Ipv6Net>,
    serial: u32,
}

impl LocalZone {
    /// A zone for `domain` (`home.arpa`), with reverse zones for `v4_nets` and `v6_nets`
    /// (the LAN subnets and ULA prefixes). Static names that do not fit are an error.
    pub fn new(
        domain: &str,
        ttl: u32,
        hosts: &[StaticHost],
        v4_nets: Vec<Ipv4Net>,
        v6_nets: Vec<Ipv6Net>,
    ) -> Result<Self, crate::Error> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let mut statics = BTreeMap::new();
        for h in hosts {
            let lower = h.name.trim_end_matches('.').to_ascii_lowercase();
            let rel = lower.strip_suffix(&format!(".{domain}")).unwrap_or(&lower).to_string();
            if rel.split('.').any(|l| valid_label(l).is_none()) {
                return Err(crate::Error::Config(format!("bad static host name {:?}", h.name)));
            }
            statics.insert(rel, Addrs { v4: h.ipv4.clone(), v6: h.ipv6.clone() });
        }
        let (leases, prefix, serial) = (BTreeMap::new(), None, 1);
        Ok(LocalZone { domain, ttl, statics, leases, v4_nets, v6_nets, prefix, serial })
    }

    /// The local domain, lower case, without the trailing dot.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Applies a lease event. `Ok(true)` when the published records changed.
    pub fn handle_lease(&mut self, update: LeaseUpdate) -> Result<bool, Conflict> {
        let changed = match update {
            LeaseUpdate::Granted { hostname, v4, v6, client_id } => {
                let name = self.check_claim(&hostname, &client_id)?;
                let addrs = Addrs { v4: v4.into_iter().collect(), v6 };
                let entry = (name, addrs);
                if self.leases.get(&client_id) == Some(&entry) {
                    false
                } else {
                    self.leases.insert(client_id, entry);
                    true
                }
            }
            LeaseUpdate::Released { client_id } | LeaseUpdate::Expired { client_id } => {
                self.leases.remove(&client_id).is_some()
            }
        };
        if changed {
            self.serial = self.serial.wrapping_add(1);
        }
        Ok(changed)
    }

    /// The label `hostname` would be published under by `client_id`, or why it may not be.
    pub fn check_claim(&self, hostname: &str, client_id: &[u8]) -> Result<String, Conflict> {
        let first = hostname.split('.').next().unwrap_or_default();
        let name = valid_label(first).ok_or_else(|| Conflict::InvalidName(hostname.into()))?;
        if self.statics.contains_key(&name) {
            return Err(Conflict::Static(name));
        }
        let other =
            self.leases.iter().find(|(id, (n, _))| *n == name && id.as_slice() != client_id);
        match other {
            Some(_) => Err(Conflict::HeldBy(name)),
            None => Ok(name),
        }
    }

    /// Whether a name (a label, or a dotted name relative to the domain) is static or leased.
    pub fn holds(&self, relative: &str) -> bool {
        let rel = relative.to_ascii_lowercase();
        self.statics.contains_key(&rel) || self.leases.values().any(|(n, _)| *n == rel)
    }

    /// Sets the delegated IPv6 prefix (or none): its reverse zone replaces the old one.
    pub fn set_prefix(&mut self, prefix: Option<Ipv6Net>) -> bool {
        let changed = self.prefix != prefix;
        self.prefix = prefix;
        if changed {
            self.serial = self.serial.wrapping_add(1);
        }
        changed
    }

    /// The delegated prefix in use.
    pub fn prefix(&self) -> Option<Ipv6Net> {
        self.prefix
    }

    /// The reverse zones, in-addr.arpa then ip6.arpa (RFC 1035 §3.5, RFC 3596 §2.5).
    pub fn reverse_zones(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for net in &self.v4_nets {
            let len = net.prefix_len().div_ceil(8) * 8;
            // Round up to whole octets: a /23 is two /24 zones, a /12 sixteen /16s (at most 128).
            for sub in net.trunc().subnets(len).into_iter().flatten() {
                let octets = sub.network().octets();
                let labels = octets.iter().take(usize::from(len / 8)).rev();
                let mut z: String = labels.map(|o| format!("{o}.")).collect();
                z.push_str("in-addr.arpa");
                push_unique(&mut out, z);
            }
        }
        for net in self.v6_nets.iter().chain(self.prefix.iter()) {
            let len = net.prefix_len().div_ceil(4) * 4;
            for sub in net.trunc().subnets(len).into_iter().flatten() {
                let nibbles = nibbles(sub.network());
                let labels = nibbles.iter().take(usize::from(len / 4)).rev();
                let mut z: String = labels.map(|n| format!("{n:x}.")).collect();
                z.push_str("ip6.arpa");
                push_unique(&mut out, z);
            }
        }
        out
    }

    /// Every record the zone publishes, with owner names relative to the root (no dot).
    pub fn records(&self) -> Vec<Record> {
        let mut out = Vec::new();
        let mut ptr_done = std::collections::HashSet::new();
        let hosts = self.statics.iter().chain(self.leases.values().map(|(n, a)| (n, a)));
        for (label, addrs) in hosts {
            let fqdn = format!("{label}.{}", self.domain);
            out.extend(addrs.v4.iter().map(|a| Record::A(fqdn.clone(), *a)));
            out.extend(addrs.v6.iter().map(|a| Record::Aaaa(fqdn.clone(), *a)));
            let ips = addrs.v4.iter().map(|&a| IpAddr::V4(a));
            for ip in ips.chain(addrs.v6.iter().map(|&a| IpAddr::V6(a))) {
                if self.in_reverse(ip) && ptr_done.insert(ip) {
                    out.push(Record::Ptr(reverse_name(ip), fqdn.clone()));
                }
            }
        }
        out
    }

    /// Compiles the precomputed answers the query path serves.
    pub fn table(&self) -> LocalTable {
        LocalTable::build(
            &self.domain,
            &self.reverse_zones(),
            &self.records(),
            self.ttl,
            self.serial,
        )
    }

    fn in_reverse(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.v4_nets.iter().any(|n| n.contains(&a)),
            IpAddr::V6(a) => self.v6_nets.iter().chain(self.prefix.iter()).any(|n| n.contains(&a)),
        }
    }
}

/// The lower-case label if `s` is a valid host name label (RFC 1123 §2.1), else `None`.
pub fn valid_label(s: &str) -> Option<String> {
    let ok = (1..=63).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    ok.then(|| s.to_ascii_lowercase())
}

/// The PTR owner name of an address (`10.1.168.192.in-addr.arpa`, nibbles `.ip6.arpa`).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => {
            let [a, b, c, d] = a.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(a) => {
            let mut s: String = nibbles(a).iter().rev().map(|n| format!("{n:x}.")).collect();
            s.push_str("ip6.arpa");
            s
        }
    }
}

fn nibbles(a: Ipv6Addr) -> [u8; 32] {
    let mut out = [0; 32];
    for (pair, byte) in out.chunks_exact_mut(2).zip(a.octets()) {
        pair.copy_from_slice(&[byte >> 4, byte & 0x0f]);
    }
    out
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn zone() -> LocalZone {
        let hosts = [StaticHost {
            name: "printer".into(),
            ipv4: vec![Ipv4Addr::new(192, 168, 1, 20)],
            ipv6: vec![],
        }];
        let v4 = vec!["192.168.1.0/24".parse().unwrap()];
        let v6 = vec!["fd12:3456:789a:1::/64".parse().unwrap()];
        LocalZone::new("home.arpa.", 300, &hosts, v4, v6).unwrap()
    }

    fn grant(name: &str, id: u8, last: u8) -> LeaseUpdate {
        LeaseUpdate::Granted {
            hostname: name.into(),
            v4: Some(Ipv4Addr::new(192, 168, 1, last)),
            v6: vec![format!("fd12:3456:789a:1::{last:x}").parse().unwrap()],
            client_id: vec![id],
        }
    }

    #[test]
    fn grant_publishes_a_aaaa_and_ptrs_release_removes_them() {
        let mut z = zone();
        assert_eq!(z.handle_lease(grant("Laptop.example.com", 1, 100)), Ok(true));
        let recs = z.records();
        assert!(
            recs.contains(&Record::A("laptop.home.arpa".into(), Ipv4Addr::new(192, 168, 1, 100)))
        );
        assert!(recs.contains(&Record::Ptr(
            "100.1.168.192.in-addr.arpa".into(),
            "laptop.home.arpa".into()
        )));
        let v6ptr = reverse_name("fd12:3456:789a:1::64".parse().unwrap());
        assert!(v6ptr.starts_with("4.6.0.0.") && v6ptr.ends_with(".d.f.ip6.arpa"));
        assert!(recs.iter().any(|r| matches!(r, Record::Ptr(n, _) if *n == v6ptr)));
        assert_eq!(z.handle_lease(grant("laptop", 1, 100)), Ok(false), "renewal: no change");
        assert_eq!(z.handle_lease(LeaseUpdate::Released { client_id: vec![1] }), Ok(true));
        assert_eq!(z.records().len(), 2, "only the static host and its PTR are left");
        assert_eq!(z.handle_lease(LeaseUpdate::Expired { client_id: vec![1] }), Ok(false));
    }

    #[test]
    fn conflicts_static_other_client_and_bad_names() {
        let mut z = zone();
        assert_eq!(
            z.handle_lease(grant("PRINTER", 1, 100)),
            Err(Conflict::Static("printer".into()))
        );
        assert_eq!(z.handle_lease(grant("tv", 1, 100)), Ok(true));
        assert_eq!(z.handle_lease(grant("tv", 2, 101)), Err(Conflict::HeldBy("tv".into())));
        assert!(matches!(z.handle_lease(grant("-x", 3, 102)), Err(Conflict::InvalidName(_))));
        assert!(matches!(z.handle_lease(grant("", 3, 102)), Err(Conflict::InvalidName(_))));
        // The holder renames itself: the old name is free for the other client.
        assert_eq!(z.handle_lease(grant("tv2", 1, 100)), Ok(true));
        assert_eq!(z.handle_lease(grant("tv", 2, 101)), Ok(true));
        assert!(z.holds("tv") && z.holds("tv2") && z.holds("printer") && !z.holds("nas"));
    }

    #[test]
    fn reverse_zones_follow_the_delegated_prefix() {
        let mut z = zone();
        let names = z.reverse_zones();
        assert_eq!(names[0], "1.168.192.in-addr.arpa");
        assert_eq!(names[1], "1.0.0.0.a.9.8.7.6.5.4.3.2.1.d.f.ip6.arpa");
        assert!(z.set_prefix(Some("2001:db8:1200::/56".parse().unwrap())));
        assert_eq!(z.reverse_zones()[2], "0.0.0.0.2.1.8.b.d.0.1.0.0.2.ip6.arpa");
        z.set_prefix(Some("2001:db8:1300::/47".parse().unwrap()));
        let zs = z.reverse_zones();
        assert_eq!(zs.len(), 4, "a /47 is two /48 zones: {zs:?}");
        assert!(z.set_prefix(None));
        assert_eq!(z.reverse_zones().len(), 2);
        let wide = LocalZone::new("lan", 60, &[], vec!["172.16.0.0/12".parse().unwrap()], vec![]);
        let zs = wide.unwrap().reverse_zones();
        assert_eq!(
            (zs.len(), zs[0].as_str(), zs[15].as_str()),
            (16, "16.172.in-addr.arpa", "31.172.in-addr.arpa")
        );
    }

    #[test]
    fn ptr_only_inside_reverse_zones_static_first() {
        let mut z = zone();
        let lease = LeaseUpdate::Granted {
            hostname: "phone".into(),
            v4: Some(Ipv4Addr::new(192, 168, 1, 20)),
            v6: vec!["2001:db8::1".parse().unwrap()],
            client_id: vec![9],
        };
        z.handle_lease(lease).unwrap();
        let ptrs: Vec<_> =
            z.records().into_iter().filter(|r| matches!(r, Record::Ptr(..))).collect();
        assert_eq!(ptrs.len(), 1);
        assert!(matches!(&ptrs[0], Record::Ptr(_, t) if t == "printer.home.arpa"));
    }
}
