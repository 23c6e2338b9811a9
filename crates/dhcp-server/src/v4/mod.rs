//! DHCPv4 (RFC 2131): the server machine, its lease table and reply construction.

pub mod reply;
pub mod server;
pub mod table;
