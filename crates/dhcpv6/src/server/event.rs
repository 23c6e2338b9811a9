//! What the DHCPv6 machine takes and gives: datagram metadata, transmits, commits, events and
//! counters.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::SystemTime;

use crate::server::store::{IaKind, LeaseRecord6};

/// Where a datagram came from; the answer goes back there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta6 {
    /// Source address and port (a client on 546).
    pub src: SocketAddrV6,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit6 {
    /// Destination: the request's source.
    pub dst: SocketAddrV6,
    /// UDP payload.
    pub payload: Vec<u8>,
}

/// A snapshot of one IA's lease, carried by events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease6 {
    /// IA_NA (addresses) or IA_PD (prefixes).
    pub kind: IaKind,
    /// The client's DUID.
    pub duid: Vec<u8>,
    /// The IAID.
    pub iaid: u32,
    /// Addresses (length 128) or prefixes.
    pub addresses: Vec<(Ipv6Addr, u8)>,
    /// The sanitised host name from the Client FQDN option (39), first label.
    pub hostname: Option<String>,
    /// When the valid lifetime ends (or ended), wall-clock.
    pub expires: SystemTime,
    /// The client's address, where the Reply that granted it went (`None` in events not
    /// caused by a message: expiry). A delegating router routes a delegated prefix to it.
    pub peer: Option<SocketAddrV6>,
}

/// What the server tells the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event6 {
    /// An IA was granted or extended; its records are durable.
    LeaseGranted(Lease6),
    /// The client released the IA (RFC 8415 §18.3.7).
    LeaseReleased(Lease6),
    /// The valid lifetime ran out without a renewal.
    LeaseExpired(Lease6),
    /// The client declined the addresses (RFC 8415 §18.3.8): their interface id is out of
    /// use for `decline_hold`.
    AddressDeclined(Lease6),
}

/// A lease record the caller must make durable, then confirm with
/// [`crate::Server6::handle_committed`]`(seq)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit6 {
    /// Sequence number, increasing by one from 1.
    pub seq: u64,
    /// The record.
    pub record: LeaseRecord6,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats6 {
    /// Datagrams given to `handle_input`.
    pub received: u64,
    /// Datagrams that failed to parse, and relay messages (dropped).
    pub malformed: u64,
    /// Well-formed messages discarded (RFC 8415 §16 identifier checks, wrong type).
    pub dropped: u64,
    /// Advertises sent.
    pub advertises: u64,
    /// Replies sent (all kinds).
    pub replies: u64,
    /// IAs granted or extended (committed).
    pub granted: u64,
    /// IAs answered NoAddrsAvail.
    pub no_addrs: u64,
    /// IAs answered NoPrefixAvail.
    pub no_prefixes: u64,
    /// IAs answered NoBinding.
    pub no_binding: u64,
    /// Addresses or prefixes returned with lifetimes 0 (renumbering, not on link).
    pub invalidated: u64,
    /// IAs released.
    pub releases: u64,
    /// IAs declined.
    pub declines: u64,
    /// Confirms answered NotOnLink.
    pub not_on_link: u64,
    /// Information-requests answered.
    pub info_requests: u64,
    /// Reconfigure messages sent (retransmissions included).
    pub reconfigures: u64,
}
