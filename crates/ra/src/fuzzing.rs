//! Drivers shared by the fuzz target (`fuzz/fuzz_targets/ra_input.rs`) and the stable corpus
//! test: the wire parsers as round trips, and an advertiser with prefixes (one of them being
//! withdrawn) fed the bytes as a solicitation from a link-local and from the unspecified
//! address, then run through its timers. Not part of the supported API.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::advertiser::{Advertiser, Config, PrefixInfo};
use crate::wire::{RouterAdvertisement, RouterSolicitation};

/// Runs every property on `data`; panics (for the fuzzer) only when one does not hold.
pub fn run(data: &[u8]) {
    run_wire(data);
    run_advertiser(data);
}

/// Parse, emit, parse again: the same message (checksum octets are not kept).
pub fn run_wire(data: &[u8]) {
    if let Ok(rs) = RouterSolicitation::parse(data) {
        let again = RouterSolicitation::parse(&rs.to_vec());
        assert_eq!(again.as_ref().ok(), Some(&rs), "RS round trip");
    }
    if let Ok(ra) = RouterAdvertisement::parse(data) {
        let again = RouterAdvertisement::parse(&ra.to_vec());
        assert_eq!(again.as_ref().ok(), Some(&ra), "RA round trip");
    }
}

/// The advertiser takes `data` as a solicitation at any point and only ever sends RAs that
/// parse, to ff02::1 or to the soliciting link-local address, within its timers.
pub fn run_advertiser(data: &[u8]) {
    let t0 = Instant::now();
    let cfg = Config {
        lladdr: Some([2, 0, 0, 0, 0, 1]),
        rdnss: vec![Ipv6Addr::new(0xfd12, 0, 0, 1, 0, 0, 0, 1)],
        dnssl: vec!["home.arpa".into()],
        mtu: Some(1492),
        ..Config::default()
    };
    let mut a = Advertiser::new(cfg, t0);
    let prefix = |hextet: u16, secs: Option<u64>| PrefixInfo {
        prefix: Ipv6Addr::new(0x2001, 0xdb8, hextet, 1, 0, 0, 0, 0),
        len: 64,
        preferred: secs.map(Duration::from_secs),
        valid: secs.map(|s| Duration::from_secs(s * 2)),
    };
    a.set_prefixes(t0, vec![prefix(0x1000, Some(3600)), prefix(0x1001, None)]);
    a.set_uplink(t0, true);
    a.set_prefixes(t0, vec![prefix(0x2000, Some(3600))]);
    let host = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x10);
    let mut now = t0;
    let mut sent = 0;
    for (i, src) in [host, Ipv6Addr::UNSPECIFIED, host].into_iter().enumerate() {
        a.handle_input(now, src, data);
        // A few rounds of timers (bounded), each transmit checked.
        for _ in 0..4 {
            while let Some(t) = a.poll_transmit() {
                sent += 1;
                let ra = RouterAdvertisement::parse(&t.bytes);
                assert!(ra.is_ok(), "the advertiser sent an RA that does not parse: {ra:?}");
                assert!(t.dst == crate::advertiser::ALL_NODES || t.dst == host, "to {}", t.dst);
            }
            let Some(next) = a.poll_timeout() else { break };
            now = next.max(now);
            a.handle_timeout(now);
        }
        if i == 1 {
            a.shutdown(now);
        }
    }
    assert!(sent <= 64, "{sent} RAs in a few rounds");
}
