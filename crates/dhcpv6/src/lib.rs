//! DHCPv6, both ends: the wire ([`wire`]), the requesting router ([`client`], what faces the
//! ISP and what the split deployment's gateway runs on the DMZ; it replaces dhcpcd /
//! odhcp6c) and the one server ([`server`]: IA_NA and IA_PD for the router's LANs, the
//! delegating router on the ingress's DMZ, and ispemu's delegating router; it replaces Kea /
//! odhcpd). The machines own no socket, clock or task (see the machine API in `DESIGN.md`);
//! the tokio drivers ([`driver`], feature `driver`) do.
//!
//! # RFCs implemented
//!
//! - RFC 8415 (DHCPv6), prefix delegation as requesting and delegating router: Solicit,
//!   Advertise (collection for the first RT, selection by Preference, 255 taken at once),
//!   Request, Reply, Renew (T1), Rebind (T2, and on link change), Release, Reconfigure
//!   (Renew/Rebind/Information-request), Information-request, Rapid Commit, Reconfigure
//!   Accept, Elapsed Time, SOL_MAX_RT / INF_MAX_RT, Information Refresh Time, every status
//!   code a requesting router can receive, and §15 retransmission with the §7.6 constants
//!   (see [`timer`]). IA_NA is requested optionally.
//! - RFC 8415 (DHCPv6) as a server for one link ([`server::Server6`]): Solicit → Advertise,
//!   or Reply with Rapid Commit when configured and asked for (§18.3.1); Request (§18.3.2),
//!   Confirm (§18.3.3: Success or NotOnLink, silence without addresses), Renew (§18.3.4,
//!   NoBinding for an unknown IA), Rebind (§18.3.5: an unknown IA's on-link addresses are
//!   taken back, others get lifetimes 0), Information-request (§18.3.6, with Information
//!   Refresh Time §21.23), Release (§18.3.7), Decline (§18.3.8); IA_NA and IA_PD, several per
//!   message; NoAddrsAvail / NoPrefixAvail in the IA when full (§18.3.9); the §16 Client /
//!   Server Identifier checks; Preference 255 in Advertise by default (§21.8). Addresses and
//!   prefixes the client holds that are not appropriate any more (renumbering) come back with
//!   lifetimes 0 beside the new ones. Allocation is stable: one interface id per IA_NA (FNV-1a
//!   of DUID + IAID into the configured range, probed on collision), used in every on-link
//!   /64; IA_PD the same way by pool index. Every grant is durable (the Reply held until its
//!   record is fsynced, the `leases` crate's log and writer). With no on-link prefixes it is a
//!   pure delegating router (IA_NA answered NoAddrsAvail): what ispemu runs.
//! - RFC 4704: the Client FQDN (39) is read for the host name (first label only).
//! - RFC 3646: DNS Recursive Name Server (23) and Domain Search List (24).
//!
//! # Not supported
//!
//! - RFC 8415 §9, §19 (relay agents): Relay-forward/Relay-reply are dropped as malformed; the
//!   server serves directly attached clients only.
//! - RFC 8415 §20.4 (Reconfiguration Key Authentication Protocol): the delegating router
//!   sends no Authentication option and the requesting router does not check one. A
//!   Reconfigure is accepted only from the server that holds the binding, naming our DUID,
//!   after both sides agreed Reconfigure Accept — but without RKAP anyone on the link who
//!   knows both DUIDs can make the client Renew early. This violates the §18.2.11 MUST
//!   ("MUST discard any Reconfigure ... that does not include an Authentication option").
//!   The server's Reconfigure (off by default, `Server6Config::reconfigure`) is retransmitted
//!   per §18.3.11 (REC_TIMEOUT, REC_MAX_RC) for the split deployment's DMZ and ispemu.
//! - RFC 8415 §18.2.3 (Confirm): the client Rebinds instead (as §18.2.12 requires for IA_PD).
//! - RFC 8415 §18.2.8 (Decline): the client never declines (it holds no addresses it could
//!   test for duplicates).
//! - RFC 8415 §18.2.10, §18.3.10, §21.12 (Server Unicast, UseMulticast): the client always
//!   multicasts, so UseMulticast only makes it retransmit at once; the server sends no Server
//!   Unicast option but answers unicast messages anyway.
//! - RFC 8415 §18.3.2 NotOnLink in a Reply to Request: the server returns the addresses with
//!   lifetimes 0 and gives new ones (what §18.3.4 asks of Renew); every client tested copes.
//! - RFC 8415 §21.5 (IA_TA), RFC 6603 (prefix exclude) and per-prefix expiry: a lease ends
//!   when the longest valid lifetime in it ends.
//! - Several IA_PDs per client: one IAID per [`client::Client`].
//!
//! # Layer map
//!
//! ```text
//! wire/             checked parse in front of dhcproto's v6 types; emit (Repr)
//! timer.rs          RFC 8415 §7.6 constants and §15 retransmission
//! client.rs         requesting router: Soliciting → Requesting → Bound → Renewing → Rebinding
//! lease.rs          the snapshots carried by client events
//! server.rs         the server machine: §18.3 message handling, commits, held Replies
//! server/config.rs  Server6Config: on-link /64s, PD pool, lifetimes, timers, options
//! server/table.rs   the binding table: stable interface ids / pool slots, renumbering
//! server/ia.rs      one IA_NA / IA_PD answered: choose, extend, adopt, invalidate, commit
//! server/event.rs   Meta6, Transmit6, Commit6, Lease6, Event6, Stats6
//! server/reconf.rs  opt-in Reconfigure after renumbering (no RKAP), retransmission
//! server/store.rs   the lease record of leases6.log (framing and log: the `leases` crate)
//! driver/client.rs  (feature `driver`) UDP 546 on an interface, timers, state directory
//! driver/server.rs  (feature `driver`) UDP 547 in ff02::1:2 on an interface, writer thread
//! ```
//!
//! Dependencies run one way: `wire` <- `client`, `server` <- `driver` <- routerd, ispemu.

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
pub use server::{Server6, Server6Config};

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
