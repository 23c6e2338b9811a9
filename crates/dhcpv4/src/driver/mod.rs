//! The tokio drivers (feature `driver`): the only socket, clock, task and file code of the
//! crate besides the lease log. [`server`] runs a [`crate::server::Server`] on a LAN, [`client`]
//! runs a [`crate::client::Client`] on the WAN or the DMZ.

pub mod client;
pub mod server;
