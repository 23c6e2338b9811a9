//! Sans-IO IPv6 router advertisements for the LAN side of the router: what radvd or odhcpd
//! do, as a plain state machine ([`advertiser::Advertiser`]) plus a thin tokio driver
//! (feature `driver`). No sockets, no clock, no tasks in the machine: see the machine API in
//! `DESIGN.md`.
//!
//! # RFCs implemented
//!
//! - RFC 4861 §4.1, §4.2, §4.6 (wire): Router Solicitation, Router Advertisement, Source
//!   Link-Layer Address, Prefix Information and MTU options; unknown options kept.
//! - RFC 4861 §6.2 (router behaviour): MinRtrAdvInterval/MaxRtrAdvInterval with a random
//!   interval, the first MAX_INITIAL_RTR_ADVERTISEMENTS at most
//!   MAX_INITIAL_RTR_ADVERT_INTERVAL apart (also after a change), solicited RAs after a random
//!   0..MAX_RA_DELAY_TIME delay rate-limited by MIN_DELAY_BETWEEN_RAS, a final RA with router
//!   lifetime 0 on shutdown (§6.2.5), router lifetime 0 while there is no IPv6 uplink.
//!   RS validation (§6.1.1): Hop Limit 255 (in the driver), code 0, option lengths, no
//!   Source Link-Layer Address from the unspecified address. Not checked: the ICMPv6
//!   checksum, which the kernel verifies for raw ICMPv6 sockets.
//! - RFC 8106 §5: RDNSS and DNSSL options (names as uncompressed labels, zero padded).
//! - RFC 9096 §3.5: a prefix that disappears is announced with preferred lifetime 0 and a
//!   valid lifetime of what remains, at most two hours, counting down, until it reaches 0;
//!   prefix lifetimes count down with the delegated prefix's lease.
//!
//! # Not supported
//!
//! - RFC 4861 §6.2.6 unicast answers: solicited RAs are always multicast (the "usual case").
//! - RFC 4861 §6.2.7 (consistency checks of other routers' RAs): RAs from others are ignored.
//! - RFC 4191 (Route Information, router preference), RFC 8781 (PREF64), RFC 6275 (Mobile
//!   IPv6 flags and options), RFC 4861 §6.2.5 MAX_FINAL_RTR_ADVERTISEMENTS > 1 (one final RA).
//! - Reachable Time and Retrans Timer are sent as 0 (unspecified).
//!
//! # Layer map
//!
//! ```text
//! wire.rs        RS/RA and ND options: parse/emit
//! advertiser.rs  one advertising interface: intervals, RS answers, prefix deprecation
//! driver.rs      (feature `driver`) tokio: raw ICMPv6 socket on the LAN interface, commands
//! ```

pub mod advertiser;
#[cfg(feature = "driver")]
pub mod driver;
#[doc(hidden)]
pub mod fuzzing;
mod rng;
pub mod wire;

#[cfg(test)]
mod tests;

pub use advertiser::{Advertiser, Config, Dhcpv6Mode, PrefixInfo, Stats, Transmit};
