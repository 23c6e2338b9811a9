//! Entry points for the fuzz targets (`fuzz/fuzz_targets/dhcpv6_client.rs`,
//! `dhcpv6_wire.rs`, `dhcp6_server.rs`) and for the stable tests that replay their seed
//! corpora. Not part of the supported API.

mod client;
mod server;

pub use client::*;
pub use server::*;
