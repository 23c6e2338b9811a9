//! The driver shared by the `dns_query` fuzz target and the stable corpus test: arbitrary
//! bytes through the query path's fast half (everything before an `.await`) and the wire
//! readers it uses, against a server with static hosts, a lease and a warm cache. Not part of
//! the supported API.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hickory_server::zone_handler::Catalog;

use crate::cache::Answer;
use crate::local::{LeaseUpdate, LocalZone, StaticHost};
use crate::policy::{Acl, RebindFilter};
use crate::server::{self, Core, View};
use crate::wire::{Layout, QueryView};
use crate::{forward, wire};

fn core() -> &'static Arc<Core> {
    static CORE: OnceLock<Arc<Core>> = OnceLock::new();
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
        let view = View {
            table: zone.table(),
            acl: Acl::new(v4.into_iter().map(ipnet::IpNet::V4)),
            rebind: RebindFilter::new(["corp.example"]),
            upstreams: vec![],
            timeout: Duration::from_millis(1),
        };
        server::core(view, zone, Catalog::new(), 64)
    })
}

/// One input: the fast path from a LAN or a WAN source, over UDP or TCP; the readers; and
/// the same bytes taken as an upstream response (cache, rebinding filter).
pub fn query(data: &[u8]) {
    let core = core();
    let flags = data.last().copied().unwrap_or(0);
    let src: SocketAddr = if flags & 1 == 0 {
        (Ipv4Addr::new(192, 168, 1, 9), 5353).into()
    } else {
        (Ipv4Addr::new(203, 0, 113, 9), 5353).into()
    };
    let mut out = Vec::new();
    // What is sent (only on `Done`) is always a response: a header with QR set (a FORMERR
    // may carry no question).
    if let server::Fast::Done = core.answer_fast(data, src, flags & 2 != 0, &mut out) {
        let qr = wire::be16(&out, 2).is_ok_and(|f| f & wire::FLAG_QR != 0);
        assert!(out.len() >= 12 && qr, "we only ever send responses: {data:02x?} -> {out:02x?}");
    }
    let _ = Layout::parse(data);
    let _ = wire::formerr_header(data);
    let addrs = forward::answer_addrs(data);
    let _ = RebindFilter::new(["example"]).permits(&[0], addrs);
    let now = Instant::now();
    if let (Ok(a), Ok(q)) = (Answer::new(data, now), QueryView::parse(data)) {
        let _ = a.render(&q, now + Duration::from_secs(5), &mut out);
        let _ = a.lifetime();
        if let Ok(mut c) = core.cache.lock() {
            c.insert(&q, a, now);
            let _ = c.serve(&q, now, &mut out);
        }
    }
}
