//! What the requesting router holds: the snapshot carried by its events.

use std::net::Ipv6Addr;
use std::time::Instant;

/// One delegated prefix from an IA Prefix option (RFC 8415 §21.22). Lifetimes in seconds;
/// 0xffffffff is infinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DelegatedPrefix {
    /// The prefix (host bits as sent by the server).
    pub prefix: Ipv6Addr,
    /// Prefix length in bits.
    pub len: u8,
    /// Preferred lifetime, seconds.
    pub preferred: u32,
    /// Valid lifetime, seconds.
    pub valid: u32,
}

/// One address from an IA Address option inside IA_NA (RFC 8415 §21.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeasedAddress {
    /// The address.
    pub addr: Ipv6Addr,
    /// Preferred lifetime, seconds.
    pub preferred: u32,
    /// Valid lifetime, seconds.
    pub valid: u32,
}

/// A full snapshot of a binding, as carried by `Event::Delegated` and friends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// DUID of the delegating router (Server Identifier).
    pub server_id: Vec<u8>,
    /// IAID of the IA_PD.
    pub iaid: u32,
    /// Seconds after `acquired` at which the client renews (after the RFC 8415 §14.2 rules).
    pub t1: u32,
    /// Seconds after `acquired` at which the client rebinds.
    pub t2: u32,
    /// Delegated prefixes with a non-zero valid lifetime.
    pub prefixes: Vec<DelegatedPrefix>,
    /// Addresses from IA_NA, when the client asked for one.
    pub addresses: Vec<LeasedAddress>,
    /// DNS Recursive Name Servers (RFC 3646 option 23).
    pub dns_servers: Vec<Ipv6Addr>,
    /// Domain Search List (RFC 3646 option 24), without the trailing dot.
    pub domains: Vec<String>,
    /// The server agreed to send Reconfigure (RFC 8415 §21.20).
    pub reconfigure: bool,
    /// When the Reply that made this lease was received; lifetimes count from here.
    pub acquired: Instant,
}

impl Lease {
    /// Same set of prefixes (address and length), regardless of lifetimes and order.
    pub fn same_prefixes(&self, other: &Lease) -> bool {
        let key = |l: &Lease| {
            let mut v: Vec<(Ipv6Addr, u8)> = l.prefixes.iter().map(|p| (p.prefix, p.len)).collect();
            v.sort();
            v
        };
        key(self) == key(other)
    }

    /// The longest valid lifetime, which is when the whole lease is gone.
    pub fn max_valid(&self) -> u32 {
        self.prefixes.iter().map(|p| p.valid).max().unwrap_or(0)
    }
}

/// Configuration learnt in information-only mode (RFC 8415 §18.2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Information {
    /// DUID of the server that answered.
    pub server_id: Vec<u8>,
    /// DNS Recursive Name Servers.
    pub dns_servers: Vec<Ipv6Addr>,
    /// Domain Search List.
    pub domains: Vec<String>,
}
