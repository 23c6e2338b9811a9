//! Sans-IO DHCPv6 prefix delegation: the requesting router ([`client`], what faces the ISP)
//! and the delegating router ([`server`], what `ispemu` and the split deployment's ingress
//! run). No sockets, no clock, no tasks: see the machine API in `DESIGN.md`.
//!
//! # RFCs implemented
//!
//! - RFC 8415 (DHCPv6), prefix delegation as requesting and delegating router: Solicit,
//!   Advertise (collection for the first RT, selection by Preference, 255 taken at once),
//!   Request, Reply, Renew (T1), Rebind (T2, and on link change), Release, Reconfigure
//!   (Renew/Rebind/Information-request), Information-request, Rapid Commit, Reconfigure
//!   Accept, Elapsed Time, SOL_MAX_RT / INF_MAX_RT, Information Refresh Time, every status
//!   code a requesting router can receive, and §15 retransmission with the §7.6 constants
//!   (see [`timer`]). IA_NA is requested optionally; the delegating router answers it with
//!   NoAddrsAvail.
//! - RFC 3646: DNS Recursive Name Server (23) and Domain Search List (24).
//!
//! # Not supported
//!
//! - RFC 8415 §9, §19 (relay agents): Relay-forward/Relay-reply are dropped as malformed; the
//!   delegating router serves directly attached clients only.
//! - RFC 8415 §20.4 (Reconfiguration Key Authentication Protocol): the delegating router
//!   sends no Authentication option and the requesting router does not check one. A
//!   Reconfigure is accepted only from the server that holds the binding, naming our DUID,
//!   after both sides agreed Reconfigure Accept — but without RKAP anyone on the link who
//!   knows both DUIDs can make the client Renew early. This violates the §18.2.11 MUST
//!   ("MUST discard any Reconfigure ... that does not include an Authentication option").
//! - RFC 8415 §18.2.3, §18.3.3 (Confirm): the client Rebinds instead (as §18.2.12 requires for
//!   IA_PD); the server, which knows no on-link prefixes, does not answer Confirm, as §18.3.3
//!   requires of a server that cannot perform the test.
//! - RFC 8415 §18.2.8 (Decline): the client never declines (it holds no addresses it could
//!   test for duplicates); the server answers Decline with Success and changes nothing.
//! - RFC 8415 §18.2.10 (Server Unicast, UseMulticast): the client always multicasts, so
//!   UseMulticast only makes it retransmit at once; the server never offers Server Unicast.
//! - RFC 8415 §21.5 (IA_TA), RFC 6603 (prefix exclude) and per-prefix expiry: a lease ends
//!   when the longest valid lifetime in it ends.
//! - Several IA_PDs per client: one IAID per [`client::Client`].
//!
//! # Layer map
//!
//! ```text
//! wire/     checked parse in front of dhcproto's v6 types; emit (Repr)
//! timer.rs  RFC 8415 §7.6 constants and §15 retransmission
//! client.rs requesting router: Soliciting → Requesting → Bound → Renewing → Rebinding ...
//! server.rs delegating router: pool, binding table, Advertise/Reply/Reconfigure
//! lease.rs  the snapshots carried by client events
//! driver.rs (feature `driver`) tokio: UDP 546/547 on an interface, timers, state directory
//! ```

pub mod client;
#[cfg(feature = "driver")]
pub mod driver;
#[doc(hidden)]
pub mod fuzzing;
pub mod lease;
mod rng;
pub mod server;
pub mod timer;
pub mod wire;

#[cfg(test)]
mod tests;

use std::net::{Ipv6Addr, SocketAddrV6};

pub use client::{Client, ClientConfig, Command, Event, Phase};
pub use lease::{DelegatedPrefix, Information, Lease, LeasedAddress};
pub use server::{Pool, Server, ServerConfig};

/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1).
pub const ALL_DHCP_RELAY_AGENTS_AND_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

/// UDP port servers and relay agents listen on (RFC 8415 §7.2).
pub const SERVER_PORT: u16 = 547;

/// UDP port clients listen on (RFC 8415 §7.2).
pub const CLIENT_PORT: u16 = 546;

/// A datagram to send: the UDP payload and where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination address and port.
    pub dst: SocketAddrV6,
    /// UDP payload.
    pub payload: Vec<u8>,
}

/// ff02::1:2 port 547, where every client message goes.
pub(crate) fn server_multicast() -> SocketAddrV6 {
    SocketAddrV6::new(ALL_DHCP_RELAY_AGENTS_AND_SERVERS, SERVER_PORT, 0, 0)
}
