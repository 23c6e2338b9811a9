//! DHCPv6 server configuration: one LAN's on-link prefixes, prefix delegation pool, options.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

/// A pool of prefixes to delegate: `prefix` cut into `/delegated_len`s (a /56 in /60s or /64s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdPool {
    /// The pool, e.g. a /56 of the delegated prefix.
    pub prefix: Ipv6Net,
    /// Length of each delegated prefix (≥ the pool's length, ≤ 64).
    pub delegated_len: u8,
}

impl PdPool {
    /// How many prefixes the pool holds (saturating); 0 if misconfigured.
    pub fn size(&self) -> u64 {
        let base = self.prefix.prefix_len();
        if self.delegated_len < base || self.delegated_len > 64 {
            return 0;
        }
        1u64.checked_shl(u32::from(self.delegated_len - base)).unwrap_or(u64::MAX)
    }

    /// The `i`th prefix of the pool.
    pub fn nth(&self, i: u64) -> Option<Ipv6Addr> {
        if i >= self.size() {
            return None;
        }
        let shift = 128 - u32::from(self.delegated_len);
        let offset = u128::from(i).checked_shl(shift).unwrap_or(0);
        Some(Ipv6Addr::from(u128::from(self.prefix.network()) | offset))
    }

    /// The index of `prefix/len` in the pool, if it is one of its prefixes.
    pub fn index(&self, prefix: Ipv6Addr, len: u8) -> Option<u64> {
        if len != self.delegated_len || self.size() == 0 || !self.prefix.contains(&prefix) {
            return None;
        }
        let host = u128::from(prefix) & !u128::from(self.prefix.netmask());
        let shift = 128 - u32::from(len);
        if host & ((1u128 << shift) - 1) != 0 {
            return None;
        }
        u64::try_from(host >> shift).ok()
    }
}

/// Configuration of one [`crate::Server6`]: one LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server6Config {
    /// Our DUID (Server Identifier, RFC 8415 §11).
    pub duid: Vec<u8>,
    /// The on-link prefixes addresses are numbered from (each a /64): the LAN's /64 of the
    /// delegated prefix, its ULA /64. Every IA_NA gets one address in each.
    pub prefixes: Vec<Ipv6Net>,
    /// Prefixes delegated to downstream routers (IA_PD); `None`: NoPrefixAvail.
    pub pd_pool: Option<PdPool>,
    /// Preferred lifetime of addresses and prefixes, seconds.
    pub preferred: u32,
    /// Valid lifetime of addresses and prefixes, seconds.
    pub valid: u32,
    /// T1 of each IA, seconds.
    pub t1: u32,
    /// T2 of each IA, seconds.
    pub t2: u32,
    /// DNS Recursive Name Servers (option 23, RFC 3646).
    pub dns_servers: Vec<Ipv6Addr>,
    /// Domain Search List (option 24, RFC 3646).
    pub domains: Vec<String>,
    /// Information Refresh Time (option 32) in Replies to Information-request, seconds.
    pub info_refresh: Option<u32>,
    /// Answer a Solicit with Rapid Commit by a committed Reply (RFC 8415 §18.3.1).
    pub rapid_commit: bool,
    /// Preference (option 7) in Advertise; 255 (the default, the only server on the link)
    /// makes clients Request at once instead of collecting Advertises for a second
    /// (RFC 8415 §18.2.1). 0 leaves the option out.
    pub preference: u8,
    /// Send Reconfigure (Renew) after `set_prefixes` to clients that sent Reconfigure
    /// Accept, so they renumber at once instead of at T1. Off by default: no Authentication
    /// is sent (see `v6/reconf.rs`), so only our own requesting router acts on it.
    pub reconfigure: bool,
    /// Interface ids handed out, both ends included: the low 64 bits of every address.
    /// The default leaves the low 4096 (the router's own `::1`, static hosts) and the
    /// RFC 5453 reserved ids out; a tiny range makes the pool exhaustible in tests.
    pub iid_range: (u64, u64),
    /// How long a declined address's interface id stays out of use, seconds.
    pub decline_hold: u32,
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Config6Error {
    /// The DUID is empty or longer than 130 octets (RFC 8415 §11.1).
    #[error("server DUID must be 1..=130 octets")]
    Duid,
    /// An on-link prefix is not a /64.
    #[error("on-link prefix {0} must be a /64")]
    Prefix(Ipv6Net),
    /// The PD pool is empty (delegated length shorter than the pool, or longer than 64).
    #[error("prefix delegation pool {0:?} is empty")]
    PdPool(PdPool),
    /// T1 ≤ T2 ≤ preferred ≤ valid does not hold, or the valid lifetime is 0.
    #[error("timers must satisfy T1 <= T2 <= preferred <= valid, valid > 0")]
    Timers,
    /// The interface id range is empty.
    #[error("interface id range is empty")]
    IidRange,
}

impl Server6Config {
    /// Defaults: preferred 1 h, valid 2 h, T1 30 min, T2 48 min, rapid commit on,
    /// preference 255, no DNS,
    /// interface ids from 0x1000 to the RFC 5453 reserved block, decline hold 1 h.
    pub fn new(duid: Vec<u8>, prefixes: Vec<Ipv6Net>) -> Self {
        Server6Config {
            duid,
            prefixes,
            pd_pool: None,
            preferred: 3600,
            valid: 7200,
            t1: 1800,
            t2: 2880,
            dns_servers: Vec::new(),
            domains: Vec::new(),
            info_refresh: None,
            rapid_commit: true,
            preference: 255,
            reconfigure: false,
            iid_range: (0x1000, 0xfdff_ffff_ffff_ff7f),
            decline_hold: 3600,
        }
    }

    /// Checks what the machine relies on.
    pub fn validate(&self) -> Result<(), Config6Error> {
        if self.duid.is_empty() || self.duid.len() > 130 {
            return Err(Config6Error::Duid);
        }
        validate_prefixes(&self.prefixes, self.pd_pool)?;
        if self.valid == 0
            || self.t1 > self.t2
            || self.t2 > self.preferred
            || self.preferred > self.valid
        {
            return Err(Config6Error::Timers);
        }
        if self.iid_range.0 > self.iid_range.1 {
            return Err(Config6Error::IidRange);
        }
        Ok(())
    }
}

/// A DUID-LL (RFC 8415 §11.4: type 3, hardware type 1) from an Ethernet MAC address: a
/// stable server DUID for a LAN interface.
pub fn duid_ll(mac: [u8; 6]) -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(&mac);
    d
}

/// Checks on-link prefixes (/64s) and a PD pool (non-empty).
pub fn validate_prefixes(prefixes: &[Ipv6Net], pool: Option<PdPool>) -> Result<(), Config6Error> {
    if let Some(p) = prefixes.iter().find(|p| p.prefix_len() != 64) {
        return Err(Config6Error::Prefix(*p));
    }
    match pool {
        Some(p) if p.size() == 0 => Err(Config6Error::PdPool(p)),
        _ => Ok(()),
    }
}
