//! Server configuration: one LAN's subnet, pool, reservations, options and timers.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::server::table::{ClientKey, HwAddr};

/// A range of addresses handed out dynamically, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolRange {
    /// First address of the range.
    pub first: Ipv4Addr,
    /// Last address of the range.
    pub last: Ipv4Addr,
}

impl PoolRange {
    /// Whether `a` is in the range.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        (self.first..=self.last).contains(&a)
    }

    /// How many addresses the range holds.
    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.last)).saturating_sub(u64::from(u32::from(self.first))) + 1
    }

    /// Whether the range is empty (never: `first <= last` is checked by `validate`).
    pub fn is_empty(&self) -> bool {
        self.first > self.last
    }
}

/// A fixed address for one client, matched by MAC (chaddr) or client identifier (61).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Who: [`ClientKey::Hw`] matches chaddr whatever client id is sent; [`ClientKey::Id`]
    /// matches option 61 exactly.
    pub client: ClientKey,
    /// The address; inside the subnet, inside or outside the pool.
    pub address: Ipv4Addr,
    /// The host name this client gets; nobody else may claim it.
    pub hostname: Option<String>,
}

impl Reservation {
    /// A reservation by Ethernet MAC address.
    pub fn by_mac(mac: [u8; 6], address: Ipv4Addr, hostname: Option<&str>) -> Self {
        Reservation {
            client: ClientKey::Hw(HwAddr::ethernet(mac)),
            address,
            hostname: hostname.map(str::to_owned),
        }
    }
}

/// Configuration of one [`crate::Server`]: one LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Our address on the LAN: the Server Identifier (54).
    pub server_id: Ipv4Addr,
    /// The LAN's subnet (mask sent as option 1).
    pub subnet: Ipv4Net,
    /// The dynamic range.
    pub pool: PoolRange,
    /// Lease time in seconds (option 51).
    pub lease_time: u32,
    /// Renewal time T1 in seconds (58); `None`: half the lease time (RFC 2131 §4.4.5).
    pub t1: Option<u32>,
    /// Rebinding time T2 in seconds (59); `None`: 0.875 of the lease time.
    pub t2: Option<u32>,
    /// How long an OFFERed address stays set aside for the client, seconds.
    pub offer_hold: u32,
    /// How long a DECLINEd address is kept out of the pool, seconds.
    pub decline_hold: u32,
    /// Answer a DISCOVER with Rapid Commit (80) by an ACK (RFC 4039).
    pub rapid_commit: bool,
    /// NAK an INIT-REBOOT/RENEWING request for an address we cannot give, even without a
    /// record of the client (RFC 2131 §4.3.2 asks for silence then; we are the only server on
    /// a home LAN, so a NAK gets the client going at once).
    pub authoritative: bool,
    /// Fixed addresses.
    pub reservations: Vec<Reservation>,
    /// Names no dynamic client may take (the router's own, static DNS hosts).
    pub protected_names: Vec<String>,
    /// Routers (3).
    pub routers: Vec<Ipv4Addr>,
    /// DNS servers (6).
    pub dns_servers: Vec<Ipv4Addr>,
    /// Domain name (15).
    pub domain_name: Option<String>,
    /// Domain search list (119).
    pub domain_search: Vec<String>,
    /// Interface MTU (26).
    pub mtu: Option<u16>,
    /// Classless static routes (121): destination, gateway.
    pub routes: Vec<(Ipv4Net, Ipv4Addr)>,
    /// NTP servers (42).
    pub ntp_servers: Vec<Ipv4Addr>,
    /// Other options, code and raw value, sent when asked for in option 55.
    pub extra_options: Vec<(u8, Vec<u8>)>,
    /// Answer only clients that send this Vendor Class Identifier (60): an ISP's IPTV
    /// network serving its set-top boxes and routers, nobody else. `None`: everyone.
    pub vendor_class: Option<Vec<u8>>,
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The pool is empty or leaves the subnet.
    #[error("pool {0:?} must be non-empty and inside the subnet")]
    Pool(PoolRange),
    /// The server's own address is not in the subnet, or is in the pool.
    #[error("server id {0} must be in the subnet and outside the pool")]
    ServerId(Ipv4Addr),
    /// A reservation's address is outside the subnet or given twice.
    #[error("reservation address {0} is outside the subnet or reserved twice")]
    Reservation(Ipv4Addr),
    /// T1 < T2 < lease time does not hold, or the lease time is 0.
    #[error("timers must satisfy 0 < T1 < T2 < lease time")]
    Timers,
}

impl ServerConfig {
    /// A configuration with defaults: 12 h leases, 30 s offer hold, 1 h decline hold, rapid
    /// commit and authoritative on, `server_id` as router and DNS server.
    pub fn new(server_id: Ipv4Addr, subnet: Ipv4Net, pool: PoolRange) -> Self {
        ServerConfig {
            server_id,
            subnet,
            pool,
            lease_time: 12 * 3600,
            t1: None,
            t2: None,
            offer_hold: 30,
            decline_hold: 3600,
            rapid_commit: true,
            authoritative: true,
            reservations: Vec::new(),
            protected_names: Vec::new(),
            routers: vec![server_id],
            dns_servers: vec![server_id],
            domain_name: None,
            domain_search: Vec::new(),
            mtu: None,
            routes: Vec::new(),
            ntp_servers: Vec::new(),
            extra_options: Vec::new(),
            vendor_class: None,
        }
    }

    /// Checks what the machine relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let net = self.subnet.trunc();
        if self.pool.is_empty() || !net.contains(&self.pool.first) || !net.contains(&self.pool.last)
        {
            return Err(ConfigError::Pool(self.pool));
        }
        if !net.contains(&self.server_id) || self.pool.contains(self.server_id) {
            return Err(ConfigError::ServerId(self.server_id));
        }
        let mut seen = std::collections::HashSet::new();
        for r in &self.reservations {
            if !net.contains(&r.address) || !seen.insert(r.address) {
                return Err(ConfigError::Reservation(r.address));
            }
        }
        let (t1, t2) = (self.t1(), self.t2());
        if self.lease_time == 0 || t1 == 0 || t1 >= t2 || t2 >= self.lease_time {
            return Err(ConfigError::Timers);
        }
        Ok(())
    }

    /// T1 in force.
    pub fn t1(&self) -> u32 {
        self.t1.unwrap_or(self.lease_time / 2)
    }

    /// T2 in force.
    pub fn t2(&self) -> u32 {
        self.t2.unwrap_or((u64::from(self.lease_time) * 7 / 8) as u32)
    }
}
