//! DHCPv4, both ends: the wire ([`wire`]), the server for the router's LANs and the
//! ingress's DMZ ([`server::Server`], replacing Kea / dnsmasq) with its durable lease store,
//! and the client that faces the ISP when the WAN is DHCP (IPoE) and that the split
//! deployment's gateway runs on the DMZ ([`client::Client`], replacing dhclient / udhcpc).
//! The machines own no socket, clock or task; the tokio drivers ([`driver`], feature
//! `driver`) do.
//!
//! Every lease the server grants is durable before it is acknowledged: the machine hands each
//! lease record to its caller as a [`server::Commit`] and holds the DHCPACK (and the
//! `LeaseGranted` event) back until the caller says the record is on disk
//! (`handle_committed`). The driver batches many commits into one `fdatasync` (group commit)
//! on the writer thread of [`leases::writer`].
//!
//! # RFCs implemented: server
//!
//! - RFC 2131 (DHCP): DISCOVER → OFFER, REQUEST in SELECTING, INIT-REBOOT, RENEWING and
//!   REBINDING told apart as §4.3.2 says, ACK, NAK, DECLINE, RELEASE, INFORM; reply
//!   destinations per §4.1 (relay, ciaddr, broadcast flag); the same address back to a
//!   returning client (§4.3.1), also after its lease ended while nobody else took it.
//! - RFC 2132: subnet mask (1), router (3), DNS servers (6), host name (12), domain name (15),
//!   interface MTU (26), NTP servers (42), lease time (51), server id (54), T1/T2 (58/59),
//!   client identifier (61); configured extra options as raw bytes.
//! - RFC 3046: relay agent information (82) echoed back, last, to the relay on port 67.
//! - RFC 3397: domain search (119). RFC 3442: classless static routes (121), with the default
//!   route added when a router is configured (clients ignore option 3 when 121 is present).
//! - RFC 4039: Rapid Commit (DISCOVER answered by a committed ACK).
//! - RFC 4702: the client FQDN (81) is read for the host name (first label only).
//!
//! # RFCs implemented: client
//!
//! - RFC 2131 (DHCP) §4.4 client: INIT → SELECTING (DISCOVER; the first acceptable OFFER is
//!   taken) → REQUESTING → BOUND → RENEWING (REQUEST unicast to the server at T1) →
//!   REBINDING (broadcast at T2) → expiry back to INIT; INIT-REBOOT / REBOOTING with a
//!   remembered address (REQUEST with option 50), and §3.2 re-verification of a held lease
//!   by INIT-REBOOT when the link comes back (kept in use when nobody answers); DHCPNAK in REQUESTING, REBOOTING, RENEWING
//!   and REBINDING → INIT after a short wait; DHCPRELEASE (§4.4.6) unicast to the server;
//!   §4.1 retransmission (4 s doubling to 64 s, ±1 s) with a retry limit for REQUEST (back to
//!   INIT) and INIT-REBOOT (back to DISCOVER); §4.4.5 RENEWING/REBINDING retransmission (half
//!   the time left, at least 60 s); `xid`, `chaddr` and (RFC 6842, when echoed) client
//!   identifier checked on every reply; the BROADCAST flag while unconfigured (§4.1).
//! - RFC 2132: sends Client Identifier (61), Host Name (12), Parameter Request List (55),
//!   Maximum DHCP Message Size (57); reads Subnet Mask (1), Router (3), DNS (6), Domain Name
//!   (15), Interface MTU (26), NTP servers (42), Lease Time (51), Server Identifier (54),
//!   T1/T2 (58/59, defaults 0.5 / 0.875 of the lease).
//! - RFC 3442: Classless Static Routes (121), which take precedence over Router (3).
//! - RFC 4039: Rapid Commit (optional).
//!
//! # Not supported: server
//!
//! - RFC 2131 §4.1 unicast to an unconfigured client (chaddr + yiaddr without ARP): replies
//!   to a client without an address that did not set the broadcast flag are broadcast to
//!   255.255.255.255 instead; every client accepts that (dnsmasq does the same without
//!   `SIOCSARP`).
//! - RFC 2131 §4.3.1 ICMP echo probe before an OFFER: declined addresses are parked for
//!   `decline_hold` instead (Kea's default, too).
//! - RFC 2131 §3.1 client-requested lease time (option 51 in DISCOVER/REQUEST): ignored; the
//!   configured lease time is always given.
//! - RFC 2132 §9.3 option overload (52): options in `sname`/`file` are not read.
//! - RFC 3396 long options are decoded (dhcproto) but never needed for what we send.
//! - RFC 4702 §4: option 81 is not sent back; the router's DNS takes names from the lease
//!   events itself (no DNS update delegation to clients).
//! - RFC 3011 subnet selection, RFC 3527 link selection, several subnets per server: one
//!   [`Server`] serves one LAN (one subnet, one pool); relayed requests whose giaddr is outside
//!   it are dropped.
//! - RFC 6842 (client id in replies) and RFC 8925 (IPv6-only preferred; dhcproto numbers it
//!   106 instead of 108, so it would have to be sent as `Unknown(108)`): not sent.
//!
//! # Not supported: client
//!
//! - RFC 2131 §4.4.1 ARP probe of the offered address and DHCPDECLINE: the address is used
//!   as given (udhcpc's default as well).
//! - RFC 2131 §4.4.1 comparing several offers: the first acceptable OFFER is taken.
//! - RFC 2131 §3.2 keeping a remembered address when INIT-REBOOT gets no answer: the client
//!   starts over with DISCOVER.
//! - RFC 2131 §4.4.4 DHCPINFORM, RFC 2132 §9.3 option overload (52, options in
//!   `sname`/`file`), RFC 3396 long options beyond what dhcproto concatenates.
//! - RFC 4361 (DUID-based client identifier), RFC 3203 FORCERENEW, RFC 8925 (IPv6-only
//!   preferred), relay agents (`giaddr` is always 0).
//!
//! # Layer map
//!
//! ```text
//! wire.rs            checked parse in front of dhcproto's v4 decoder (its panics), emit + padding
//! server.rs          the server machine: RFC 2131 message handling, commits, held ACKs, events
//! server/config.rs   ServerConfig: subnet, pool, reservations, options, timers
//! server/table.rs    the lease table: allocation, stickiness, expiry index
//! server/reply.rs    reply construction (options, §4.1 destinations)
//! server/store.rs    the lease record of leases4.log (framing and log: the `leases` crate)
//! client.rs          the client machine: INIT → SELECTING → REQUESTING → BOUND → RENEWING ...
//! client/msg.rs      the client's messages (RFC 2131 Table 5)
//! client/lease.rs    the snapshot carried by client events, read from a DHCPACK
//! client/timer.rs    RFC 2131 §4.1 / §4.4.5 constants and the retransmission state
//! driver/server.rs   (feature `driver`) UDP :67 on a LAN (SO_BINDTODEVICE), writer thread
//! driver/client.rs   (feature `driver`) UDP :68 on an interface, netcfg, state directory
//! ```
//!
//! Dependencies run one way: `wire` <- `server`, `client` <- `driver` <- routerd, ispemu.

pub mod client;
#[cfg(feature = "driver")]
pub mod driver;
#[doc(hidden)]
pub mod fuzzing;
pub mod server;
pub mod wire;

#[cfg(test)]
mod tests;

use std::net::SocketAddrV4;

pub use client::{Client, ClientConfig};
pub use server::{Server, ServerConfig};

/// UDP port servers and relay agents listen on (RFC 2131 §4.1).
pub const SERVER_PORT: u16 = 67;

/// UDP port clients listen on (RFC 2131 §4.1).
pub const CLIENT_PORT: u16 = 68;

/// A datagram to send: the UDP payload and where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination address and port.
    pub dst: SocketAddrV4,
    /// UDP payload (a BOOTREQUEST from the client, a BOOTREPLY from the server).
    pub payload: Vec<u8>,
}
