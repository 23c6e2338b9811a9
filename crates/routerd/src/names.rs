//! From DHCP leases to local names: one host, one name. A dual-stack host holds a DHCPv4 lease
//! (by its MAC) and a DHCPv6 lease (by its DUID); when the DUID carries the same MAC (DUID-LL
//! or DUID-LLT on Ethernet, RFC 8415 §11.2 and §11.4, what most clients use) the two are one
//! host, published under one name with its A and AAAA records together. Without a common
//! MAC, each lease is a client of its own (a name claimed by one cannot be taken by another).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use dhcpv4::server::Event;
use dhcpv6::server::{Event6, IaKind};
use dns::LeaseUpdate;

/// What one host holds: small, as routerd keeps one per client (10,000 leases are 10,000
/// of these).
#[derive(Debug, Default)]
struct Host {
    /// The DHCPv4 lease's address.
    v4: Option<Ipv4Addr>,
    /// The host name the DHCPv4 lease gave.
    v4_name: Option<Box<str>>,
    /// The DHCPv6 IA_NA leases (usually one).
    v6: Vec<Na>,
}

/// One IA_NA lease: its IAID, addresses and host name.
type Na = (u32, Box<[Ipv6Addr]>, Option<Box<str>>);

impl Host {
    fn name(&self) -> Option<String> {
        let v6 = || self.v6.iter().find_map(|(_, _, n)| n.as_deref());
        self.v4_name.as_deref().or_else(v6).map(str::to_string)
    }

    fn is_empty(&self) -> bool {
        self.v4.is_none() && self.v6.is_empty()
    }
}

/// The hosts the DHCP servers know, keyed by who they are.
#[derive(Debug, Default)]
pub struct Names {
    hosts: HashMap<Box<[u8]>, Host>,
}

/// The MAC a DUID was made from: DUID-LLT (type 1) or DUID-LL (type 3) with hardware type 1.
pub fn duid_mac(duid: &[u8]) -> Option<[u8; 6]> {
    let mac = match duid {
        [0, 1, 0, 1, _, _, _, _, rest @ ..] | [0, 3, 0, 1, rest @ ..] => rest,
        _ => return None,
    };
    <[u8; 6]>::try_from(mac).ok()
}

fn mac_key(mac: &[u8]) -> Box<[u8]> {
    [b"mac:".as_slice(), mac].concat().into()
}

impl Names {
    /// A DHCPv4 event; returns what DNS should now publish for that host.
    pub fn v4(&mut self, ev: &Event) -> Option<LeaseUpdate> {
        let (l, granted) = match ev {
            Event::LeaseGranted(l) => (l, true),
            Event::LeaseReleased(l) | Event::LeaseExpired(l) | Event::AddressDeclined(l) => {
                (l, false)
            }
        };
        let key = if l.hw.htype == 1 && l.hw.as_bytes().len() == 6 {
            mac_key(l.hw.as_bytes())
        } else if l.client_id.is_empty() {
            [b"hw:".as_slice(), l.hw.as_bytes()].concat().into()
        } else {
            [b"id:".as_slice(), &l.client_id].concat().into()
        };
        let host = self.hosts.entry(key.clone()).or_default();
        host.v4 = granted.then_some(l.address);
        host.v4_name = l.hostname.as_deref().filter(|_| granted).map(Box::from);
        self.publish(key)
    }

    /// A DHCPv6 event (IA_NA only: delegated prefixes have no names); what DNS should now
    /// publish for that host.
    pub fn v6(&mut self, ev: &Event6) -> Option<LeaseUpdate> {
        let (l, granted) = match ev {
            Event6::LeaseGranted(l) => (l, true),
            Event6::LeaseReleased(l) | Event6::LeaseExpired(l) | Event6::AddressDeclined(l) => {
                (l, false)
            }
        };
        if l.kind != IaKind::Na {
            return None;
        }
        let key = match duid_mac(&l.duid) {
            Some(mac) => mac_key(&mac),
            None => [b"duid:".as_slice(), &l.duid].concat().into(),
        };
        let host = self.hosts.entry(key.clone()).or_default();
        host.v6.retain(|(iaid, _, _)| *iaid != l.iaid);
        if granted {
            let addrs = l.addresses.iter().map(|(a, _)| *a).collect();
            host.v6.push((l.iaid, addrs, l.hostname.as_deref().map(Box::from)));
        }
        self.publish(key)
    }

    /// Everything to publish again (after DNS restarted).
    pub fn all(&self) -> Vec<LeaseUpdate> {
        self.hosts.keys().filter_map(|k| self.granted(k)).collect()
    }

    fn granted(&self, key: &[u8]) -> Option<LeaseUpdate> {
        let host = self.hosts.get(key)?;
        Some(LeaseUpdate::Granted {
            hostname: host.name()?,
            v4: host.v4,
            v6: host.v6.iter().flat_map(|(_, a, _)| a.iter().copied()).collect(),
            client_id: key.to_vec(),
        })
    }

