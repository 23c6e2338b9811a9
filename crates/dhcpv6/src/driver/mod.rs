//! The tokio drivers (feature `driver`): the only socket, clock, task and file code of the
//! crate besides the lease log. [`client`] runs the requesting router on the WAN (or `ppp0`,
//! or the DMZ); [`server`] runs the one DHCPv6 server on a LAN, the ingress's DMZ, or
//! ispemu's subscriber link.

pub mod client;
pub mod server;
