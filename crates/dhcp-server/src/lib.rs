//! DHCPv4 and DHCPv6 servers for the router's LANs: sans-IO machines ([`Server`] for DHCPv4,
//! [`Server6`] for DHCPv6), a durable append-only lease store ([`store::LeaseLog`],
//! [`store::LeaseLog6`]) and small tokio UDP drivers (`driver`, `driver6`, feature `driver`).
//! It replaces ISC Kea / dnsmasq for DHCPv4 and DHCPv6 (IA_NA and IA_PD) on one LAN each.
//!
//! Every lease is durable before it is acknowledged: the machines hand each lease record to
//! their caller as a [`Commit`] / [`Commit6`] and hold the DHCPACK or granting Reply (and the
//! `LeaseGranted` event) back until the caller says the record is on disk
//! (`handle_committed`). The drivers batch many commits into one `fdatasync` (group commit) on
//! a writer thread.
//!
//! # RFCs implemented
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
//! - RFC 8415 (DHCPv6) as a server for one link: Solicit → Advertise, or Reply with Rapid
//!   Commit when configured and asked for (§18.3.1); Request (§18.3.2), Confirm (§18.3.3:
//!   Success or NotOnLink, silence without addresses), Renew (§18.3.4, NoBinding for an
//!   unknown IA), Rebind (§18.3.5: an unknown IA's on-link addresses are taken back, others
//!   get lifetimes 0), Information-request (§18.3.6, with Information Refresh Time §21.23),
//!   Release (§18.3.7), Decline (§18.3.8); IA_NA and IA_PD, several per message; NoAddrsAvail
//!   / NoPrefixAvail in the IA when full (§18.3.9); the §16 Client/Server Identifier checks;
//!   Preference 255 in Advertise by default (§21.8: the client need not wait for others).
//!   Addresses the client holds that are not appropriate for the link (another prefix, or a
//!   prefix renumbering took away) come back with lifetimes 0 beside the new ones.
//!   Allocation is stable: one interface id per IA_NA (FNV-1a of DUID + IAID into the
//!   configured range, probed on collision), used in every on-link /64, so a returning client
//!   gets the same address and renumbering keeps the interface id; IA_PD the same way by pool
//!   index.
//! - RFC 3646: DNS Recursive Name Server (23) and Domain Search List (24), uncompressed.
//! - RFC 4704: the DHCPv6 Client FQDN (39) is read for the host name (first label only).
//!
//! # Not supported
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
//! - RFC 8415 §9, §19 (relay agents): Relay-forward is dropped (counted as malformed); the
//!   DHCPv6 server serves its directly attached link.
//! - RFC 8415 §18.3.10, §21.12 (Server Unicast, UseMulticast): no Server Unicast option is
//!   sent, but unicast Requests, Renews, Releases and Declines are answered anyway (the
//!   socket receives both; clients only unicast when told to, so this is moot in practice).
//! - RFC 8415 §18.3.11, §20.4 (Reconfigure, RKAP): off by default; after renumbering,
//!   clients learn the new prefix at their next Renew (T1), so T1 bounds how long an old
//!   address stays. With `Server6Config::reconfigure`, clients that sent Reconfigure Accept
//!   get a Reconfigure (Renew) at once, retransmitted per §18.3.11 (REC_TIMEOUT, REC_MAX_RC,
//!   no RAND jitter), but without the Authentication option RKAP requires, violating the
//!   §18.3.11 MUST: meant for our own `dhcpv6pd` client on the split deployment's DMZ; a
//!   conformant client discards it and renews at T1.
//! - RFC 8415 §21.5 (IA_TA): ignored.
//! - RFC 4704 §4: option 39 is not sent back; names go to the router's DNS from the events.
//! - RFC 8415 §18.3.2 NotOnLink in a Reply to Request: the addresses are returned with
//!   lifetimes 0 and new ones given instead (what §18.3.4 asks of Renew), which every client
//!   tested handles.
//!
//! # Layer map
//!
//! ```text
//! wire.rs         checked parse in front of dhcproto's v4 decoder (its panics), emit + padding
//! config.rs       ServerConfig: subnet, pool, reservations, options, timers
//! names.rs        host name sanitising (LDH labels) and protection
//! v4/table.rs     the lease table: allocation, stickiness, expiry index
//! v4/server.rs    the machine: RFC 2131 message handling, commits, held ACKs, events
//! v4/reply.rs     reply construction (options, §4.1 destinations)
//! v6/config.rs    Server6Config: on-link /64s, PD pool, lifetimes, timers, options
//! v6/table.rs     the DHCPv6 binding table: stable interface ids / pool slots, renumbering
//! v6/server.rs    the DHCPv6 machine: RFC 8415 §18.3 message handling, commits, held Replies
//! v6/ia.rs        one IA_NA / IA_PD answered: choose, extend, adopt, invalidate, commit
//! v6/event.rs     Meta6, Transmit6, Commit6, Lease6, Event6, Stats6
//! v6/reconf.rs    opt-in Reconfigure after renumbering (no RKAP), retransmission
//! store/          the durable lease logs: framed records (length + CRC-32), load, compaction;
//!                 one framing, two record kinds (leases4.log, leases6.log)
//! driver.rs       tokio UDP socket on :67 (SO_BINDTODEVICE), writer thread, group commit
//! driver6.rs      tokio UDP socket on [::]:547 in ff02::1:2, the same writer, Handle6
//! ```
//!
//! The DHCPv6 wire (checked parse in front of dhcproto's v6 decoder, which panics on some
//! short options) is `dhcpv6pd::wire`, shared with the prefix delegation crate.

pub mod config;
#[cfg(feature = "driver")]
pub mod driver;
#[cfg(feature = "driver")]
pub mod driver6;
#[doc(hidden)]
pub mod fuzzing;
pub mod names;
pub mod store;
pub mod v4;
pub mod v6;
pub mod wire;

#[cfg(test)]
mod tests;

use std::net::SocketAddrV4;

pub use config::{PoolRange, Reservation, ServerConfig};
pub use store::{IaKind, LeaseLog, LeaseLog6, LeaseRecord, LeaseRecord6, RecordState};
pub use v4::server::{Commit, Event, Lease, Meta, Server, Stats};
pub use v4::table::{ClientKey, HwAddr};
pub use v6::config::{Config6Error, PdPool, Server6Config, duid_ll};
pub use v6::server::Server6;
pub use v6::{Commit6, Event6, Lease6, Meta6, Stats6, Transmit6};

/// UDP port servers and relay agents listen on (RFC 2131 §4.1).
pub const SERVER_PORT: u16 = 67;

/// UDP port clients listen on (RFC 2131 §4.1).
pub const CLIENT_PORT: u16 = 68;

/// A datagram to send: the UDP payload and where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination address and port.
    pub dst: SocketAddrV4,
    /// UDP payload (a BOOTREPLY).
    pub payload: Vec<u8>,
}
