//! DNS for the router: the local zone (static hosts and names from DHCP leases, with their
//! reverse zones), a forwarding cache for everything else, and RFC 2136 dynamic updates
//! signed with TSIG. It replaces the DNS half of dnsmasq, or an unbound + BIND pair.
//!
//! # Layers
//!
//! The core decides every answer and is sans-IO: no tokio, no socket, no clock (it takes
//! `now: Instant`), so it builds and is tested without the `driver` feature. The driver does
//! the I/O the core asks for and is the only code that needs tokio and hickory-server.
//!
//! ```text
//! driver/mod.rs      [driver] tokio: UDP and TCP listeners, DnsHandle (lease / upstream /
//!                    prefix events), the clock; runs Core's asks
//! driver/forward.rs  [driver] upstream exchanges: UDP, TC -> TCP, timeouts, next server
//! driver/dynamic.rs  [driver] hickory-server's sqlite-journaled zone: UPDATE + TSIG, survives
//!                    restarts
//! server.rs          sans-IO: Core, the query path's decisions: handle_query(now, ..) ->
//!                    Reply | Drop | Ask(Dynamic | Upstream), then handle_dynamic_reply /
//!                    handle_upstream_reply(now, ..); the UPDATE conflict check
//! local.rs           sans-IO: static hosts, leases, conflict policy, reverse zones
//! table.rs           sans-IO: precomputed local answers (the fast path)
//! cache.rs           sans-IO: the forwarding cache (bytes + TTL offsets, expiry by `now`)
//! policy.rs          sans-IO: access list (not an open resolver), rebinding filter
//! upstream.rs        sans-IO: the query sent upstream, which replies match it, their addresses
//! wire.rs            sans-IO: allocation-free reading of the header, question, OPT and TTLs
//! ```
//!
//! The core reads UPDATE messages with hickory-proto, which has no tokio; hickory-server
//! (which does) is used by the driver only.
//!
//! Why our own listener instead of hickory's `Server`: the local zone is answered from
//! precomputed bytes without building a `Message` (the goal is unbound's query rate), and the
//! access list, the rebinding filter and the cache need the bytes before and after hickory.
//! Hickory-server does what it does well: the dynamic zone, RFC 2136 prerequisite and update
//! processing, TSIG verification and response signing, and the SQLite journal. Every change
//! (a lease, new upstreams, a new prefix) builds a new immutable [`server::View`] that is
//! swapped in with `ArcSwap`: queries in flight finish on the old one, none is dropped.
//! A server without the driver (another runtime, a simulator) builds the [`Core`] from a
//! [`DnsConfig`] and a [`LocalZone`] and does the asks itself.
//!
//! # RFCs
//!
//! - RFC 1034/1035: queries over UDP and TCP, authoritative answers, NXDOMAIN/NODATA with the
//!   SOA (RFC 2308), truncation (TC) above 512 bytes or the client's EDNS size (RFC 6891).
//! - RFC 7766: TCP with pipelined queries answered in order, idle timeout 10 s.
//! - RFC 8375: `home.arpa` as the default local domain. RFC 3596 §2.5 / RFC 1035 §3.5:
//!   PTRs under `ip6.arpa` / `in-addr.arpa` for the LAN subnets and the delegated prefix.
//! - RFC 2136 UPDATE and RFC 8945 TSIG (HMAC-SHA256) through hickory-server. Unsigned
//!   UPDATEs get REFUSED (RFC 2136 §3.3 local policy); a badly signed one gets NOTAUTH with
//!   the TSIG error (BADSIG/BADKEY, RFC 8945 §5.2), as hickory answers; both are logged.
//! - RFC 5358: not an open resolver: REFUSED outside the client networks.
//! - RFC 5452: random IDs and source ports, replies checked for ID and question.
//!
//! # Not supported
//!
//! - DNSSEC validation and signing (RFC 4033-4035): answers are passed on, DO is not sent.
//! - UPDATEs of the reverse zones (PTRs come from leases and static hosts only); UPDATEs of
//!   static or leased names are REFUSED (see [`local`]'s conflict policy).
//! - AXFR/IXFR (RFC 5936, 1995): refused. NOTIFY (RFC 1996): NOTIMP.
//! - EDNS versions above 0 are answered as version 0 (no BADVERS, RFC 6891 §6.1.3); EDNS
//!   options (cookies RFC 7873, NSID, ECS) are not echoed or forwarded.
//! - Compressed names in the question: FORMERR (legal, but nobody sends them).
//! - DoT/DoH/DoQ; query pipelining to upstreams over one TCP connection; serve-stale.
//! - The cache is flushed whole when full, not LRU.
//! - The SOA serial of the local table's negative answers is its own counter, not the
//!   journaled zone's.
//!
//! # Parsing policy
//!
//! For what hosts send (the README has the whole table): a query with two OPT records, or an
//! OPT whose owner is not the root, is FORMERR (RFC 6891 §6.1.1 MUST); a datagram shorter
//! than a header gets no answer at all (unbound is silent too: answering a spoofed source is
//! a reflection); one with a whole header but nothing readable after it gets a bare FORMERR
//! (from any source: the parse comes before the client-network check, and the answer is
//! never longer than the question); responses are never answered.

