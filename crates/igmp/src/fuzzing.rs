//! Drivers shared by the fuzz target (`fuzz/fuzz_targets/igmp_input.rs`) and the stable
//! corpus test: the wire parsers as round trips, and a proxy fed the bytes as a datagram on
//! a downstream and on the upstream, around joins, upcalls and its timers. Not part of the
//! supported API.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::proxy::{Config, Downstream, Event, Iface, Proxy};
use crate::wire::{Ipv4, Message, Upcall, ipv4_datagram};

/// Runs every property on `data`; panics (for the fuzzer) only when one does not hold.
pub fn run(data: &[u8]) {
    run_wire(data);
    run_proxy(data);
}

/// Parse, emit, parse again: the same message.
pub fn run_wire(data: &[u8]) {
    if let Ok(m) = Message::parse(data) {
        let again = Message::parse(&m.to_vec());
        assert_eq!(again.as_ref().ok(), Some(&m), "IGMP round trip");
    }
    if let Ok(ip) = Ipv4::parse(data) {
        assert!(ip.payload.len() <= data.len());
    }
    let _ = Upcall::parse(data);
}

/// A proxy with a member on each LAN takes `data` as an IGMP message (wrapped in a valid
/// header and raw) from both sides and as an upcall, then runs its timers for ten minutes:
/// everything it sends parses, and every cache entry it installs is for an allowed group,
/// towards a LAN that exists.
pub fn run_proxy(data: &[u8]) {
    let t0 = Instant::now();
    let cfg = Config {
        downstreams: vec![
            Downstream { name: "lan".into(), subnet: "192.168.1.1/24".parse().unwrap_or_default() },
            Downstream {
                name: "guest".into(),
                subnet: "192.168.2.1/24".parse().unwrap_or_default(),
            },
        ],
        allowed: vec!["239.0.0.0/8".parse().unwrap_or_default()],
        ..Config::default()
    };
    let mut p = Proxy::new(t0, cfg);
    let host = Ipv4Addr::new(192, 168, 1, 10);
    let g = Ipv4Addr::new(239, 1, 1, 1);
    p.handle_packet(
        t0,
        Iface::Downstream(0),
        &ipv4_datagram(host, g, &Message::V2Report(g).to_vec()),
    );
    p.handle_upcall(t0, Iface::Upstream, Ipv4Addr::new(10, 0, 0, 1), g);
    let wrapped = ipv4_datagram(host, Ipv4Addr::new(224, 0, 0, 22), data);
    for iface in [Iface::Downstream(0), Iface::Downstream(1), Iface::Upstream] {
        p.handle_packet(t0, iface, data);
        p.handle_packet(t0, iface, &wrapped);
    }
    if let Ok(Some(u)) = Upcall::parse(data) {
        p.handle_upcall(t0, Iface::Upstream, u.source, u.group);
    }
    let mut now = t0;
    for _ in 0..10_000 {
        check(&mut p);
        match p.poll_timeout() {
            Some(t) if t <= t0 + Duration::from_secs(600) => now = now.max(t),
            _ => break,
        }
        p.handle_timeout(now);
    }
    p.shutdown(now);
    check(&mut p);
    assert!(p.cache_len() == 0 && p.upstream().is_empty(), "shutdown leaves nothing");
}

fn check(p: &mut Proxy) {
    while let Some(t) = p.poll_transmit() {
        assert!(Message::parse(&t.payload).is_ok(), "sent what does not parse: {t:?}");
    }
    while let Some(e) = p.poll_event() {
        if let Event::MfcAdd { group, oifs, .. } = &e {
            assert!(p.config().allows(*group) || oifs.is_empty(), "{e:?}");
            assert!(oifs.iter().all(|i| *i < 2), "{e:?}");
        }
    }
}
