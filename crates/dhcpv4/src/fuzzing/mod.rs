//! Entry points for the fuzz targets (`fuzz/fuzz_targets/dhcp4_server.rs`, `dhcp4_client.rs`)
//! and for the stable tests that replay their seed corpora. Not part of the supported API.

mod client;
mod server;

pub use client::*;
pub use server::*;
