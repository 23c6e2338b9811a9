//! DHCPv6 (RFC 8415): the server machine for one LAN (IA_NA and IA_PD), its configuration and
//! its binding table.

pub mod config;
pub mod server;
pub mod table;
