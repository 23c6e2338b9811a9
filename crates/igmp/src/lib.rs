//! An IGMP proxy for IPTV (what igmpproxy does), as a plain state machine
//! ([`proxy::Proxy`]) plus a thin tokio driver (feature `driver`) on the kernel's multicast
//! routing socket, so that the channels are forwarded by the kernel, not copied through user
//! space. No sockets, no clock, no tasks in the machine: see the machine API in `DESIGN.md`.
//!
//! # RFCs implemented
//!
//! - RFC 4605 (IGMP-based forwarding, "IGMP proxying"): one upstream interface on which the
//!   proxy is a host reporting the union of the downstreams' memberships, any number of
//!   downstream interfaces on which it is the querier; packets from the upstream forwarded to
//!   the downstreams that want them.
//! - RFC 3376 (IGMPv3): queries (general and group-specific, QRV, QQIC, the floating point
//!   codes), reports with all six record types, the router timers of §8 (Group Membership
//!   Interval, Last Member Query Time, Startup Query Count/Interval), the host side's
//!   state-change retransmissions (§5.1), delayed current-state answers (§5.2), and the
//!   host compatibility modes for older queriers upstream (§7.2.1).
//! - RFC 2236 (IGMPv2) and RFC 1112 (IGMPv1): reports and leaves from downstream hosts, v2
//!   queries downstream by configuration, v1/v2 reports upstream to an older querier.
//! - RFC 2113 (Router Alert): sent on every message (by the driver), not required on
//!   receipt (the kernel delivers IGMP to the mroute socket either way, and some IGMPv2
//!   hosts omit it: linux/net/ipv4/ipmr.c says so of Cisco IOS).
//!
//! # Parsing policy
//!
//! | input | what happens |
//! | --- | --- |
//! | truncated, lying counts, wrong checksum, not IPv4/IGMP | `malformed`, dropped |
//! | IP TTL other than 1 (RFC 3376 §9.1) | `bad_ttl`, dropped |
//! | a query of 9-11 octets (RFC 3376 §7.1) | `malformed`, dropped |
//! | unknown IGMP type (DVMRP, mtrace), unknown record type | `ignored` |
//! | a query on a downstream (another querier or a forgery) | `downstream_queries`, dropped |
//! | a report or leave on the upstream | `upstream_reports`, dropped |
//! | a report from outside the downstream's prefix (0.0.0.0 is allowed, §4.2.13) | `outside_subnet`, dropped |
//! | a group outside the allowed ranges | `outside_range`, dropped; link-local groups silently |
//! | more than [`proxy::MAX_GROUPS`] groups on a downstream | `over_limit`, dropped |
//!
//! # Not supported
//!
//! See [`proxy`]: EXCLUDE-mode source lists are not filtered, group-and-source-specific
//! queries are answered by a group-specific query, multicast from the LANs is not forwarded
//! upstream, and queries from the LANs take no part in querier election. MLD (RFC 4605 for
//! IPv6) is not done yet.
//!
//! # Layer map
//!
//! ```text
//! wire.rs     IGMP v1/v2/v3 messages, the IPv4 header and Router Alert, kernel upcalls
//! proxy.rs    the proxy: downstream queriers and memberships, upstream host, cache entries
//! driver.rs   (feature `driver`) tokio: the mroute socket, vifs, cache entries, send/receive
//! ```

#[cfg(feature = "driver")]
pub mod driver;
#[doc(hidden)]
pub mod fuzzing;
pub mod proxy;
pub mod wire;

#[cfg(test)]
mod tests;

pub use proxy::{Config, Downstream, Event, GroupStatus, Iface, Proxy, Stats, Transmit, Want};
