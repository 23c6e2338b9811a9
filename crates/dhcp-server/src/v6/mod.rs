//! DHCPv6 (RFC 8415): the server machine for one LAN (IA_NA and IA_PD), its configuration and
//! its binding table.

pub mod config;
mod event;
mod ia;
mod reconf;
pub mod server;
pub mod table;

pub use event::{Commit6, Event6, Lease6, Meta6, Stats6, Transmit6};
pub use reconf::{REC_MAX_RC, REC_TIMEOUT};
