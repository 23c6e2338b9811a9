//! Sans-IO PPPoE and PPP for both ends of a WAN link: the client (host) a home router runs and
//! the access concentrator `ispemu` runs.
//!
//! # RFCs implemented
//!
//! | RFC | what | where |
//! | --- | --- | --- |
//! | RFC 2516 | PPPoE Discovery and Session stages | [`wire::discovery`], [`wire::session`] |
//! | RFC 4638 | PPP-Max-Payload tag, MTU/MRU 1500 over PPPoE | `discovery.rs`, [`client`] |
//! | RFC 1661 | automaton (§4), LCP (§5), MRU/Auth/Magic (§6), echo | [`fsm`], `lcp.rs` |
//! | RFC 1334 §2 | PAP, peer and authenticator | [`auth`] |
//! | RFC 1994 | CHAP with MD5, peer and authenticator | [`auth`] |
//! | RFC 1332 | IPCP, IP-Address option | `ncp.rs` |
//! | RFC 1877 | IPCP Primary/Secondary DNS options | `ncp.rs` |
//! | RFC 5072 | IPv6CP, Interface-Identifier option | `ncp.rs` |
//!
//! # Not supported
//!
//! - RFC 1661 §4.1: the restart ("r"), passive ("p") and crossed-connection ("x") option
//!   annotations of the state table; the plain transitions are taken.
//! - RFC 1661 §6.3 Quality-Protocol, §6.5 Protocol-Field-Compression, §6.6
//!   Address-and-Control-Field-Compression, RFC 1662 ACCM: Configure-Rejected (RFC 2516 §7 says
//!   PFC/ACFC/ACCM SHOULD NOT be used over PPPoE anyway).
//! - RFC 1661 §6.4: a looped-back link is only answered with a new Magic-Number; it is not
//!   reported as a distinct failure.
//! - RFC 1994 §2.3 periodic rechallenge by the authenticator (a peer answers rechallenges).
//! - RFC 1332 §3.2 IP-Compression-Protocol (VJ), RFC 1877 NBNS options: Configure-Rejected.
//! - RFC 5072 §4.2 IPv6-Compression-Protocol: Configure-Rejected.
//! - RFC 2516 §5.3: after the PADR retries the client reports `DiscoveryTimeout` instead of
//!   going back to PADI; the owner redials (with a fresh Host-Uniq).
//! - Renegotiation after Opened and NCP restarts are handled by the automaton but reported
//!   coarsely (a `Down` then a new `Up`).
//! - EAP, MS-CHAP, multilink, LCP extensions of RFC 1570, 802.1ad double tags.
//!
//! # Layer map
//!
//! ```text
//!   client.rs  PppoeClient          server.rs  AccessConcentrator
//!      |  discovery.rs HostDiscovery    |  discovery.rs AcDiscovery + one Ppp per session
//!      +------------------+-------------+
//!                   ppp.rs  Ppp: phases Establish -> Authenticate -> Network
//!         lcp.rs LcpPolicy + Echo | auth.rs Auth (PAP/CHAP) | ncp.rs IpcpPolicy, Ipv6cpPolicy
//!                   fsm.rs  Fsm<P: Policy>: the RFC 1661 §4.1 table
//!                   wire/   parse/emit: ethernet, discovery, session, control, lcp, ncp, auth
//! ```
//!
//! The machines own no socket, clock or task: see [`client::PppoeClient`] for the calling
//! order. The driver's data path does not go through them: [`wire::session::classify`] sorts
//! received frames, [`wire::session::write_data_header`] writes outgoing headers, and `mss.rs`
//! clamps the MSS of TCP SYNs both ways, reading IPv4, IPv6 and TCP through the named fields of
//! `wire/ip.rs` (which also gives the destination address that picks a session).

pub mod auth;
pub mod client;
pub(crate) mod discovery;
#[cfg(feature = "driver")]
pub mod driver;
pub mod event;
pub mod fsm;
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod lcp;
pub(crate) mod mss;
pub(crate) mod ncp;
pub(crate) mod ppp;
pub mod server;
pub mod timer;
pub mod wire;

#[cfg(test)]
mod tests;

pub use auth::{AuthKind, Credentials, Secrets};
pub use client::{ClientConfig, Command, Event, PppoeClient};
pub use discovery::PPPOE_MAX_PAYLOAD;
pub use event::{DownReason, Ipv4Link, Ipv6Link, Link, RttHistogram, Stats, Transmit};
pub use server::{AcCommand, AcConfig, AcEvent, AccessConcentrator};