    /// The host's records as they now are: its addresses under its name, or gone.
    fn publish(&mut self, key: Box<[u8]>) -> Option<LeaseUpdate> {
        let gone = self.hosts.get(&key).is_none_or(Host::is_empty);
        if gone {
            self.hosts.remove(&key);
            return Some(LeaseUpdate::Released { client_id: key.into_vec() });
        }
        match self.granted(&key) {
            Some(u) => Some(u),
            // Leases without a host name have nothing to publish (and hold no name).
            None => Some(LeaseUpdate::Released { client_id: key.into_vec() }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::time::SystemTime;

    use dhcpv4::server::{HwAddr, Lease};
    use dhcpv6::server::Lease6;

    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

    fn v4(addr: [u8; 4], name: Option<&str>) -> Lease {
        Lease {
            address: addr.into(),
            hw: HwAddr::ethernet(MAC),
            client_id: vec![1, 0x52, 0x54, 0, 0x12, 0x34, 0x56],
            hostname: name.map(Into::into),
            expires: SystemTime::UNIX_EPOCH,
        }
    }

    fn v6(duid: Vec<u8>, addr: &str, name: Option<&str>) -> Lease6 {
        Lease6 {
            kind: IaKind::Na,
            duid,
            iaid: 1,
            addresses: vec![(addr.parse().unwrap(), 128)],
            hostname: name.map(Into::into),
            expires: SystemTime::UNIX_EPOCH,
            peer: None,
        }
    }

    fn granted(u: Option<LeaseUpdate>) -> (String, Option<Ipv4Addr>, Vec<Ipv6Addr>, Vec<u8>) {
        match u {
            Some(LeaseUpdate::Granted { hostname, v4, v6, client_id }) => {
                (hostname, v4, v6, client_id)
            }
            other => panic!("not granted: {other:?}"),
        }
    }

    #[test]
    fn a_dual_stack_host_is_one_name_with_both_addresses() {
        let mut n = Names::default();
        let (name, a, aaaa, id4) =
            granted(n.v4(&Event::LeaseGranted(v4([192, 168, 1, 100], Some("laptop")))));
        assert_eq!((name.as_str(), a, aaaa.len()), ("laptop", Some([192, 168, 1, 100].into()), 0));
        // DUID-LL from the same MAC, no FQDN option: the same host, the same name.
        let duid_ll = [vec![0, 3, 0, 1], MAC.to_vec()].concat();
        let (name, a, aaaa, id6) =
            granted(n.v6(&Event6::LeaseGranted(v6(duid_ll, "2001:db8:1::1000", None))));
        assert_eq!(name, "laptop");
        assert_eq!(a, Some([192, 168, 1, 100].into()), "the A record stays");
        assert_eq!(aaaa, vec!["2001:db8:1::1000".parse::<Ipv6Addr>().unwrap()]);
        assert_eq!(id4, id6, "one client in DNS");
        // The DHCPv4 lease ends; the DHCPv6 lease carried no name of its own, so the name
        // (and its records) go.
        let after = n.v4(&Event::LeaseReleased(v4([192, 168, 1, 100], Some("laptop"))));
        assert_eq!(after, Some(LeaseUpdate::Released { client_id: id4.clone() }));
        assert_eq!(n.all().len(), 0);
    }

    #[test]
    fn duid_llt_matches_and_a_foreign_duid_is_a_client_of_its_own() {
        let mut n = Names::default();
        n.v4(&Event::LeaseGranted(v4([192, 168, 1, 100], Some("laptop"))));
        let duid_llt = [vec![0, 1, 0, 1, 0x2a, 0x2b, 0x2c, 0x2d], MAC.to_vec()].concat();
        let (_, a, aaaa, _) =
            granted(n.v6(&Event6::LeaseGranted(v6(duid_llt, "2001:db8:1::1001", Some("laptop")))));
        assert!(a.is_some() && aaaa.len() == 1);
        let uuid = [vec![0, 4], vec![7; 16]].concat();
        let (_, a, _, id) =
            granted(n.v6(&Event6::LeaseGranted(v6(uuid, "2001:db8:1::1002", Some("phone")))));
        assert_eq!((a, id.starts_with(b"duid:")), (None, true));
        assert_eq!(n.all().len(), 2);
        assert_eq!(duid_mac(&[0, 3, 0, 6, 1, 2, 3, 4, 5, 6]), None, "not Ethernet");
    }

    #[test]
    fn prefixes_have_no_names() {
        let mut n = Names::default();
        let mut pd = v6(vec![0, 3, 0, 1, 1, 2, 3, 4, 5, 6], "2001:db8:1:100::", Some("r"));
        pd.kind = IaKind::Pd;
        assert_eq!(n.v6(&Event6::LeaseGranted(pd)), None);
    }
}
