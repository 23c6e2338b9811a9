//! The IGMP proxy in network namespaces, with the kernel forwarding and the kernel's own IGMP
//! host stack as the set-top boxes (root):
//!
//! ```text
//!  head-end ns (10.10.0.1)  --iptv0--  router ns  --lan0--  switch ns (bridge) --  stb1, stb2
//!  numbered UDP to 239.1.1.x          igmp proxy                (192.168.1.0/24)
//!  + a raw IGMP listener             (mroute socket)
//! ```
//!
//! A host joins a channel and receives it with no gap after its first packet; a second host
//! joins the same group, the first leaves and the second still receives; the last leaves
//! and the kernel stops forwarding within the Last Member Query Time; the head-end side sees
//! the proxy's join and leave; zapping 20 times; an IGMPv2 host; a source-specific (IGMPv3)
//! join; a group outside the allowed range is not forwarded; forged and malformed IGMP from
//! a LAN host and from the upstream side is counted and dropped; and a run with short query
//! intervals (fifteen query rounds, a 30-minute run at the default interval) never freezes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use igmp::wire::{Message, ipv4_datagram};
use netlab::Netns;
use router_tests::mcast::{
    HeadEnd, Running, Stb, a, diag, heard, lan_vif_packets_out, net, no_gap, proxy_config,
    upstream_listener,
};

#[test]
fn root_rfc4605_proxy_forwards_channels_by_the_kernel_to_the_boxes_that_joined() {
    if router_tests::mcast::skip_without_multicast_routing(
        "root_rfc4605_proxy_forwards_channels_by_the_kernel_to_the_boxes_that_joined",
    ) {
        return;
    }
    let n = net("igmp");
    let _head = HeadEnd::start(
        &n.head,
        vec![a("239.1.1.1"), a("239.1.1.2"), a("239.1.1.3"), a("233.252.0.1")],
    );
    let listener = upstream_listener(&n.head);
    let proxy =
        Running::start(&n.router, proxy_config(&["239.1.1.0/24"], Duration::from_secs(125), false));
    let (stb1, stb2) = (Stb::new(&n.stb1, "192.168.1.10"), Stb::new(&n.stb2, "192.168.1.11"));
    proxy.until(Duration::from_secs(5), "proxy up", |s| s.stats.queries_sent > 0);

    // Nothing is forwarded before anyone asks.
    assert!(stb1.receive(Duration::from_millis(300)).is_empty());

    // stb1 joins channel 1: it arrives, with no gap after the first packet.
    stb1.join("239.1.1.1");
    let join = stb1
        .first_packet("239.1.1.1", Duration::from_secs(5))
        .unwrap_or_else(|| panic!("channel 1 arrives: {}", diag(&n.router, &proxy)));
    let got = stb1.receive(Duration::from_secs(2));
    let (count, gapless) = no_gap(&got, "239.1.1.1");
    assert!(count >= 150 && gapless, "{count} packets, gapless {gapless}");
    assert!(got.iter().all(|(g, _)| *g == a("239.1.1.1")), "only what was joined");
    println!("igmp: join to first packet {join:?}");
    // The head-end side heard the proxy join (the listener's buffer holds it since start).
    let up = heard(&listener, Duration::from_millis(100));
    assert!(
        up.iter().any(|m| matches!(m, Message::V3Report(r)
            if r.iter().any(|r| r.group == a("239.1.1.1") && r.kind == igmp::wire::RecordType::ToExclude))),
        "the proxy's join upstream: {up:?}"
    );

    // stb2 joins the same channel; stb1 leaves; stb2 still receives, gapless.
    stb2.join("239.1.1.1");
    assert!(stb2.first_packet("239.1.1.1", Duration::from_secs(5)).is_some());
    stb1.leave("239.1.1.1");
    let got = stb2.receive(Duration::from_secs(4));
    let (count, gapless) = no_gap(&got, "239.1.1.1");
    assert!(count >= 300 && gapless, "stb2 across stb1's leave: {count}, gapless {gapless}");
    proxy.until(Duration::from_secs(3), "stb1 no longer listed", |s| {
        s.groups.iter().any(|g| g.members == vec![a("192.168.1.11")])
    });

    // The last one leaves: the kernel stops forwarding within the Last Member Query Time
    // (2 s) and a little, and the head-end side hears the proxy leave.
    let before = lan_vif_packets_out(&n.router);
    assert!(before > 0, "the kernel forwarded on the LAN vif");
    let left = Instant::now();
    stb2.leave("239.1.1.1");
    proxy.until(Duration::from_secs(4), "entry removed", |s| s.routes.is_empty());
    let leave = left.elapsed();
    let stopped = lan_vif_packets_out(&n.router);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lan_vif_packets_out(&n.router), stopped, "nothing forwarded after the leave");
    println!("igmp: leave to stop {leave:?}");
    assert!(leave < Duration::from_millis(3_500), "{leave:?}");
    let up = heard(&listener, Duration::from_secs(2));
    assert!(
        up.iter().any(|m| matches!(m, Message::V3Report(r)
            if r.iter().any(|r| r.group == a("239.1.1.1") && r.kind == igmp::wire::RecordType::ToInclude && r.sources.is_empty()))),
        "the proxy's leave upstream: {up:?}"
    );

    // Zapping: twenty changes of channel in a row, each arriving.
    let channels = ["239.1.1.1", "239.1.1.2", "239.1.1.3"];
    let mut zaps = Vec::new();
    for i in 0..20 {
        let (from, to) = (channels[i % 3], channels[(i + 1) % 3]);
        if i == 0 {
            stb1.join(from);
        }
        stb1.leave(from);
        stb1.join(to);
        let t = stb1.first_packet(to, Duration::from_secs(5));
        zaps.push(t.unwrap_or_else(|| panic!("zap {i} to {to}")));
    }
    zaps.sort();
    println!("igmp: 20 zaps, median {:?}, worst {:?}", zaps[10], zaps[19]);
    // The channels zapped away from stop (after their LMQT); the last one stays.
    proxy.until(Duration::from_secs(5), "only the last channel forwarded", |s| {
        s.routes.len() == 1 && s.routes[0].1 == a(channels[20 % 3])
    });
    stb1.leave(channels[20 % 3]);
    stb1.drain();

    // A group outside the allowed range: joined by the box, not forwarded, counted.
    stb2.join("233.252.0.1");
    assert!(stb2.first_packet("233.252.0.1", Duration::from_secs(2)).is_none());
    assert!(proxy.status().stats.outside_range > 0);
    stb2.leave("233.252.0.1");

    // An IGMPv2 box.
    let v2 = n
        .stb2
        .command("sysctl")
        .args(["-qw", "net.ipv4.conf.eth0.force_igmp_version=2"])
        .status()
        .unwrap();
    assert!(v2.success());
    stb2.join("239.1.1.2");
    assert!(stb2.first_packet("239.1.1.2", Duration::from_secs(5)).is_some(), "v2 join");
    stb2.leave("239.1.1.2");
    proxy.until(Duration::from_secs(4), "v2 leave", |s| s.routes.is_empty());

    drop(n.sw);
    proxy.stop().unwrap();
    drop(n.lab);
}

