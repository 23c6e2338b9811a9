//! Sans-IO DHCPv4 client: what faces the ISP when the WAN is DHCP (IPoE), and what the
//! split deployment's gateway runs on the DMZ. It replaces dhclient / udhcpc. No sockets, no
//! clock, no tasks in the machine ([`Client`]); the tokio driver (`driver`, feature `driver`)
//! owns the socket, configures the interface through `netcfg` and keeps the last address in
//! a state directory.
//!
//! # RFCs implemented
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
//! # Not supported
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
//! dhcp_server::wire  the checked parse in front of dhcproto's v4 decoder (shared)
//! timer.rs           RFC 2131 §4.1 / §4.4.5 constants and the retransmission state
//! client.rs          the machine: INIT → SELECTING → REQUESTING → BOUND → RENEWING ...
//! client/msg.rs      the client's messages (Table 5)
//! lease.rs           the snapshot carried by events, read from a DHCPACK
//! driver.rs          (feature `driver`) tokio: UDP :68 on an interface, netcfg, state dir
//! ```

pub mod client;
#[cfg(feature = "driver")]
pub mod driver;
#[doc(hidden)]
pub mod fuzzing;
pub mod lease;
mod rng;
pub mod timer;

#[cfg(test)]
mod tests;

use std::net::SocketAddrV4;

pub use client::msg::PARAMETER_REQUEST_LIST;
pub use client::{Client, ClientConfig, Event, Phase, Stats};
pub use lease::Lease;

/// UDP port servers and relay agents listen on (RFC 2131 §4.1).
pub const SERVER_PORT: u16 = 67;

/// UDP port clients listen on (RFC 2131 §4.1).
pub const CLIENT_PORT: u16 = 68;

/// A datagram to send: the UDP payload and where to (255.255.255.255:67, or the server's
/// address on port 67 when renewing and releasing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination address and port.
    pub dst: SocketAddrV4,
    /// UDP payload (a BOOTREQUEST).
    pub payload: Vec<u8>,
}
