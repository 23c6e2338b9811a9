mod corpus;
mod pair;
mod timeline;
mod wire;

use std::net::Ipv6Addr;
use std::time::Duration;

use dhcproto::v6::{DhcpOption, MessageType, OptionCode};

use crate::ClientConfig;
use crate::fuzzing::{delegating_config, pd_pool};
use crate::server::{PdPool, Server6Config};
use crate::wire::Repr;

/// DUID-LL of the requesting router (RFC 8415 §11.4), 52:54:00:00:00:01.
pub(crate) const CLIENT_DUID: [u8; 10] =
    [0x00, 0x03, 0x00, 0x01, 0x52, 0x54, 0x00, 0x00, 0x00, 0x01];
/// DUID-LL of the delegating router, 02:00:00:00:00:01.
pub(crate) const SERVER_DUID: [u8; 10] =
    [0x00, 0x03, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01];

pub(crate) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub(crate) fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

pub(crate) fn addr(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// A client without rapid commit (four-message exchange), seeded.
pub(crate) fn client_cfg(seed: u64) -> ClientConfig {
    ClientConfig { rapid_commit: false, ..ClientConfig::new(CLIENT_DUID.to_vec(), 1, seed) }
}

/// 2001:db8:1000::/36 in /`len`s.
pub(crate) fn pool(len: u8) -> PdPool {
    pd_pool(addr("2001:db8:1000::"), 36, len)
}

/// The one server as a delegating router (see [`crate::fuzzing::Delegating`]).
pub(crate) fn server_cfg(len: u8) -> Server6Config {
    let mut cfg = delegating_config(SERVER_DUID.to_vec(), pool(len));
    cfg.dns_servers = vec![addr("2001:db8:ffff::53")];
    cfg.domains = vec!["isp.example".into(), "example.net".into()];
    cfg
}

/// Parses a transmitted payload.
pub(crate) fn parse(bytes: &[u8]) -> Repr {
    Repr::parse(bytes).unwrap()
}

/// Elapsed Time of a client message, in hundredths of a second.
pub(crate) fn elapsed(m: &Repr) -> u16 {
    match m.get(OptionCode::ElapsedTime) {
        Some(DhcpOption::ElapsedTime(e)) => *e,
        _ => panic!("no Elapsed Time in {:?}", m.msg_type),
    }
}

pub(crate) fn kind(bytes: &[u8]) -> MessageType {
    parse(bytes).msg_type
}
