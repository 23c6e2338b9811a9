//! Who may ask, and which upstream answers are believed. Sans-IO.
//!
//! - [`Acl`]: not an open resolver (RFC 5358 §4): only the configured client networks (the
//!   LAN prefixes, the delegated prefix, loopback) get answers; everyone else, the WAN
//!   first of all, gets REFUSED, for local names too (they would leak the LAN's host names).
//! - [`RebindFilter`]: DNS rebinding protection, as dnsmasq's `stop-dns-rebind`. An upstream
//!   answer that puts a private, loopback, link-local, CGNAT, ULA or unspecified address
//!   under a public name is not believed: the client gets SERVFAIL and nothing is cached.
//!   Domains on the allow list (`rebind_allow`, e.g. a VPN's internal zone) are exempt.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::wire;

/// The networks whose hosts may query.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    nets: Vec<IpNet>,
}

impl Acl {
    /// Loopback plus `nets`.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        let lo: [IpNet; 2] = [
            IpNet::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8).unwrap_or_default(),
            IpNet::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 128).unwrap_or_default(),
        ];
        Acl { nets: lo.into_iter().chain(nets).collect() }
    }

    /// Whether `ip` may query. IPv4-mapped IPv6 sources are judged as IPv4.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// Drops upstream answers that point public names at internal addresses.
#[derive(Debug, Clone, Default)]
pub struct RebindFilter {
    allow: Vec<Vec<u8>>,
}

impl RebindFilter {
    /// Exempts these domains (and everything below them).
    pub fn new<S: AsRef<str>>(allow: impl IntoIterator<Item = S>) -> Self {
        RebindFilter {
            allow: allow.into_iter().filter_map(|d| wire::encode_name(d.as_ref())).collect(),
        }
    }

    /// Whether an answer for `qname` (wire form, lower case) carrying `addrs` may be passed on.
    pub fn permits(&self, qname: &[u8], addrs: impl IntoIterator<Item = IpAddr>) -> bool {
        let mut addrs = addrs.into_iter();
        !addrs.any(is_internal) || self.allow.iter().any(|d| wire::is_subdomain(qname, d))
    }
}

/// Whether an address belongs inside a site rather than on the internet: RFC 1918, loopback,
/// link-local, RFC 6598 shared space, unspecified, RFC 4193 ULA, IPv4-mapped forms of those.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let [o0, o1, ..] = a.octets();
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || (o0 == 100 && (64..128).contains(&o1))
        }
        IpAddr::V6(a) => {
            let seg0 = a.segments().first().copied().unwrap_or(0);
            a.is_loopback()
                || a.is_unspecified()
                || (seg0 & 0xffc0) == 0xfe80
                || (seg0 & 0xfe00) == 0xfc00
                || a.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn acl_admits_lans_and_loopback_only() {
        let acl = Acl::new(["192.168.1.0/24".parse().unwrap(), "fd00:1::/64".parse().unwrap()]);
        for ok in ["127.0.0.1", "::1", "192.168.1.77", "fd00:1::5", "::ffff:192.168.1.9"] {
            assert!(acl.allows(ip(ok)), "{ok}");
        }
        for no in ["203.0.113.5", "192.168.2.1", "2001:db8::1", "fe80::1", "::ffff:203.0.113.5"] {
            assert!(!acl.allows(ip(no)), "{no}");
        }
    }

    #[test]
    fn rebinding_internal_addresses_under_public_names() {
        let f = RebindFilter::new(["corp.example"]);
        let public = wire::encode_name("www.example.com").unwrap();
        assert!(f.permits(&public, [ip("203.0.113.9"), ip("2001:db8::1")]));
        for bad in ["192.168.5.5", "10.1.2.3", "172.16.0.1", "127.0.0.1", "169.254.1.1", "0.0.0.0"]
        {
            assert!(!f.permits(&public, [ip(bad)]), "{bad}");
        }
        for bad in ["::1", "fe80::1", "fd12::1", "::ffff:10.0.0.1", "100.64.0.1"] {
            assert!(!f.permits(&public, [ip(bad)]), "{bad}");
        }
        let allowed = wire::encode_name("git.CORP.example").unwrap();
        assert!(f.permits(&allowed, [ip("10.1.2.3")]));
        assert!(f.permits(&public, []));
    }
}
