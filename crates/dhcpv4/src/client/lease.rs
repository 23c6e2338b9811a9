//! What the client holds: the snapshot carried by its events, read from a DHCPACK.

use std::net::Ipv4Addr;
use std::time::Instant;

use dhcproto::v4::{DhcpOption, Message, OptionCode};
use ipnet::Ipv4Net;

/// A full snapshot of a lease, as carried by `Event::Bound` and friends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Our address (`yiaddr`).
    pub address: Ipv4Addr,
    /// Prefix length from the Subnet Mask (1); the classful length when the server sent none.
    pub prefix_len: u8,
    /// The default gateway: the 0.0.0.0/0 entry of Classless Static Routes (121) when that
    /// option is present (RFC 3442: "the client MUST ignore the Router option"), else the
    /// first Router (3).
    pub gateway: Option<Ipv4Addr>,
    /// Classless Static Routes (121) other than the default route: destination, next hop
    /// (0.0.0.0 means on-link, RFC 3442).
    pub routes: Vec<(Ipv4Net, Ipv4Addr)>,
    /// Domain Name Servers (6).
    pub dns_servers: Vec<Ipv4Addr>,
    /// Domain Name (15).
    pub domain: Option<String>,
    /// Interface MTU (26), when at least 68 (RFC 2132 §5.1).
    pub mtu: Option<u16>,
    /// NTP servers (42).
    pub ntp_servers: Vec<Ipv4Addr>,
    /// The server that granted it (Server Identifier, 54).
    pub server: Ipv4Addr,
    /// Lease time in seconds (51); 0xffffffff is infinite.
    pub lease_time: u32,
    /// Seconds after `acquired` at which the client renews (58, default 0.5 of the lease).
    pub t1: u32,
    /// Seconds after `acquired` at which the client rebinds (59, default 0.875).
    pub t2: u32,
    /// When the DHCPACK was received; the times count from here.
    pub acquired: Instant,
}

impl Lease {
    /// The address with its prefix length, as it goes on the interface.
    pub fn net(&self) -> Ipv4Net {
        Ipv4Net::new(self.address, self.prefix_len).unwrap_or_else(|_| Ipv4Net::from(self.address))
    }

    /// Reads a lease from a DHCPACK. `None` when it lacks `yiaddr` or the lease time (51),
    /// which RFC 2131 §4.3.1 requires in a DHCPACK to a DHCPREQUEST; `server` is used when the
    /// ACK carries no Server Identifier.
    pub(crate) fn from_ack(m: &Message, server: Option<Ipv4Addr>, now: Instant) -> Option<Self> {
        let o = m.opts();
        let address = m.yiaddr();
        if address.is_unspecified() || address.is_broadcast() || address.is_multicast() {
            return None;
        }
        let lease_time = match o.get(OptionCode::AddressLeaseTime) {
            Some(DhcpOption::AddressLeaseTime(t)) if *t > 0 => *t,
            _ => return None,
        };
        let server = match o.get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(s)) => *s,
            _ => server?,
        };
        let (t1, t2) = timers(
            lease_time,
            opt_u32(m, OptionCode::Renewal, |o| match o {
                DhcpOption::Renewal(t) => Some(*t),
                _ => None,
            }),
            opt_u32(m, OptionCode::Rebinding, |o| match o {
                DhcpOption::Rebinding(t) => Some(*t),
                _ => None,
            }),
        );
        // A mask must be contiguous (RFC 950); 0.0.0.0 or a non-contiguous one is treated
        // as absent.
        let prefix_len = match o.get(OptionCode::SubnetMask) {
            Some(DhcpOption::SubnetMask(mask))
                if u32::from(*mask).leading_ones() > 0
                    && u32::from(*mask).leading_ones() + u32::from(*mask).trailing_zeros()
                        == 32 =>
            {
                u32::from(*mask).leading_ones() as u8
            }
            _ => classful(address),
        };
        let routers = match o.get(OptionCode::Router) {
            Some(DhcpOption::Router(r)) => r.clone(),
            _ => Vec::new(),
        };
        let (gateway, routes) = match o.get(OptionCode::ClasslessStaticRoute) {
            Some(DhcpOption::ClasslessStaticRoute(r)) => {
                let default = r.iter().find(|(d, _)| d.prefix_len() == 0).map(|(_, g)| *g);
                let rest =
                    r.iter().filter(|(d, _)| d.prefix_len() != 0).map(|(d, g)| (d.trunc(), *g));
                (default, rest.collect())
            }
            _ => (routers.first().copied(), Vec::new()),
        };
        Some(Lease {
            address,
            prefix_len,
            gateway,
            routes,
            dns_servers: ips(o.get(OptionCode::DomainNameServer)),
            domain: match o.get(OptionCode::DomainName) {
                Some(DhcpOption::DomainName(d)) if !d.is_empty() => {
                    Some(d.trim_end_matches(['.', '\0']).to_owned())
                }
                _ => None,
            },
            mtu: match o.get(OptionCode::InterfaceMtu) {
                Some(DhcpOption::InterfaceMtu(m)) if *m >= 68 => Some(*m),
                _ => None,
            },
            ntp_servers: ips(o.get(OptionCode::NtpServers)),
            server,
            lease_time,
            t1,
            t2,
            acquired: now,
        })
    }
}