#[test]
fn root_rfc4605_source_specific_joins_and_forged_igmp() {
    if router_tests::mcast::skip_without_multicast_routing(
        "root_rfc4605_source_specific_joins_and_forged_igmp",
    ) {
        return;
    }
    let n = net("igmpssm");
    let _head = HeadEnd::start(&n.head, vec![a("232.1.1.1")]);
    let proxy =
        Running::start(&n.router, proxy_config(&["232.0.0.0/8"], Duration::from_secs(125), false));
    let stb1 = Stb::new(&n.stb1, "192.168.1.10");
    proxy.until(Duration::from_secs(5), "proxy up", |s| s.stats.queries_sent > 0);

    // IGMPv3 source-specific: from the wrong source nothing, from the head-end the channel.
    let ssm = |src: &str, join: bool| {
        let mreq = libc::ip_mreq_source {
            imr_multiaddr: libc::in_addr { s_addr: u32::from_ne_bytes(a("232.1.1.1").octets()) },
            imr_interface: libc::in_addr { s_addr: u32::from_ne_bytes(a("192.168.1.10").octets()) },
            imr_sourceaddr: libc::in_addr { s_addr: u32::from_ne_bytes(a(src).octets()) },
        };
        let opt =
            if join { libc::IP_ADD_SOURCE_MEMBERSHIP } else { libc::IP_DROP_SOURCE_MEMBERSHIP };
        // SAFETY: a live ip_mreq_source of the size given.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&stb1.sock),
                libc::IPPROTO_IP,
                opt,
                (&mreq as *const libc::ip_mreq_source).cast(),
                std::mem::size_of::<libc::ip_mreq_source>() as u32,
            )
        };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
    };
    ssm("10.10.0.99", true);
    assert!(stb1.first_packet("232.1.1.1", Duration::from_secs(2)).is_none(), "other source");
    ssm("10.10.0.1", true);
    assert!(stb1.first_packet("232.1.1.1", Duration::from_secs(5)).is_some(), "SSM join");
    let st = proxy.status();
    assert_eq!(
        st.routes.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        vec![(a("10.10.0.1"), a("232.1.1.1"))]
    );
    ssm("10.10.0.1", false);
    ssm("10.10.0.99", false);
    proxy.until(Duration::from_secs(5), "SSM leave", |s| s.routes.is_empty());

    // Forged and malformed IGMP, from a LAN host (raw, so the kernel does not fix it) and
    // from the upstream side: counted, dropped, nothing joined.
    let before = proxy.status().stats;
    let raw = |ns: &Netns, src: &'static str, iface_addr: &'static str, dgrams: Vec<Vec<u8>>| {
        ns.run(move |_| async move {
            use socket2::{Domain, Protocol, Socket, Type};
            let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(libc::IPPROTO_RAW)))
                .unwrap();
            s.set_header_included_v4(true).unwrap();
            s.set_multicast_if_v4(&a(iface_addr)).unwrap();
            let _ = src;
            for d in dgrams {
                let dst = Ipv4Addr::new(d[16], d[17], d[18], d[19]);
                s.send_to(&d, &SocketAddrV4::new(dst, 0).into()).unwrap();
            }
        })
        .unwrap()
    };
    let report = Message::V2Report(a("232.1.1.1")).to_vec();
    let mut bad_sum = ipv4_datagram(a("192.168.1.10"), a("232.1.1.1"), &report);
    let l = bad_sum.len() - 1;
    bad_sum[l] ^= 0x55;
    let short = ipv4_datagram(a("192.168.1.10"), a("232.1.1.1"), &report[..5]);
    let query = ipv4_datagram(
        a("192.168.1.10"),
        a("224.0.0.1"),
        &Message::Query(igmp::wire::Query::general(igmp::wire::Version::V2, 100, 0, 0)).to_vec(),
    );
    raw(&n.stb1, "192.168.1.10", "192.168.1.10", vec![bad_sum, short, query]);
    let upstream_report = ipv4_datagram(a("10.10.0.1"), a("232.1.1.1"), &report);
    raw(&n.head, "10.10.0.1", "10.10.0.1", vec![upstream_report]);
    proxy.until(Duration::from_secs(3), "all four counted", |s| {
        let x = s.stats;
        x.malformed >= before.malformed + 2
            && x.downstream_queries > before.downstream_queries
            && x.upstream_reports > before.upstream_reports
    });
    let st = proxy.status();
    assert!(st.groups.is_empty() && st.upstream.is_empty() && st.routes.is_empty(), "{st:?}");
    proxy.stop().unwrap();
    drop(n.lab);
}

