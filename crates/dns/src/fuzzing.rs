//! The driver shared by the `dns_query` fuzz target and the stable corpus test: arbitrary
//! bytes through the sans-IO core (the query path up to an ask, and an upstream reply back
//! through the rebinding filter and the cache) and the wire readers it uses, against a core
//! with static hosts, a lease and a warm cache, on a clock the input moves. Not part of the
//! supported API.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::cache::{Answer, Cache};
use crate::local::{LeaseUpdate, LocalZone, StaticHost};
use crate::policy::RebindFilter;
use crate::server::{Core, Next};
use crate::wire::{Layout, QueryView};
use crate::{DnsConfig, upstream, wire};

fn core() -> &'static (Core, Instant) {
    static CORE: OnceLock<(Core, Instant)> = OnceLock::new();
    CORE.get_or_init(|| {
        let nas6 = std::net::Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 5);
        let hosts = [StaticHost {
            name: "nas".into(),
            ipv4: vec![Ipv4Addr::new(192, 168, 1, 5)],
            ipv6: vec![nas6],
        }];
        let v4 = vec![ipnet::Ipv4Net::new(Ipv4Addr::new(192, 168, 1, 0), 24).unwrap_or_default()];
        let v6 = vec![ipnet::Ipv6Net::new(nas6, 64).unwrap_or_default()];
        let Ok(mut zone) = LocalZone::new("home.arpa", 300, &hosts, v4.clone(), v6) else {
            unreachable!("the fuzzing zone's configuration is valid")
        };
        let lease = LeaseUpdate::Granted {
            hostname: "laptop".into(),
            v4: Some(Ipv4Addr::new(192, 168, 1, 100)),
            v6: vec![],
            client_id: vec![1],
        };
        let _ = zone.handle_lease(lease);
        let config = DnsConfig {
            lan_v4: v4,
            rebind_allow: vec!["corp.example".into()],
            upstream_timeout: Duration::from_millis(1),
            cache_size: 64,
            ..DnsConfig::default()
        };
        (Core::new(&config, &zone), Instant::now())
    })
}

/// One input: the core from a LAN or a WAN source, over UDP or TCP, at a time the input
/// picks; the same bytes taken as an upstream's reply to themselves; and the readers.
pub fn query(data: &[u8]) {
    let (core, start) = core();
    let flags = data.last().copied().unwrap_or(0);
    let src: SocketAddr = if flags & 1 == 0 {
        (Ipv4Addr::new(192, 168, 1, 9), 5353).into()
    } else {
        (Ipv4Addr::new(203, 0, 113, 9), 5353).into()
    };
    let tcp = flags & 2 != 0;
    let now = *start + Duration::from_secs(u64::from(flags >> 2));
    let mut out = Vec::new();
    // What is sent is always a response: a header with QR set (a FORMERR may carry no
    // question).
    let is_response = |out: &[u8]| {
        let qr = wire::be16(out, 2).is_ok_and(|f| f & wire::FLAG_QR != 0);
        out.len() >= 12 && qr
    };
    if let Next::Reply = core.handle_query(now, src, tcp, data, &mut out) {
        assert!(is_response(&out), "we only ever send responses: {data:02x?} -> {out:02x?}");
    }
    if let Some(reply) = core.handle_upstream_reply(now, tcp, data, Some(data)) {
        assert!(is_response(&reply), "upstream path sends responses: {data:02x?} -> {reply:02x?}");
    }
    let _ = Layout::parse(data);
    let _ = wire::formerr_header(data);
    let addrs = upstream::answer_addrs(data);
    let _ = RebindFilter::new(["example"]).permits(&[0], addrs);
    if let (Ok(a), Ok(q)) = (Answer::new(data, now), QueryView::parse(data)) {
        let _ = a.render(&q, now + Duration::from_secs(5), &mut out);
        let _ = a.lifetime();
        let mut cache = Cache::new(1);
        cache.insert(&q, a, now);
        let _ = cache.serve(&q, now, &mut out);
    }
}
