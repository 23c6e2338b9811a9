//! Entry points for the fuzz target (`fuzz/fuzz_targets/dhcp4_server.rs`)
//! and for the stable tests that run the seed corpus. Not a public API.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use crate::server::config::{PoolRange, Reservation, ServerConfig};
use crate::server::store::next_frame;
use crate::server::{Meta, Server};
use crate::wire;

/// A small LAN: 192.168.0.1/24, pool .100–.103 (so exhaustion is reachable), a reservation.
pub fn config() -> ServerConfig {
    let pool =
        PoolRange { first: Ipv4Addr::new(192, 168, 0, 100), last: Ipv4Addr::new(192, 168, 0, 103) };
    let net = "192.168.0.0/24".parse().unwrap_or_default();
    let mut cfg = ServerConfig::new(Ipv4Addr::new(192, 168, 0, 1), net, pool);
    cfg.reservations.push(Reservation::by_mac(
        [2, 0, 0, 0, 0, 1],
        Ipv4Addr::new(192, 168, 0, 10),
        Some("nas"),
    ));
    cfg.routes = vec![("10.0.0.0/8".parse().unwrap_or_default(), Ipv4Addr::new(192, 168, 0, 1))];
    cfg.domain_search = vec!["home.arpa".into()];
    cfg
}

/// `data` as one datagram to a fresh server, then split at 0xff 0xfe markers into several
/// datagrams with time steps, then as lease log frames. Must not panic; every reply parses
/// back as a BOOTREPLY with dhcproto, and no address is bound to two clients.
pub fn run_server(data: &[u8]) {
    let t0 = Instant::now();
    let Ok(mut s) = Server::new(config(), t0, 1_700_000_000) else {
        return;
    };
    let meta = Meta { src: SocketAddrV4::new(Ipv4Addr::new(192, 168, 0, 50), 68) };
    let mut now = t0;
    let _ = wire::parse(data);
    for (i, chunk) in std::iter::once(data).chain(data.split(|&b| b == 0xfe)).enumerate() {
        s.handle_input(now, chunk, &meta);
        while let Some(c) = s.poll_commit() {
            s.handle_committed(c.seq);
        }
        while let Some(tx) = s.poll_transmit() {
            check_reply(&tx.payload);
        }
        while s.poll_event().is_some() {}
        now += Duration::from_secs((i as u64 % 3) * 20);
        s.handle_timeout(now);
    }
    check_table(&s);
    let mut rest = data;
    while let Ok(Some((_, tail))) = next_frame(rest) {
        rest = tail;
    }
}

fn check_reply(payload: &[u8]) {
    use dhcproto::Decodable;
    let m = dhcproto::v4::Message::decode(&mut dhcproto::Decoder::new(payload));
    assert!(m.is_ok(), "a reply that does not decode");
}

/// No client holds two bound addresses.
fn check_table(s: &Server) {
    use crate::server::table::State;
    let mut seen = std::collections::HashSet::new();
    for (a, b) in s.table().iter().filter(|(_, b)| b.state == State::Bound) {
        assert!(seen.insert(b.key.clone()), "{:?} holds two addresses, one is {a}", b.key);
    }
}
