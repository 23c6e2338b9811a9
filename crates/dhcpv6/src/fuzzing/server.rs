//! The DHCPv6 server's fuzz driver (`fuzz/fuzz_targets/dhcp6_server.rs`), also run on stable
//! over the seed corpus. Not a public API.

use std::time::{Duration, Instant};

use crate::server::PdPool;

/// A small LAN for the DHCPv6 target: two on-link /64s, 4 interface ids and a /62 pool of
/// /64s (so exhaustion is reachable), short decline hold.
pub fn config6() -> crate::server::Server6Config {
    let net = |s: &str| s.parse().unwrap_or_default();
    let mut c = crate::server::Server6Config::new(
        vec![0, 3, 0, 1, 2, 0, 0, 0, 0, 1],
        vec![net("2001:db8:1:1::/64"), net("fd00:1::/64")],
    );
    c.pd_pool = Some(PdPool { prefix: net("2001:db8:1:100::/62"), delegated_len: 64 });
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

    use crate::server::store::{LeaseRecord6, next_frame_of};
    use crate::server::{Meta6, Server6};
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
                .then(|| PdPool { prefix: p("2001:db8:2:100::/63"), delegated_len: 64 });
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
            assert!(crate::wire::Repr::parse(&tx.payload).is_ok(), "an answer that does not parse");
        }
        while s.poll_event().is_some() {}
        now += Duration::from_secs((i as u64 % 4) * 15);
        s.handle_timeout(now);
        // Reconfigure retransmissions: sent at once, no commit needed.
        while let Some(tx) = s.poll_transmit() {
            let m = crate::wire::Repr::parse(&tx.payload);
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
fn check_table6(s: &crate::server::Server6) {
    let mut seen = std::collections::HashSet::new();
    for (k, b) in s.table().iter() {
        for l in &b.leases {
            assert!(seen.insert(*l), "{l:?} leased twice, once to {k:?}");
        }
    }
}