pub mod cache;
#[cfg(feature = "driver")]
pub mod driver;
#[doc(hidden)]
pub mod fuzzing;
pub mod local;
pub mod policy;
pub mod server;
pub mod table;
#[cfg(test)]
mod tests;
pub mod upstream;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

#[cfg(feature = "driver")]
pub use driver::{DnsHandle, serve};
pub use local::{Conflict, LeaseUpdate, LocalZone, StaticHost};
pub use server::{Core, Latency, Stats};

/// Errors of configuration and start-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A system call or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is not usable.
    #[error("dns config: {0}")]
    Config(String),
    /// Hickory could not open the dynamic zone or its journal.
    #[error("dynamic zone: {0}")]
    Zone(String),
}

impl Error {
    #[cfg(feature = "driver")]
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { what: what.into(), source }
    }
}

/// A TSIG key (RFC 8945 §3) that may sign UPDATEs: HMAC-SHA256. routerd reads the secret
/// from the configured file (base64) and passes the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    /// The key name, as the client sends it (`ddns`, `nsupdate-key.`).
    pub name: String,
    /// The shared secret (the bytes, not their base64).
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKey").field("name", &self.name).finish_non_exhaustive()
    }
}

/// The forwarding cache's size when the configuration gives none.
pub const DEFAULT_CACHE_SIZE: usize = 10_000;

/// The DNS service's configuration (`[dns]` in routerd.toml, mapped by routerd).
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Addresses to listen on, UDP and TCP (port 0: any free port).
    pub listen: Vec<SocketAddr>,
    /// The local domain (RFC 8375 `home.arpa` by default).
    pub domain: String,
    /// TTL of local answers, and the negative TTL of the local zones.
    pub ttl: u32,
    /// Static hosts.
    pub hosts: Vec<StaticHost>,
    /// LAN IPv4 subnets: client networks, with reverse zones.
    pub lan_v4: Vec<Ipv4Net>,
    /// LAN IPv6 prefixes that do not change (ULA): client networks, with reverse zones.
    pub lan_v6: Vec<Ipv6Net>,
    /// Further client networks (no reverse zone). Loopback is always a client.
    pub clients: Vec<IpNet>,
    /// Upstream servers, asked in order.
    pub upstreams: Vec<SocketAddr>,
    /// How long one upstream gets before the next is asked.
    pub upstream_timeout: Duration,
    /// Keys that may sign UPDATEs.
    pub tsig_keys: Vec<TsigKey>,
    /// Domains exempt from the rebinding filter.
    pub rebind_allow: Vec<String>,
    /// Where the dynamic zone's journal and the TSIG key files live (`<state_dir>/dns/`).
    pub state_dir: PathBuf,
    /// The most responses the forwarding cache holds.
    pub cache_size: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 53))],
            domain: "home.arpa".into(),
            ttl: 300,
            hosts: Vec::new(),
            lan_v4: Vec::new(),
            lan_v6: Vec::new(),
            clients: Vec::new(),
            upstreams: Vec::new(),
            upstream_timeout: Duration::from_millis(1500),
            tsig_keys: Vec::new(),
            rebind_allow: Vec::new(),
            state_dir: PathBuf::from("/var/lib/routerd"),
            cache_size: DEFAULT_CACHE_SIZE,
        }
    }
}