#[test]
fn root_rfc4605_short_query_intervals_for_fifteen_rounds_never_freeze_the_stream() {
    if router_tests::mcast::skip_without_multicast_routing(
        "root_rfc4605_short_query_intervals_for_fifteen_rounds_never_freeze_the_stream",
    ) {
        return;
    }
    let n = net("igmplong");
    let _head = HeadEnd::start(&n.head, vec![a("239.2.2.2")]);
    // Query Interval 2 s, Query Response Interval 1 s: the Group Membership Interval is 5 s,
    // so a box that did not answer a query would lose its channel within the run.
    let proxy =
        Running::start(&n.router, proxy_config(&["239.0.0.0/8"], Duration::from_secs(2), false));
    let stb1 = Stb::new(&n.stb1, "192.168.1.10");
    // The kernel host answers queries within the Max Resp Time; its unsolicited reports
    // repeat at the interval of this sysctl (default 1 s for v3).
    stb1.join("239.2.2.2");
    assert!(stb1.first_packet("239.2.2.2", Duration::from_secs(5)).is_some());
    let got = stb1.receive(Duration::from_secs(30));
    let (count, gapless) = no_gap(&got, "239.2.2.2");
    let st = proxy.status();
    println!(
        "igmp: 30 s, {} queries sent, {count} packets, gapless {gapless}",
        st.stats.queries_sent
    );
    assert!(st.stats.queries_sent >= 15, "{:?}", st.stats);
    assert!(count >= 2_500 && gapless, "{count} packets, gapless {gapless}");
    proxy.stop().unwrap();
    drop(n.lab);
}
