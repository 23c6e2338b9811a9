//! Entry points for the fuzz targets (`fuzz/fuzz_targets/dhcp4_server.rs`,
//! `dhcp6_server.rs`) and for the stable tests that run the seed corpora. Not a public API.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use crate::config::{PoolRange, Reservation, ServerConfig};
use crate::store::next_frame;
use crate::{Meta, Server, wire};

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
    use crate::v4::table::State;
    let mut seen = std::collections::HashSet::new();
    for (a, b) in s.table().iter().filter(|(_, b)| b.state == State::Bound) {
        assert!(seen.insert(b.key.clone()), "{:?} holds two addresses, one is {a}", b.key);
    }
}

/// A small LAN for the DHCPv6 target: two on-link /64s, 4 interface ids and a /62 pool of
/// /64s (so exhaustion is reachable), short decline hold.
pub fn config6() -> crate::Server6Config {
    let net = |s: &str| s.parse().unwrap_or_default();
    let mut c = crate::Server6Config::new(
        vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 1],
        vec![net("2001:db8:1:1::/64"), net("fd00:1::/64")],
    );
    c.pd_pool = Some(crate::PdPool { prefix: net("2001:db8:1:100::/62"), delegated_len: 64 });
    c.iid_range = (0x1000, 0x1003);
    c.preferred = 30;
    c.valid = 60;
    c.t1 = 10;
    c.t2 = 20;
    c.decline_hold = 40;
    c.dns_servers = vec![std::net::Ipv6Addr::LOCALHOST];
    c.domains = vec!["home.arpa".into()];
    c.info_refresh = Some(600);
    c.reconfigure = true;
    c
}

/// `data` as one datagram to a fresh DHCPv6 server, then the pieces between 0xfe bytes as
/// datagrams with time steps (a piece starting 0xfd renumbers instead), then as lease log
/// frames restored into a second server. Must not panic; every answer parses back; no
/// address or prefix is leased to two IAs; a Reply never leaves before its records.
pub fn run_server6(data: &[u8]) {
    use dhcproto::v6::MessageType;

    use crate::store::{LeaseRecord6, next_frame_of};
    use crate::{Meta6, Server6};
    let t0 = Instant::now();
    let Ok(mut s) = Server6::new(config6(), t0, 1_700_000_000) else {
        return;
    };
    let src = std::net::SocketAddrV6::new(
        std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 9),
        546,
        0,
        2,
    );
    let mut now = t0;
    for (i, chunk) in std::iter::once(data).chain(data.split(|&b| b == 0xfe)).enumerate() {
        if let [0xfd, n, ..] = chunk {
            let p = |s: &str| s.parse().unwrap_or_default();
            let prefixes = if n % 2 == 0 { vec![p("2001:db8:2:1::/64")] } else { vec![] };
            let pool = (n % 3 == 0)
                .then(|| crate::PdPool { prefix: p("2001:db8:2:100::/63"), delegated_len: 64 });
            let _ = s.set_prefixes(now, prefixes, pool);
        } else {
            s.handle_input(now, chunk, &Meta6 { src });
        }
        let mut pending = Vec::new();
        while let Some(c) = s.poll_commit() {
            pending.push(c);
        }
        assert!(
            pending.is_empty() || s.poll_transmit().is_none(),
            "a Reply left before its records were durable"
        );
        for c in &pending {
            s.handle_committed(c.seq);
        }
        while let Some(tx) = s.poll_transmit() {
            assert!(
                dhcpv6pd::wire::Repr::parse(&tx.payload).is_ok(),
                "an answer that does not parse"
            );
        }
        while s.poll_event().is_some() {}
        now += Duration::from_secs((i as u64 % 4) * 15);
        s.handle_timeout(now);
        // Reconfigure retransmissions: sent at once, no commit needed.
        while let Some(tx) = s.poll_transmit() {
            let m = dhcpv6pd::wire::Repr::parse(&tx.payload);
            assert!(m.is_ok_and(|m| m.msg_type == MessageType::Reconfigure), "a timer sent that");
        }
    }
    check_table6(&s);
    let mut records = Vec::new();
    let mut rest = data;
    while let Ok(Some((r, tail))) = next_frame_of::<LeaseRecord6>(rest) {
        records.push(r);
        rest = tail;
    }
    if let Ok(mut s2) = Server6::new(config6(), t0, 1_600_000_000) {
        s2.restore(t0, &records);
        check_table6(&s2);
    }
}

/// No address or prefix is leased to two IAs.
fn check_table6(s: &crate::Server6) {
    let mut seen = std::collections::HashSet::new();
    for (k, b) in s.table().iter() {
        for l in &b.leases {
            assert!(seen.insert(*l), "{l:?} leased twice, once to {k:?}");
        }
    }
}