fn opt_u32(m: &Message, code: OptionCode, f: impl Fn(&DhcpOption) -> Option<u32>) -> Option<u32> {
    m.opts().get(code).and_then(f)
}

fn ips(o: Option<&DhcpOption>) -> Vec<Ipv4Addr> {
    match o {
        Some(DhcpOption::DomainNameServer(v) | DhcpOption::NtpServers(v)) => v.clone(),
        _ => Vec::new(),
    }
}

/// T1 and T2 (RFC 2131 §4.4.5): "T1 defaults to (0.5 * duration_of_lease). T2 defaults to
/// (0.875 * duration_of_lease)"; values the server sent are kept when T1 ≤ T2 ≤ lease,
/// otherwise the defaults are used (what dhclient does with inconsistent timers).
fn timers(lease: u32, t1: Option<u32>, t2: Option<u32>) -> (u32, u32) {
    if lease == u32::MAX {
        return (t1.unwrap_or(u32::MAX), t2.unwrap_or(u32::MAX));
    }
    let d1 = lease / 2;
    let d2 = (u64::from(lease) * 7 / 8) as u32;
    let t2 = t2.filter(|t| *t <= lease).unwrap_or(d2);
    let t1 = t1.filter(|t| *t <= t2).unwrap_or(d1.min(t2));
    (t1, t2)
}

/// The classful prefix length (RFC 1122 §3.3.1.1 era default when no mask is given).
fn classful(a: Ipv4Addr) -> u8 {
    match a.octets().first().copied().unwrap_or(0) {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_contiguous_or_classful() {
        use dhcproto::v4::{MessageType, Opcode};
        let now = Instant::now();
        let ack = |mask: Option<Ipv4Addr>| {
            let mut m = Message::default();
            m.set_opcode(Opcode::BootReply).set_yiaddr(Ipv4Addr::new(10, 1, 2, 3));
            m.opts_mut().insert(DhcpOption::MessageType(MessageType::Ack));
            m.opts_mut().insert(DhcpOption::AddressLeaseTime(60));
            if let Some(mask) = mask {
                m.opts_mut().insert(DhcpOption::SubnetMask(mask));
            }
            Lease::from_ack(&m, Some(Ipv4Addr::new(10, 0, 0, 1)), now).map(|l| l.prefix_len)
        };
        assert_eq!(ack(Some(Ipv4Addr::new(255, 255, 252, 0))), Some(22));
        assert_eq!(ack(Some(Ipv4Addr::new(255, 255, 255, 255))), Some(32));
        assert_eq!(ack(Some(Ipv4Addr::new(255, 0, 255, 0))), Some(8), "non-contiguous");
        assert_eq!(ack(Some(Ipv4Addr::UNSPECIFIED)), Some(8));
        assert_eq!(ack(None), Some(8), "classful: 10/8");
    }

    #[test]
    fn timers_default_and_sanitise() {
        assert_eq!(timers(3600, None, None), (1800, 3150));
        assert_eq!(timers(3600, Some(100), Some(200)), (100, 200));
        assert_eq!(timers(3600, Some(300), Some(200)), (200, 200));
        assert_eq!(timers(3600, None, Some(9999)), (1800, 3150));
        assert_eq!(timers(u32::MAX, None, None), (u32::MAX, u32::MAX));
    }
}
